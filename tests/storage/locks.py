"""Waiting, without sleeping, until one transaction is blocked by another."""

from __future__ import annotations

import asyncio

from server.storage.database import Connection
from server.storage.sqlite import SqliteDatabase
from server.storage.store import SqlStore


async def backend_pid(conn: Connection) -> int | None:
    """The PostgreSQL backend process of ``conn``; None on SQLite."""
    if not conn.dialect.is_postgres:
        return None
    return int(await conn.fetchval("SELECT pg_backend_pid()"))


async def until_blocked(waiter: SqlStore, observer: SqlStore, holder_pid: int | None) -> None:
    """Return once a write on ``waiter`` waits for a lock held by the transaction whose
    PostgreSQL backend is ``holder_pid`` (asked through ``observer``).

    On SQLite the waiting writer sits in ``BEGIN IMMEDIATE``, holding its in-process
    write lock; on PostgreSQL the server says who blocks whom.
    """
    if holder_pid is None:
        assert isinstance(waiter.db, SqliteDatabase)
        for _ in range(100):
            if waiter.db.write_lock.locked():
                return
            await asyncio.sleep(0)
        raise AssertionError("the write never started")
    for _ in range(2_000):
        async with observer.db.snapshot() as conn:
            blocked = await conn.fetchval(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))",
                holder_pid,
            )
        if blocked:
            return
    raise AssertionError("the write never blocked")
