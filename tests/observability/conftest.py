"""Fixtures for the observability tests: a server with its private metrics listener."""

from __future__ import annotations

import io
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from server.clock import ManualClock
from server.observability.logs import build_handler
from tests.conftest import world_on
from tests.support.processes import free_port
from tests.support.world import World


@pytest.fixture
async def metrics_world(backend: str, tmp_path: Path, clock: ManualClock) -> AsyncIterator[World]:
    """Like ``world``, with ``/metrics`` served on a second listener on 127.0.0.1."""
    listen = f"127.0.0.1:{free_port()}"
    async with world_on(backend, tmp_path, clock, None, {"metrics_listen": listen}) as w:
        yield w


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """The server's JSON log lines (INFO and up), as ``serve`` writes them."""
    stream = io.StringIO()
    handler = build_handler("json", stream)
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)
