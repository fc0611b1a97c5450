"""Fixtures for the storage suite, on top of the shared ones in tests/conftest.py.

``second_database`` is another, independent ``Database`` on the very same data (a
second SQLite connection set on the same file, or a second asyncpg pool on the same
PostgreSQL schema): what a second server instance, or the admin command running beside
the server, would see.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import pytest

from server.clock import ManualClock
from server.storage.database import Database
from server.storage.opening import open_database
from server.storage.postgres import PostgresDatabase
from server.storage.sqlite import SqliteDatabase
from server.storage.store import SqlStore
from tests.conftest import create_pg_schema, drop_pg_schema, postgres_dsn

UnmigratedPair = Callable[[], AbstractAsyncContextManager[tuple[Database, Database]]]


@pytest.fixture
async def second_database(database: Database, clock: ManualClock) -> AsyncIterator[Database]:
    if isinstance(database, SqliteDatabase):
        other = await open_database(f"sqlite:///{database.path}", clock, run_migrations=False)
    else:
        assert isinstance(database, PostgresDatabase)
        other = await open_database(
            postgres_dsn(), clock, schema=database.schema, run_migrations=False
        )
    try:
        yield other
    finally:
        await other.close()


@pytest.fixture
def second_store(second_database: Database) -> SqlStore:
    return SqlStore(second_database)


@pytest.fixture
def unmigrated_pair(backend: str, tmp_path: Path, clock: ManualClock) -> UnmigratedPair:
    """Opens two independent, not yet migrated databases on one fresh, empty store."""

    @asynccontextmanager
    async def opener() -> AsyncIterator[tuple[Database, Database]]:
        if backend == "sqlite":
            url = f"sqlite:///{tmp_path / 'fresh.db'}"
            first = await open_database(url, clock, run_migrations=False)
            second = await open_database(url, clock, run_migrations=False)
            try:
                yield first, second
            finally:
                await first.close()
                await second.close()
            return
        dsn = postgres_dsn()
        schema = await create_pg_schema(dsn)
        try:
            first = await open_database(dsn, clock, schema=schema, run_migrations=False)
            second = await open_database(dsn, clock, schema=schema, run_migrations=False)
            try:
                yield first, second
            finally:
                await first.close()
                await second.close()
        finally:
            await drop_pg_schema(dsn, schema)

    return opener
