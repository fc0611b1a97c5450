"""Which event loop ``serve`` runs on: uvloop when installed (the relay's hot path is
mostly event-loop work), asyncio's own when an operator turns it off."""

from __future__ import annotations

import asyncio

import uvloop

from server.cli import event_loop_for
from server.config import Settings


def test_serve_runs_on_uvloop_unless_turned_off_by_environment() -> None:
    assert Settings.from_env({}).use_uvloop
    assert Settings.from_env({"WITNESSLINK_UVLOOP": "true"}).use_uvloop
    assert not Settings.from_env({"WITNESSLINK_UVLOOP": "false"}).use_uvloop
    assert not Settings.from_env({"WITNESSLINK_UVLOOP": "0"}).use_uvloop


def test_the_loop_is_uvloop_when_wanted_and_asyncios_default_otherwise() -> None:
    loop = event_loop_for(Settings(use_uvloop=True))
    try:
        assert isinstance(loop, uvloop.Loop)
        assert loop.run_until_complete(asyncio.sleep(0, result="ran")) == "ran"
    finally:
        assert loop is not None
        loop.close()
    assert event_loop_for(Settings(use_uvloop=False)) is None
