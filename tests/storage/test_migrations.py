"""Schema migrations: applied once, atomically, even when two processes start together."""

from __future__ import annotations

import asyncio

import pytest

from server.clock import ManualClock, to_ms
from server.storage.database import Connection, Database, DialectName
from server.storage.migrations import MIGRATIONS, Migration, migrate
from server.storage.store import SqlStore
from tests.storage.conftest import UnmigratedPair
from tests.storage.factories import make_agency

LATEST = max(m.version for m in MIGRATIONS)


async def _applied(db: Database) -> list[tuple[int, str, int]]:
    async with db.snapshot() as conn:
        rows = await conn.fetch(
            "SELECT version, name, applied_at FROM schema_migrations ORDER BY version"
        )
    return [(int(r[0]), str(r[1]), int(r[2])) for r in rows]


async def _table_exists(conn: Connection, name: str) -> bool:
    if conn.dialect.is_postgres:
        found = await conn.fetchval(
            "SELECT 1 FROM information_schema.tables"
            " WHERE table_schema = current_schema() AND table_name = $1",
            name,
        )
    else:
        found = await conn.fetchval(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = $1", name
        )
    return found is not None


async def test_migrating_an_up_to_date_database_applies_nothing(
    database: Database, clock: ManualClock
) -> None:
    before = await _applied(database)
    assert [v for v, _, _ in before] == [m.version for m in MIGRATIONS]

    assert await migrate(database, clock) == 0
    assert await migrate(database, clock) == 0
    assert await _applied(database) == before


async def test_a_fresh_database_gets_every_migration_recorded_once(
    unmigrated_pair: UnmigratedPair, clock: ManualClock
) -> None:
    async with unmigrated_pair() as (db, _):
        assert await migrate(db, clock) == len(MIGRATIONS)
        applied = await _applied(db)
        assert [(v, n) for v, n, _ in applied] == [(m.version, m.name) for m in MIGRATIONS]
        assert all(at == to_ms(clock.now()) for _, _, at in applied)
        assert await migrate(db, clock) == 0
        async with db.snapshot() as conn:
            for table in ("agencies", "devices", "message_copies", "audit_log"):
                assert await _table_exists(conn, table), table


async def test_concurrent_migrations_apply_the_schema_once(
    unmigrated_pair: UnmigratedPair, clock: ManualClock
) -> None:
    """Two server instances (or the admin command beside the server) starting at once
    on an empty database."""
    async with unmigrated_pair() as (first, second):
        results = await asyncio.gather(
            migrate(first, clock), migrate(second, clock), migrate(first, clock)
        )

        # Each migration was applied by exactly one of the callers (which one may differ
        # per migration).
        assert sum(results) == len(MIGRATIONS)
        assert [v for v, _, _ in await _applied(second)] == [m.version for m in MIGRATIONS]

        # Both instances see one working schema.
        async with SqlStore(first).write() as uow:
            agency = await make_agency(uow, clock.now())
        async with SqlStore(second).read() as uow:
            assert await uow.agencies.get(agency.id) == agency


async def test_a_new_migration_is_applied_on_top_of_the_existing_schema(
    database: Database, clock: ManualClock
) -> None:
    extra = Migration(
        version=LATEST + 1,
        name="test: add a table",
        statements=["CREATE TABLE test_extra (id {PK}, payload {BLOB} NOT NULL)"],
    )
    assert await migrate(database, clock, [*MIGRATIONS, extra]) == 1
    assert await migrate(database, clock, [*MIGRATIONS, extra]) == 0

    async with database.transaction() as conn:
        await conn.execute("INSERT INTO test_extra (payload) VALUES ($1)", b"\x00\x01")
        await conn.execute("INSERT INTO test_extra (payload) VALUES ($1)", b"\x02")
        assert await conn.fetchval("SELECT MAX(id) FROM test_extra") == 2
    assert [v for v, _, _ in await _applied(database)][-1] == LATEST + 1


async def test_a_failing_migration_leaves_no_trace(database: Database, clock: ManualClock) -> None:
    broken = Migration(
        version=LATEST + 1,
        name="test: broken",
        statements=[
            "CREATE TABLE test_half_done (a INTEGER)",
            "CREATE TABLE test_broken (",
        ],
    )
    with pytest.raises(Exception, match=r"(?i)syntax|incomplete"):
        await migrate(database, clock, [*MIGRATIONS, broken])

    async with database.snapshot() as conn:
        assert not await _table_exists(conn, "test_half_done")
    assert [v for v, _, _ in await _applied(database)] == [m.version for m in MIGRATIONS]

    fixed = Migration(
        version=LATEST + 1,
        name="test: fixed",
        statements=["CREATE TABLE test_half_done (a INTEGER)"],
    )
    assert await migrate(database, clock, [*MIGRATIONS, fixed]) == 1
    async with database.snapshot() as conn:
        assert await _table_exists(conn, "test_half_done")


async def test_dialect_specific_statements_go_only_to_their_dialect() -> None:
    [core] = [m for m in MIGRATIONS if m.version == 1]
    sqlite = "\n".join(core.for_dialect(DialectName.SQLITE))
    postgres = "\n".join(core.for_dialect(DialectName.POSTGRES))

    assert "{PK}" not in sqlite + postgres
    assert "{BLOB}" not in sqlite + postgres
    assert "AUTOINCREMENT" in sqlite
    assert "BIGSERIAL" not in sqlite
    assert "BIGSERIAL" in postgres
    assert "BYTEA" in postgres
    assert "audit_log_no_update" in sqlite
    assert "plpgsql" not in sqlite
    assert "audit_log_append_only" in postgres
    assert "audit_log_no_update" not in postgres
