"""The officer's client shows comparison numbers only for the phone key and nonce it saw
before revealing its own nonce: a server that learns the revealed nonce cannot then
fit another phone nonce (or key) to the numbers on the phone's screen."""

from __future__ import annotations

import pytest

from client_sdk import EnrolmentRefused, PendingEnrolment, StaffClient
from client_sdk.officer_enrolment import EnrolingPhone, Enrolment
from tests.support.world import World
from wire.encoding import b64


async def _enrolment_at_comparison(
    world: World,
) -> tuple[StaffClient, Enrolment, PendingEnrolment, EnrolingPhone]:
    officer = await world.login("officer")
    case = await officer.create_case("DE-2026-0077", world.agencies["support"])
    enrolment = await officer.add_witness(
        case["case_id"], alias="Wren", language="ro", timezone="Europe/Bucharest"
    )
    pending = await world.start_enrolment(enrolment)
    shown = await officer.phone_for(enrolment)
    assert shown is not None
    assert await pending.sas() == shown.sas
    return officer, enrolment, pending, shown


async def test_looking_again_after_the_reveal_shows_the_same_numbers(world: World) -> None:
    officer, enrolment, pending, shown = await _enrolment_at_comparison(world)

    again = await officer.phone_for(enrolment)

    assert again == shown
    await officer.confirm_phone(again)
    await pending.confirm()


async def test_a_phone_nonce_changed_after_the_reveal_is_refused(world: World) -> None:
    officer, enrolment, _pending, _shown = await _enrolment_at_comparison(world)
    async with world.services.db.transaction() as conn:
        await conn.execute(
            "UPDATE enrolments SET phone_nonce = $2 WHERE id = $1",
            enrolment.enrolment_id,
            b64(bytes(range(32))),
        )

    with pytest.raises(EnrolmentRefused):
        await officer.phone_for(enrolment)

    async with world.services.store.read() as uow:
        record = await uow.enrolments.get(enrolment.enrolment_id)
    assert record is not None
    assert record.state.value == "aborted"
