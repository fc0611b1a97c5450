"""Fixtures for the administration pages: an admin and a supervisor with TOTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from tests.console_admin.helpers import Browser, add_admin, add_supervisor, signed_in
from tests.support.world import World


@dataclass
class Managers:
    admin: Browser
    admin_secret: str
    supervisor: Browser
    supervisor_secret: str


@pytest.fixture
async def managers(world: World) -> AsyncIterator[Managers]:
    """``root`` (admin, police agency) and ``boss`` (supervisor, support agency), signed in."""
    admin_secret = await add_admin(world)
    supervisor_secret = await add_supervisor(world, "boss", "support")
    admin = await signed_in(world, "root", secret=admin_secret)
    supervisor = await signed_in(world, "boss", secret=supervisor_secret)
    try:
        yield Managers(admin, admin_secret, supervisor, supervisor_secret)
    finally:
        await admin.close()
        await supervisor.close()
