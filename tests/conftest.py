"""Shared fixtures: databases on both backends, clocks, temporary data folders.

PostgreSQL tests use ``WITNESSLINK_TEST_POSTGRES_DSN``; without it they skip on a
laptop, but under ``CI=true`` a missing DSN is an error, never a skip.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from server.clock import ManualClock
from server.storage.database import Database
from server.storage.opening import open_database
from server.storage.store import SqlStore
from tests.fakes.twilio_server import FakeTwilio
from tests.support.world import World, running_world, standard_cast

POSTGRES_DSN_ENV = "WITNESSLINK_TEST_POSTGRES_DSN"


def postgres_dsn() -> str:
    """The test PostgreSQL DSN; skip (or fail under CI) when there is none."""
    dsn = os.environ.get(POSTGRES_DSN_ENV)
    if dsn:
        return dsn
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"{POSTGRES_DSN_ENV} must be set in CI; PostgreSQL tests may not skip")
    pytest.skip(f"{POSTGRES_DSN_ENV} is not set")


async def create_pg_schema(dsn: str) -> str:
    """Create an empty, uniquely named schema and return its name."""
    import asyncpg

    schema = f"t_{secrets.token_hex(6)}"
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f"CREATE SCHEMA {schema}")
    finally:
        await conn.close()
    return schema


async def drop_pg_schema(dsn: str, schema: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    finally:
        await conn.close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def database(backend: str, tmp_path: Path, clock: ManualClock) -> AsyncIterator[Database]:
    """A migrated, empty database on the parametrised backend."""
    if backend == "sqlite":
        db = await open_database(f"sqlite:///{tmp_path / 'witnesslink.db'}", clock)
        yield db
        await db.close()
        return
    dsn = postgres_dsn()
    schema = await create_pg_schema(dsn)
    db = await open_database(dsn, clock, schema=schema)
    try:
        yield db
    finally:
        await db.close()
        await drop_pg_schema(dsn, schema)


@pytest.fixture
def store(database: Database) -> SqlStore:
    return SqlStore(database)


@asynccontextmanager
async def world_on(
    backend: str,
    tmp_path: Path,
    clock: ManualClock,
    twilio: FakeTwilio | None,
    overrides: Mapping[str, Any] | None = None,
) -> AsyncIterator[World]:
    """A running server with the standard cast on ``backend``; ``overrides`` change
    its settings."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'server.db'}"
        async with running_world(tmp_path, url, clock, twilio=twilio, overrides=overrides) as w:
            await standard_cast(w)
            yield w
        return
    dsn = postgres_dsn()
    schema = await create_pg_schema(dsn)
    try:
        async with running_world(
            tmp_path, dsn, clock, schema, twilio=twilio, overrides=overrides
        ) as w:
            await standard_cast(w)
            yield w
    finally:
        await drop_pg_schema(dsn, schema)


@pytest.fixture
async def world(backend: str, tmp_path: Path, clock: ManualClock) -> AsyncIterator[World]:
    """A running server on the parametrised backend, with the standard cast of staff."""
    async with world_on(backend, tmp_path, clock, None) as w:
        yield w


@pytest.fixture
async def twilio(clock: ManualClock) -> AsyncIterator[FakeTwilio]:
    """A Twilio-shaped server on 127.0.0.1 sharing the tests' clock."""
    async with FakeTwilio.running(clock=clock.now) as fake:
        yield fake


@pytest.fixture
async def sms_world(
    backend: str, tmp_path: Path, clock: ManualClock, twilio: FakeTwilio
) -> AsyncIterator[World]:
    """Like ``world``, with SMS going through the real twilio client to the fake."""
    async with world_on(backend, tmp_path, clock, twilio) as w:
        yield w
