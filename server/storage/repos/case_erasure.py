"""The retention erasure of one case's personal data: a registry of steps, one per table.

Each step is ``async def step(conn, case_id) -> int`` (rows erased or anonymised) and is
idempotent: run twice, the second run finds nothing. The domain service
(:mod:`server.domain.case_erasure`) runs every step of a case in ONE transaction with
the audit entry and the "erased" mark, so a crash mid-erasure rolls the whole case back
and the next sweep starts it again (crash-safe by atomicity, resumable by idempotence).

Adding a table holding a case's personal data: write its step (or reuse a repo's own
``erase_case(conn, case_id)``) and add ONE line to :data:`ERASURE_STEPS`. Order matters
only where a foreign key does: children before parents.

What is kept: the case row (id, agencies, dates, the outcome category; its reference
is replaced by a placeholder), the witness row with its alias replaced by a neutral
placeholder and its language and timezone (no one is identified by those), the team
membership (staff data, not the witness's), the staff's own devices, and the audit log,
which never held personal data (see ``tests/casework/test_retention.py``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from server.storage.database import Connection
from server.storage.repos import handovers as handover_rows
from server.storage.repos import visits as visit_rows

ErasureStep = Callable[[Connection, str], Awaitable[int]]

#: What an erased witness's alias becomes.
ERASED_ALIAS = "(erased)"

_WITNESS = "SELECT id FROM witnesses WHERE case_id = $1"
_WITNESS_DEVICES = (
    "SELECT id FROM devices WHERE owner_kind = 'witness'"
    " AND owner_id IN (SELECT id FROM witnesses WHERE case_id = $1)"
)
_CASE_ALERTS = "SELECT id FROM alerts WHERE case_id = $1"
_CASE_CHECKINS = "SELECT id FROM checkins WHERE case_id = $1"


def _delete(sql: str) -> ErasureStep:
    async def step(conn: Connection, case_id: str) -> int:
        return await conn.execute(sql, case_id)

    # Named after its table, for the audit entry's counts.
    step.__name__ = sql.split()[2]
    return step


async def handovers_and_assessments(conn: Connection, case_id: str) -> int:
    """The handover requests, consents, risk assessments (sealed notes) and reviews."""
    return await handover_rows.erase_case(conn, case_id)


async def welfare_visits(conn: Connection, case_id: str) -> int:
    """The visit plan and every visit (outcomes, sealed concerns, door answers)."""
    return await visit_rows.erase_case(conn, case_id)


async def _anonymise_witness(conn: Connection, case_id: str) -> int:
    """Alias to a placeholder; phone number (sealed), its blind index and the SMS
    code-word digests deleted, not re-sealed."""
    return await conn.execute(
        "UPDATE witnesses SET alias = $2, phone_sealed = NULL, phone_index = NULL,"
        " sms_checkin_word = NULL, sms_duress_word = NULL"
        " WHERE case_id = $1 AND (alias <> $2 OR phone_sealed IS NOT NULL"
        " OR phone_index IS NOT NULL OR sms_checkin_word IS NOT NULL"
        " OR sms_duress_word IS NOT NULL)",
        case_id,
        ERASED_ALIAS,
    )


async def _witness_identity(conn: Connection, case_id: str) -> int:
    rows = await conn.fetch(_WITNESS, case_id)
    erased = 0
    for (witness_id,) in rows:
        owner = f"witness:{witness_id}"
        erased += await conn.execute("DELETE FROM identities WHERE owner = $1", owner)
        erased += await conn.execute("DELETE FROM identity_backups WHERE owner = $1", owner)
    return erased


#: Every step, in order (children before parents). Other parts add one line each.
ERASURE_STEPS: list[ErasureStep] = [
    # Messages and attachments of the case (ciphertext, but the witness's all the same).
    _delete("DELETE FROM message_copies WHERE case_id = $1"),
    _delete("DELETE FROM sent_messages WHERE case_id = $1"),
    _delete(
        "DELETE FROM attachment_recipients WHERE attachment_id IN"
        " (SELECT id FROM attachments WHERE case_id = $1)"
    ),
    _delete("DELETE FROM attachments WHERE case_id = $1"),
    _delete(
        "DELETE FROM resent_copies WHERE sender_device_id IN (" + _WITNESS_DEVICES + ")"
        " OR recipient_device_id IN (" + _WITNESS_DEVICES + ")"
    ),
    # Notifications about the case's alerts and check-ins, and to the witness.
    _delete(
        "DELETE FROM notifications WHERE alert_id IN (" + _CASE_ALERTS + ")"
        " OR checkin_id IN (" + _CASE_CHECKINS + ")"
        " OR (recipient_kind = 'witness' AND recipient_id IN (" + _WITNESS + "))"
    ),
    # Check-in, contact, appointment and alert history (notes and outcomes with them).
    _delete("DELETE FROM checkins WHERE case_id = $1"),
    _delete("DELETE FROM checkin_plans WHERE case_id = $1"),
    _delete("DELETE FROM witness_contact WHERE case_id = $1"),
    _delete("DELETE FROM appointment_deadlines WHERE case_id = $1"),
    _delete("DELETE FROM appointments WHERE case_id = $1"),
    _delete("DELETE FROM alerts WHERE case_id = $1"),
    # Response instructions, voice PIN digests, the case's own settings and policy.
    _delete("DELETE FROM witness_response_instructions WHERE witness_id IN (" + _WITNESS + ")"),
    _delete("DELETE FROM witness_voice WHERE witness_id IN (" + _WITNESS + ")"),
    # The witness's check-in calls (their steps name the witness in ``context``).
    _delete(
        "DELETE FROM voice_call_steps WHERE context IN (" + _WITNESS + ") OR EXISTS"
        " (SELECT 1 FROM witnesses w WHERE w.case_id = $1 AND context LIKE w.id || '|%')"
    ),
    _delete("DELETE FROM case_settings WHERE case_id = $1"),
    _delete("DELETE FROM escalation_policies WHERE scope = 'case:' || $1"),
    # The witness's devices, their keys, unlock secrets, events and enrolments.
    _delete("DELETE FROM one_time_keys WHERE device_id IN (" + _WITNESS_DEVICES + ")"),
    _delete("DELETE FROM fallback_keys WHERE device_id IN (" + _WITNESS_DEVICES + ")"),
    _delete(
        "DELETE FROM one_time_key_claims WHERE claimer_device_id IN (" + _WITNESS_DEVICES + ")"
        " OR target_device_id IN (" + _WITNESS_DEVICES + ")"
    ),
    _delete("DELETE FROM unlock_keys WHERE device_id IN (" + _WITNESS_DEVICES + ")"),
    _delete("DELETE FROM device_unlock WHERE device_id IN (" + _WITNESS_DEVICES + ")"),
    _delete("DELETE FROM device_events WHERE device_id IN (" + _WITNESS_DEVICES + ")"),
    _delete("DELETE FROM enrolments WHERE witness_id IN (" + _WITNESS + ")"),
    _delete("DELETE FROM devices WHERE id IN (" + _WITNESS_DEVICES + ")"),
    _witness_identity,
    _delete("DELETE FROM rosters WHERE case_id = $1"),
    # The home-country side: handover, risk assessments and welfare visits.
    handovers_and_assessments,
    welfare_visits,
    # Last: the witness row keeps only a placeholder.
    _anonymise_witness,
]


async def erase_case(conn: Connection, case_id: str) -> dict[str, int]:
    """Run every step for ``case_id`` on ``conn`` (the caller's transaction); the rows
    changed, by table or step name (for the audit entry: counts only)."""
    counts: dict[str, int] = {}
    for step in ERASURE_STEPS:
        changed = await step(conn, case_id)
        if changed:
            name = step.__name__.lstrip("_")
            counts[name] = counts.get(name, 0) + changed
    return counts


class SqlCaseErasureRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def erase(self, case_id: str) -> dict[str, int]:
        return await erase_case(self._conn, case_id)
