"""Checking in by SMS: the witness texts a code word from their registered number (a
second word means duress) to the Twilio webhook. Only requests Twilio really signed are
acted on, only from the witness's number, and the reply never says anything."""

from __future__ import annotations

import aiohttp
import pytest

from client_sdk.errors import ApiError
from tests.fakes.twilio_server import FakeTwilio, WebhookResult
from tests.support.welfare import (
    OFFICER_PHONE,
    SUPERVISOR_PHONE,
    WITNESS_PHONE,
    WORKER_PHONE,
    advance_to,
    catch_up,
    sms_to,
    with_phones_and_supervisor,
)
from tests.support.world import TWILIO_SENDER, Conversation, World, open_conversation
from tests.welfare.helpers import EMPTY_TWIML, alerts_of, checkin_row, utc

EVERY_DAY = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DUE = utc("2026-01-06 08:00")  # Tuesday 10:00 in Bucharest
CHECKIN_WORD = "Lalea"
DURESS_WORD = "Ciocârlie"
UNKNOWN_PHONE = "+15005550099"


def _fake(world: World) -> FakeTwilio:
    assert world.twilio is not None
    return world.twilio


def _webhook(world: World) -> str:
    return world.url + "/v1/twilio/sms"


async def _text(world: World, body: str, *, from_: str = WITNESS_PHONE) -> WebhookResult:
    return await _fake(world).post_inbound_sms(
        _webhook(world), from_=from_, to=TWILIO_SENDER, body=body
    )


def _assert_silent_reply(reply: WebhookResult) -> None:
    assert reply.status == 200
    assert reply.text == EMPTY_TWIML
    assert "<Message" not in reply.text


async def _prompted(world: World) -> tuple[Conversation, str]:
    """A team with phones, SMS words set, and a prompt open; returns its id."""
    talk = await open_conversation(world)
    await with_phones_and_supervisor(world, talk)
    await talk.witness.set_sms_words(CHECKIN_WORD, DURESS_WORD)
    await talk.officer.set_checkin_plan(talk.witness_id, weekdays=EVERY_DAY, times=["10:00"])
    await advance_to(world, DUE)
    prompt = await talk.witness.current_prompt()
    assert prompt is not None
    return talk, prompt.checkin_id


async def _assert_unchanged(world: World, talk: Conversation, checkin_id: str) -> None:
    stored = await checkin_row(world, checkin_id)
    assert (stored.state.value, stored.response, stored.answered_at) == ("open", None, None)
    assert await talk.worker.alerts() == []


@pytest.mark.parametrize("body", ["Lalea", "LALEA", "  lálea ", "lalea\n", "LÂLEA"])
async def test_the_checkin_word_answers_the_open_prompt_by_sms(sms_world: World, body: str) -> None:
    world = sms_world
    talk, checkin_id = await _prompted(world)

    reply = await _text(world, body)
    _assert_silent_reply(reply)
    stored = await checkin_row(world, checkin_id)
    assert (stored.state.value, stored.response, stored.response_channel) == (
        "answered",
        "ok",
        "sms",
    )
    assert stored.answered_at == DUE
    assert await talk.witness.current_prompt() is None
    current = (await talk.officer.checkin_plan(talk.witness_id))["current"]
    assert (current["state"], current["due_at"]) == ("scheduled", "2026-01-07T08:00:00.000Z")
    assert await talk.worker.alerts() == []


async def test_the_duress_word_alerts_every_level_while_the_checkin_looks_answered(
    sms_world: World,
) -> None:
    world = sms_world
    talk, checkin_id = await _prompted(world)
    before = {n: len(sms_to(world, n)) for n in (WORKER_PHONE, SUPERVISOR_PHONE, OFFICER_PHONE)}

    reply = await _text(world, "ciocarlie")  # without the accent, in lower case
    _assert_silent_reply(reply)
    # To anyone looking at the phone, the check-in is simply done.
    assert await talk.witness.current_prompt() is None
    stored = await checkin_row(world, checkin_id)
    assert (stored.state.value, stored.response, stored.response_channel) == (
        "answered",
        "duress",
        "sms",
    )
    (alert,) = await talk.worker.alerts()
    assert (alert["kind"], alert["severity"], alert["level"]) == ("duress", "critical", 3)
    await catch_up(world)
    for number, count in before.items():
        assert len(sms_to(world, number)) == count + 1, number


async def test_the_duress_word_alerts_even_when_no_prompt_is_open(sms_world: World) -> None:
    world = sms_world
    talk = await open_conversation(world)
    await with_phones_and_supervisor(world, talk)
    await talk.witness.set_sms_words(CHECKIN_WORD, DURESS_WORD)

    _assert_silent_reply(await _text(world, CHECKIN_WORD))
    assert await talk.worker.alerts() == []
    _assert_silent_reply(await _text(world, DURESS_WORD))
    (alert,) = await talk.worker.alerts()
    assert (alert["kind"], alert["level"]) == ("duress", 3)


