"""Check-in plans and occurrences, case welfare settings, and witness contact."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from server.clock import from_ms
from server.domain.welfare_models import (
    CaseSettings,
    CheckIn,
    CheckInPlanRecord,
    CheckInState,
    CheckInStep,
    Response,
    WitnessContact,
)
from server.storage.database import Connection, Row
from server.storage.protocols import CheckInChange
from server.storage.repos._rows import dt, ms, opt_dt, opt_ms
from server.storage.repos.bulk import bulk_insert, bulk_update

_PLAN_COLUMNS = (
    "witness_id, case_id, kind, every_hours, anchor_local, weekdays, times, timezone,"
    " window_minutes, grace_minutes, reminder_minutes, paused_reason, paused_until, version,"
    " updated_by, updated_at"
)
_CHECKIN_COLUMNS = (
    "id, witness_id, case_id, plan_version, due_at, closes_at, deadline_at, remind_at, state,"
    " step, next_action_at, nonce, prompted_at, answered_at, response, response_channel, version"
)
_CONTACT_COLUMNS = (
    "witness_id, case_id, last_heartbeat_at, last_contact_at, silent_deadline_at, battery"
)


def _plan(row: Row) -> CheckInPlanRecord:
    return CheckInPlanRecord(
        witness_id=row["witness_id"],
        case_id=row["case_id"],
        kind=row["kind"],
        every_hours=row["every_hours"],
        anchor_local=row["anchor_local"],
        weekdays=row["weekdays"],
        times=row["times"],
        timezone=row["timezone"],
        window_minutes=int(row["window_minutes"]),
        grace_minutes=int(row["grace_minutes"]),
        reminder_minutes=int(row["reminder_minutes"]),
        paused_reason=row["paused_reason"],
        paused_until=opt_dt(row["paused_until"]),
        version=int(row["version"]),
        updated_by=row["updated_by"],
        updated_at=dt(row["updated_at"]),
    )


_STATES = {state.value: state for state in CheckInState}
_STEPS = {step.value: step for step in CheckInStep}
_RESPONSES = {response.value: response for response in Response}


def _checkin(row: Row) -> CheckIn:
    # Positional and with enum lookups by dict: a lapse wave reads tens of thousands.
    (
        checkin_id,
        witness_id,
        case_id,
        plan_version,
        due_at,
        closes_at,
        deadline_at,
        remind_at,
        state,
        step,
        next_action_at,
        nonce,
        prompted_at,
        answered_at,
        response,
        response_channel,
        version,
    ) = row
    return CheckIn(
        id=checkin_id,
        witness_id=witness_id,
        case_id=case_id,
        plan_version=int(plan_version),
        due_at=from_ms(due_at),
        closes_at=from_ms(closes_at),
        deadline_at=from_ms(deadline_at),
        remind_at=None if remind_at is None else from_ms(remind_at),
        state=_STATES[state],
        step=None if step is None else _STEPS[step],
        next_action_at=None if next_action_at is None else from_ms(next_action_at),
        nonce=nonce,
        prompted_at=None if prompted_at is None else from_ms(prompted_at),
        answered_at=None if answered_at is None else from_ms(answered_at),
        response=None if response is None else _RESPONSES[response],
        response_channel=response_channel,
        version=int(version),
    )


def _contact(row: Row) -> WitnessContact:
    return WitnessContact(
        witness_id=row["witness_id"],
        case_id=row["case_id"],
        last_heartbeat_at=opt_dt(row["last_heartbeat_at"]),
        last_contact_at=opt_dt(row["last_contact_at"]),
        silent_deadline_at=opt_dt(row["silent_deadline_at"]),
        battery=row["battery"],
    )


class SqlCaseSettingsRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def get(self, case_id: str) -> CaseSettings | None:
        return (await self.get_many([case_id])).get(case_id)

    async def get_many(self, case_ids: Sequence[str]) -> dict[str, CaseSettings]:
        if not case_ids:
            return {}
        dialect = self._conn.dialect
        rows = await self._conn.fetch(
            "SELECT case_id, nudge_text, offline_after_s, silent_after_s, reminder_offsets"
            " FROM case_settings"
            f" WHERE case_id {dialect.any_of('$1')}",
            dialect.list_param(list(case_ids)),
        )
        return {
            row[0]: CaseSettings(
                row[0],
                row[1],
                int(row[2]),
                int(row[3]),
                None if row[4] is None else tuple(int(m) for m in str(row[4]).split(",") if m),
            )
            for row in rows
        }

    async def put(self, settings: CaseSettings, updated_by: str, at: datetime) -> None:
        await self._conn.execute(
            "INSERT INTO case_settings (case_id, nudge_text, offline_after_s, silent_after_s,"
            " updated_by, updated_at, reminder_offsets) VALUES ($1, $2, $3, $4, $5, $6, $7)"
            " ON CONFLICT (case_id) DO UPDATE SET nudge_text = excluded.nudge_text,"
            " offline_after_s = excluded.offline_after_s,"
            " silent_after_s = excluded.silent_after_s,"
            " reminder_offsets = excluded.reminder_offsets,"
            " updated_by = excluded.updated_by, updated_at = excluded.updated_at",
            settings.case_id,
            settings.nudge_text,
            settings.offline_after_s,
            settings.silent_after_s,
            updated_by,
            ms(at),
            None
            if settings.reminder_offsets is None
            else ",".join(str(m) for m in settings.reminder_offsets),
        )


class SqlPlanRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def get(self, witness_id: str) -> CheckInPlanRecord | None:
        return (await self.get_many([witness_id])).get(witness_id)

    async def get_many(self, witness_ids: Sequence[str]) -> dict[str, CheckInPlanRecord]:
        if not witness_ids:
            return {}
        dialect = self._conn.dialect
        rows = await self._conn.fetch(
            f"SELECT {_PLAN_COLUMNS} FROM checkin_plans WHERE witness_id {dialect.any_of('$1')}",
            dialect.list_param(list(witness_ids)),
        )
        return {row["witness_id"]: _plan(row) for row in rows}

    async def put(self, plan: CheckInPlanRecord) -> None:
        updates = ", ".join(
            f"{c.strip()} = excluded.{c.strip()}" for c in _PLAN_COLUMNS.split(",")[1:]
        )
        await self._conn.execute(
            f"INSERT INTO checkin_plans ({_PLAN_COLUMNS}) VALUES"
            " ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
            f" ON CONFLICT (witness_id) DO UPDATE SET {updates}",
            plan.witness_id,
            plan.case_id,
            plan.kind,
            plan.every_hours,
            plan.anchor_local,
            plan.weekdays,
            plan.times,
            plan.timezone,
            plan.window_minutes,
            plan.grace_minutes,
            plan.reminder_minutes,
            plan.paused_reason,
            opt_ms(plan.paused_until),
            plan.version,
            plan.updated_by,
            ms(plan.updated_at),
        )

    async def due_resumes(self, now: datetime, limit: int) -> list[CheckInPlanRecord]:
        rows = await self._conn.fetch(
            f"SELECT {_PLAN_COLUMNS} FROM checkin_plans WHERE paused_until <= $1"
            f" ORDER BY paused_until LIMIT $2 {self._conn.dialect.skip_locked}",
            ms(now),
            limit,
        )
        return [_plan(row) for row in rows]


_CHECKIN_INSERT_COLUMNS = [
    ("id", "text"),
    ("witness_id", "text"),
    ("case_id", "text"),
    ("plan_version", "int"),
    ("due_at", "bigint"),
    ("closes_at", "bigint"),
    ("deadline_at", "bigint"),
    ("remind_at", "bigint"),
    ("state", "text"),
    ("step", "text"),
    ("next_action_at", "bigint"),
    ("nonce", "text"),
]


_CHECKIN_CHANGE_COLUMNS = [
    ("id", "text"),
    ("version", "int"),
    ("state", "text"),
    ("step", "text"),
    ("next_action_at", "bigint"),
    ("prompted_at", "bigint"),
    ("reminded_at", "bigint"),
    ("nudged_at", "bigint"),
]


class SqlCheckInRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def insert_many(self, checkins: Sequence[CheckIn]) -> None:
        rows = [
            (
                c.id,
                c.witness_id,
                c.case_id,
                c.plan_version,
                ms(c.due_at),
                ms(c.closes_at),
                ms(c.deadline_at),
                opt_ms(c.remind_at),
                c.state.value,
                None if c.step is None else c.step.value,
                opt_ms(c.next_action_at),
                c.nonce,
            )
            for c in checkins
        ]
        await bulk_insert(self._conn, "checkins", _CHECKIN_INSERT_COLUMNS, rows)

    async def get(self, checkin_id: str) -> CheckIn | None:
        row = await self._conn.fetchrow(
            f"SELECT {_CHECKIN_COLUMNS} FROM checkins WHERE id = $1", checkin_id
        )
        return None if row is None else _checkin(row)

    async def current(self, witness_id: str) -> CheckIn | None:
        row = await self._conn.fetchrow(
            f"SELECT {_CHECKIN_COLUMNS} FROM checkins WHERE witness_id = $1"
            " AND state IN ('open', 'scheduled')"
            " ORDER BY CASE state WHEN 'open' THEN 0 ELSE 1 END, due_at LIMIT 1",
            witness_id,
        )
        return None if row is None else _checkin(row)

    async def any_due(self, now: datetime) -> bool:
        found = await self._conn.fetchval(
            "SELECT 1 FROM checkins WHERE next_action_at <= $1 LIMIT 1", ms(now)
        )
        return found is not None

    async def due(
        self,
        now: datetime,
        limit: int,
        *,
        skip: Sequence[str] = (),
        steps: Sequence[CheckInStep] | None = None,
    ) -> list[CheckIn]:
        dialect = self._conn.dialect
        wanted = [s.value for s in (CheckInStep if steps is None else steps)]
        rows = await self._conn.fetch(
            f"SELECT {_CHECKIN_COLUMNS} FROM checkins WHERE next_action_at <= $1"
            f" AND NOT (id {dialect.any_of('$3')}) AND step {dialect.any_of('$4')}"
            " ORDER BY next_action_at LIMIT $2",
            ms(now),
            limit,
            dialect.list_param(list(skip)),
            dialect.list_param(wanted),
        )
        return [_checkin(row) for row in rows]

    async def apply(self, changes: Sequence[CheckInChange]) -> set[str]:
        rows = [
            (
                c.id,
                c.version,
                c.state,
                c.step,
                opt_ms(c.next_action_at),
                opt_ms(c.prompted_at),
                opt_ms(c.reminded_at),
                opt_ms(c.nudged_at),
            )
            for c in changes
        ]
        applied = await bulk_update(
            self._conn,
            "checkins",
            _CHECKIN_CHANGE_COLUMNS,
            rows,
            assignments="state = v.state, step = v.step, next_action_at = v.next_action_at,"
            " prompted_at = COALESCE(v.prompted_at, checkins.prompted_at),"
            " reminded_at = COALESCE(v.reminded_at, checkins.reminded_at),"
            " nudged_at = COALESCE(v.nudged_at, checkins.nudged_at),"
            " version = checkins.version + 1",
            condition="checkins.id = v.id AND checkins.version = v.version",
            returning="checkins.id",
        )
        return {row[0] for row in applied}

    async def answer(
        self, checkin_id: str, witness_id: str, response: Response, channel: str, at: datetime
    ) -> CheckIn | None:
        row = await self._conn.fetchrow(
            "UPDATE checkins SET state = 'answered', step = NULL, next_action_at = NULL,"
            " answered_at = $3, response = $4, response_channel = $5, version = version + 1"
            " WHERE id = $1 AND witness_id = $2 AND state = 'open'"
            f" RETURNING {_CHECKIN_COLUMNS}",
            checkin_id,
            witness_id,
            ms(at),
            response.value,
            channel,
        )
        return None if row is None else _checkin(row)

    async def current_many(self, witness_ids: Sequence[str]) -> dict[str, CheckIn]:
        if not witness_ids:
            return {}
        dialect = self._conn.dialect
        rows = await self._conn.fetch(
            f"SELECT {_CHECKIN_COLUMNS} FROM checkins WHERE state IN ('open', 'scheduled')"
            f" AND witness_id {dialect.any_of('$1')}"
            " ORDER BY witness_id, CASE state WHEN 'open' THEN 0 ELSE 1 END, due_at",
            dialect.list_param(list(witness_ids)),
        )
        found: dict[str, CheckIn] = {}
        for row in rows:
            found.setdefault(row["witness_id"], _checkin(row))
        return found

    async def cancel_open(self, witness_id: str) -> list[str]:
        rows = await self._conn.fetch(
            "UPDATE checkins SET state = 'cancelled', step = NULL, next_action_at = NULL,"
            " version = version + 1 WHERE witness_id = $1 AND state = 'open' RETURNING id",
            witness_id,
        )
        return [row[0] for row in rows]

    async def cancel_scheduled(self, witness_id: str) -> int:
        return await self._conn.execute(
            "UPDATE checkins SET state = 'cancelled', step = NULL, next_action_at = NULL,"
            " version = version + 1 WHERE witness_id = $1 AND state = 'scheduled'",
            witness_id,
        )

    async def history(self, witness_id: str, limit: int) -> list[CheckIn]:
        rows = await self._conn.fetch(
            f"SELECT {_CHECKIN_COLUMNS} FROM checkins WHERE witness_id = $1"
            " AND state <> 'cancelled' ORDER BY due_at DESC LIMIT $2",
            witness_id,
            limit,
        )
        return [_checkin(row) for row in rows]


class SqlContactRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def get(self, witness_id: str) -> WitnessContact | None:
        return (await self.get_many([witness_id])).get(witness_id)

    async def get_many(self, witness_ids: Sequence[str]) -> dict[str, WitnessContact]:
        if not witness_ids:
            return {}
        dialect = self._conn.dialect
        rows = await self._conn.fetch(
            f"SELECT {_CONTACT_COLUMNS} FROM witness_contact"
            f" WHERE witness_id {dialect.any_of('$1')}",
            dialect.list_param(list(witness_ids)),
        )
        return {row["witness_id"]: _contact(row) for row in rows}

    async def record(
        self,
        witness_id: str,
        case_id: str,
        at: datetime,
        silent_deadline_at: datetime,
        *,
        heartbeat: bool,
        battery: int | None,
    ) -> None:
        heartbeat_at = ms(at) if heartbeat else None
        await self._conn.execute(
            f"INSERT INTO witness_contact ({_CONTACT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"
            " ON CONFLICT (witness_id) DO UPDATE SET"
            " last_heartbeat_at = COALESCE(excluded.last_heartbeat_at,"
            "   witness_contact.last_heartbeat_at),"
            " last_contact_at = excluded.last_contact_at,"
            " silent_deadline_at = excluded.silent_deadline_at,"
            " battery = COALESCE(excluded.battery, witness_contact.battery)",
            witness_id,
            case_id,
            heartbeat_at,
            ms(at),
            ms(silent_deadline_at),
            battery,
        )

    async def due_silences(self, now: datetime, limit: int) -> list[WitnessContact]:
        rows = await self._conn.fetch(
            f"SELECT {_CONTACT_COLUMNS} FROM witness_contact WHERE silent_deadline_at <= $1"
            # A closed case's phone may still report until it is retired: no alerts.
            " AND case_id NOT IN (SELECT id FROM cases WHERE closed_at IS NOT NULL)"
            f" ORDER BY silent_deadline_at LIMIT $2 {self._conn.dialect.skip_locked}",
            ms(now),
            limit,
        )
        return [_contact(row) for row in rows]

    async def clear_deadlines(self, witness_ids: Sequence[str]) -> None:
        if not witness_ids:
            return
        dialect = self._conn.dialect
        await self._conn.execute(
            "UPDATE witness_contact SET silent_deadline_at = NULL"
            f" WHERE witness_id {dialect.any_of('$1')}",
            dialect.list_param(list(witness_ids)),
        )
