"""PostgreSQL backend (asyncpg): how witnesslink scales past one machine.

Write transactions run at READ COMMITTED; correctness under concurrency comes from
conditional updates (compare-and-swap on a status column), ``FOR UPDATE SKIP LOCKED``
claims and advisory locks where an order must be total (the audit chain). Snapshots are
REPEATABLE READ, read-only transactions.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from server.storage.capacity import StorageCapacity
from server.storage.database import Connection, Dialect, DialectName, Row

_PG_DIALECT = Dialect(DialectName.POSTGRES)


class PostgresConnection:
    """Adapts an asyncpg connection to :class:`Connection`."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw

    @property
    def dialect(self) -> Dialect:
        return _PG_DIALECT

    @property
    def raw(self) -> Any:
        return self._raw

    async def execute(self, sql: str, *args: object) -> int:
        status: str = await self._raw.execute(sql, *args)
        last = status.rsplit(" ", 1)[-1]
        return int(last) if last.isdigit() else 0

    async def executemany(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        if rows:
            await self._raw.executemany(sql, rows)

    async def fetch(self, sql: str, *args: object) -> list[Row]:
        rows: list[Row] = await self._raw.fetch(sql, *args)
        return rows

    async def fetchrow(self, sql: str, *args: object) -> Row | None:
        row: Row | None = await self._raw.fetchrow(sql, *args)
        return row

    async def fetchval(self, sql: str, *args: object) -> Any:
        return await self._raw.fetchval(sql, *args)


class PostgresDatabase:
    """A pool of connections to one PostgreSQL database (optionally one schema)."""

    def __init__(self, pool: Any, schema: str | None) -> None:
        self._pool = pool
        self.schema = schema
        self.capacity = StorageCapacity()

    @classmethod
    async def open(
        cls, dsn: str, *, schema: str | None = None, min_size: int = 2, max_size: int = 10
    ) -> PostgresDatabase:
        """Connect to ``dsn``; with ``schema``, every connection uses that search path."""
        server_settings = {"search_path": schema} if schema else None
        pool = await asyncpg.create_pool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            server_settings=server_settings,
            command_timeout=60,
        )
        return cls(pool, schema)

    @property
    def dialect(self) -> Dialect:
        return _PG_DIALECT

    @property
    def pool(self) -> Any:
        return self._pool

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        async with self.capacity.translating(), self._pool.acquire() as raw:
            async with raw.transaction():
                yield PostgresConnection(raw)
                # A transaction id is assigned only once the transaction wrote.
                wrote = await raw.fetchval("SELECT pg_current_xact_id_if_assigned()")
            if wrote is not None:
                self.capacity.wrote()

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[Connection]:
        async with (
            self._pool.acquire() as raw,
            raw.transaction(isolation="repeatable_read", readonly=True),
        ):
            yield PostgresConnection(raw)

    async def close(self) -> None:
        await self._pool.close()
