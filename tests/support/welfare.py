"""Helpers for welfare tests: phones, plans, and running the sweeps after a clock move."""

from __future__ import annotations

from datetime import datetime, timedelta

from scheduler.jobs import WelfareSweeps
from server.domain.models import Role
from tests.support.world import Conversation, World

# Invented numbers in Twilio's test range that the fake accepts as ordinary mobiles.
WORKER_PHONE = "+15005550011"
SUPERVISOR_PHONE = "+15005550012"
OFFICER_PHONE = "+15005550013"
WITNESS_PHONE = "+15005550014"


async def catch_up(world: World) -> None:
    """Let the server do whatever is due at the clock's current time."""
    await WelfareSweeps(world.services).run_all()


async def advance(world: World, delta: timedelta) -> datetime:
    now = world.clock.advance(delta)
    await catch_up(world)
    return now


async def advance_to(world: World, when: datetime) -> None:
    world.clock.set(when)
    await catch_up(world)


async def with_phones_and_supervisor(world: World, talk: Conversation) -> None:
    """Give the team phones and add the support organisation's supervisor (level 2 of
    the default policy)."""
    await world.add_staff("supervisor", "support", Role.SUPERVISOR)
    supervisor = await world.login("supervisor")
    await talk.worker.set_my_phone(WORKER_PHONE)
    await supervisor.set_my_phone(SUPERVISOR_PHONE)
    await talk.officer.set_my_phone(OFFICER_PHONE)
    await talk.officer.set_witness_phone(talk.witness_id, WITNESS_PHONE)


def sms_to(world: World, number: str) -> list[str]:
    assert world.twilio is not None
    return [m.body for m in world.twilio.sent_to(number)]
