"""Voice calls: webhook steps already answered (one row per CallSid and step), and the
witnesses' voice PIN digests."""

from __future__ import annotations

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


class SqlVoicePinRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def put(self, witness_id: str, pin: bytes, duress: bytes, now_ms: int) -> None:
        await self._conn.execute(
            "INSERT INTO witness_voice_pins (witness_id, pin_digest, duress_digest, updated_at)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT (witness_id) DO UPDATE SET"
            " pin_digest = $2, duress_digest = $3, updated_at = $4",
            witness_id,
            pin,
            duress,
            now_ms,
        )

    async def remove(self, witness_id: str) -> None:
        await self._conn.execute("DELETE FROM witness_voice_pins WHERE witness_id = $1", witness_id)

    async def get(self, witness_id: str) -> tuple[bytes, bytes] | None:
        row = await self._conn.fetchrow(
            "SELECT pin_digest, duress_digest FROM witness_voice_pins WHERE witness_id = $1",
            witness_id,
        )
        return None if row is None else (bytes(row[0]), bytes(row[1]))
