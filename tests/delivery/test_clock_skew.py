"""SMS exactly once whatever the clocks say (issue 13, review finding 7).

Two clocks used to decide things they cannot: each instance's own clock decided whether
another instance's lease had run out, and this server's clock decided how far back on
Twilio's clock reconciliation looked. Here instances' clocks disagree with each other
and with Twilio's by ten minutes (more than the 90 s lease and the old 5 min margin),
on SQLite and PostgreSQL, against the Twilio-shaped server through the real client.

In these tests ``world.clock`` is the real time of the world: the fake Twilio's clock
(its ``date_created``, ``Date`` header and filters) and the database's. Dispatchers get
clocks of their own, set apart from it.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from scheduler.jobs import WelfareSweeps
from server.clock import DatabaseClock, ManualClock
from server.notify.dispatcher import LEASE, UNCERTAIN_RECHECK, Dispatcher
from tests.fakes.twilio_server import FakeTwilio
from tests.support.world import World

from .helpers import LAPSE_AFTER, WITNESS_PHONES, lapsing_cases, notifications, poll, staffed

SKEW = timedelta(minutes=10)


def fake_of(world: World) -> FakeTwilio:
    assert world.twilio is not None
    return world.twilio


def dispatcher_with_clock(
    world: World,
    clock: ManualClock,
    *,
    concurrency: int = 100,
    database: DatabaseClock | None = None,
) -> Dispatcher:
    """A dispatcher (as in another server instance) whose own clock is ``clock``, over
    the world's database, whose clock is the world's unless ``database`` is given."""
    svc = world.services
    return Dispatcher(
        svc.store,
        clock,
        svc.events,
        svc.dispatcher.gateway,
        svc.phones,
        svc.alerts,
        concurrency=concurrency,
        database_clock=database or DatabaseClock(world.clock),
    )


async def queue_nudges(world: World, numbers: list[str]) -> None:
    """Witness check-in nudges, one per number, queued and not yet sent."""
    team = await staffed(world)
    (case, *_) = await lapsing_cases(world, team, len(numbers), witness_phones=numbers)
    world.clock.set(case.deadline - LAPSE_AFTER)
    await WelfareSweeps(world.services).checkins()


def skewed(world: World, skew: timedelta) -> ManualClock:
    return ManualClock(world.clock.now() + skew)


@pytest.mark.parametrize("database_time", ["pinned", "real"])
async def test_instances_whose_clocks_differ_by_more_than_the_lease_never_both_send(
    sms_world: World, database_time: str
) -> None:
    """Instance A claims two nudges and sends them one at a time; the first hangs at
    Twilio, the second waits under A's lease. Instance B's clock is ten minutes ahead:
    by its own clock A's lease ran out long ago, by the database's it has not, so B
    takes nothing and the waiting nudge goes out once, from A. The database's time is
    pinned to the world's, or the database server's own (as in production)."""
    world, fake = sms_world, fake_of(sms_world)
    numbers = WITNESS_PHONES[:2]
    await queue_nudges(world, numbers)
    database = DatabaseClock(world.clock if database_time == "pinned" else None)
    first = dispatcher_with_clock(
        world, skewed(world, timedelta(0)), concurrency=1, database=database
    )
    ahead = dispatcher_with_clock(world, skewed(world, SKEW), database=database)

    fake.hang_next(mode="stall")
    sending = asyncio.create_task(first.run_once())
    await poll(lambda: fake.stalled == 1, "the first send to hang")

    assert await ahead.drain() == 0
    fake.release_stalled()
    await sending

    # The hung send is uncertain; once it is due, either instance reconciles it.
    world.clock.advance(UNCERTAIN_RECHECK)
    await ahead.drain()
    per_number = {number: len(fake.sent_to(number)) for number in numbers}
    assert per_number == dict.fromkeys(numbers, 1)
    assert {r["status"] for r in await notifications(world)} == {"sent"}


async def test_a_lease_still_runs_out_on_the_databases_clock(sms_world: World) -> None:
    """A dead instance's rows are taken over once the database's clock passes the
    lease, even by an instance whose own clock is ten minutes behind."""
    world, fake = sms_world, fake_of(sms_world)
    numbers = WITNESS_PHONES[:1]
    await queue_nudges(world, numbers)
    dying = dispatcher_with_clock(world, skewed(world, timedelta(0)))
    behind = dispatcher_with_clock(world, skewed(world, -SKEW))

    fake.hang_next(mode="stall")
    sending = asyncio.create_task(dying.run_once())
    await poll(lambda: fake.stalled == 1, "the send to hang")
    sending.cancel()
    fake.release_stalled()
    await asyncio.gather(sending, return_exceptions=True)

    world.clock.advance(LEASE - timedelta(milliseconds=1))
    assert await behind.drain() == 0
    world.clock.advance(timedelta(milliseconds=1))
    assert await behind.drain() == 1
    assert len(fake.sent) == 1
    (row,) = await notifications(world)
    assert (row["status"], row["provider_id"]) == ("sent", fake.sent[0].sid)


@pytest.mark.parametrize("skew", [SKEW, -SKEW], ids=["server-ahead", "server-behind"])
async def test_a_lost_response_is_reconciled_whatever_the_skew_with_twilio(
    sms_world: World, skew: timedelta
) -> None:
    """The whole server (instance and database) runs ten minutes ahead of Twilio's
    clock, or behind it. Twilio accepts a nudge and the response is lost; the retry
    finds that message on Twilio's clock and sends nothing twice."""
    world, fake = sms_world, fake_of(sms_world)
    numbers = WITNESS_PHONES[:1]
    await queue_nudges(world, numbers)
    # The nudge is due now on the server's clock; Twilio's is ``skew`` away from it.
    server_clock = skewed(world, max(skew, timedelta(0)))
    world.clock.advance(max(-skew, timedelta(0)))
    assert server_clock.now() - world.clock.now() == skew
    server = dispatcher_with_clock(world, server_clock, database=DatabaseClock(server_clock))

    fake.hang_next(mode="drop")
    assert await server.run_once() == 1
    (row,) = await notifications(world)
    assert row["status"] == "uncertain"
    assert len(fake.sent) == 1

    for clock in (world.clock, server_clock):
        clock.advance(UNCERTAIN_RECHECK)
    await server.drain()
    (row,) = await notifications(world)
    assert (row["status"], row["provider_id"]) == ("sent", fake.sent[0].sid)
    assert len(fake.sent) == 1
    assert fake.requests["create"] == 1


