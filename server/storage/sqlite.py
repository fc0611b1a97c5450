"""SQLite backend (aiosqlite): the embedded default.

One writer connection serialised by an asyncio lock (SQLite has a single writer;
``BEGIN IMMEDIATE`` plus a busy timeout also serialises other processes such as the
admin command), a small pool of reader connections for WAL snapshots, and
``synchronous=FULL`` so that a commit that returned survives power loss, not just a
crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from server.storage.capacity import StorageCapacity
from server.storage.database import Connection, Dialect, DialectName, Row

_PLACEHOLDER = re.compile(r"\$(\d+)")
_SQLITE_DIALECT = Dialect(DialectName.SQLITE)


def _translate(sql: str, cache: dict[str, str]) -> str:
    translated = cache.get(sql)
    if translated is None:
        translated = _PLACEHOLDER.sub(r"?\1", sql)
        cache[sql] = translated
    return translated


class SqliteConnection:
    """Adapts an aiosqlite connection to :class:`Connection`."""

    def __init__(self, raw: aiosqlite.Connection, cache: dict[str, str]) -> None:
        self._raw = raw
        self._cache = cache

    @property
    def dialect(self) -> Dialect:
        return _SQLITE_DIALECT

    async def execute(self, sql: str, *args: object) -> int:
        cursor = await self._raw.execute(_translate(sql, self._cache), args)
        return cursor.rowcount

    async def executemany(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        if rows:
            await self._raw.executemany(_translate(sql, self._cache), rows)

    async def fetch(self, sql: str, *args: object) -> list[Row]:
        rows = await self._raw.execute_fetchall(_translate(sql, self._cache), args)
        return list(rows)

    async def fetchrow(self, sql: str, *args: object) -> Row | None:
        rows = await self.fetch(sql, *args)
        return rows[0] if rows else None

    async def fetchval(self, sql: str, *args: object) -> Any:
        row = await self.fetchrow(sql, *args)
        return None if row is None else row[0]

    async def executescript(self, script: str) -> None:
        """Run several statements (migrations only)."""
        await self._raw.executescript(script)


async def _settled(raw: aiosqlite.Connection, statement: str) -> None:
    """Run a transaction-control statement to completion even if the caller is
    cancelled meanwhile.

    aiosqlite runs the statement on its thread whether or not anyone still awaits it;
    abandoning ``BEGIN`` half-way would leave the connection inside a transaction that
    nobody will ever end (and SQLite's write lock held). So the statement is shielded,
    and a ``BEGIN`` whose waiter was cancelled is rolled back before the cancellation
    goes on.
    """
    task = asyncio.ensure_future(raw.execute(statement))
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await task
        if statement.startswith("BEGIN") and raw.in_transaction:
            with contextlib.suppress(Exception):
                await raw.execute("ROLLBACK")
        raise


async def _open(path: Path, *, readonly: bool) -> aiosqlite.Connection:
    raw = await aiosqlite.connect(str(path), isolation_level=None)
    raw.row_factory = sqlite3.Row
    await raw.execute("PRAGMA busy_timeout = 10000")
    await raw.execute("PRAGMA foreign_keys = ON")
    if not readonly:
        await raw.execute("PRAGMA journal_mode = WAL")
        await raw.execute("PRAGMA synchronous = FULL")
        # Deleted rows are overwritten with zeros, not left in free pages: the retention
        # erasure (server/domain/case_erasure.py) must leave no copy in the file.
        await raw.execute("PRAGMA secure_delete = ON")
    else:
        await raw.execute("PRAGMA query_only = ON")
    return raw


class SqliteDatabase:
    """A SQLite database file in WAL mode."""

    def __init__(
        self, path: Path, writer: aiosqlite.Connection, readers: list[aiosqlite.Connection]
    ):
        self.path = path
        self.capacity = StorageCapacity()
        self._cache: dict[str, str] = {}
        self._writer = SqliteConnection(writer, self._cache)
        self._writer_raw = writer
        self._write_lock = asyncio.Lock()
        self._readers_raw = readers
        self._readers: asyncio.Queue[SqliteConnection] = asyncio.Queue()
        self._readers_by_wrapper: dict[int, aiosqlite.Connection] = {}
        for reader in readers:
            wrapper = SqliteConnection(reader, self._cache)
            self._readers_by_wrapper[id(wrapper)] = reader
            self._readers.put_nowait(wrapper)

    @classmethod
    async def open(cls, path: Path, *, readers: int = 2) -> SqliteDatabase:
        """Open (creating if needed) the database file at ``path``."""
        path.parent.mkdir(parents=True, exist_ok=True)
        writer = await _open(path, readonly=False)
        reader_conns = [await _open(path, readonly=True) for _ in range(readers)]
        return cls(path, writer, reader_conns)

    @property
    def dialect(self) -> Dialect:
        return _SQLITE_DIALECT

    @property
    def writer(self) -> SqliteConnection:
        """The writer connection, for the migration runner (which holds the lock)."""
        return self._writer

    @property
    def write_lock(self) -> asyncio.Lock:
        return self._write_lock

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        async with self.capacity.translating(), self._write_lock:
            changes_before = self._writer_raw.total_changes
            await _settled(self._writer_raw, "BEGIN IMMEDIATE")
            try:
                yield self._writer
            except BaseException:
                await _settled(self._writer_raw, "ROLLBACK")
                raise
            changed = self._writer_raw.total_changes != changes_before
            try:
                await _settled(self._writer_raw, "COMMIT")
            except BaseException:
                # A failed COMMIT (disk full, I/O error) leaves the transaction open.
                if self._writer_raw.in_transaction:
                    await _settled(self._writer_raw, "ROLLBACK")
                raise
            if changed:
                self.capacity.wrote()

    async def truncate_wal(self) -> bool:
        """Copy the write-ahead log into the database and cut the log file to zero
        bytes, so that page images of erased rows do not linger in it. False when a
        reader still needs the log (the next erasure sweep tries again)."""
        async with self._write_lock:
            cursor = await self._writer_raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            row = await cursor.fetchone()
        return row is not None and int(row[0]) == 0

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[Connection]:
        reader = await self._readers.get()
        raw = self._readers_by_wrapper[id(reader)]
        try:
            await _settled(raw, "BEGIN")
            try:
                yield reader
            finally:
                await _settled(raw, "COMMIT")
        finally:
            self._readers.put_nowait(reader)

    async def close(self) -> None:
        for reader in self._readers_raw:
            await reader.close()
        await self._writer_raw.close()
