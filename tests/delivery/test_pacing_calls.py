"""Paced calls (issue 14, what the pacing work left open): alert calls never faster than
the account's calls per second, the most urgent call first, a call held back for a
token neither counted as an attempt nor placed twice, and SMS and calls each on their
own bucket. And the dispatch loop: a duress alert raised on this instance wakes it at
once, paced or not.

The world's own dispatcher is paced here through its settings (the
``WITNESSLINK_SMS_PER_SECOND`` and ``WITNESSLINK_CALLS_PER_SECOND`` of a server, 1 each,
voice on), so the check-in sweep that raises the alerts and the dispatcher that places
the calls are the ones a server runs. Calls go through the real twilio client to the
fake's Calls API, which stamps each call with the tests' clock. Time is moved, never
slept.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

import scheduler.runner
from client_sdk import WitnessClient
from server.clock import ManualClock
from server.domain.welfare_models import AlertKind, NotificationStatus
from server.notify.dispatcher import Dispatcher
from server.notify.voice import ALERT_CALL_PREFIX
from tests.conftest import world_on
from tests.fakes.twilio_server import FakeTwilio
from tests.fakes.twilio_voice import FakeCall
from tests.support.kdf import DURESS_PIN
from tests.support.welfare import advance_to, with_phones_and_supervisor
from tests.support.world import TWILIO_SENDER, World
from tests.welfare.helpers import open_case

from .helpers import (
    LAPSE_AFTER,
    OFFICER_PHONE,
    SUPERVISOR_PHONE,
    WITNESS_PHONE,
    WORKER_PHONE,
    Lapse,
    lapsing_cases,
    notifications,
    poll,
    staffed,
)
from .test_pacing import one_witness, queue_routine, raise_alert, tick

SECOND = timedelta(seconds=1)
PACED: dict[str, Any] = {"voice_enabled": True, "sms_per_second": 1.0, "calls_per_second": 1.0}

#: Level 1 texts and calls the support worker; level 2 (15 minutes) texts and calls
#: the support supervisor. A duress alarm reaches both levels at once.
CALL_FIRST_POLICY: dict[str, Any] = {
    "levels": [
        {
            "after_minutes": 0,
            "notify": [{"agency": "support", "roles": ["support_worker"], "call": True}],
        },
        {
            "after_minutes": 15,
            "notify": [{"agency": "support", "roles": ["supervisor"], "call": True}],
        },
    ],
    "ack_timeout_minutes": 60,
    "repeat_minutes": 30,
}


@pytest.fixture
async def paced_world(
    backend: str, tmp_path: Path, clock: ManualClock, twilio: FakeTwilio
) -> AsyncIterator[World]:
    """A server whose dispatcher sends 1 SMS a second per sender and places 1 call a
    second for the account, with voice calls on, all to the fake Twilio."""
    async with world_on(backend, tmp_path, clock, twilio, PACED) as w:
        yield w


def fake_of(world: World) -> FakeTwilio:
    assert world.twilio is not None
    return world.twilio


def dispatcher_of(world: World) -> Dispatcher:
    dispatcher = world.services.dispatcher
    assert dispatcher.pacer.paced("sms")
    assert dispatcher.pacer.paced("voice")
    assert dispatcher.voice is not None
    return dispatcher


async def lapsed_burst(world: World, count: int, witness_phones: Sequence[str] = ()) -> list[Lapse]:
    """``count`` cases of one support worker, each with the call-first policy, whose
    check-ins fall due and then lapse together: the real sweep raises one missed
    check-in alert per case (an SMS and a call to the worker each) and the paced
    dispatcher sends what its tokens allow (one SMS, one call)."""
    team = await staffed(world)
    lapses = await lapsing_cases(world, team, count, witness_phones=witness_phones)
    for lapse in lapses:
        await team.officer.set_escalation_policy(lapse.case_id, CALL_FIRST_POLICY)
    deadline = lapses[0].deadline
    await advance_to(world, deadline - LAPSE_AFTER)
    await advance_to(world, deadline)
    return lapses


def notification_id(call: FakeCall) -> str:
    """The outbox row a call delivers: its TwiML URL ends with the row's id."""
    assert call.url is not None
    path = call.url.split("://", 1)[-1].split("/", 1)[-1]
    assert ("/" + path).startswith(ALERT_CALL_PREFIX + "/"), call.url
    return path.rsplit("/", 1)[-1]


def gaps(moments: Sequence[datetime]) -> list[timedelta]:
    ordered = sorted(moments)
    return [b - a for a, b in pairwise(ordered)]


