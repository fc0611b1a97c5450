"""Agencies and staff accounts."""

from __future__ import annotations

from collections.abc import Sequence

from server.clock import from_ms
from server.domain.models import Agency, AgencyKind, Role, Staff
from server.errors import Conflict
from server.storage.database import Connection, Row
from server.storage.repos._rows import dt, ms, opt_bytes

_AGENCY_COLUMNS = "id, name, country, kind, requires_reason, created_at"
_STAFF_COLUMNS = (
    "id, agency_id, username, display_name, role, password_hash, totp_secret_sealed,"
    " totp_last_step, active, created_at, on_duty"
)


def _agency(row: Row) -> Agency:
    return Agency(
        id=row["id"],
        name=row["name"],
        country=row["country"],
        kind=AgencyKind(row["kind"]),
        requires_reason=bool(row["requires_reason"]),
        created_at=dt(row["created_at"]),
    )


STAFF_COLUMNS = _STAFF_COLUMNS


def staff_from_row(row: Row) -> Staff:
    return _staff(row)


_ROLES = {role.value: role for role in Role}


def _staff(row: Row) -> Staff:
    # Positional, like the column list: escalation reads whole case teams at once.
    (
        staff_id,
        agency_id,
        username,
        display_name,
        role,
        password_hash,
        totp_secret_sealed,
        totp_last_step,
        active,
        created_at,
        on_duty,
    ) = row
    return Staff(
        id=staff_id,
        agency_id=agency_id,
        username=username,
        display_name=display_name,
        role=_ROLES[role],
        password_hash=password_hash,
        totp_secret_sealed=None if totp_secret_sealed is None else bytes(totp_secret_sealed),
        totp_last_step=int(totp_last_step),
        active=bool(active),
        created_at=from_ms(created_at),
        on_duty=bool(on_duty),
    )


class SqlAgencyRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def insert(self, agency: Agency) -> None:
        added = await self._conn.execute(
            f"INSERT INTO agencies ({_AGENCY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"
            " ON CONFLICT DO NOTHING",
            agency.id,
            agency.name,
            agency.country,
            agency.kind.value,
            agency.requires_reason,
            ms(agency.created_at),
        )
        if not added:
            raise Conflict("An agency with this name already exists")

    async def get(self, agency_id: str) -> Agency | None:
        row = await self._conn.fetchrow(
            f"SELECT {_AGENCY_COLUMNS} FROM agencies WHERE id = $1", agency_id
        )
        return None if row is None else _agency(row)

    async def get_by_name(self, name: str) -> Agency | None:
        row = await self._conn.fetchrow(
            f"SELECT {_AGENCY_COLUMNS} FROM agencies WHERE name = $1", name
        )
        return None if row is None else _agency(row)

    async def list(self) -> list[Agency]:
        rows = await self._conn.fetch(f"SELECT {_AGENCY_COLUMNS} FROM agencies ORDER BY name")
        return [_agency(row) for row in rows]

    async def get_many(self, agency_ids: Sequence[str]) -> dict[str, Agency]:
        if not agency_ids:
            return {}
        dialect = self._conn.dialect
        rows = await self._conn.fetch(
            f"SELECT {_AGENCY_COLUMNS} FROM agencies WHERE id {dialect.any_of('$1')}",
            dialect.list_param(list(agency_ids)),
        )
        return {row["id"]: _agency(row) for row in rows}


class SqlStaffRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def insert(self, staff: Staff) -> None:
        added = await self._conn.execute(
            f"INSERT INTO staff ({_STAFF_COLUMNS})"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING",
            staff.id,
            staff.agency_id,
            staff.username,
            staff.display_name,
            staff.role.value,
            staff.password_hash,
            staff.totp_secret_sealed,
            staff.totp_last_step,
            staff.active,
            ms(staff.created_at),
            staff.on_duty,
        )
        if not added:
            raise Conflict("This username is taken")

    async def get(self, staff_id: str) -> Staff | None:
        row = await self._conn.fetchrow(
            f"SELECT {_STAFF_COLUMNS} FROM staff WHERE id = $1", staff_id
        )
        return None if row is None else _staff(row)

    async def get_by_username(self, username: str) -> Staff | None:
        row = await self._conn.fetchrow(
            f"SELECT {_STAFF_COLUMNS} FROM staff WHERE username = $1", username
        )
        return None if row is None else _staff(row)

    async def list_by_agency(self, agency_id: str) -> list[Staff]:
        rows = await self._conn.fetch(
            f"SELECT {_STAFF_COLUMNS} FROM staff WHERE agency_id = $1 ORDER BY username",
            agency_id,
        )
        return [_staff(row) for row in rows]

    async def set_totp(self, staff_id: str, sealed_secret: bytes | None) -> None:
        await self._conn.execute(
            "UPDATE staff SET totp_secret_sealed = $2, totp_last_step = 0 WHERE id = $1",
            staff_id,
            sealed_secret,
        )

    async def use_totp_step(self, staff_id: str, step: int) -> bool:
        """Record a used TOTP time step; False if it (or a later one) was used already,
        so that a code observed over someone's shoulder cannot be replayed."""
        changed = await self._conn.execute(
            "UPDATE staff SET totp_last_step = $2 WHERE id = $1 AND totp_last_step < $2",
            staff_id,
            step,
        )
        return changed > 0

    async def set_phone(self, staff_id: str, sealed: bytes | None) -> None:
        await self._conn.execute(
            "UPDATE staff SET phone_sealed = $2 WHERE id = $1", staff_id, sealed
        )

    async def phone(self, staff_id: str) -> bytes | None:
        value = await self._conn.fetchval("SELECT phone_sealed FROM staff WHERE id = $1", staff_id)
        return opt_bytes(value)

    async def phones(self, staff_ids: Sequence[str]) -> dict[str, bytes]:
        if not staff_ids:
            return {}
        dialect = self._conn.dialect
        rows = await self._conn.fetch(
            "SELECT id, phone_sealed FROM staff WHERE phone_sealed IS NOT NULL"
            f" AND id {dialect.any_of('$1')}",
            dialect.list_param(list(staff_ids)),
        )
        return {row[0]: bytes(row[1]) for row in rows}

    async def set_on_duty(self, staff_id: str, on_duty: bool) -> None:
        await self._conn.execute("UPDATE staff SET on_duty = $2 WHERE id = $1", staff_id, on_duty)

    async def on_duty(self, staff_id: str) -> bool:
        value = await self._conn.fetchval("SELECT on_duty FROM staff WHERE id = $1", staff_id)
        return bool(value)

    async def list_by_roles(self, agency_id: str, roles: Sequence[str]) -> list[Staff]:
        dialect = self._conn.dialect
        rows = await self._conn.fetch(
            f"SELECT {_STAFF_COLUMNS} FROM staff WHERE agency_id = $1 AND active = TRUE"
            f" AND role {dialect.any_of('$2')} ORDER BY id",
            agency_id,
            dialect.list_param(list(roles)),
        )
        return [_staff(row) for row in rows]

    async def list_assigned_by_roles(
        self, case_id: str, agency_id: str, roles: Sequence[str]
    ) -> list[Staff]:
        dialect = self._conn.dialect
        rows = await self._conn.fetch(
            f"SELECT {_STAFF_COLUMNS} FROM staff WHERE agency_id = $1 AND active = TRUE"
            f" AND role {dialect.any_of('$2')}"
            " AND id IN (SELECT staff_id FROM case_staff WHERE case_id = $3) ORDER BY id",
            agency_id,
            dialect.list_param(list(roles)),
            case_id,
        )
        return [_staff(row) for row in rows]

    async def on_duty_ids(self, staff_ids: Sequence[str]) -> set[str]:
        if not staff_ids:
            return set()
        dialect = self._conn.dialect
        rows = await self._conn.fetch(
            f"SELECT id FROM staff WHERE on_duty = TRUE AND id {dialect.any_of('$1')}",
            dialect.list_param(list(staff_ids)),
        )
        return {row[0] for row in rows}

    async def set_password_hash(self, staff_id: str, password_hash: str) -> None:
        await self._conn.execute(
            "UPDATE staff SET password_hash = $2 WHERE id = $1", staff_id, password_hash
        )

    async def set_role(self, staff_id: str, role: str) -> None:
        await self._conn.execute("UPDATE staff SET role = $2 WHERE id = $1", staff_id, role)

    async def set_active(self, staff_id: str, active: bool) -> None:
        await self._conn.execute("UPDATE staff SET active = $2 WHERE id = $1", staff_id, active)
