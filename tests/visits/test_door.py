"""The visitor at the door: both screens show the same code, made from the two people's
identity keys as each side trusts them, the visit and a fresh nonce only the visitor's
device and the phone hold. Anyone else's device gets no code on the phone; a server that
swaps the visitor's key is refused; "this is not the person" raises an alarm; a duress
confirmation looks exactly like a real one to the phone, the visitor and the wire."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from client_sdk import WitnessClient
from client_sdk.events import DoorAnswered, DoorCodeShown, HeldMessage
from client_sdk.identity import PersonalIdentity
from client_sdk.visits import VisitError
from server.clock import to_ms
from tests.adversary.server import attacker_device, insert_device
from tests.court.helpers import alerts_of, raw_socket
from tests.support.kdf import DURESS_PIN
from tests.support.welfare import advance_to
from tests.support.world import Conversation, World, open_conversation
from tests.welfare.helpers import open_case
from wire.door import door_code, new_door_nonce
from wire.keys import object_hash

START = datetime(2026, 5, 4, 7, 0, tzinfo=UTC)
ARRIVAL = START + timedelta(hours=1, minutes=10)


async def _announced_visit(world: World, talk: Conversation) -> dict[str, Any]:
    """The worker schedules their own visit, the phone takes the notice, and the worker
    arrives at the door within the window."""
    visit = await talk.worker.schedule_visit(
        talk.case_id,
        visitor_staff_id=talk.worker.staff_id,
        window_start=START + timedelta(hours=1),
        window_end=START + timedelta(hours=3),
    )
    await talk.witness.sync()
    assert [v.visit_id for v in await talk.witness.upcoming_visits()] == [visit["visit_id"]]
    await advance_to(world, ARRIVAL)
    return visit


async def test_both_screens_show_the_same_code(world: World) -> None:
    world.clock.set(START)
    talk = await open_conversation(world)
    visit = await _announced_visit(world, talk)
    shown_by_visitor = await talk.worker.at_the_door(visit["visit_id"])
    assert len(shown_by_visitor.replace(" ", "")) == 6
    await talk.witness.sync()
    shown = [e for e in talk.witness.pending_events() if isinstance(e, DoorCodeShown)]
    assert [(e.visit_id, e.code, e.visitor_name) for e in shown] == [
        (visit["visit_id"], shown_by_visitor, "Worker")
    ]
    assert await talk.witness.door_code(visit["visit_id"]) == shown_by_visitor
    # Each arrival has its own nonce, so its own code: an old code seen over a shoulder
    # is worth nothing next time.
    again = await talk.worker.at_the_door(visit["visit_id"])
    await talk.witness.sync()
    assert await talk.witness.door_code(visit["visit_id"]) == again


async def test_a_device_that_is_not_the_visitors_gets_no_code_on_the_phone(
    world: World,
) -> None:
    """Another member of the team (trusted for messages, but not the visitor the phone
    was told about) sends a door nonce: the phone holds it apart and shows no code;
    the code that member's own keys make differs from the visitor's."""
    world.clock.set(START)
    talk = await open_conversation(world)
    visit = await _announced_visit(world, talk)
    with pytest.raises(VisitError):
        await talk.officer.at_the_door(visit["visit_id"])
    nonce = new_door_nonce()
    phones = [
        d.device_id
        for d in talk.officer.known_devices(talk.case_id)
        if d.owner.startswith("witness:")
    ]
    await talk.officer.send_payload(
        talk.case_id,
        {"kind": "visit_door", "visit_id": visit["visit_id"], "version": 1, "nonce": nonce},
        to=phones,
    )
    await talk.witness.sync()
    assert await talk.witness.door_code(visit["visit_id"]) is None
    assert any(isinstance(e, HeldMessage) for e in talk.witness.pending_events())

    witness_owner = f"witness:{talk.witness_id}"
    witness_key = talk.officer.trust.person(witness_owner)
    assert witness_key is not None

    def code_of(owner: str, key: str) -> str:
        return door_code(
            nonce,
            visitor_owner=owner,
            visitor_identity_key=key,
            witness_owner=witness_owner,
            witness_identity_key=witness_key.identity_key,
            visit_id=visit["visit_id"],
            visit_version=1,
        )

    officer_key = talk.officer.trust.personal_identity
    worker_key = talk.worker.trust.personal_identity
    assert officer_key is not None
    assert worker_key is not None
    assert code_of(talk.officer.owner, officer_key.public_key) != code_of(
        talk.worker.owner, worker_key.public_key
    )


async def test_a_server_that_swaps_the_visitors_identity_key_is_refused(world: World) -> None:
    """The malicious server replaces the visitor's identity (key and device list) with
    its own and adds its own device for them. The phone does not take the server's key:
    the visitor's trust is gone from its point of view, so no code is shown at all —
    and the code the attacker's key would make is not the visitor's."""
    world.clock.set(START)
    talk = await open_conversation(world)
    visit = await _announced_visit(world, talk)
    attacker = attacker_device(talk.worker.owner)
    forged = PersonalIdentity.generate()
    device_list = forged.device_list(
        attacker.owner, 99, {attacker.device_id: object_hash(attacker.key_object())}, START
    )
    await insert_device(world, attacker)
    async with world.services.db.transaction() as conn:
        await conn.execute(
            "UPDATE identities SET identity_key = $2, version = 99, device_list = $3,"
            " updated_at = $4 WHERE owner = $1",
            talk.worker.owner,
            forged.public_key,
            json.dumps(device_list),
            to_ms(world.clock.now()),
        )
    with contextlib.suppress(Exception):
        await talk.witness.trust.refresh(talk.case_id)
    with contextlib.suppress(Exception):
        await talk.worker.at_the_door(visit["visit_id"])
    await talk.witness.sync()
    # The phone saw the identity change and trusts the new key for nothing: the door
    # nonce, though from the genuine visitor's device, gives no code to compare.
    assert not talk.witness.trust.person_trusted(talk.worker.owner, talk.case_id)
    assert await talk.witness.door_code(visit["visit_id"]) is None


async def test_this_is_not_the_person_raises_a_critical_alert_that_escalates(
    world: World,
) -> None:
    world.clock.set(START)
    talk = await open_conversation(world)
    visit = await _announced_visit(world, talk)
    shown = await talk.witness.answer_door(visit["visit_id"], is_the_person=False)
    assert shown == "not_the_person"
    (alert,) = await alerts_of(talk.worker, "wrong_visitor")
    assert (alert["severity"], alert["case_id"]) == ("critical", talk.case_id)
    assert alert["level"] >= 1
    # Asking again is the same alarm, not a second one.
    await talk.witness.answer_door(visit["visit_id"], is_the_person=False)
    assert len(await alerts_of(talk.worker, "wrong_visitor")) == 1


async def test_the_visitors_app_offline_at_the_door_learns_the_answer_when_it_connects(
    world: World,
) -> None:
    """The answer is kept for the visitor's devices: an app with no connection at the
    door (no signal on the stairs) still sees "confirmed" or "not the person" later."""
    world.clock.set(START)
    talk = await open_conversation(world)
    visit = await _announced_visit(world, talk)
    talk.worker.pending_events()  # whatever came before the door
    await talk.witness.answer_door(visit["visit_id"], is_the_person=False)
    assert not [e for e in talk.worker.pending_events() if isinstance(e, DoorAnswered)]
    await talk.worker.sync()
    answered = [e for e in talk.worker.pending_events() if isinstance(e, DoorAnswered)]
    assert [(e.visit_id, e.answer) for e in answered] == [(visit["visit_id"], "not_the_person")]


async def test_another_witness_cannot_answer_for_this_door(world: World) -> None:
    world.clock.set(START)
    talk = await open_conversation(world)
    visit = await _announced_visit(world, talk)
    from client_sdk.errors import ApiError

    with pytest.raises(ApiError) as refused:
        await talk.worker.transport.request(
            "POST", f"/v1/visits/{visit['visit_id']}/door", json={"answer": "confirmed"}
        )
    assert refused.value.status == 403


async def _door_request(world: World, phone: WitnessClient, visit_id: str) -> tuple[int, bytes]:
    """The phone's answer request exactly as the SDK makes it, and the raw reply."""
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{world.url}/v1/visits/{visit_id}/door",
            json={"answer": "confirmed"},
            headers={"Authorization": f"Bearer {phone.identity.token}"},
        ) as reply,
    ):
        return reply.status, await reply.read()


