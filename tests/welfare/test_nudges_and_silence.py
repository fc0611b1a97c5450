"""When no phone of the witness has been online for a while, a prompt also goes out as a
neutral SMS nudge in the witness's language that names nobody and nothing; a phone that
stops reporting at all raises a "device silent" alert, once per silence."""

from __future__ import annotations

from datetime import timedelta

import pytest

from client_sdk.conversation import Conversation as ConversationEngine
from client_sdk.errors import ApiError
from tests.support.welfare import (
    OFFICER_PHONE,
    SUPERVISOR_PHONE,
    WITNESS_PHONE,
    WORKER_PHONE,
    advance,
    advance_to,
    sms_to,
    with_phones_and_supervisor,
)
from tests.support.world import Conversation, World, open_conversation
from tests.welfare.helpers import alerts_of, texts, utc, wait_connected, walk_to

EVERY_DAY = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
# The clock starts on Monday 2026-01-05 09:00 UTC, when the phone is enrolled (and last
# seen). The first prompt is Tuesday 10:00 in Bucharest, 08:00 UTC: 23 hours later.
DUE = utc("2026-01-06 08:00")
REMIND = DUE + timedelta(minutes=45)
DEADLINE = DUE + timedelta(minutes=90)
NEXT_DUE = utc("2026-01-07 08:00")
FORBIDDEN_IN_SMS = ["Sparrow", "DE-2026-0042", "police agency", "support agency", "other agency"]


async def _team_with_phones(world: World) -> Conversation:
    talk = await open_conversation(world)
    await with_phones_and_supervisor(world, talk)
    await talk.officer.set_checkin_plan(
        talk.witness_id,
        weekdays=EVERY_DAY,
        times=["10:00"],
        window_minutes=60,
        grace_minutes=30,
        reminder_minutes=15,
    )
    return talk


def _assert_neutral(world: World) -> None:
    assert world.twilio is not None
    assert world.twilio.sent, "the scan must have something to look at"
    for message in world.twilio.sent:
        for word in FORBIDDEN_IN_SMS:
            assert word.lower() not in message.body.lower(), message.body
        if message.to == WITNESS_PHONE:
            assert "witness" not in message.body.lower(), message.body


# ---------------------------------------------------------------- nudges


async def test_an_offline_phone_is_nudged_at_the_prompt_and_again_at_the_reminder(
    sms_world: World,
) -> None:
    world = sms_world
    talk = await _team_with_phones(world)
    nudge = texts.checkin_nudge("ro")
    assert nudge != texts.checkin_nudge("en"), "the Romanian text must be a translation"

    await advance_to(world, DUE - timedelta(minutes=1))
    assert sms_to(world, WITNESS_PHONE) == []
    await advance_to(world, DUE)
    assert sms_to(world, WITNESS_PHONE) == [nudge]
    await advance_to(world, REMIND - timedelta(minutes=1))
    assert sms_to(world, WITNESS_PHONE) == [nudge]
    # Still offline when the reminder is due: one more nudge, and only one.
    await advance_to(world, REMIND)
    assert sms_to(world, WITNESS_PHONE) == [nudge, nudge]
    await advance_to(world, DEADLINE)
    assert len(await alerts_of(talk.worker, "missed_checkin")) == 1
    await advance_to(world, NEXT_DUE - timedelta(minutes=1))
    assert sms_to(world, WITNESS_PHONE) == [nudge, nudge]
    # The next prompt nudges again.
    await advance_to(world, NEXT_DUE)
    assert sms_to(world, WITNESS_PHONE) == [nudge, nudge, nudge]
    _assert_neutral(world)


async def test_a_phone_heard_from_recently_is_not_nudged(sms_world: World) -> None:
    world = sms_world
    talk = await _team_with_phones(world)
    await advance_to(world, DUE - timedelta(minutes=30))
    await talk.witness.heartbeat()
    await advance_to(world, DUE)
    await advance_to(world, REMIND)  # 75 minutes after the heartbeat: still online
    assert sms_to(world, WITNESS_PHONE) == []


async def test_a_phone_with_its_websocket_open_is_not_nudged(sms_world: World) -> None:
    world = sms_world
    talk = await _team_with_phones(world)
    await talk.witness.heartbeat()  # Monday 09:00: long ago by Tuesday's prompt
    # The WebSocket alone (the SDK's heartbeat loop would hide what is tested here).
    ConversationEngine.start(talk.witness)
    await wait_connected(world, talk.witness)

    await advance_to(world, DUE)
    await advance_to(world, REMIND)
    assert sms_to(world, WITNESS_PHONE) == []


async def test_without_a_reminder_an_offline_phone_is_nudged_once(sms_world: World) -> None:
    world = sms_world
    talk = await _team_with_phones(world)
    plan = await talk.officer.set_checkin_plan(
        talk.witness_id, weekdays=EVERY_DAY, times=["10:00"], reminder_minutes=0
    )
    assert plan["current"]["remind_at"] is None
    await walk_to(world, DEADLINE, step=timedelta(minutes=15))
    assert sms_to(world, WITNESS_PHONE) == [texts.checkin_nudge("ro")]


async def test_a_phone_back_online_before_the_reminder_is_not_nudged_again(
    sms_world: World,
) -> None:
    world = sms_world
    talk = await _team_with_phones(world)
    await advance_to(world, DUE)
    assert sms_to(world, WITNESS_PHONE) == [texts.checkin_nudge("ro")]
    await advance_to(world, DUE + timedelta(minutes=20))
    await talk.witness.heartbeat()
    await advance_to(world, REMIND)
    assert sms_to(world, WITNESS_PHONE) == [texts.checkin_nudge("ro")]


