"""Check-in by phone: a witness calls our number (the Twilio-shaped server plays the
caller, signing every webhook as Twilio does), is recognised by number and voice PIN,
and answers from the keypad. The duress PIN sounds exactly like the real one (the same
TwiML, byte for byte) while raising a duress alert.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from client_sdk.errors import ApiError
from server.clock import ManualClock
from server.notify.voice import INCOMING_CALL_PATH
from tests.conftest import world_on
from tests.fakes.twilio_server import FakeTwilio
from tests.fakes.twilio_voice import FakeCall
from tests.support.welfare import advance_to
from tests.support.world import TWILIO_SENDER, World
from wire.i18n import texts

from .helpers import LAPSE_AFTER, WITNESS_PHONE, Lapse, Team, lapsing_cases, staffed

PIN, DURESS_PIN = "2468", "1357"
STRANGER = "+15005550099"


@pytest.fixture
async def voice_world(
    backend: str, tmp_path: Path, clock: ManualClock, twilio: FakeTwilio
) -> AsyncIterator[World]:
    async with world_on(backend, tmp_path, clock, twilio, {"voice_enabled": True}) as w:
        yield w


def fake_of(world: World) -> FakeTwilio:
    assert world.twilio is not None
    return world.twilio


async def prompted_witness(world: World, *, pins: bool = True) -> tuple[Team, Lapse]:
    """A witness with a phone number (and voice PINs) whose check-in prompt is open."""
    team = await staffed(world)
    (lapse,) = await lapsing_cases(world, team, 1, witness_phones=(WITNESS_PHONE,))
    if pins:
        await team.officer.set_witness_voice(lapse.witness_id, PIN, DURESS_PIN)
    await advance_to(world, lapse.deadline - LAPSE_AFTER)
    return team, lapse


async def call_in(
    world: World, presses: tuple[str, ...], *, caller: str = WITNESS_PHONE
) -> FakeCall:
    url = world.settings.public_url + INCOMING_CALL_PATH
    return await fake_of(world).voice.incoming(url, caller, TWILIO_SENDER, presses)


async def alerts_of(team: Team, lapse: Lapse) -> list[dict[str, Any]]:
    return [a for a in await team.officer.alerts() if a["case_id"] == lapse.case_id]


async def checkin_row(world: World, witness_id: str) -> tuple[str | None, str | None]:
    async with world.services.store.read() as uow:
        row = await uow.conn.fetchrow(
            "SELECT response, response_channel FROM checkins WHERE witness_id = $1"
            " ORDER BY due_at LIMIT 1",
            witness_id,
        )
    assert row is not None
    return row[0], row[1]


async def test_the_duress_pin_sounds_exactly_like_the_real_pin_and_raises_duress(
    voice_world: World,
) -> None:
    world = voice_world
    team, lapse = await prompted_witness(world)

    real = await call_in(world, (PIN, "1"))
    assert await alerts_of(team, lapse) == []
    assert await checkin_row(world, lapse.witness_id) == ("ok", "voice")

    duress = await call_in(world, (DURESS_PIN, "1"))

    # Every TwiML document the caller's phone received is byte-for-byte the same.
    assert len(real.documents) == 3  # PIN prompt, menu, thanks
    assert duress.documents == real.documents
    assert duress.spoken == real.spoken
    assert real.spoken[1] == texts.witness_call_menu("ro")  # the witness's language
    (alert,) = await alerts_of(team, lapse)
    assert (alert["kind"], alert["severity"]) == ("duress", "critical")


async def test_a_duress_pin_answers_the_open_prompt_as_duress(voice_world: World) -> None:
    world = voice_world
    team, lapse = await prompted_witness(world)

    await call_in(world, (DURESS_PIN, "1"))

    assert await checkin_row(world, lapse.witness_id) == ("duress", "voice")
    assert [a["kind"] for a in await alerts_of(team, lapse)] == ["duress"]


@pytest.mark.parametrize(
    ("key", "answer", "kind", "severity"),
    [("2", "contact", "contact_requested", "normal"), ("9", "help", "help", "critical")],
)
async def test_menu_keys_ask_for_contact_or_help(
    voice_world: World, key: str, answer: str, kind: str, severity: str
) -> None:
    world = voice_world
    team, lapse = await prompted_witness(world)

    call = await call_in(world, (PIN, key))

    assert call.spoken[-1] == texts.witness_call_thanks("ro")
    assert await checkin_row(world, lapse.witness_id) == (answer, "voice")
    (alert,) = await alerts_of(team, lapse)
    assert (alert["kind"], alert["severity"]) == (kind, severity)


async def test_without_a_voice_pin_the_menu_comes_at_once(voice_world: World) -> None:
    world = voice_world
    _team, lapse = await prompted_witness(world, pins=False)

    call = await call_in(world, ("1",))

    assert call.spoken[0] == texts.witness_call_menu("ro")
    assert await checkin_row(world, lapse.witness_id) == ("ok", "voice")


@pytest.mark.parametrize("caller", [STRANGER, WITNESS_PHONE])
async def test_an_unknown_caller_or_a_wrong_pin_hears_a_neutral_sentence_and_nothing_changes(
    voice_world: World, caller: str
) -> None:
    world = voice_world
    team, lapse = await prompted_witness(world)

    call = await call_in(world, ("9999", "9"), caller=caller)

    # A stranger's language is unknown (English); the witness's phone hears Romanian.
    language = "en" if caller == STRANGER else "ro"
    assert call.spoken[-1] == texts.witness_call_neutral(language)
    if caller == STRANGER:
        assert len(call.spoken) == 1  # not even asked for a PIN
    said = " ".join(call.spoken).lower()
    for word in ("witness", "police", "court", "case", "wren", "press 1", "press 9"):
        assert word not in said
    assert await checkin_row(world, lapse.witness_id) == (None, None)
    assert await alerts_of(team, lapse) == []


async def test_a_replayed_menu_webhook_changes_nothing_twice(voice_world: World) -> None:
    world = voice_world
    team, lapse = await prompted_witness(world)
    call = await call_in(world, (PIN, "9"))
    menu = call.webhooks[-1]
    before = await alerts_of(team, lapse)

    async with (
        aiohttp.ClientSession() as session,
        session.post(menu.url, data=dict(menu.params), headers=menu.headers) as response,
    ):
        assert (response.status, await response.text()) == (200, menu.text)

    assert await alerts_of(team, lapse) == before
    assert len(before) == 1


async def test_voice_pins_must_be_digits_and_differ(voice_world: World) -> None:
    world = voice_world
    team, lapse = await prompted_witness(world, pins=False)
    for pin, duress, status, code in (
        ("12a4", "5678", 422, "invalid-body"),  # the typed body: 4-8 digits
        ("123", "5678", 422, "invalid-body"),
        ("1234", "1234", 422, "invalid-input"),  # the rules: different, both or neither
        ("1234", None, 422, "invalid-input"),
    ):
        with pytest.raises(ApiError) as refused:
            await team.officer.set_witness_voice(lapse.witness_id, pin, duress)
        assert refused.value.status == status
        assert refused.value.code == code


# ------------------------------------------------------- check-in calls to witnesses


async def called_witness(world: World, checkin_call: str) -> tuple[Team, Lapse]:
    """A witness whose phone app is offline (never enrolled), with voice PINs and the
    given call option, at the moment the check-in prompt goes out."""
    team = await staffed(world)
    (lapse,) = await lapsing_cases(world, team, 1, witness_phones=(WITNESS_PHONE,))
    await team.officer.set_witness_voice(
        lapse.witness_id, PIN, DURESS_PIN, checkin_call=checkin_call
    )
    await advance_to(world, lapse.deadline - LAPSE_AFTER)
    return team, lapse


@pytest.mark.parametrize("checkin_call", ["fallback", "always"])
async def test_a_check_in_calls_the_witness_who_answers_with_pin_and_key(
    voice_world: World, checkin_call: str
) -> None:
    world, fake = voice_world, fake_of(voice_world)
    fake.voice.script(WITNESS_PHONE, "human", presses=(PIN, "1"))
    _team, lapse = await called_witness(world, checkin_call)

    (call,) = fake.voice.calls_to(WITNESS_PHONE)
    await fake.voice.connect()

    assert call.spoken[0] == texts.witness_call_pin("ro")
    assert call.spoken[-1] == texts.witness_call_thanks("ro")
    assert await checkin_row(world, lapse.witness_id) == ("ok", "voice")


async def test_a_check_in_call_answered_by_a_machine_counts_as_no_answer(
    voice_world: World,
) -> None:
    world, fake = voice_world, fake_of(voice_world)
    fake.voice.script(WITNESS_PHONE, "machine", presses=(PIN, "1"))
    team, lapse = await called_witness(world, "always")

    await fake.voice.connect()

    (call,) = fake.voice.calls_to(WITNESS_PHONE)
    assert call.spoken == []
    assert await checkin_row(world, lapse.witness_id) == (None, None)
    await advance_to(world, lapse.deadline)
    assert [a["kind"] for a in await alerts_of(team, lapse)] == ["missed_checkin"]


async def test_a_witness_set_to_never_is_not_called(voice_world: World) -> None:
    world, fake = voice_world, fake_of(voice_world)
    await called_witness(world, "never")

    assert fake.voice.calls == []
    assert len(fake.sent_to(WITNESS_PHONE)) == 1  # the SMS nudge still goes


async def test_pin_guessing_is_bounded_but_the_duress_pin_still_raises_the_alarm(
    voice_world: World,
) -> None:
    world = voice_world
    team, lapse = await prompted_witness(world)
    for guess in ("0000", "1111", "2222", "3333", "4444"):
        await call_in(world, (guess, "1"))

    refused = await call_in(world, (PIN, "1"))
    assert refused.spoken[-1] == texts.witness_call_neutral("ro")
    assert await checkin_row(world, lapse.witness_id) == (None, None)

    under_duress = await call_in(world, (DURESS_PIN, "1"))
    assert under_duress.spoken == refused.spoken
    assert under_duress.documents == refused.documents
    assert [a["kind"] for a in await alerts_of(team, lapse)] == ["duress"]

    world.clock.advance(timedelta(minutes=10))
    again = await call_in(world, (PIN, "1"))
    assert again.spoken[-1] == texts.witness_call_thanks("ro")