async def test_a_webhook_delivered_twice_raises_one_duress_alert(sms_world: World) -> None:
    """Twilio retries a webhook it got no answer to; the same SMS must not count twice."""
    world = sms_world
    talk, _checkin_id = await _prompted(world)
    headers, form = _fake(world).signed_inbound_sms(
        _webhook(world), WITNESS_PHONE, TWILIO_SENDER, DURESS_WORD
    )
    async with aiohttp.ClientSession() as http:
        for _ in range(2):
            async with http.post(_webhook(world), data=form, headers=headers) as response:
                assert response.status == 200
    assert len(await alerts_of(talk.worker, "duress")) == 1


# ---------------------------------------------------------------- refused or ignored


async def test_an_unsigned_request_is_forbidden_and_changes_nothing(sms_world: World) -> None:
    world = sms_world
    talk, checkin_id = await _prompted(world)
    _headers, form = _fake(world).signed_inbound_sms(
        _webhook(world), WITNESS_PHONE, TWILIO_SENDER, DURESS_WORD
    )
    async with aiohttp.ClientSession() as http:
        async with http.post(_webhook(world), data=form) as response:
            assert response.status == 403
        async with http.post(
            _webhook(world), data=form, headers={"X-Twilio-Signature": ""}
        ) as response:
            assert response.status == 403
    await _assert_unchanged(world, talk, checkin_id)


async def test_a_request_signed_with_another_token_is_forbidden(sms_world: World) -> None:
    world = sms_world
    talk, checkin_id = await _prompted(world)
    for word in (CHECKIN_WORD, DURESS_WORD):
        reply = await _fake(world).post_inbound_sms(
            _webhook(world),
            from_=WITNESS_PHONE,
            to=TWILIO_SENDER,
            body=word,
            sign_with="f" * 32,
        )
        assert reply.status == 403
        assert "<Response" not in reply.text
    await _assert_unchanged(world, talk, checkin_id)


async def test_a_signed_request_altered_on_the_way_is_forbidden(sms_world: World) -> None:
    world = sms_world
    talk, checkin_id = await _prompted(world)
    headers, form = _fake(world).signed_inbound_sms(
        _webhook(world), UNKNOWN_PHONE, TWILIO_SENDER, DURESS_WORD
    )
    form["From"] = WITNESS_PHONE  # someone rewrites the sender
    async with (
        aiohttp.ClientSession() as http,
        http.post(_webhook(world), data=form, headers=headers) as response,
    ):
        assert response.status == 403
    await _assert_unchanged(world, talk, checkin_id)


async def test_the_words_from_an_unknown_number_are_ignored(sms_world: World) -> None:
    world = sms_world
    talk, checkin_id = await _prompted(world)
    for word in (CHECKIN_WORD, DURESS_WORD):
        _assert_silent_reply(await _text(world, word, from_=UNKNOWN_PHONE))
    await _assert_unchanged(world, talk, checkin_id)


@pytest.mark.parametrize("body", ["Lalele", "ok", "Lalea Ciocârlie", "", "help"])
async def test_any_other_text_is_ignored(sms_world: World, body: str) -> None:
    world = sms_world
    talk, checkin_id = await _prompted(world)
    _assert_silent_reply(await _text(world, body))
    await _assert_unchanged(world, talk, checkin_id)


async def test_no_words_no_sms_checkin(sms_world: World) -> None:
    world = sms_world
    talk = await open_conversation(world)
    await with_phones_and_supervisor(world, talk)
    await talk.officer.set_checkin_plan(talk.witness_id, weekdays=EVERY_DAY, times=["10:00"])
    await advance_to(world, DUE)
    prompt = await talk.witness.current_prompt()
    assert prompt is not None
    _assert_silent_reply(await _text(world, CHECKIN_WORD))
    await _assert_unchanged(world, talk, prompt.checkin_id)


async def test_code_words_are_chosen_on_the_phone_and_must_make_sense(world: World) -> None:
    talk = await open_conversation(world)
    for checkin_word, duress_word in [("ab", "ciocarlie"), ("lalea", "LÁLEA")]:
        with pytest.raises(ApiError) as refused:
            await talk.witness.set_sms_words(checkin_word, duress_word)
        assert refused.value.status == 422
    with pytest.raises(ApiError) as refused:
        await talk.officer.transport.request(
            "PUT", "/v1/me/sms-words", json={"checkin_word": "lalea", "duress_word": "ciocarlie"}
        )
    assert refused.value.status == 403
    await talk.witness.set_sms_words(CHECKIN_WORD, DURESS_WORD)
    async with world.services.store.read() as uow:
        ok_digest, duress_digest = await uow.witnesses.sms_words(talk.witness_id)
    assert ok_digest is not None
    assert duress_digest is not None
    assert CHECKIN_WORD.lower().encode() not in ok_digest
