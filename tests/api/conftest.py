"""Fixtures for the HTTP-level API tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.support.world import World


@pytest.fixture
async def http(world: World) -> AsyncIterator[aiohttp.ClientSession]:
    """A plain HTTP session against the running server (no SDK in the way)."""
    async with aiohttp.ClientSession(base_url=world.url) as session:
        yield session