@pytest.mark.parametrize(
    ("offline_after_minutes", "heard_before_due", "nudged"),
    [
        pytest.param(30 * 60, timedelta(hours=23), False, id="30h-threshold-seen-23h-ago"),
        pytest.param(30, timedelta(minutes=60), True, id="30min-threshold-heard-1h-ago"),
        pytest.param(90, timedelta(minutes=60), False, id="90min-threshold-heard-1h-ago"),
    ],
)
async def test_how_long_offline_counts_is_set_per_case(
    sms_world: World, offline_after_minutes: int, heard_before_due: timedelta, nudged: bool
) -> None:
    world = sms_world
    talk = await _team_with_phones(world)
    settings = await talk.officer.set_welfare_settings(
        talk.case_id, offline_after_minutes=offline_after_minutes
    )
    assert settings["offline_after_minutes"] == offline_after_minutes
    await advance_to(world, DUE - heard_before_due)
    await talk.witness.heartbeat()
    await advance_to(world, DUE)
    assert len(sms_to(world, WITNESS_PHONE)) == (1 if nudged else 0)


async def test_a_case_can_have_its_own_nudge_text_sent_verbatim(sms_world: World) -> None:
    world = sms_world
    talk = await _team_with_phones(world)
    custom = "Salut, Ana! Cafeaua de joi rămâne? 🙂"
    await talk.officer.set_welfare_settings(talk.case_id, nudge_text=custom)
    await talk.witness.set_sms_words("lalea", "ciocarlie")  # the case's text still wins
    await advance_to(world, DUE)
    assert sms_to(world, WITNESS_PHONE) == [custom]


async def test_the_nudge_offers_replying_with_a_word_only_once_words_are_set(
    sms_world: World,
) -> None:
    world = sms_world
    talk = await _team_with_phones(world)
    await advance_to(world, DUE)
    assert sms_to(world, WITNESS_PHONE) == [texts.checkin_nudge("ro")]

    await walk_to(world, DUE + timedelta(hours=2), step=timedelta(minutes=15))
    await talk.witness.set_sms_words("lalea", "ciocarlie")
    await advance_to(world, NEXT_DUE)
    reply_variant = texts.checkin_nudge_with_sms_reply("ro")
    assert reply_variant != texts.checkin_nudge("ro")
    assert sms_to(world, WITNESS_PHONE)[-1] == reply_variant
    _assert_neutral(world)


async def test_a_witness_without_a_phone_number_gets_no_sms(sms_world: World) -> None:
    world = sms_world
    talk = await _team_with_phones(world)
    await talk.officer.set_witness_phone(talk.witness_id, None)
    await advance_to(world, DUE)
    await advance_to(world, REMIND)
    assert sms_to(world, WITNESS_PHONE) == []
    assert world.twilio is not None
    assert world.twilio.sent == []


async def test_no_sms_ever_names_the_witness_the_case_or_an_agency(sms_world: World) -> None:
    world = sms_world
    talk = await _team_with_phones(world)
    await talk.witness.set_sms_words("lalea", "ciocarlie")
    # Prompt, reminder, miss, then every escalation level and a second round.
    await walk_to(world, DEADLINE + timedelta(hours=2), step=timedelta(minutes=5))
    assert len(sms_to(world, WITNESS_PHONE)) == 2
    for number in (WORKER_PHONE, SUPERVISOR_PHONE, OFFICER_PHONE):
        assert sms_to(world, number), number
    await talk.witness.panic()
    await advance(world, timedelta(minutes=1))
    _assert_neutral(world)


# ---------------------------------------------------------------- silence


async def test_a_silent_phone_raises_one_alert_per_silence(world: World) -> None:
    talk = await open_conversation(world)
    settings = await talk.officer.set_welfare_settings(talk.case_id, silent_after_hours=2)
    assert settings["silent_after_hours"] == 2
    await talk.witness.heartbeat()  # Monday 09:00: silent from 11:00 on
    start = world.clock.now()

    await advance_to(world, start + timedelta(hours=2) - timedelta(minutes=1))
    assert await alerts_of(talk.worker, "device_silent") == []
    await advance_to(world, start + timedelta(hours=2))
    (alert,) = await alerts_of(talk.worker, "device_silent")
    assert (alert["severity"], alert["status"], alert["level"]) == ("normal", "open", 1)
    assert (alert["case_id"], alert["witness_id"]) == (talk.case_id, talk.witness_id)

    # Staying silent is the same silence: no second alert.
    await advance(world, timedelta(hours=6))
    assert len(await alerts_of(talk.worker, "device_silent")) == 1

    # The phone reports again, then falls silent again: a new alert.
    await talk.witness.heartbeat()
    again = world.clock.now()
    await advance_to(world, again + timedelta(hours=2) - timedelta(minutes=1))
    assert len(await alerts_of(talk.worker, "device_silent")) == 1
    await advance_to(world, again + timedelta(hours=2))
    silent = await alerts_of(talk.worker, "device_silent")
    assert len(silent) == 2
    assert len({a["alert_id"] for a in silent}) == 2


async def test_a_phone_that_keeps_reporting_never_counts_as_silent(world: World) -> None:
    talk = await open_conversation(world)
    await talk.officer.set_welfare_settings(talk.case_id, silent_after_hours=2)
    for _ in range(8):
        await talk.witness.heartbeat()
        await advance(world, timedelta(minutes=90))
    assert await alerts_of(talk.worker, "device_silent") == []


async def test_a_heartbeat_with_a_battery_level_outside_0_to_100_is_refused(
    world: World,
) -> None:
    talk = await open_conversation(world)
    with pytest.raises(ApiError) as refused:
        await talk.witness.transport.request("POST", "/v1/heartbeat", json={"battery": 101})
    assert refused.value.status == 422
