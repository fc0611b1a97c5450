"""A full disk: a clear 503 problem, one log line, and health that says so (issue 13,
finding: disk full).

The SQLite database is made genuinely full with ``PRAGMA max_page_count`` (SQLite then
answers SQLITE_FULL exactly as on a full disk): every page is used, the database may not
grow, and a write that needs a new page fails.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from typing import Any

import aiohttp
import asyncpg
import pytest

from server.errors import StorageFull
from server.storage.capacity import StorageCapacity, is_disk_full
from server.storage.sqlite import SqliteDatabase
from tests.support.world import Conversation, World, open_conversation

ON_SQLITE = pytest.mark.parametrize("backend", ["sqlite"])


async def _fill(db: SqliteDatabase) -> None:
    """Use every free page, then forbid growing: the database is full."""
    async with db.write_lock:
        await db.writer.execute("CREATE TABLE IF NOT EXISTS filler (blob BLOB)")
        pages = await db.writer.fetchval("PRAGMA page_count")
        await db.writer.fetchval(f"PRAGMA max_page_count = {int(pages) + 8}")
        with pytest.raises(sqlite3.OperationalError, match="full"):  # noqa: PT012
            for _ in range(1000):  # until SQLite says it is full
                await db.writer.execute("INSERT INTO filler VALUES (zeroblob(500))")


async def _make_room(db: SqliteDatabase) -> None:
    async with db.write_lock:
        await db.writer.fetchval("PRAGMA max_page_count = 1073741823")


async def _upload(world: World, talk: Conversation) -> tuple[int, dict[str, str], Any]:
    """Upload a 16 KiB blob (it needs new pages) as the officer; the raw answer."""
    assert talk.officer.transport.token is not None
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{world.url}/v1/cases/{talk.case_id}/attachments",
            params={"recipients": talk.witness.device_id},
            data=os.urandom(16 * 1024),
            headers={
                "Authorization": f"Bearer {talk.officer.transport.token}",
                "Content-Type": "application/octet-stream",
            },
        ) as response,
    ):
        return response.status, dict(response.headers), await response.json(content_type=None)


async def _get(world: World, path: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.get(world.url + path) as response:
        return response.status, await response.json(content_type=None)


@ON_SQLITE
async def test_a_full_database_answers_503_logs_once_and_health_shows_it(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    talk = await open_conversation(world)
    db = world.services.db
    assert isinstance(db, SqliteDatabase)
    await _fill(db)
    caplog.set_level(logging.INFO)

    answers = [await _upload(world, talk) for _ in range(3)]

    for status, headers, body in answers:
        assert status == 503
        assert headers["Content-Type"].startswith("application/problem+json")
        assert headers["Retry-After"] == "60"
        assert body["code"] == "storage-full"
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.getMessage().split(":")[0] for r in warnings] == ["storage is full"]
    assert all(r.exc_info is None for r in caplog.records)  # no traceback logged
    health_status, health = await _get(world, "/healthz")
    assert (health_status, health["status"], health["storage"]) == (503, "unhealthy", "full")
    ready_status, ready = await _get(world, "/readyz")
    assert (ready_status, ready["checks"]["storage"]) == (503, "full")

    await _make_room(db)
    status, _headers, body = await _upload(world, talk)

    assert status == 201, body
    health_status, health = await _get(world, "/healthz")
    assert (health_status, health["storage"]) == (200, "ok")
    _ready_status, ready = await _get(world, "/readyz")
    assert ready["checks"]["storage"] == "ok"
    recovered = [r.getMessage() for r in caplog.records if "again" in r.getMessage()]
    assert recovered == ["storage accepts writes again after 3 refused writes"]


@ON_SQLITE
async def test_a_commit_that_changed_nothing_does_not_clear_the_flag(world: World) -> None:
    talk = await open_conversation(world)
    db = world.services.db
    assert isinstance(db, SqliteDatabase)
    await _fill(db)
    assert (await _upload(world, talk))[0] == 503

    async with world.services.store.write() as uow:
        await uow.agencies.get("-")  # a transaction that writes nothing

    assert db.capacity.full


def test_every_backends_no_space_error_is_recognised() -> None:
    full = sqlite3.OperationalError("database or disk is full")
    full.sqlite_errorcode = sqlite3.SQLITE_FULL
    assert is_disk_full(full)
    assert is_disk_full(OSError(28, "No space left on device"))
    assert is_disk_full(asyncpg.exceptions.DiskFullError("could not extend file"))
    wrapped = RuntimeError("outer")
    wrapped.__cause__ = asyncpg.exceptions.DiskFullError("could not extend file")
    assert is_disk_full(wrapped)
    busy = sqlite3.OperationalError("database is locked")
    busy.sqlite_errorcode = sqlite3.SQLITE_BUSY
    assert not is_disk_full(busy)
    assert not is_disk_full(OSError(13, "Permission denied"))


async def test_capacity_turns_no_space_into_storage_full_and_passes_the_rest() -> None:
    capacity = StorageCapacity()
    with pytest.raises(StorageFull) as refused:
        async with capacity.translating():
            raise asyncpg.exceptions.DiskFullError("could not extend file")
    assert refused.value.extensions["retry_after"] == 60
    assert capacity.full
    with pytest.raises(ValueError, match="not about space"):
        async with capacity.translating():
            raise ValueError("not about space")
    capacity.wrote()
    assert not capacity.full
