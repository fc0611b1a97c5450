"""Liveness and readiness: /livez never touches the database, /readyz says exactly
which check failed (problem body, 503), /healthz still answers as before."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from scheduler.runner import BackgroundJobs
from server.api.context import JOBS
from server.clock import ManualClock
from tests.conftest import world_on
from tests.support.world import World


@pytest.fixture
async def scheduled_world(backend: str, tmp_path: Path, clock: ManualClock) -> AsyncIterator[World]:
    """A server that runs its scheduler, as a production instance does."""
    async with world_on(backend, tmp_path, clock, None, {"run_scheduler": True}) as w:
        yield w


async def get(world: World, path: str) -> tuple[int, str, dict[str, object]]:
    async with aiohttp.ClientSession() as session, session.get(world.url + path) as response:
        return response.status, response.content_type, await response.json(content_type=None)


async def test_a_healthy_instance_is_live_and_ready(world: World) -> None:
    assert await get(world, "/livez") == (200, "application/json", {"status": "ok"})
    status, _, body = await get(world, "/readyz")
    assert status == 200
    # The test world does not run the scheduler, so it is not a readiness check here.
    assert body == {
        "status": "ready",
        "checks": {"storage": "ok", "database": "ok", "migrations": "ok"},
    }
    status, _, body = await get(world, "/healthz")
    assert (status, body["status"]) == (200, "ok")


async def test_an_unapplied_migration_makes_the_instance_not_ready_but_still_live(
    world: World,
) -> None:
    async with world.services.db.transaction() as conn:
        await conn.execute(
            "DELETE FROM schema_migrations WHERE version = "
            "(SELECT MAX(version) FROM schema_migrations)"
        )
    status, content_type, body = await get(world, "/readyz")
    assert (status, content_type) == (503, "application/problem+json")
    assert body["code"] == "not-ready"
    assert body["checks"] == {"storage": "ok", "database": "ok", "migrations": "1 pending"}
    assert (await get(world, "/livez"))[0] == 200


async def test_an_unreachable_database_makes_the_instance_not_ready_but_still_live(
    world: World,
) -> None:
    await world.services.db.close()
    status, content_type, body = await get(world, "/readyz")
    assert (status, content_type) == (503, "application/problem+json")
    assert body["checks"] == {"storage": "ok", "database": "unreachable"}
    assert (await get(world, "/livez"))[0] == 200


async def test_a_stopped_scheduler_makes_an_instance_that_runs_it_not_ready(
    scheduled_world: World,
) -> None:
    world = scheduled_world
    status, _, body = await get(world, "/readyz")
    assert status == 200
    assert body["checks"] == {
        "storage": "ok",
        "database": "ok",
        "migrations": "ok",
        "scheduler": "ok",
    }
    jobs = world.app[JOBS]
    assert isinstance(jobs, BackgroundJobs)
    jobs.shutdown()
    await jobs.stopped()
    status, _, body = await get(world, "/readyz")
    assert status == 503
    assert body["checks"] == {
        "storage": "ok",
        "database": "ok",
        "migrations": "ok",
        "scheduler": "not running",
    }
