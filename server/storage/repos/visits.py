"""Visit plans and visits (migration 20), and their erasure with the case."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from server.domain.risk_levels import RiskLevel
from server.domain.visit_models import DoorAnswer, Visit, VisitOutcome, VisitPlan, VisitStatus
from server.storage.database import Connection, Row
from server.storage.repos._rows import dt, ms, opt_dt, opt_ms

_PLAN_COLUMNS = "witness_id, case_id, every_days, risk_level, updated_by, updated_at"
_COLUMNS = (
    "id, case_id, witness_id, visitor_staff_id, window_start, window_end, due_at, status,"
    " version, outcome, seen_alone, concerns_sealed, recorded_by, recorded_at, door_answer,"
    " door_answered_at, created_by, created_at"
)
_NAMES = [c.strip() for c in _COLUMNS.split(",")]


def _plan(row: Row) -> VisitPlan:
    return VisitPlan(
        witness_id=row["witness_id"],
        case_id=row["case_id"],
        every_days=int(row["every_days"]),
        risk_level=RiskLevel(row["risk_level"]),
        updated_by=row["updated_by"],
        updated_at=dt(row["updated_at"]),
    )


def _visit(row: Row) -> Visit:
    sealed = row["concerns_sealed"]
    return Visit(
        id=row["id"],
        case_id=row["case_id"],
        witness_id=row["witness_id"],
        visitor_staff_id=row["visitor_staff_id"],
        window_start=dt(row["window_start"]),
        window_end=dt(row["window_end"]),
        due_at=opt_dt(row["due_at"]),
        status=VisitStatus(row["status"]),
        version=int(row["version"]),
        outcome=None if row["outcome"] is None else VisitOutcome(row["outcome"]),
        seen_alone=None if row["seen_alone"] is None else bool(row["seen_alone"]),
        concerns_sealed=None if sealed is None else bytes(sealed),
        recorded_by=row["recorded_by"],
        recorded_at=opt_dt(row["recorded_at"]),
        door_answer=None if row["door_answer"] is None else DoorAnswer(row["door_answer"]),
        door_answered_at=opt_dt(row["door_answered_at"]),
        created_by=row["created_by"],
        created_at=dt(row["created_at"]),
    )


def _values(v: Visit) -> tuple[object, ...]:
    return (
        v.id,
        v.case_id,
        v.witness_id,
        v.visitor_staff_id,
        ms(v.window_start),
        ms(v.window_end),
        opt_ms(v.due_at),
        v.status.value,
        v.version,
        None if v.outcome is None else v.outcome.value,
        v.seen_alone,
        v.concerns_sealed,
        v.recorded_by,
        opt_ms(v.recorded_at),
        None if v.door_answer is None else v.door_answer.value,
        opt_ms(v.door_answered_at),
        v.created_by,
        ms(v.created_at),
    )


class SqlVisitRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    # ------------------------------------------------------------------ plans

    async def put_plan(self, plan: VisitPlan) -> None:
        await self._conn.execute(
            f"INSERT INTO visit_plans ({_PLAN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"
            " ON CONFLICT (witness_id) DO UPDATE SET every_days = excluded.every_days,"
            " risk_level = excluded.risk_level, updated_by = excluded.updated_by,"
            " updated_at = excluded.updated_at",
            plan.witness_id,
            plan.case_id,
            plan.every_days,
            plan.risk_level.value,
            plan.updated_by,
            ms(plan.updated_at),
        )

    async def plan(self, witness_id: str) -> VisitPlan | None:
        row = await self._conn.fetchrow(
            f"SELECT {_PLAN_COLUMNS} FROM visit_plans WHERE witness_id = $1", witness_id
        )
        return None if row is None else _plan(row)

    # ------------------------------------------------------------------ visits

    async def insert(self, visit: Visit) -> None:
        placeholders = ", ".join(f"${i}" for i in range(1, len(_NAMES) + 1))
        await self._conn.execute(
            f"INSERT INTO visits ({_COLUMNS}) VALUES ({placeholders})", *_values(visit)
        )

    async def save(self, visit: Visit, expected_version: int) -> bool:
        """Replace every field if nobody changed the row since ``expected_version``."""
        assignments = ", ".join(f"{name} = ${i + 1}" for i, name in enumerate(_NAMES) if i > 0)
        changed = await self._conn.execute(
            f"UPDATE visits SET {assignments} WHERE id = $1 AND version = ${len(_NAMES) + 1}",
            *_values(visit),
            expected_version,
        )
        return changed > 0

    async def get(self, visit_id: str) -> Visit | None:
        row = await self._conn.fetchrow(f"SELECT {_COLUMNS} FROM visits WHERE id = $1", visit_id)
        return None if row is None else _visit(row)

    async def for_case(self, case_id: str, *, limit: int = 100) -> list[Visit]:
        rows = await self._conn.fetch(
            f"SELECT {_COLUMNS} FROM visits WHERE case_id = $1"
            " ORDER BY window_start DESC, id LIMIT $2",
            case_id,
            limit,
        )
        return [_visit(row) for row in rows]

    async def next_for_cases(self, case_ids: Sequence[str]) -> dict[str, datetime]:
        """Each case's earliest visit still scheduled (its window start)."""
        if not case_ids:
            return {}
        dialect = self._conn.dialect
        rows = await self._conn.fetch(
            "SELECT case_id, MIN(window_start) AS next_at FROM visits"
            f" WHERE status = 'scheduled' AND case_id {dialect.any_of('$1')} GROUP BY case_id",
            dialect.list_param(list(case_ids)),
        )
        return {row["case_id"]: dt(row["next_at"]) for row in rows}

    async def scheduled_for_cases(self, case_ids: Sequence[str], *, since: datetime) -> list[Visit]:
        """Scheduled visits of these cases whose window ends after ``since``."""
        if not case_ids:
            return []
        dialect = self._conn.dialect
        rows = await self._conn.fetch(
            f"SELECT {_COLUMNS} FROM visits WHERE status = 'scheduled'"
            f" AND case_id {dialect.any_of('$1')} AND window_end >= $2"
            " ORDER BY window_start, id",
            dialect.list_param(list(case_ids)),
            ms(since),
        )
        return [_visit(row) for row in rows]

    async def due(self, now: datetime, limit: int) -> list[Visit]:
        """Scheduled visits past their window and grace, not yet claimed."""
        rows = await self._conn.fetch(
            f"SELECT {_COLUMNS} FROM visits WHERE status = 'scheduled' AND due_at <= $1"
            f" ORDER BY due_at LIMIT $2 {self._conn.dialect.skip_locked}",
            ms(now),
            limit,
        )
        return [_visit(row) for row in rows]

    async def claim_due(self, ids: Sequence[str]) -> set[str]:
        """Clear the due time of still-scheduled visits (compare-and-swap); returns the
        ids claimed, so an overdue visit is reported once across instances."""
        if not ids:
            return set()
        dialect = self._conn.dialect
        rows = await self._conn.fetch(
            "UPDATE visits SET due_at = NULL WHERE status = 'scheduled'"
            f" AND due_at IS NOT NULL AND id {dialect.any_of('$1')} RETURNING id",
            dialect.list_param(list(ids)),
        )
        return {row[0] for row in rows}

    async def cancel_open(self, case_id: str) -> int:
        """Cancel every scheduled visit of a case (the case closes)."""
        return await self._conn.execute(
            "UPDATE visits SET status = 'cancelled', due_at = NULL, version = version + 1"
            " WHERE case_id = $1 AND status = 'scheduled'",
            case_id,
        )


async def erase_case(conn: Connection, case_id: str) -> int:
    """Delete every visit and the visit plan of a case (the retention erasure): the
    rows hold the visit history, outcomes, "seen alone", the sealed concerns, door
    answers and who visited when. Returns the number of rows deleted."""
    visits = await conn.execute("DELETE FROM visits WHERE case_id = $1", case_id)
    plans = await conn.execute("DELETE FROM visit_plans WHERE case_id = $1", case_id)
    return int(visits) + int(plans)
