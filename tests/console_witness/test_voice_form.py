"""The witness page's "check-in by phone" form: voice PINs (write-only, stored as
digests) and the check-in call option, through the real console over HTTP."""

from __future__ import annotations

from tests.console_witness.conftest import SignIn, audit_entries
from tests.console_witness.helpers import back_on_page, officer_on_page
from tests.support.world import World


async def voice_of(world: World, witness_id: str) -> tuple[bytes | None, bytes | None, str]:
    async with world.services.store.read() as uow:
        voice = await uow.witness_voice.get(witness_id)
    assert voice is not None
    return voice.pin_digest, voice.duress_digest, voice.checkin_call


async def test_setting_voice_pins_and_the_call_option(world: World, console: SignIn) -> None:
    talk, officer, path = await officer_on_page(world, console)
    page = (await officer.get(path)).text
    assert 'action="/console/cases/' + talk.case_id + '/voice"' in page

    answer = await officer.post(
        path + "/voice", {"pin": "2468", "duress_pin": "1357", "checkin_call": "fallback"}
    )

    page = back_on_page(answer, talk.case_id, "saved")
    assert "2468" not in page
    assert "1357" not in page
    pin, duress, call = await voice_of(world, talk.witness_id)
    assert pin is not None
    assert duress is not None
    assert pin != duress
    assert call == "fallback"
    phones = world.services.phones
    assert phones.word_matches("voice-pin", "2468", pin)
    assert phones.word_matches("voice-duress", "1357", duress)
    assert len(await audit_entries(world, action="witness.voice_checkin_set")) == 1

    # Only the call option changes when the PIN fields are left empty.
    answer = await officer.post(path + "/voice", {"checkin_call": "always"})
    back_on_page(answer, talk.case_id, "saved")
    assert await voice_of(world, talk.witness_id) == (pin, duress, "always")

    # Removing the PINs.
    answer = await officer.post(path + "/voice", {"checkin_call": "never", "remove_pins": "1"})
    back_on_page(answer, talk.case_id, "saved")
    assert await voice_of(world, talk.witness_id) == (None, None, "never")


async def test_a_bad_voice_pin_is_refused_and_nothing_is_stored(
    world: World, console: SignIn
) -> None:
    talk, officer, path = await officer_on_page(world, console)

    answer = await officer.post(
        path + "/voice", {"pin": "1234", "duress_pin": "1234", "checkin_call": "never"}
    )

    assert "must differ" in answer.text
    async with world.services.store.read() as uow:
        assert await uow.witness_voice.get(talk.witness_id) is None
