"""Fixtures for the vault specifications."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.proxy import RecordingProxy
from tests.support.world import World


@pytest.fixture
async def proxy(world: World) -> AsyncIterator[RecordingProxy]:
    """A recording proxy in front of the world's server (enrol through ``proxy.url``)."""
    async with RecordingProxy(world.url).running() as running:
        yield running
