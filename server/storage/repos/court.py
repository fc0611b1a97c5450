"""Appointments, their deadline rows, and staff calendar feeds."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from server.domain.court.models import (
    Appointment,
    AppointmentDeadline,
    AppointmentKind,
    AppointmentStatus,
    Confirmation,
    DeadlineKind,
    LocationKind,
)
from server.storage.database import Connection, Row
from server.storage.repos._rows import dt, ms, opt_dt, opt_ms
from server.storage.repos.bulk import bulk_insert

_COLUMNS = (
    "id, case_id, witness_id, kind, starts_at, ends_at, timezone, location_kind,"
    " interpreter_booked, interpreter_language, test_call_at, test_call_ends_at, confirm_by,"
    " status, confirmation, confirmed_at, test_ready_at, ready_at, version, created_by,"
    " created_at, updated_at"
)
_DEADLINE_COLUMNS = (
    "id, appointment_id, case_id, witness_id, kind, offset_minutes, due_at, appointment_version"
)
_DEADLINE_INSERT = [
    ("id", "text"),
    ("appointment_id", "text"),
    ("case_id", "text"),
    ("witness_id", "text"),
    ("kind", "text"),
    ("offset_minutes", "int"),
    ("due_at", "bigint"),
    ("state", "text"),
    ("appointment_version", "int"),
]


def _appointment(row: Row) -> Appointment:
    return Appointment(
        id=row["id"],
        case_id=row["case_id"],
        witness_id=row["witness_id"],
        kind=AppointmentKind(row["kind"]),
        starts_at=dt(row["starts_at"]),
        ends_at=dt(row["ends_at"]),
        timezone=row["timezone"],
        location_kind=None if row["location_kind"] is None else LocationKind(row["location_kind"]),
        interpreter_booked=bool(row["interpreter_booked"]),
        interpreter_language=row["interpreter_language"],
        test_call_at=opt_dt(row["test_call_at"]),
        test_call_ends_at=opt_dt(row["test_call_ends_at"]),
        confirm_by=opt_dt(row["confirm_by"]),
        status=AppointmentStatus(row["status"]),
        confirmation=Confirmation(row["confirmation"]),
        confirmed_at=opt_dt(row["confirmed_at"]),
        test_ready_at=opt_dt(row["test_ready_at"]),
        ready_at=opt_dt(row["ready_at"]),
        version=int(row["version"]),
        created_by=row["created_by"],
        created_at=dt(row["created_at"]),
        updated_at=dt(row["updated_at"]),
    )


def _deadline(row: Row) -> AppointmentDeadline:
    return AppointmentDeadline(
        id=row["id"],
        appointment_id=row["appointment_id"],
        case_id=row["case_id"],
        witness_id=row["witness_id"],
        kind=DeadlineKind(row["kind"]),
        offset_minutes=row["offset_minutes"],
        due_at=dt(row["due_at"]),
        appointment_version=int(row["appointment_version"]),
    )


class SqlAppointmentRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def _values(self, a: Appointment) -> tuple[object, ...]:
        return (
            a.id,
            a.case_id,
            a.witness_id,
            a.kind.value,
            ms(a.starts_at),
            ms(a.ends_at),
            a.timezone,
            None if a.location_kind is None else a.location_kind.value,
            a.interpreter_booked,
            a.interpreter_language,
            opt_ms(a.test_call_at),
            opt_ms(a.test_call_ends_at),
            opt_ms(a.confirm_by),
            a.status.value,
            a.confirmation.value,
            opt_ms(a.confirmed_at),
            opt_ms(a.test_ready_at),
            opt_ms(a.ready_at),
            a.version,
            a.created_by,
            ms(a.created_at),
            ms(a.updated_at),
        )

    async def insert(self, appointment: Appointment) -> None:
        placeholders = ", ".join(f"${i}" for i in range(1, 23))
        await self._conn.execute(
            f"INSERT INTO appointments ({_COLUMNS}) VALUES ({placeholders})",
            *self._values(appointment),
        )

    async def save(self, appointment: Appointment, expected_version: int) -> bool:
        """Replace every field, if nobody changed the row since ``expected_version``."""
        names = [c.strip() for c in _COLUMNS.split(",")]
        assignments = ", ".join(f"{name} = ${i + 1}" for i, name in enumerate(names) if i > 0)
        changed = await self._conn.execute(
            f"UPDATE appointments SET {assignments} WHERE id = $1 AND version = $23",
            *self._values(appointment),
            expected_version,
        )
        return changed > 0

    async def get(self, appointment_id: str) -> Appointment | None:
        row = await self._conn.fetchrow(
            f"SELECT {_COLUMNS} FROM appointments WHERE id = $1", appointment_id
        )
        return None if row is None else _appointment(row)

    async def list_for_cases(
        self, case_ids: Sequence[str], *, since: datetime | None = None
    ) -> list[Appointment]:
        if not case_ids:
            return []
        dialect = self._conn.dialect
        rows = await self._conn.fetch(
            f"SELECT {_COLUMNS} FROM appointments WHERE case_id {dialect.any_of('$1')}"
            " AND ends_at >= $2 ORDER BY starts_at, id",
            dialect.list_param(list(case_ids)),
            0 if since is None else ms(since),
        )
        return [_appointment(row) for row in rows]

    async def list_for_witness(self, witness_id: str, *, since: datetime) -> list[Appointment]:
        rows = await self._conn.fetch(
            f"SELECT {_COLUMNS} FROM appointments WHERE witness_id = $1 AND ends_at >= $2"
            " ORDER BY starts_at, id",
            witness_id,
            ms(since),
        )
        return [_appointment(row) for row in rows]


class SqlDeadlineRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def insert_many(self, deadlines: Sequence[AppointmentDeadline]) -> None:
        rows = [
            (
                d.id,
                d.appointment_id,
                d.case_id,
                d.witness_id,
                d.kind.value,
                d.offset_minutes,
                ms(d.due_at),
                "scheduled",
                d.appointment_version,
            )
            for d in deadlines
        ]
        await bulk_insert(self._conn, "appointment_deadlines", _DEADLINE_INSERT, rows)

    async def supersede(self, appointment_id: str) -> int:
        return await self._conn.execute(
            "UPDATE appointment_deadlines SET state = 'superseded'"
            " WHERE appointment_id = $1 AND state = 'scheduled'",
            appointment_id,
        )

    async def any_due(self, now: datetime) -> bool:
        found = await self._conn.fetchval(
            "SELECT 1 FROM appointment_deadlines WHERE state = 'scheduled' AND due_at <= $1"
            " LIMIT 1",
            ms(now),
        )
        return found is not None

    async def due(self, now: datetime, limit: int) -> list[AppointmentDeadline]:
        rows = await self._conn.fetch(
            f"SELECT {_DEADLINE_COLUMNS} FROM appointment_deadlines"
            " WHERE state = 'scheduled' AND due_at <= $1 ORDER BY due_at LIMIT $2"
            f" {self._conn.dialect.skip_locked}",
            ms(now),
            limit,
        )
        return [_deadline(row) for row in rows]

    async def mark_done(self, ids: Sequence[str], at: datetime) -> set[str]:
        """Mark scheduled deadlines done (compare-and-swap); returns those that were."""
        if not ids:
            return set()
        dialect = self._conn.dialect
        rows = await self._conn.fetch(
            "UPDATE appointment_deadlines SET state = 'done', done_at = $2"
            f" WHERE state = 'scheduled' AND id {dialect.any_of('$1')} RETURNING id",
            dialect.list_param(list(ids)),
            ms(at),
        )
        return {row[0] for row in rows}

    async def scheduled_for(self, appointment_id: str) -> list[AppointmentDeadline]:
        rows = await self._conn.fetch(
            f"SELECT {_DEADLINE_COLUMNS} FROM appointment_deadlines"
            " WHERE appointment_id = $1 AND state = 'scheduled' ORDER BY due_at",
            appointment_id,
        )
        return [_deadline(row) for row in rows]


class SqlCalendarFeedRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def put(self, staff_id: str, token_hash: bytes, at: datetime) -> None:
        await self._conn.execute(
            "INSERT INTO calendar_feeds (staff_id, token_hash, created_at) VALUES ($1, $2, $3)"
            " ON CONFLICT (staff_id) DO UPDATE SET token_hash = excluded.token_hash,"
            " created_at = excluded.created_at",
            staff_id,
            token_hash,
            ms(at),
        )

    async def delete(self, staff_id: str) -> bool:
        return (
            await self._conn.execute("DELETE FROM calendar_feeds WHERE staff_id = $1", staff_id) > 0
        )

    async def owner(self, token_hash: bytes) -> str | None:
        value = await self._conn.fetchval(
            "SELECT staff_id FROM calendar_feeds WHERE token_hash = $1", token_hash
        )
        return None if value is None else str(value)