async def kinds_of_calls(world: World, calls: Sequence[FakeCall]) -> list[str]:
    """The alert kind each call (in order) was placed for."""
    kinds = []
    async with world.services.store.read() as uow:
        for call in calls:
            row = await uow.notifications.get(notification_id(call))
            assert row is not None
            assert row.alert_id is not None
            alert = await uow.alerts.get(row.alert_id)
            assert alert is not None
            kinds.append(alert.kind.value)
    return kinds


# ------------------------------------------------------------------ the account's rate


async def test_alert_calls_never_exceed_the_accounts_rate_across_a_burst(
    paced_world: World,
) -> None:
    world, fake = paced_world, fake_of(paced_world)
    lapses = await lapsed_burst(world, 6)
    assert len(fake.voice.calls) == 1, "one token: one call now, five wait in the outbox"

    # Four looks a second, as two instances' loops might: the bucket still gives one.
    await tick(world, [dispatcher_of(world)], 8, step=0.25)

    calls = fake.voice.calls_to(WORKER_PHONE)
    assert len(calls) == 6
    assert all(gap >= SECOND for gap in gaps([c.date_created for c in calls]))
    assert max(c.date_created for c in calls) - lapses[0].deadline <= 6 * SECOND
    # Each alert's call placed once, and recorded with the call that delivered it.
    rows = await notifications(world, channel="voice")
    assert len(rows) == 6
    assert {r["status"] for r in rows} == {"sent"}
    assert sorted(r["provider_id"] for r in rows) == sorted(c.sid for c in calls)
    assert sorted(notification_id(c) for c in calls) == sorted(r["id"] for r in rows)
    assert fake.requests["call_create"] == 6
    # The six alerts' SMS to the worker fold into one (one SMS token, not six).
    assert len(fake.sent_to(WORKER_PHONE)) == 1


async def test_a_duress_call_goes_before_the_waiting_routine_calls(paced_world: World) -> None:
    world, fake = paced_world, fake_of(paced_world)
    lapses = await lapsed_burst(world, 5)
    dispatcher = dispatcher_of(world)
    await tick(world, [dispatcher], 1)
    assert len(fake.voice.calls) == 1  # four missed check-in calls still wait

    world.clock.advance(timedelta(milliseconds=300))
    raised_at = world.clock.now()
    await raise_alert(world, lapses[0], AlertKind.DURESS, "duress-behind-calls")
    await tick(world, [dispatcher], 6)

    after = [c for c in fake.voice.calls if c.date_created >= raised_at]
    kinds = await kinds_of_calls(world, after)
    # The duress alarm calls both levels (worker and supervisor), one a second, before
    # any of the four calls that were waiting.
    assert kinds == ["duress"] * 2 + ["missed_checkin"] * 4
    assert {c.to for c in after[:2]} == {WORKER_PHONE, SUPERVISOR_PHONE}
    assert after[0].date_created - raised_at < SECOND
    assert all(gap >= SECOND for gap in gaps([c.date_created for c in fake.voice.calls]))


async def test_a_call_held_back_for_a_token_is_not_an_attempt_and_is_placed_once(
    paced_world: World,
) -> None:
    world, fake = paced_world, fake_of(paced_world)
    await lapsed_burst(world, 4)
    dispatcher = dispatcher_of(world)

    # The dispatcher looks again and again with no token: nothing is claimed.
    for _ in range(5):
        await dispatcher.drain()
    assert len(fake.voice.calls) == 1
    waiting = [r for r in await notifications(world, channel="voice") if r["status"] != "sent"]
    assert len(waiting) == 3
    for row in waiting:
        assert (row["status"], row["attempts"], row["lease_until"]) == ("pending", 0, None)

    await tick(world, [dispatcher], 6, step=0.25)

    rows = await notifications(world, channel="voice")
    assert {(r["status"], r["attempts"]) for r in rows} == {("sent", 1)}
    assert fake.requests["call_create"] == 4
    assert sorted(notification_id(c) for c in fake.voice.calls) == sorted(r["id"] for r in rows)


# --------------------------------------------------------------------- each its bucket


