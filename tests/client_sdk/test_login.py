"""Logging in from a new client: the username is case-insensitive, and so is the
device's proof of key possession that the login carries."""

from __future__ import annotations

from client_sdk import StaffClient
from tests.support.kdf import FAST_KDF
from tests.support.world import PASSWORD, World


async def test_a_username_typed_with_capitals_logs_in(world: World) -> None:
    client = await StaffClient.login(
        world.url,
        "Officer",
        PASSWORD,
        world.tmp / "capitals.store",
        "staff passphrase",
        kdf=FAST_KDF,
        clock=world.clock,
    )
    try:
        assert client.staff_id == world.staff["officer"]
        assert client.has_identity
    finally:
        await client.close()
