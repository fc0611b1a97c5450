"""Alert calls to staff, end to end through the real twilio client and the Twilio-shaped
server's Calls API: a missed check-in escalates by SMS and then by a call; pressing 1
acknowledges (audited, spoken confirmation); an answering machine does not; a replayed
webhook acts once; a call whose placing was never recorded is not placed again.

Time never passes by itself: tests move the manual clock and run the sweeps; the fake
plays a call only when the test connects it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from server.clock import ManualClock
from server.notify.dispatcher import LEASE
from tests.conftest import world_on
from tests.fakes.twilio_server import FakeTwilio
from tests.fakes.twilio_voice import FakeCall
from tests.server.test_i18n import forbidden_in_sms
from tests.support.welfare import advance, advance_to, catch_up
from tests.support.world import TWILIO_SENDER, World
from wire.i18n import texts

from .helpers import (
    LAPSE_AFTER,
    OFFICER_PHONE,
    SUPERVISOR_PHONE,
    WORKER_PHONE,
    Lapse,
    Team,
    lapsing_cases,
    notifications,
    staffed,
)

#: Level 1 texts the support worker; level 2 (15 minutes) texts *and calls* the
#: support supervisor; level 3 (30 minutes) texts the officer.
CALLING_POLICY: dict[str, Any] = {
    "levels": [
        {"after_minutes": 0, "notify": [{"agency": "support", "roles": ["support_worker"]}]},
        {
            "after_minutes": 15,
            "notify": [{"agency": "support", "roles": ["supervisor"], "call": True}],
        },
        {"after_minutes": 30, "notify": [{"agency": "police", "roles": ["officer"]}]},
    ],
    "ack_timeout_minutes": 60,
    "repeat_minutes": 30,
}


@pytest.fixture
async def voice_world(
    backend: str, tmp_path: Path, clock: ManualClock, twilio: FakeTwilio
) -> AsyncIterator[World]:
    """A server with SMS and voice calls going to the fake Twilio."""
    async with world_on(backend, tmp_path, clock, twilio, {"voice_enabled": True}) as w:
        yield w


def fake_of(world: World) -> FakeTwilio:
    assert world.twilio is not None
    return world.twilio


async def calling_case(world: World) -> tuple[Team, Lapse]:
    team = await staffed(world)
    (lapse,) = await lapsing_cases(world, team, 1)
    await team.officer.set_escalation_policy(lapse.case_id, CALLING_POLICY)
    return team, lapse


async def reach_level_two(world: World, lapse: Lapse) -> None:
    """The check-in lapses (level 1: SMS to the worker), then 15 minutes pass (level 2)."""
    await advance_to(world, lapse.deadline - LAPSE_AFTER)
    await advance_to(world, lapse.deadline)
    await advance(world, timedelta(minutes=15))


async def alert_of(team: Team, lapse: Lapse) -> dict[str, Any]:
    (alert,) = [a for a in await team.supervisor.alerts() if a["case_id"] == lapse.case_id]
    return alert


async def audit_actions(world: World, action: str) -> int:
    async with world.services.store.read() as uow:
        value = await uow.conn.fetchval("SELECT COUNT(*) FROM audit_log WHERE action = $1", action)
    return int(value)


def the_call(fake: FakeTwilio, number: str) -> FakeCall:
    (call,) = fake.voice.calls_to(number)
    return call


async def test_a_missed_check_in_texts_first_then_calls_and_pressing_1_acknowledges(
    voice_world: World,
) -> None:
    world, fake = voice_world, fake_of(voice_world)
    team, lapse = await calling_case(world)
    fake.voice.script(SUPERVISOR_PHONE, "human", presses=("1",))

    await advance_to(world, lapse.deadline - LAPSE_AFTER)
    await advance_to(world, lapse.deadline)
    assert len(fake.sent_to(WORKER_PHONE)) == 1
    assert fake.voice.calls == []  # level 1 texts only

    await advance(world, timedelta(minutes=15))
    assert len(fake.sent_to(SUPERVISOR_PHONE)) == 1
    call = the_call(fake, SUPERVISOR_PHONE)
    assert call.from_ == TWILIO_SENDER
    assert call.machine_detection == "Enable"
    assert call.url is not None
    assert call.status_callback is not None
    (row,) = await notifications(world, channel="voice")
    assert (row["status"], row["provider_id"]) == ("sent", call.sid)
    assert row["recipient_id"] == world.staff["supervisor"]

    await fake.voice.connect()

    assert call.status == "completed"
    # In the agency's language (the support organisation is in Romania).
    assert call.spoken[0] == texts.staff_alert_call("ro")
    assert call.spoken[-1] == texts.staff_alert_call_acknowledged("ro")
    # Nothing about the witness, the police, a court or the case is said.
    said = " ".join(call.spoken)
    assert "Wren" not in said
    assert "DE-2026" not in said
    assert forbidden_in_sms(said.replace("witnesslink", "")) == []
    alert = await alert_of(team, lapse)
    assert alert["status"] == "acknowledged"
    assert alert["acknowledged_by"] == world.staff["supervisor"]
    assert await audit_actions(world, "alert.acknowledged") == 1
    (row,) = await notifications(world, channel="voice")
    assert row["status"] == "delivered"

    # Acknowledged: level 3 does not fire.
    await advance(world, timedelta(minutes=15))
    assert fake.sent_to(OFFICER_PHONE) == []


@pytest.mark.parametrize("presses", [("1",), ()])
async def test_an_answering_machine_does_not_acknowledge_and_escalation_goes_on(
    voice_world: World, presses: tuple[str, ...]
) -> None:
    world, fake = voice_world, fake_of(voice_world)
    team, lapse = await calling_case(world)
    fake.voice.script(SUPERVISOR_PHONE, "machine", presses=presses)
    await reach_level_two(world, lapse)

    await fake.voice.connect()

    call = the_call(fake, SUPERVISOR_PHONE)
    assert call.answered_by == "machine_start"
    assert call.spoken == []  # a machine is hung up on, nothing recorded on it
    assert (await alert_of(team, lapse))["status"] == "open"
    (row,) = await notifications(world, channel="voice")
    assert (row["status"], row["error_code"]) == ("failed", "machine")
    await advance(world, timedelta(minutes=15))
    assert len(fake.sent_to(OFFICER_PHONE)) == 1


async def test_no_key_or_another_key_does_not_acknowledge(voice_world: World) -> None:
    world, fake = voice_world, fake_of(voice_world)
    team, lapse = await calling_case(world)
    fake.voice.script(SUPERVISOR_PHONE, "human", presses=("", "7"))
    await reach_level_two(world, lapse)

    await fake.voice.connect()

    call = the_call(fake, SUPERVISOR_PHONE)
    assert len(call.spoken) == 3  # the prompt, the prompt again, then "not acknowledged"
    assert call.spoken[-1] == texts.staff_alert_call_not_acknowledged("ro")
    assert (await alert_of(team, lapse))["status"] == "open"
    await advance(world, timedelta(minutes=15))
    assert len(fake.sent_to(OFFICER_PHONE)) == 1


async def test_a_replayed_key_press_acts_once_and_answers_the_same(voice_world: World) -> None:
    world, fake = voice_world, fake_of(voice_world)
    _team, lapse = await calling_case(world)
    fake.voice.script(SUPERVISOR_PHONE, "human", presses=("1",))
    await reach_level_two(world, lapse)
    await fake.voice.connect()
    call = the_call(fake, SUPERVISOR_PHONE)
    key_press = call.webhooks[-1]
    assert key_press.params["Digits"] == "1"
    assert await audit_actions(world, "alert.acknowledged") == 1

    async with (
        aiohttp.ClientSession() as session,
        session.post(key_press.url, data=dict(key_press.params), headers=key_press.headers) as r,
    ):
        replayed = (r.status, await r.text())

    assert replayed == (200, key_press.text)
    assert await audit_actions(world, "alert.acknowledged") == 1


async def test_an_unsigned_or_forged_voice_webhook_is_refused(voice_world: World) -> None:
    world, fake = voice_world, fake_of(voice_world)
    team, lapse = await calling_case(world)
    await reach_level_two(world, lapse)
    call = the_call(fake, SUPERVISOR_PHONE)
    assert call.url is not None
    params = {"CallSid": call.sid, "Digits": "1", "CallStatus": "in-progress"}
    async with aiohttp.ClientSession() as session:
        for headers in ({}, {"X-Twilio-Signature": "Zm9yZ2Vk"}):
            async with session.post(call.url + "/key", data=params, headers=headers) as r:
                assert r.status == 403
    assert (await alert_of(team, lapse))["status"] == "open"


async def test_a_call_placed_but_never_recorded_is_found_not_placed_again(
    voice_world: World,
) -> None:
    """The dispatcher dies while Twilio creates the call: after the lease the row is
    reconciled with Twilio's Calls list, and no second call is placed."""
    world, fake = voice_world, fake_of(voice_world)
    _team, lapse = await calling_case(world)
    await advance_to(world, lapse.deadline - LAPSE_AFTER)
    await advance_to(world, lapse.deadline)
    fake.hang_next(kind="call_create", mode="stall")
    world.clock.advance(timedelta(minutes=15))
    dying = asyncio.create_task(catch_up(world))
    await fake.wait_until_stalled()
    dying.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await dying
    fake.release_stalled()
    (placed,) = fake.voice.calls

    await advance(world, LEASE)

    (row,) = await notifications(world, channel="voice")
    assert (row["status"], row["provider_id"]) == ("sent", placed.sid)
    assert fake.voice.calls == [placed]
    assert fake.requests["call_create"] == 1
    assert fake.requests["call_list"] >= 1


async def test_an_uncertain_call_is_reconciled_not_placed_twice(voice_world: World) -> None:
    """The connection drops after Twilio created the call: the retry asks Twilio first."""
    world, fake = voice_world, fake_of(voice_world)
    _team, lapse = await calling_case(world)
    fake.hang_next(kind="call_create", mode="drop")
    await reach_level_two(world, lapse)
    (placed,) = fake.voice.calls
    (row,) = await notifications(world, channel="voice")
    assert row["status"] == "uncertain"

    await advance(world, timedelta(minutes=1))

    (row,) = await notifications(world, channel="voice")
    assert (row["status"], row["provider_id"]) == ("sent", placed.sid)
    assert fake.voice.calls == [placed]
    assert fake.requests["call_create"] == 1