async def test_sms_and_calls_are_paced_each_on_its_own_bucket(paced_world: World) -> None:
    world, fake = paced_world, fake_of(paced_world)
    lapses = await lapsed_burst(world, 8, witness_phones=[WITNESS_PHONE])
    await queue_routine(world, lapses[0].witness_id, 12)
    dispatcher = dispatcher_of(world)
    pacer = dispatcher.pacer
    sms_before, calls_before = len(fake.sent), len(fake.voice.calls)
    # The check-in SMS to the witness at 10:00, the folded alert SMS at the lapse.
    assert (sms_before, calls_before) == (2, 1)

    # The SMS sender was told "too many": calls still go, on their own bucket.
    world.clock.advance(SECOND)
    await pacer.slow_down("sms", TWILIO_SENDER)
    await dispatcher.drain()
    assert (len(fake.sent), len(fake.voice.calls)) == (sms_before, calls_before + 1)

    # Calls held back in turn (and the SMS debt paid off): SMS still go.
    world.clock.advance(6 * SECOND)
    await pacer.slow_down("voice", TWILIO_SENDER)
    await dispatcher.drain()
    assert (len(fake.sent), len(fake.voice.calls)) == (sms_before + 1, calls_before + 1)

    # Both free: each channel at its own rate, at the same time.
    world.clock.advance(6 * SECOND)
    start = world.clock.now()
    await tick(world, [dispatcher], 5, step=0.25)
    sms = [m.date_created for m in fake.sent if m.date_created >= start]
    calls = [c.date_created for c in fake.voice.calls if c.date_created >= start]
    assert len(sms) == 5
    assert len(calls) == 5
    assert all(gap >= SECOND for gap in gaps(sms))
    assert all(gap >= SECOND for gap in gaps(calls))
    # Every call placed exactly once.
    placed = [notification_id(c) for c in fake.voice.calls]
    assert len(placed) == len(set(placed))


# ------------------------------------------------------------------- the dispatch loop


@pytest.fixture
async def looping_world(
    backend: str,
    tmp_path: Path,
    clock: ManualClock,
    twilio: FakeTwilio,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[World]:
    """A paced server running its background jobs, whose periodic looks are an hour
    apart: only a wake-up can make its dispatch loop send within the test."""
    monkeypatch.setattr(scheduler.runner, "DISPATCH_POLL_S", 3600.0)
    overrides = {**PACED, "run_scheduler": True, "sweep_interval_s": 3600.0}
    async with world_on(backend, tmp_path, clock, twilio, overrides) as w:
        yield w


async def test_a_duress_alert_wakes_the_paced_dispatch_loop_at_once(
    looping_world: World,
) -> None:
    world, fake = looping_world, fake_of(looping_world)
    talk, store = await open_case(world, duress_pin=DURESS_PIN)
    await with_phones_and_supervisor(world, talk)
    await talk.witness.close()
    await queue_routine(world, talk.witness_id, 20)  # queued without waking the loop
    await world.services.dispatcher.drain()  # the first routine SMS takes the token
    assert len(fake.sent) == 1
    world.clock.advance(SECOND)  # a token again; nothing wakes the loop to take it
    moment = world.clock.now()

    phone = await WitnessClient.open(store, DURESS_PIN, clock=world.clock)
    world.clients.append(phone)
    await poll(lambda: len(fake.sent) == 2, "the duress SMS, sent on the wake-up")

    assert world.clock.now() == moment, "no time moved"
    duress = fake.sent[1]
    assert duress.to in {WORKER_PHONE, SUPERVISOR_PHONE, OFFICER_PHONE}
    assert not duress.body.startswith("Routine")
    rows = await notifications(world)
    waiting = [r for r in rows if r["status"] == NotificationStatus.PENDING.value]
    assert sum(r["purpose"] != "alert" for r in waiting) == 19


async def test_a_paced_backlog_is_looked_at_again_when_its_next_token_is_there(
    looping_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a wake-up (a row queued by another instance), the loop does not wait for
    its hour-long periodic look: a backlog it left waiting for a token is looked at
    again when the token is there, and its most urgent row goes."""
    world, fake = looping_world, fake_of(looping_world)
    dispatcher = world.services.dispatcher
    _team, lapse = await one_witness(world)
    await queue_routine(world, lapse.witness_id, 20)
    looks: asyncio.Queue[float] = asyncio.Queue()
    decide = dispatcher.next_look_s

    async def noted(at_most_s: float) -> float:
        wait_s = await decide(at_most_s)
        looks.put_nowait(wait_s)
        return wait_s

    monkeypatch.setattr(dispatcher, "next_look_s", noted)
    dispatcher.wake()
    first = await asyncio.wait_for(looks.get(), timeout=20)
    assert len(fake.sent) == 1
    assert first == pytest.approx(1.0), "until the next token, not the periodic look"

    await queue_routine(world, lapse.witness_id, 1, urgency=0, label="Critical")
    world.clock.advance(SECOND)
    await poll(lambda: len(fake.sent) == 2, "the critical SMS, at the token-timed look")

    assert fake.sent[1].body == "Critical 0"
    await dispatcher.drain()
    assert len(fake.sent) == 2, "still one token a second"
    assert await decide(3600.0) == pytest.approx(1.0)