async def test_reconciliation_ignores_an_identical_message_from_before_the_attempt(
    sms_world: World,
) -> None:
    """Laid on Twilio's clock, the window still starts at the attempt: yesterday's
    identical nudge (sent outside the outbox, so not excluded as recorded) is not taken
    for today's, with the server ten minutes behind Twilio. The attempt fails with a
    5xx (uncertain, but Twilio has nothing), so the retry must send."""
    world, fake = sms_world, fake_of(sms_world)
    (number,) = WITNESS_PHONES[:1]
    gateway = world.services.dispatcher.gateway
    await queue_nudges(world, [number])
    (row,) = await notifications(world)
    earlier = await gateway.send(number, row["body"], status_callback=None)
    world.clock.advance(timedelta(days=1))
    server_clock = skewed(world, -SKEW)
    server = dispatcher_with_clock(world, server_clock, database=DatabaseClock(server_clock))

    fake.fail_next(1, 500)
    await server.run_once()
    assert [r["status"] for r in await notifications(world)] == ["uncertain"]
    for clock in (world.clock, server_clock):
        clock.advance(UNCERTAIN_RECHECK)
    await server.drain()
    (row,) = await notifications(world)
    assert [m.sid for m in fake.sent_to(number)] == [earlier.provider_id, row["provider_id"]]
    assert row["status"] == "sent"


async def test_the_database_clock_is_the_database_servers_unless_pinned(
    sms_world: World,
) -> None:
    """Unpinned, leases are on the database server's own time (here the same machine's
    real time); pinned, exactly on the test's."""
    async with sms_world.services.store.read() as uow:
        real = await uow.notifications.database_now(None)
        pinned = await uow.notifications.database_now(DatabaseClock(sms_world.clock).pinned_ms())
    assert abs(real - datetime.now(UTC)) < timedelta(seconds=5)
    assert pinned == sms_world.clock.now()
