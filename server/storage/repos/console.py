"""Staff console sessions (browser sign-ins), stored by the hash of their cookie."""

from __future__ import annotations

from datetime import datetime

from server.domain.models import ConsoleSession
from server.storage.database import Connection
from server.storage.repos._rows import dt, ms


class SqlConsoleSessionRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def insert(self, session: ConsoleSession) -> None:
        await self._conn.execute(
            "INSERT INTO console_sessions (id_hash, staff_id, csrf, language, created_at,"
            " last_seen_at, expires_at, mode) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            session.id_hash,
            session.staff_id,
            session.csrf,
            session.language,
            ms(session.created_at),
            ms(session.last_seen_at),
            ms(session.expires_at),
            session.mode,
        )

    async def get(self, id_hash: bytes) -> ConsoleSession | None:
        row = await self._conn.fetchrow(
            "SELECT id_hash, staff_id, csrf, language, created_at, last_seen_at, expires_at, mode"
            " FROM console_sessions WHERE id_hash = $1",
            id_hash,
        )
        if row is None:
            return None
        return ConsoleSession(
            bytes(row[0]), row[1], row[2], row[3], dt(row[4]), dt(row[5]), dt(row[6]), row[7]
        )

    async def touch(self, id_hash: bytes, at: datetime) -> None:
        await self._conn.execute(
            "UPDATE console_sessions SET last_seen_at = $2"
            " WHERE id_hash = $1 AND last_seen_at < $2",
            id_hash,
            ms(at),
        )

    async def set_language(self, id_hash: bytes, language: str) -> None:
        await self._conn.execute(
            "UPDATE console_sessions SET language = $2 WHERE id_hash = $1", id_hash, language
        )

    async def delete(self, id_hash: bytes) -> None:
        await self._conn.execute("DELETE FROM console_sessions WHERE id_hash = $1", id_hash)

    async def delete_for_staff(self, staff_id: str) -> int:
        return await self._conn.execute(
            "DELETE FROM console_sessions WHERE staff_id = $1", staff_id
        )

    async def purge(self, now: datetime) -> int:
        return await self._conn.execute(
            "DELETE FROM console_sessions WHERE expires_at <= $1", ms(now)
        )
