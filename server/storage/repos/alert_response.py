"""What staff need to act on an alert: agency playbooks per alert kind, the sealed
per-witness response instructions, and the inbound SMS replies already handled.

Instructions are stored only sealed (the domain seals them; this module never sees
the text). A reply's MessageSid is recorded in the same transaction as what it did,
so a replayed webhook finds it and does nothing.
"""

from __future__ import annotations

from datetime import datetime

from server.domain.alert_response_models import Playbook, ResponseInstructions
from server.storage.database import Connection, Row
from server.storage.repos._rows import dt, ms


def _playbook(row: Row) -> Playbook:
    return Playbook(
        row["agency_id"], row["kind"], row["steps"], row["updated_by"], dt(row["updated_at"])
    )


class SqlAlertResponseRepository:
    """Playbooks, response instructions and handled SMS replies."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def playbooks(self, agency_id: str) -> dict[str, Playbook]:
        """The agency's playbooks by alert kind."""
        rows = await self._conn.fetch(
            "SELECT agency_id, kind, steps, updated_by, updated_at FROM alert_playbooks"
            " WHERE agency_id = $1",
            agency_id,
        )
        return {row["kind"]: _playbook(row) for row in rows}

    async def playbooks_for(self, agency_ids: list[str], kind: str) -> list[Playbook]:
        """The playbooks of ``kind`` written by any of ``agency_ids``, by agency."""
        if not agency_ids:
            return []
        marks = ", ".join(f"${i + 2}" for i in range(len(agency_ids)))
        rows = await self._conn.fetch(
            "SELECT agency_id, kind, steps, updated_by, updated_at FROM alert_playbooks"
            f" WHERE kind = $1 AND agency_id IN ({marks}) ORDER BY agency_id",
            kind,
            *agency_ids,
        )
        return [_playbook(row) for row in rows]

    async def set_playbook(
        self, agency_id: str, kind: str, steps: str, staff_id: str, at: datetime
    ) -> None:
        """Write (or, with empty ``steps``, remove) the agency's playbook for ``kind``."""
        if not steps:
            await self._conn.execute(
                "DELETE FROM alert_playbooks WHERE agency_id = $1 AND kind = $2", agency_id, kind
            )
            return
        await self._conn.execute(
            "INSERT INTO alert_playbooks (agency_id, kind, steps, updated_by, updated_at)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (agency_id, kind) DO UPDATE SET"
            " steps = $3, updated_by = $4, updated_at = $5",
            agency_id,
            kind,
            steps,
            staff_id,
            ms(at),
        )

    async def instructions(self, witness_id: str) -> ResponseInstructions | None:
        """The witness's sealed response instructions, if any."""
        row = await self._conn.fetchrow(
            "SELECT witness_id, instructions_sealed, updated_by, updated_at"
            " FROM witness_response_instructions WHERE witness_id = $1",
            witness_id,
        )
        if row is None:
            return None
        return ResponseInstructions(
            row["witness_id"],
            bytes(row["instructions_sealed"]),
            row["updated_by"],
            dt(row["updated_at"]),
        )

    async def set_instructions(
        self, witness_id: str, sealed: bytes | None, staff_id: str, at: datetime
    ) -> None:
        """Store the sealed instructions (``None`` removes them)."""
        if sealed is None:
            await self._conn.execute(
                "DELETE FROM witness_response_instructions WHERE witness_id = $1", witness_id
            )
            return
        await self._conn.execute(
            "INSERT INTO witness_response_instructions"
            " (witness_id, instructions_sealed, updated_by, updated_at) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (witness_id) DO UPDATE SET instructions_sealed = $2,"
            " updated_by = $3, updated_at = $4",
            witness_id,
            sealed,
            staff_id,
            ms(at),
        )

    async def claim_sms_reply(self, provider_id: str, at: datetime) -> bool:
        """Record an inbound reply's MessageSid; False if it was handled before."""
        changed = await self._conn.execute(
            "INSERT INTO sms_replies_handled (provider_id, handled_at) VALUES ($1, $2)"
            " ON CONFLICT (provider_id) DO NOTHING",
            provider_id,
            ms(at),
        )
        return changed > 0

    async def alerts_sent_to(self, reference: str, staff_id: str) -> list[str]:
        """Ids of the alerts whose SMS with ``reference`` went to ``staff_id``.

        Only rows actually handed to the provider count (sent or delivered), so a
        reference that was never texted to this person acknowledges nothing.
        """
        rows = await self._conn.fetch(
            "SELECT DISTINCT alert_id FROM notifications WHERE group_ref = $1"
            " AND recipient_kind = 'staff' AND recipient_id = $2 AND channel = 'sms'"
            " AND purpose = 'alert' AND status IN ('sent', 'delivered') AND alert_id IS NOT NULL",
            reference,
            staff_id,
        )
        return sorted(row["alert_id"] for row in rows)

    async def recipients_of(self, reference: str) -> list[str]:
        """Staff to whom an alert SMS with ``reference`` was handed to the provider."""
        rows = await self._conn.fetch(
            "SELECT DISTINCT recipient_id FROM notifications WHERE group_ref = $1"
            " AND recipient_kind = 'staff' AND channel = 'sms' AND purpose = 'alert'"
            " AND status IN ('sent', 'delivered')",
            reference,
        )
        return sorted(row["recipient_id"] for row in rows)
