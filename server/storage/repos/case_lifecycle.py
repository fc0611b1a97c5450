"""A case's life after it is opened: its periodic review, its closing (outcome category,
when its phones are retired, when its personal data is erased) and the sweeps' claims.

Every sweep claim is a compare-and-swap on the due column (``UPDATE … WHERE id = $1 AND
col = $2``), so two instances never act twice on one due row and a crash before the
commit leaves the row due for the next sweep.
"""

from __future__ import annotations

from datetime import datetime

from server.domain.lifecycle_models import CaseLifecycleRow, EnrolmentStateRow
from server.storage.database import Connection
from server.storage.repos._rows import dt, ms, opt_dt

_COLUMNS = (
    "id, outcome, closed_by, closed_at, retire_phones_at, erase_at, erased_at,"
    " review_due_at, review_reminded_at"
)


class SqlCaseLifecycleRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def get(self, case_id: str) -> CaseLifecycleRow | None:
        row = await self._conn.fetchrow(f"SELECT {_COLUMNS} FROM cases WHERE id = $1", case_id)
        if row is None:
            return None
        return CaseLifecycleRow(
            case_id=row[0],
            outcome=row[1],
            closed_by=row[2],
            closed_at=opt_dt(row[3]),
            retire_phones_at=opt_dt(row[4]),
            erase_at=opt_dt(row[5]),
            erased_at=opt_dt(row[6]),
            review_due_at=opt_dt(row[7]),
            review_reminded_at=opt_dt(row[8]),
        )

    async def reviews_for(self, case_ids: list[str]) -> dict[str, datetime]:
        """Review dates of the open cases among ``case_ids``."""
        if not case_ids:
            return {}
        dialect = self._conn.dialect
        rows = await self._conn.fetch(
            "SELECT id, review_due_at FROM cases WHERE review_due_at IS NOT NULL"
            f" AND closed_at IS NULL AND id {dialect.any_of('$1')}",
            dialect.list_param(case_ids),
        )
        return {row[0]: dt(row[1]) for row in rows}

    async def set_review(self, case_id: str, due_at: datetime | None) -> None:
        await self._conn.execute(
            "UPDATE cases SET review_due_at = $2, review_reminded_at = NULL WHERE id = $1",
            case_id,
            None if due_at is None else ms(due_at),
        )

    async def close(
        self,
        case_id: str,
        *,
        at: datetime,
        outcome: str,
        closed_by: str,
        retire_phones_at: datetime,
        erase_at: datetime,
    ) -> bool:
        """Close an open case; False (and nothing changed) if it was already closed."""
        changed = await self._conn.execute(
            "UPDATE cases SET closed_at = $2, outcome = $3, closed_by = $4,"
            " retire_phones_at = $5, erase_at = $6, review_due_at = NULL"
            " WHERE id = $1 AND closed_at IS NULL",
            case_id,
            ms(at),
            outcome,
            closed_by,
            ms(retire_phones_at),
            ms(erase_at),
        )
        return changed > 0

    async def stop_schedules(self, case_id: str) -> int:
        """Stop everything that would still fire for a closed case: scheduled and open
        check-ins, the plan that makes new ones, appointment deadlines (reminders,
        confirm-by), and the silence deadline. Returns the rows changed."""
        changed = await self._conn.execute(
            "UPDATE checkins SET state = 'cancelled', step = NULL, next_action_at = NULL,"
            " version = version + 1 WHERE case_id = $1 AND state IN ('scheduled', 'open')",
            case_id,
        )
        changed += await self._conn.execute("DELETE FROM checkin_plans WHERE case_id = $1", case_id)
        changed += await self._conn.execute(
            "UPDATE appointment_deadlines SET state = 'superseded'"
            " WHERE case_id = $1 AND state = 'scheduled'",
            case_id,
        )
        changed += await self._conn.execute(
            "UPDATE witness_contact SET silent_deadline_at = NULL WHERE case_id = $1", case_id
        )
        return changed

    async def due_retirements(self, now: datetime, limit: int) -> list[str]:
        """Closed cases whose phones are still to be retired: those whose grace period
        ended, and those whose phones have received every message sent since the
        close (the outcome among them) — at least one such message, none waiting."""
        rows = await self._conn.fetch(
            "SELECT c.id FROM cases c WHERE c.retire_phones_at IS NOT NULL AND ("
            " c.retire_phones_at <= $1 OR ("
            "  EXISTS (SELECT 1 FROM sent_messages s WHERE s.case_id = c.id"
            "          AND s.created_at >= c.closed_at)"
            "  AND NOT EXISTS (SELECT 1 FROM message_copies m WHERE m.case_id = c.id"
            "          AND m.recipient_device_id IN (SELECT d.id FROM devices d"
            "              JOIN witnesses w ON d.owner_kind = 'witness' AND d.owner_id = w.id"
            "              WHERE w.case_id = c.id AND d.revoked_at IS NULL))))"
            " ORDER BY c.retire_phones_at LIMIT $2",
            ms(now),
            limit,
        )
        return [row[0] for row in rows]

    async def claim_retirement(self, case_id: str) -> bool:
        """Take the retirement of ``case_id``'s phones (once, across instances)."""
        changed = await self._conn.execute(
            "UPDATE cases SET retire_phones_at = NULL WHERE id = $1"
            " AND retire_phones_at IS NOT NULL",
            case_id,
        )
        return changed > 0

    async def due_erasures(self, now: datetime, limit: int) -> list[str]:
        rows = await self._conn.fetch(
            "SELECT id FROM cases WHERE erase_at IS NOT NULL AND erase_at <= $1"
            " ORDER BY erase_at, id LIMIT $2",
            ms(now),
            limit,
        )
        return [row[0] for row in rows]

    async def finish_erasure(self, case_id: str, at: datetime, placeholder: str) -> bool:
        """Mark the erasure done (in the transaction that did the last step)."""
        changed = await self._conn.execute(
            "UPDATE cases SET erase_at = NULL, erased_at = $2, reference = $3"
            " WHERE id = $1 AND erase_at IS NOT NULL",
            case_id,
            ms(at),
            placeholder,
        )
        return changed > 0

    async def due_reviews(self, now: datetime, limit: int) -> list[tuple[str, datetime]]:
        """Open cases whose review fell due and whose team was not yet reminded."""
        rows = await self._conn.fetch(
            "SELECT id, review_due_at FROM cases WHERE closed_at IS NULL"
            " AND review_due_at <= $1 AND review_reminded_at IS NULL"
            " ORDER BY review_due_at, id LIMIT $2",
            ms(now),
            limit,
        )
        return [(row[0], dt(row[1])) for row in rows]

    async def claim_review_reminder(self, case_id: str, due_at: datetime, now: datetime) -> bool:
        changed = await self._conn.execute(
            "UPDATE cases SET review_reminded_at = $3 WHERE id = $1 AND review_due_at = $2"
            " AND review_reminded_at IS NULL",
            case_id,
            ms(due_at),
            ms(now),
        )
        return changed > 0

    async def latest_enrolment(self, witness_id: str) -> EnrolmentStateRow | None:
        row = await self._conn.fetchrow(
            "SELECT state, created_at, expires_at, device_id FROM enrolments"
            " WHERE witness_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1",
            witness_id,
        )
        if row is None:
            return None
        return EnrolmentStateRow(row[0], dt(row[1]), dt(row[2]), row[3])
