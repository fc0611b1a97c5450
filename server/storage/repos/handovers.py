"""Handovers, the witness's consents to them, risk assessments and review deadlines
(migration 19), and the retention erasure of all four for one case."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime

from server.domain.handover_models import (
    Assessment,
    Consent,
    ConsentHow,
    Handover,
    HandoverStatus,
    ReviewDeadline,
    ReviewDeadlineKind,
)
from server.domain.risk_levels import RiskFactor, RiskLevel
from server.storage.database import Connection, Row
from server.storage.repos._rows import dt, ms, opt_bytes, opt_dt, opt_ms

_HANDOVER = (
    "id, case_id, witness_id, receiving_agency_id, return_on, accept_by, status, alert_state,"
    " requested_by, requested_at, decided_by, decided_at, primary_contact_id,"
    " alternate_contact_id, decline_reason_sealed, version"
)
_ASSESSMENT = (
    "id, case_id, witness_id, level, factors, notes_sealed, assessed_by, assessed_at, review_due_at"
)
_DEADLINE = "id, assessment_id, case_id, witness_id, kind, due_at"


def day_ms(day: date) -> int:
    return ms(datetime(day.year, day.month, day.day, tzinfo=UTC))


def _handover(row: Row) -> Handover:
    return Handover(
        id=row["id"],
        case_id=row["case_id"],
        witness_id=row["witness_id"],
        receiving_agency_id=row["receiving_agency_id"],
        return_on=dt(row["return_on"]).date(),
        accept_by=dt(row["accept_by"]),
        status=HandoverStatus(row["status"]),
        alert_raised=row["alert_state"] == "raised",
        requested_by=row["requested_by"],
        requested_at=dt(row["requested_at"]),
        decided_by=row["decided_by"],
        decided_at=opt_dt(row["decided_at"]),
        primary_contact_id=row["primary_contact_id"],
        alternate_contact_id=row["alternate_contact_id"],
        decline_reason_sealed=opt_bytes(row["decline_reason_sealed"]),
        version=int(row["version"]),
    )


def _assessment(row: Row) -> Assessment:
    factors = str(row["factors"])
    return Assessment(
        id=row["id"],
        case_id=row["case_id"],
        witness_id=row["witness_id"],
        level=RiskLevel(row["level"]),
        factors=tuple(RiskFactor(f) for f in factors.split(",") if f),
        notes_sealed=opt_bytes(row["notes_sealed"]),
        assessed_by=row["assessed_by"],
        assessed_at=dt(row["assessed_at"]),
        review_due_at=dt(row["review_due_at"]),
    )


def _deadline(row: Row) -> ReviewDeadline:
    return ReviewDeadline(
        id=row["id"],
        assessment_id=row["assessment_id"],
        case_id=row["case_id"],
        witness_id=row["witness_id"],
        kind=ReviewDeadlineKind(row["kind"]),
        due_at=dt(row["due_at"]),
    )


class SqlHandoverRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def insert(self, h: Handover) -> None:
        await self._conn.execute(
            f"INSERT INTO handovers ({_HANDOVER}) VALUES"
            " ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
            h.id,
            h.case_id,
            h.witness_id,
            h.receiving_agency_id,
            day_ms(h.return_on),
            ms(h.accept_by),
            h.status.value,
            "raised" if h.alert_raised else "scheduled",
            h.requested_by,
            ms(h.requested_at),
            h.decided_by,
            opt_ms(h.decided_at),
            h.primary_contact_id,
            h.alternate_contact_id,
            h.decline_reason_sealed,
            h.version,
        )

    async def get(self, handover_id: str) -> Handover | None:
        row = await self._conn.fetchrow(
            f"SELECT {_HANDOVER} FROM handovers WHERE id = $1", handover_id
        )
        return None if row is None else _handover(row)

    async def latest_for_case(self, case_id: str) -> Handover | None:
        found = await self.latest_for_cases([case_id])
        return found.get(case_id)

    async def latest_for_cases(self, case_ids: Sequence[str]) -> dict[str, Handover]:
        """The newest non-withdrawn request per case."""
        if not case_ids:
            return {}
        dialect = self._conn.dialect
        rows = await self._conn.fetch(
            f"SELECT {_HANDOVER} FROM handovers WHERE case_id {dialect.any_of('$1')}"
            " AND status <> 'withdrawn'"
            # An open request is always the newest (a new one withdraws it), also when
            # it was sent in the same millisecond as the one decided before it.
            " ORDER BY requested_at, CASE WHEN status = 'requested' THEN 1 ELSE 0 END, id",
            dialect.list_param(list(case_ids)),
        )
        return {row["case_id"]: _handover(row) for row in rows}

    async def withdraw_open(self, case_id: str) -> int:
        return await self._conn.execute(
            "UPDATE handovers SET status = 'withdrawn', alert_state = 'off',"
            " version = version + 1 WHERE case_id = $1 AND status = 'requested'",
            case_id,
        )

    async def decide(self, h: Handover, expected_version: int) -> bool:
        """Record an acceptance or a decline (compare-and-swap on the version). The
        deadline goes off; an alert already raised stays for a human to resolve."""
        changed = await self._conn.execute(
            "UPDATE handovers SET status = $2, decided_by = $3, decided_at = $4,"
            " primary_contact_id = $5, alternate_contact_id = $6,"
            " decline_reason_sealed = $7, version = $8,"
            " alert_state = CASE WHEN alert_state = 'raised' THEN 'raised' ELSE 'off' END"
            " WHERE id = $1 AND version = $9 AND status = 'requested'",
            h.id,
            h.status.value,
            h.decided_by,
            opt_ms(h.decided_at),
            h.primary_contact_id,
            h.alternate_contact_id,
            h.decline_reason_sealed,
            h.version,
            expected_version,
        )
        return changed > 0

    async def for_agency(self, agency_id: str, statuses: Sequence[str]) -> list[Handover]:
        dialect = self._conn.dialect
        rows = await self._conn.fetch(
            f"SELECT {_HANDOVER} FROM handovers WHERE receiving_agency_id = $1"
            f" AND status {dialect.any_of('$2')} ORDER BY accept_by, id",
            agency_id,
            dialect.list_param(list(statuses)),
        )
        return [_handover(row) for row in rows]

    async def any_due(self, now: datetime) -> bool:
        found = await self._conn.fetchval(
            "SELECT 1 FROM handovers WHERE alert_state = 'scheduled' AND status = 'requested'"
            " AND accept_by <= $1 LIMIT 1",
            ms(now),
        )
        return found is not None

    async def claim_due(self, now: datetime, limit: int) -> list[Handover]:
        """Requests past their acceptance deadline, each claimed once (compare-and-swap
        from scheduled to raised)."""
        rows = await self._conn.fetch(
            f"SELECT {_HANDOVER} FROM handovers WHERE alert_state = 'scheduled'"
            " AND status = 'requested' AND accept_by <= $1 ORDER BY accept_by LIMIT $2"
            f" {self._conn.dialect.skip_locked}",
            ms(now),
            limit,
        )
        if not rows:
            return []
        dialect = self._conn.dialect
        won = await self._conn.fetch(
            "UPDATE handovers SET alert_state = 'raised' WHERE alert_state = 'scheduled'"
            f" AND status = 'requested' AND id {dialect.any_of('$1')} RETURNING id",
            dialect.list_param([row["id"] for row in rows]),
        )
        ids = {row[0] for row in won}
        return [_handover(row) for row in rows if row["id"] in ids]

    async def add_consent(self, c: Consent) -> None:
        await self._conn.execute(
            "INSERT INTO handover_consents"
            " (id, case_id, witness_id, how, recorded_by, given_at, recorded_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7)",
            c.id,
            c.case_id,
            c.witness_id,
            c.how.value,
            c.recorded_by,
            ms(c.given_at),
            ms(c.recorded_at),
        )

    async def consents(self, case_id: str) -> list[Consent]:
        rows = await self._conn.fetch(
            "SELECT id, case_id, witness_id, how, recorded_by, given_at, recorded_at"
            " FROM handover_consents WHERE case_id = $1 ORDER BY recorded_at, id",
            case_id,
        )
        return [
            Consent(
                id=row["id"],
                case_id=row["case_id"],
                witness_id=row["witness_id"],
                how=ConsentHow(row["how"]),
                recorded_by=row["recorded_by"],
                given_at=dt(row["given_at"]),
                recorded_at=dt(row["recorded_at"]),
            )
            for row in rows
        ]


class SqlAssessmentRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def insert(self, a: Assessment) -> None:
        await self._conn.execute(
            f"INSERT INTO risk_assessments ({_ASSESSMENT})"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            a.id,
            a.case_id,
            a.witness_id,
            a.level.value,
            ",".join(f.value for f in a.factors),
            a.notes_sealed,
            a.assessed_by,
            ms(a.assessed_at),
            ms(a.review_due_at),
        )

    async def get(self, assessment_id: str) -> Assessment | None:
        row = await self._conn.fetchrow(
            f"SELECT {_ASSESSMENT} FROM risk_assessments WHERE id = $1", assessment_id
        )
        return None if row is None else _assessment(row)

    async def history(self, witness_id: str) -> list[Assessment]:
        """Every assessment of the witness, newest first."""
        rows = await self._conn.fetch(
            f"SELECT {_ASSESSMENT} FROM risk_assessments WHERE witness_id = $1"
            " ORDER BY assessed_at DESC, id DESC",
            witness_id,
        )
        return [_assessment(row) for row in rows]

    async def latest_for_witnesses(self, witness_ids: Sequence[str]) -> dict[str, Assessment]:
        if not witness_ids:
            return {}
        dialect = self._conn.dialect
        rows = await self._conn.fetch(
            f"SELECT {_ASSESSMENT} FROM risk_assessments"
            f" WHERE witness_id {dialect.any_of('$1')} ORDER BY assessed_at, id",
            dialect.list_param(list(witness_ids)),
        )
        return {row["witness_id"]: _assessment(row) for row in rows}

    async def supersede_deadlines(self, witness_id: str) -> int:
        return await self._conn.execute(
            "UPDATE review_deadlines SET state = 'superseded'"
            " WHERE witness_id = $1 AND state = 'scheduled'",
            witness_id,
        )

    async def insert_deadlines(self, deadlines: Sequence[ReviewDeadline]) -> None:
        await self._conn.executemany(
            f"INSERT INTO review_deadlines ({_DEADLINE}, state)"
            " VALUES ($1, $2, $3, $4, $5, $6, 'scheduled')",
            [
                (d.id, d.assessment_id, d.case_id, d.witness_id, d.kind.value, ms(d.due_at))
                for d in deadlines
            ],
        )

    async def any_due(self, now: datetime) -> bool:
        found = await self._conn.fetchval(
            "SELECT 1 FROM review_deadlines WHERE state = 'scheduled' AND due_at <= $1 LIMIT 1",
            ms(now),
        )
        return found is not None

    async def claim_due(self, now: datetime, limit: int) -> list[ReviewDeadline]:
        """Due review deadlines, each claimed once (compare-and-swap to done)."""
        rows = await self._conn.fetch(
            f"SELECT {_DEADLINE} FROM review_deadlines WHERE state = 'scheduled'"
            f" AND due_at <= $1 ORDER BY due_at LIMIT $2 {self._conn.dialect.skip_locked}",
            ms(now),
            limit,
        )
        if not rows:
            return []
        dialect = self._conn.dialect
        won = await self._conn.fetch(
            "UPDATE review_deadlines SET state = 'done', done_at = $2"
            f" WHERE state = 'scheduled' AND id {dialect.any_of('$1')} RETURNING id",
            dialect.list_param([row["id"] for row in rows]),
            ms(now),
        )
        ids = {row[0] for row in won}
        return [_deadline(row) for row in rows if row["id"] in ids]


async def erase_case(conn: Connection, case_id: str) -> int:
    """Delete every row of migration 19 for one case (retention erasure): handovers (the
    sealed decline reason, the named contacts), the witness's consents, the
    assessments (level, factors, sealed notes) and their review deadlines. Returns the
    number of rows deleted."""
    total = 0
    for statement in (
        "DELETE FROM review_deadlines WHERE case_id = $1",
        "DELETE FROM risk_assessments WHERE case_id = $1",
        "DELETE FROM handover_consents WHERE case_id = $1",
        "DELETE FROM handovers WHERE case_id = $1",
    ):
        total += await conn.execute(statement, case_id)
    return total
