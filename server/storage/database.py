"""The narrow database interface that both backends implement.

SQL is written once in PostgreSQL's numbered-placeholder style (``$1``); the SQLite
backend rewrites placeholders to SQLite's numbered form (``?1``). Where the two
dialects differ (list parameters, row locking), repositories ask the connection's
:class:`Dialect`. Timestamps are integer milliseconds, booleans are ``TRUE``/``FALSE``.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterator, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from server.storage.capacity import StorageCapacity


class Row(Protocol):
    """A result row, addressable by column name or position, and iterable over its
    values in column order (``sqlite3.Row`` and ``asyncpg.Record`` both are)."""

    def __getitem__(self, key: str | int) -> Any: ...

    def __iter__(self) -> Iterator[Any]: ...


class DialectName(enum.StrEnum):
    SQLITE = "sqlite"
    POSTGRES = "postgres"


class Dialect:
    """What differs between SQLite and PostgreSQL, in one place."""

    def __init__(self, name: DialectName) -> None:
        self.name = name

    @property
    def is_postgres(self) -> bool:
        return self.name is DialectName.POSTGRES

    def any_of(self, placeholder: str) -> str:
        """SQL for ``x IN <list parameter>``, used as ``f"col {d.any_of('$2')}"``.

        PostgreSQL takes an array parameter; SQLite a JSON array expanded by json_each.
        Either way the statement text is fixed, so prepared statements are reused.
        """
        if self.is_postgres:
            return f"= ANY({placeholder})"
        return f"IN (SELECT value FROM json_each({placeholder}))"

    def list_param(self, values: Sequence[str | int]) -> object:
        """Encode a list of ids for :meth:`any_of`."""
        if self.is_postgres:
            return list(values)
        return json.dumps(list(values))

    @property
    def skip_locked(self) -> str:
        """Row-lock clause for claiming work; SQLite has one writer and needs none."""
        return "FOR UPDATE SKIP LOCKED" if self.is_postgres else ""

    def now_ms(self, pinned_placeholder: str) -> str:
        """SQL for the database server's own time in epoch milliseconds, unless the
        parameter pins it (not NULL only in tests that move time).

        Leases are taken and compared with this clock, one for every instance, so
        instances whose clocks disagree still agree on who holds a row. PostgreSQL's
        ``statement_timestamp()`` rather than ``clock_timestamp()``: it is stable within
        the statement, so a comparison with it can still use an index.
        """
        if self.is_postgres:
            now = "(EXTRACT(EPOCH FROM statement_timestamp()) * 1000)::BIGINT"
        else:
            now = "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)"
        return f"COALESCE({pinned_placeholder}, {now})"


class Connection(Protocol):
    """One connection, inside a transaction chosen by the :class:`Database`."""

    @property
    def dialect(self) -> Dialect: ...

    async def execute(self, sql: str, *args: object) -> int:
        """Run a statement; return the number of rows it changed."""
        ...

    async def executemany(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        """Run a statement once per parameter row."""
        ...

    async def fetch(self, sql: str, *args: object) -> list[Row]:
        """Run a query and return every row."""
        ...

    async def fetchrow(self, sql: str, *args: object) -> Row | None:
        """Run a query and return its first row, if any."""
        ...

    async def fetchval(self, sql: str, *args: object) -> Any:
        """Run a query and return the first column of its first row (or None)."""
        ...


class Database(Protocol):
    """A database: write transactions, read snapshots, and life-cycle."""

    @property
    def dialect(self) -> Dialect: ...

    #: Whether writes are being refused for lack of space (see storage.capacity).
    capacity: StorageCapacity

    def transaction(self) -> AbstractAsyncContextManager[Connection]:
        """A write transaction: committed when the block exits normally, durable when
        the commit returns, rolled back when the block raises."""
        ...

    def snapshot(self) -> AbstractAsyncContextManager[Connection]:
        """A read-only, consistent view for queries."""
        ...

    async def close(self) -> None:
        """Close every connection."""
        ...