async def test_a_duress_confirmation_looks_like_a_real_one_to_everyone_at_the_door(
    world: World,
) -> None:
    world.clock.set(START)
    talk, store = await open_case(world, duress_pin=DURESS_PIN)
    real = await _announced_visit(world, talk)
    forced = await talk.worker.schedule_visit(
        talk.case_id,
        visitor_staff_id=talk.worker.staff_id,
        window_start=ARRIVAL,
        window_end=ARRIVAL + timedelta(hours=1),
    )
    async with raw_socket(world, talk.worker.identity.token) as visitor_screen:
        await visitor_screen.settle(world, talk.worker.device_id)
        status_real, body_real = await _door_request(world, talk.witness, real["visit_id"])
        frames_real = [
            f
            for f in await visitor_screen.settle(world, talk.worker.device_id)
            if f["type"] == "visit_door"
        ]
        assert await alerts_of(talk.worker, "duress") == []

        # The trafficker makes the witness open the app: she types the duress PIN.
        await talk.witness.close()
        phone = await WitnessClient.open(Path(store), DURESS_PIN, clock=world.clock)
        world.clients.append(phone)
        assert await phone.answer_door(forced["visit_id"], is_the_person=True) == "confirmed"
        frames_forced = [
            f
            for f in await visitor_screen.settle(world, talk.worker.device_id)
            if f["type"] == "visit_door"
        ][len(frames_real) :]
        status_forced, body_forced = await _door_request(world, phone, forced["visit_id"])

    # The phone's reply and the visitor's push are the same as for the real one, byte
    # for byte but for the visit id (and so the same length on the wire).
    assert status_real == status_forced == 200
    assert body_forced.replace(forced["visit_id"].encode(), b"ID") == body_real.replace(
        real["visit_id"].encode(), b"ID"
    )
    assert len(body_forced) == len(body_real)
    # Both are stored events (the visitor's app may be offline at the door), so each
    # carries its own event id: a counter, the same shape for either answer.
    assert all(isinstance(f["event_id"], int) for f in frames_real + frames_forced)
    assert [dict(f, visit_id="ID", event_id=0) for f in frames_forced] == [
        dict(f, visit_id="ID", event_id=0) for f in frames_real
    ]
    assert frames_real[0]["answer"] == "confirmed"
    listed = {v["visit_id"]: v["door_answer"] for v in await talk.officer.visits(talk.case_id)}
    assert listed[real["visit_id"]] == listed[forced["visit_id"]] == "confirmed"
    # The team gets the truth.
    (duress,) = await alerts_of(talk.worker, "duress")
    assert (duress["severity"], duress["case_id"]) == ("critical", talk.case_id)
