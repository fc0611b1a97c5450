"""Voice calls: webhook steps already answered (one row per CallSid and step), and the
witnesses' voice check-in settings (PIN digests, whether check-ins call)."""

from __future__ import annotations

from collections.abc import Sequence

from server.domain.welfare_models import WitnessVoice
from server.storage.database import Connection


class SqlVoiceCallStepRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def claim(
        self, call_sid: str, step: str, now_ms: int, context: str | None = None
    ) -> tuple[bool, str | None]:
        """Insert the step; ``(True, None)`` when this request is the first, else the
        stored answer. The primary key makes two concurrent requests take turns."""
        inserted = await self._conn.execute(
            "INSERT INTO voice_call_steps (call_sid, step, response, context, created_at)"
            " VALUES ($1, $2, NULL, $3, $4) ON CONFLICT (call_sid, step) DO NOTHING",
            call_sid,
            step,
            context,
            now_ms,
        )
        if inserted:
            return True, None
        row = await self._conn.fetchrow(
            "SELECT response FROM voice_call_steps WHERE call_sid = $1 AND step = $2",
            call_sid,
            step,
        )
        return False, None if row is None else row[0]

    async def answer(
        self, call_sid: str, step: str, response: str, context: str | None = None
    ) -> None:
        await self._conn.execute(
            "UPDATE voice_call_steps SET response = $3, context = COALESCE($4, context)"
            " WHERE call_sid = $1 AND step = $2",
            call_sid,
            step,
            response,
            context,
        )

    async def context(self, call_sid: str, step: str) -> str | None:
        value = await self._conn.fetchval(
            "SELECT context FROM voice_call_steps WHERE call_sid = $1 AND step = $2",
            call_sid,
            step,
        )
        return None if value is None else str(value)


class SqlWitnessVoiceRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def put(self, voice: WitnessVoice, now_ms: int) -> None:
        await self._conn.execute(
            "INSERT INTO witness_voice (witness_id, pin_digest, duress_digest, checkin_call,"
            " updated_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (witness_id) DO UPDATE SET"
            " pin_digest = $2, duress_digest = $3, checkin_call = $4, updated_at = $5",
            voice.witness_id,
            voice.pin_digest,
            voice.duress_digest,
            voice.checkin_call,
            now_ms,
        )

    async def get(self, witness_id: str) -> WitnessVoice | None:
        row = await self._conn.fetchrow(
            "SELECT pin_digest, duress_digest, checkin_call FROM witness_voice"
            " WHERE witness_id = $1",
            witness_id,
        )
        if row is None:
            return None
        pin = None if row[0] is None else bytes(row[0])
        duress = None if row[1] is None else bytes(row[1])
        return WitnessVoice(witness_id, pin, duress, str(row[2]))

    async def call_modes(self, witness_ids: Sequence[str]) -> dict[str, str]:
        if not witness_ids:
            return {}
        rows = await self._conn.fetch(
            "SELECT witness_id, checkin_call FROM witness_voice"
            f" WHERE checkin_call <> 'never' AND witness_id {self._conn.dialect.any_of('$1')}",
            self._conn.dialect.list_param(list(witness_ids)),
        )
        return {str(r[0]): str(r[1]) for r in rows}
