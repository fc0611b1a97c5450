"""Cases, their staff assignments and witnesses."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from server.domain.models import Case, Staff, Witness
from server.errors import Conflict
from server.storage.database import Connection, Row
from server.storage.repos._rows import dt, ms, opt_dt
from server.storage.repos.accounts import STAFF_COLUMNS as _STAFF_COLUMNS
from server.storage.repos.accounts import staff_from_row

_CASE_COLUMNS = (
    "id, reference, police_agency_id, support_agency_id, created_by, created_at, closed_at"
)
_WITNESS_COLUMNS = "id, case_id, alias, language, timezone, created_by, created_at"
# The case's columns and the agency its latest handover request awaits (the newest
# request not withdrawn, in the order of ``handovers.latest_for_cases``, when it is
# requested or declined): what ``access.held_back_by_handover`` reads.
_CASE_SELECT = (
    "id, reference, police_agency_id, support_agency_id, created_by, created_at, closed_at,"
    " (SELECT CASE WHEN h.status IN ('requested', 'declined') THEN h.receiving_agency_id END"
    " FROM handovers h WHERE h.case_id = cases.id AND h.status <> 'withdrawn'"
    " ORDER BY h.requested_at DESC, CASE WHEN h.status = 'requested' THEN 1 ELSE 0 END DESC,"
    " h.id DESC LIMIT 1) AS handover_pending_for"
)


def _case(row: Row) -> Case:
    return Case(
        id=row["id"],
        reference=row["reference"],
        police_agency_id=row["police_agency_id"],
        support_agency_id=row["support_agency_id"],
        created_by=row["created_by"],
        created_at=dt(row["created_at"]),
        closed_at=opt_dt(row["closed_at"]),
        handover_pending_for=row["handover_pending_for"],
    )


def _witness(row: Row) -> Witness:
    return Witness(
        id=row["id"],
        case_id=row["case_id"],
        alias=row["alias"],
        language=row["language"],
        timezone=row["timezone"],
        created_by=row["created_by"],
        created_at=dt(row["created_at"]),
    )


class SqlCaseRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def insert(self, case: Case) -> None:
        added = await self._conn.execute(
            f"INSERT INTO cases ({_CASE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
            " ON CONFLICT DO NOTHING",
            case.id,
            case.reference,
            case.police_agency_id,
            case.support_agency_id,
            case.created_by,
            ms(case.created_at),
            None if case.closed_at is None else ms(case.closed_at),
        )
        if not added:
            raise Conflict("This police agency already has a case with this reference")

    async def get(self, case_id: str) -> Case | None:
        row = await self._conn.fetchrow(f"SELECT {_CASE_SELECT} FROM cases WHERE id = $1", case_id)
        return None if row is None else _case(row)

    async def add_staff(self, case_id: str, staff_id: str, added_by: str, at: datetime) -> bool:
        added = await self._conn.execute(
            "INSERT INTO case_staff (case_id, staff_id, added_by, added_at)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            case_id,
            staff_id,
            added_by,
            ms(at),
        )
        return added > 0

    async def remove_staff(self, case_id: str, staff_id: str) -> bool:
        removed = await self._conn.execute(
            "DELETE FROM case_staff WHERE case_id = $1 AND staff_id = $2", case_id, staff_id
        )
        return removed > 0

    async def staff_ids(self, case_id: str) -> list[str]:
        rows = await self._conn.fetch(
            "SELECT staff_id FROM case_staff WHERE case_id = $1 ORDER BY added_at, staff_id",
            case_id,
        )
        return [row[0] for row in rows]

    async def is_assigned(self, case_id: str, staff_id: str) -> bool:
        found = await self._conn.fetchval(
            "SELECT 1 FROM case_staff WHERE case_id = $1 AND staff_id = $2", case_id, staff_id
        )
        return found is not None

    async def list_assigned(self, staff_id: str) -> list[Case]:
        rows = await self._conn.fetch(
            f"SELECT {_CASE_SELECT} FROM cases WHERE id IN"
            " (SELECT case_id FROM case_staff WHERE staff_id = $1) ORDER BY created_at, id",
            staff_id,
        )
        return [_case(row) for row in rows]

    async def list_for_agency(self, agency_id: str) -> list[Case]:
        rows = await self._conn.fetch(
            f"SELECT {_CASE_SELECT} FROM cases"
            " WHERE police_agency_id = $1 OR support_agency_id = $1 ORDER BY created_at, id",
            agency_id,
        )
        return [_case(row) for row in rows]

    async def get_many(self, case_ids: Sequence[str]) -> dict[str, Case]:
        if not case_ids:
            return {}
        dialect = self._conn.dialect
        rows = await self._conn.fetch(
            f"SELECT {_CASE_SELECT} FROM cases WHERE id {dialect.any_of('$1')}",
            dialect.list_param(list(case_ids)),
        )
        return {row["id"]: _case(row) for row in rows}

    async def close(self, case_id: str, at: datetime) -> bool:
        changed = await self._conn.execute(
            "UPDATE cases SET closed_at = $2 WHERE id = $1 AND closed_at IS NULL", case_id, ms(at)
        )
        return changed > 0

    async def assigned_staff_for_cases(self, case_ids: Sequence[str]) -> dict[str, list[Staff]]:
        found: dict[str, list[Staff]] = {case_id: [] for case_id in case_ids}
        if not case_ids:
            return found
        dialect = self._conn.dialect
        cases = dialect.list_param(list(case_ids))
        # Each member read once, however many of these cases they are on.
        members = await self._conn.fetch(
            f"SELECT {_STAFF_COLUMNS} FROM staff WHERE active = TRUE AND id IN"
            f" (SELECT staff_id FROM case_staff WHERE case_id {dialect.any_of('$1')})",
            cases,
        )
        staff = {member.id: member for member in map(staff_from_row, members)}
        pairs = await self._conn.fetch(
            f"SELECT case_id, staff_id FROM case_staff WHERE case_id {dialect.any_of('$1')}"
            " ORDER BY staff_id",
            cases,
        )
        for case_id, staff_id in pairs:
            member = staff.get(staff_id)
            if member is not None:
                found[case_id].append(member)
        return found


class SqlWitnessRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def insert(self, witness: Witness) -> None:
        added = await self._conn.execute(
            f"INSERT INTO witnesses ({_WITNESS_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
            " ON CONFLICT DO NOTHING",
            witness.id,
            witness.case_id,
            witness.alias,
            witness.language,
            witness.timezone,
            witness.created_by,
            ms(witness.created_at),
        )
        if not added:
            raise Conflict("This case already has a witness")

    async def get(self, witness_id: str) -> Witness | None:
        row = await self._conn.fetchrow(
            f"SELECT {_WITNESS_COLUMNS} FROM witnesses WHERE id = $1", witness_id
        )
        return None if row is None else _witness(row)

    async def get_by_case(self, case_id: str) -> Witness | None:
        row = await self._conn.fetchrow(
            f"SELECT {_WITNESS_COLUMNS} FROM witnesses WHERE case_id = $1", case_id
        )
        return None if row is None else _witness(row)

    async def set_phone(self, witness_id: str, sealed: bytes | None, index: bytes | None) -> None:
        if index is not None:
            taken = await self._conn.fetchval(
                "SELECT id FROM witnesses WHERE phone_index = $1 AND id <> $2", index, witness_id
            )
            if taken is not None:
                raise Conflict("Another witness already has this phone number")
        await self._conn.execute(
            "UPDATE witnesses SET phone_sealed = $2, phone_index = $3 WHERE id = $1",
            witness_id,
            sealed,
            index,
        )

    async def phone(self, witness_id: str) -> bytes | None:
        value = await self._conn.fetchval(
            "SELECT phone_sealed FROM witnesses WHERE id = $1", witness_id
        )
        return None if value is None else bytes(value)

    async def phones(self, witness_ids: Sequence[str]) -> dict[str, bytes]:
        if not witness_ids:
            return {}
        dialect = self._conn.dialect
        rows = await self._conn.fetch(
            "SELECT id, phone_sealed FROM witnesses WHERE phone_sealed IS NOT NULL"
            f" AND id {dialect.any_of('$1')}",
            dialect.list_param(list(witness_ids)),
        )
        return {row[0]: bytes(row[1]) for row in rows}

    async def find_by_phone_index(self, index: bytes) -> Witness | None:
        row = await self._conn.fetchrow(
            f"SELECT {_WITNESS_COLUMNS} FROM witnesses WHERE phone_index = $1", index
        )
        return None if row is None else _witness(row)

    async def set_sms_words(self, witness_id: str, checkin: bytes, duress: bytes) -> None:
        await self._conn.execute(
            "UPDATE witnesses SET sms_checkin_word = $2, sms_duress_word = $3 WHERE id = $1",
            witness_id,
            checkin,
            duress,
        )

    async def sms_words(self, witness_id: str) -> tuple[bytes | None, bytes | None]:
        row = await self._conn.fetchrow(
            "SELECT sms_checkin_word, sms_duress_word FROM witnesses WHERE id = $1", witness_id
        )
        if row is None:
            return (None, None)
        return (
            None if row[0] is None else bytes(row[0]),
            None if row[1] is None else bytes(row[1]),
        )

    async def for_cases(self, case_ids: Sequence[str]) -> dict[str, Witness]:
        if not case_ids:
            return {}
        dialect = self._conn.dialect
        rows = await self._conn.fetch(
            f"SELECT {_WITNESS_COLUMNS} FROM witnesses WHERE case_id {dialect.any_of('$1')}",
            dialect.list_param(list(case_ids)),
        )
        return {row["case_id"]: _witness(row) for row in rows}

    async def get_many(self, witness_ids: Sequence[str]) -> list[Witness]:
        if not witness_ids:
            return []
        dialect = self._conn.dialect
        rows = await self._conn.fetch(
            f"SELECT {_WITNESS_COLUMNS} FROM witnesses WHERE id {dialect.any_of('$1')}",
            dialect.list_param(list(witness_ids)),
        )
        return [_witness(row) for row in rows]
