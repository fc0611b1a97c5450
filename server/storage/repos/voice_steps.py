"""Voice webhook steps already answered: one row per (CallSid, step)."""

from __future__ import annotations

from server.storage.database import Connection


class SqlVoiceCallStepRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def claim(self, call_sid: str, step: str, now_ms: int) -> tuple[bool, str | None]:
        """Insert the step; ``(True, None)`` when this request is the first, else the
        stored answer. The primary key makes two concurrent requests take turns."""
        inserted = await self._conn.execute(
            "INSERT INTO voice_call_steps (call_sid, step, response, created_at)"
            " VALUES ($1, $2, NULL, $3) ON CONFLICT (call_sid, step) DO NOTHING",
            call_sid,
            step,
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

    async def answer(self, call_sid: str, step: str, response: str) -> None:
        await self._conn.execute(
            "UPDATE voice_call_steps SET response = $3 WHERE call_sid = $1 AND step = $2",
            call_sid,
            step,
            response,
        )
