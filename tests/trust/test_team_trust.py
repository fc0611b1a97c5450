"""How people come to trust each other's devices: a colleague compared safety numbers
with, a second client of someone already trusted, a new identity that must be verified
again, and a colleague nobody verified, who receives nothing until someone does."""

from __future__ import annotations

import pytest

from client_sdk import IdentityChangeWarning, IncomingMessage, NewDevice, WitnesslinkError
from tests.support.world import World, introduce, open_conversation


async def test_the_phone_and_the_officer_read_the_same_safety_number(world: World) -> None:
    talk = await open_conversation(world)
    on_phone = talk.witness.safety_number(talk.officer.owner)
    await talk.officer.refresh_devices(talk.case_id)
    on_officer = talk.officer.safety_number(talk.witness.owner)
    assert on_phone == on_officer
    assert len(on_phone.replace(" ", "")) == 60
    with pytest.raises(ValueError, match="differ"):
        await talk.witness.verify_person(talk.officer.owner, "1" * 60)
    await talk.witness.verify_person(talk.officer.owner, on_officer)


async def test_a_second_client_of_a_trusted_person_needs_no_new_comparison(
    world: World,
) -> None:
    talk = await open_conversation(world)
    laptop = await world.login("officer")  # takes on the officer's identity (recovery key)
    assert laptop.has_identity
    talk.witness.trust.mark_stale(talk.case_id)
    talk.witness.pending_events()

    sent = await talk.witness.send("to every device of the officer")

    assert laptop.device_id in sent.recipients
    new = [e for e in talk.witness.pending_events() if isinstance(e, NewDevice)]
    assert [(e.device_id, e.verified) for e in new] == [(laptop.device_id, True)]
    await laptop.sync()
    texts = [e.text for e in laptop.pending_events() if isinstance(e, IncomingMessage)]
    assert texts == ["to every device of the officer"]


async def test_a_client_without_the_recovery_key_is_trusted_by_nobody(world: World) -> None:
    talk = await open_conversation(world)
    world.recovery_keys.pop("officer")
    stranger = await world.login("officer")  # the right password, but no recovery key
    assert not stranger.has_identity
    talk.witness.trust.mark_stale(talk.case_id)
    sent = await talk.witness.send("hello")
    assert stranger.device_id in sent.withheld
    # With the recovery key it joins the officer's identity and is trusted.
    recovery = talk.officer.recovery_key
    assert recovery is not None
    await stranger.restore_identity(recovery)
    talk.witness.trust.mark_stale(talk.case_id)
    assert stranger.device_id in (await talk.witness.send("hello again")).recipients


async def test_a_new_identity_is_not_trusted_until_verified_again(world: World) -> None:
    talk = await open_conversation(world)
    await talk.worker.replace_identity()  # e.g. the recovery key was lost
    talk.witness.trust.mark_stale(talk.case_id)
    talk.witness.pending_events()

    sent = await talk.witness.send("who is this?")

    assert talk.worker.device_id in sent.withheld
    changed = [e for e in talk.witness.pending_events() if isinstance(e, IdentityChangeWarning)]
    assert [e.owner for e in changed] == [talk.worker.owner]
    # The officer compares safety numbers with the worker again and vouches for the new
    # identity in the roster: the phone trusts the worker again through the officer.
    await introduce(talk.officer, talk.worker)
    await talk.officer.vouch(talk.case_id, talk.worker.owner)
    talk.witness.trust.mark_stale(talk.case_id)
    assert talk.worker.device_id in (await talk.witness.send("welcome back")).recipients


async def test_a_colleague_nobody_verified_receives_nothing(world: World) -> None:
    world.staff_verify_each_other = False
    officer = await world.login("officer")
    worker = await world.login("worker")
    case = await officer.create_case("DE-2026-0500", world.agencies["support"])
    await officer.assign(case["case_id"], worker.staff_id)  # on the case, not vouched for
    enrolment = await officer.add_witness(
        case["case_id"], alias="Sparrow", language="ro", timezone="Europe/Bucharest"
    )
    phone = await world.enrol(enrolment)

    assert worker.device_id in (await phone.send("hello")).withheld
    assert worker.device_id in (await officer.send("hello", case_id=case["case_id"])).withheld
    # The worker trusts nobody either: nobody they verified signed the roster.
    with pytest.raises(WitnesslinkError, match="no trusted device"):
        await worker.send("hello", case_id=case["case_id"])

    await introduce(officer, worker)
    await officer.vouch(case["case_id"], worker.owner)
    for client in (phone, worker):  # as the server's keys_changed push does
        client.trust.mark_stale(case["case_id"])
    assert worker.device_id in (await phone.send("now you")).recipients
    sent = await worker.send("hello at last", case_id=case["case_id"])
    assert sorted(sent.recipients) == sorted([officer.device_id, phone.device_id])
