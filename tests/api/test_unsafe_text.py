"""Free text in API bodies refuses control and bidi characters (issue 13, finding: free
text): a 422 problem naming the field and the code point, and nothing stored."""

from __future__ import annotations

import msgspec
import pytest

from client_sdk.errors import ApiError
from server.api.models import ResolveIn
from server.domain.access import Principal
from server.domain.free_text import UnsafeText, unsafe_text_problem
from tests.support.world import World, open_conversation


@pytest.mark.parametrize(
    ("word", "code_point"),
    [("La\x00lea", "U+0000"), ("Lal\u202eea", "U+202E"), ("Lalea\n", "U+000A")],
)
async def test_an_sms_code_word_with_a_control_or_bidi_character_is_refused(
    world: World, word: str, code_point: str
) -> None:
    talk = await open_conversation(world)
    with pytest.raises(ApiError) as refused:
        await talk.witness.set_sms_words(word, "Ciocarlie")
    assert (refused.value.status, refused.value.code) == (422, "invalid-body")
    assert refused.value.detail is not None
    assert f"checkin_word contains {code_point}" in refused.value.detail
    async with world.services.store.read() as uow:
        assert await uow.witnesses.sms_words(talk.witness_id) == (None, None)


async def test_the_domain_refuses_such_a_word_even_past_the_edge(world: World) -> None:
    """The check-in service checks the words itself (the console or a future edge
    calling it directly cannot skip the rule)."""
    talk = await open_conversation(world)
    async with world.services.store.read() as uow:
        witness = await uow.witnesses.get(talk.witness_id)
        device = await uow.devices.get(talk.witness.device_id)
    assert witness is not None
    assert device is not None
    phone = Principal(device=device, witness=witness)
    with pytest.raises(UnsafeText, match="duress_word contains U\\+202E"):
        await world.services.checkins.set_sms_words(phone, "Lalea", "Cioc\u202earlie")
    async with world.services.store.read() as uow:
        assert await uow.witnesses.sms_words(talk.witness_id) == (None, None)


def test_multi_line_fields_keep_their_line_breaks_and_refuse_the_rest() -> None:
    note = msgspec.json.decode(b'{"outcome": "safe", "note": "one\\ntwo\\tthree"}', type=ResolveIn)
    assert note.note == "one\ntwo\tthree"
    with pytest.raises(msgspec.ValidationError, match="outcome contains U\\+000A"):
        msgspec.json.decode(b'{"outcome": "sa\\nfe", "note": "x"}', type=ResolveIn)
    with pytest.raises(msgspec.ValidationError, match="note contains U\\+2067"):
        msgspec.json.decode(b'{"outcome": "safe", "note": "x\\u2067y"}', type=ResolveIn)


def test_joiners_needed_by_some_scripts_are_allowed() -> None:
    assert (
        unsafe_text_problem("\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645", field="note")
        is None
    )
