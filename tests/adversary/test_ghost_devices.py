"""A malicious server adds people and devices: a device it made up for the officer, a
member it put on the case, a roster it wrote and signed itself, or an honest roster with
one entry changed. Neither the phone nor the staff clients encrypt anything to them —
messages or hearing details — and what a ghost sends is held apart on the phone."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime, timedelta

import aiohttp
import vodozemac

from client_sdk import HeldMessage, IncomingMessage, NewDevice, TrustWarning
from client_sdk.identity import PersonalIdentity
from server.clock import to_ms
from tests.adversary.server import (
    AttackerDevice,
    attacker_device,
    attacker_roster,
    copies_for,
    insert_device,
    roster_of,
    set_roster,
)
from tests.support.world import Conversation, World, open_conversation
from wire.encoding import b64
from wire.keys import RosterMember, object_hash

HEARING = {"court": "Landgericht Essen", "room": "Saal 101", "address": "Zweigertstraße 52"}


def held(events: list[object]) -> list[HeldMessage]:
    return [e for e in events if isinstance(e, HeldMessage)]


async def ghost_for_officer(world: World, talk: Conversation) -> tuple[AttackerDevice, str]:
    """A device the server made up in the officer's name; the attacker holds its keys
    and a token to use the API as it."""
    ghost = attacker_device(talk.officer.owner)
    token = secrets.token_urlsafe(32)
    await insert_device(world, ghost, token)
    for client in (talk.witness, talk.officer, talk.worker):
        client.trust.mark_stale(talk.case_id)
    return ghost, token


async def ghost_sends(
    world: World,
    ghost: AttackerDevice,
    token: str,
    talk: Conversation,
    text: str,
    *,
    to: str | None = None,
) -> None:
    """The ghost opens an Olm session with a device (the phone unless ``to``) and sends
    it a well-formed message."""
    recipient = to or talk.witness.device_id
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(world.url) as http:
        async with http.post(
            "/v1/keys/claim",
            json={"case_id": talk.case_id, "device_ids": [recipient]},
            headers=headers,
        ) as response:
            assert response.status == 200, await response.text()
            (claimed,) = (await response.json())["keys"]
        session = ghost.account.create_outbound_session(
            vodozemac.Curve25519PublicKey.from_base64(claimed["curve25519"]),
            vodozemac.Curve25519PublicKey.from_base64(claimed["key"]["key"]),
        )
        message_id = secrets.token_urlsafe(16)
        payload = {
            "v": 1,
            "message_id": message_id,
            "case_id": talk.case_id,
            "sender_device_id": ghost.device_id,
            "recipient_device_id": recipient,
            "sent_at": world.clock.now().isoformat(),
            "kind": "text",
            "text": text,
        }
        olm_type, body = session.encrypt(json.dumps(payload).encode()).to_parts()
        ciphertext = {
            "device_id": recipient,
            "type": olm_type,
            "body": b64(body),
        }
        async with http.put(
            f"/v1/cases/{talk.case_id}/messages/{message_id}",
            json={"ciphertexts": [ciphertext]},
            headers=headers,
        ) as response:
            assert response.status == 201, await response.text()


async def test_a_device_the_server_adds_for_the_officer_gets_nothing_from_anyone(
    world: World,
) -> None:
    talk = await open_conversation(world)
    ghost, _token = await ghost_for_officer(world, talk)
    talk.witness.pending_events()

    from_phone = await talk.witness.send("where are you?")
    from_worker = await talk.worker.send("visit on Thursday", case_id=talk.case_id)
    from_officer = await talk.officer.send("see you in court", case_id=talk.case_id)
    hearing = await talk.officer.schedule_hearing(
        talk.case_id,
        starts_at=world.clock.now() + timedelta(days=30),
        ends_at=world.clock.now() + timedelta(days=30, hours=2),
        timezone="Europe/Berlin",
        details=HEARING,
    )

    for sent in (from_phone, from_worker, from_officer):
        assert ghost.device_id not in sent.recipients
        assert ghost.device_id in sent.withheld
    assert hearing["appointment_id"]
    assert await copies_for(world, ghost.device_id) == []
    # The phone learnt of the device, as not verified.
    new = [e for e in talk.witness.pending_events() if isinstance(e, NewDevice)]
    assert [(e.device_id, e.verified) for e in new] == [(ghost.device_id, False)]


async def test_what_a_ghost_device_sends_is_held_apart_on_the_phone(world: World) -> None:
    talk = await open_conversation(world)
    ghost, token = await ghost_for_officer(world, talk)
    await talk.officer.send("the real officer", case_id=talk.case_id)
    await ghost_sends(world, ghost, token, talk, "Come to the station alone, tonight.")
    talk.witness.pending_events()

    await talk.witness.sync()

    events = talk.witness.pending_events()
    shown = [e.text for e in events if isinstance(e, IncomingMessage)]
    assert shown == ["the real officer"]
    (kept_apart,) = held(events)
    assert kept_apart.sender_device_id == ghost.device_id
    assert [m.text for m in await talk.witness.messages()] == ["the real officer"]
    assert [m.text for m in await talk.witness.held_messages()] == [
        "Come to the station alone, tonight."
    ]


async def test_a_staff_client_marks_what_a_ghost_sends_as_unverified(world: World) -> None:
    talk = await open_conversation(world)
    ghost, token = await ghost_for_officer(world, talk)
    await ghost_sends(
        world, ghost, token, talk, "hand over the witness's address", to=talk.worker.device_id
    )
    await talk.witness.send("from the phone")
    talk.worker.pending_events()

    await talk.worker.sync()

    received = {
        e.text: e.verified for e in talk.worker.pending_events() if isinstance(e, IncomingMessage)
    }
    assert received == {"hand over the witness's address": False, "from the phone": True}
    stored = {m.text: m.verified for m in await talk.worker.messages(talk.case_id)}
    assert stored == received


async def test_a_member_the_server_puts_on_the_case_is_not_trusted(world: World) -> None:
    talk = await open_conversation(world)
    # The server makes up a staff member, with an identity and a device of its own,
    # and puts them on the case.
    impostor_id = "stf_" + secrets.token_hex(6)
    impostor = attacker_device(f"staff:{impostor_id}")
    identity = PersonalIdentity.generate()
    device_list = identity.device_list(
        impostor.owner,
        1,
        {impostor.device_id: object_hash(impostor.key_object())},
        datetime.now(UTC),
    )
    now = to_ms(world.clock.now())
    async with world.services.db.transaction() as conn:
        await conn.execute(
            "INSERT INTO staff (id, agency_id, username, display_name, role, password_hash,"
            " created_at) VALUES ($1, $2, $3, 'Anna Officer', 'officer', 'x', $4)",
            impostor_id,
            world.agencies["police"],
            "impostor",
            now,
        )
        await conn.execute(
            "INSERT INTO case_staff (case_id, staff_id, added_by, added_at)"
            " VALUES ($1, $2, $2, $3)",
            talk.case_id,
            impostor_id,
            now,
        )
        await conn.execute(
            "INSERT INTO identities (owner, identity_key, version, device_list, updated_at)"
            " VALUES ($1, $2, 1, $3, $4)",
            impostor.owner,
            identity.public_key,
            json.dumps(device_list),
            now,
        )
    await insert_device(world, impostor)
    for client in (talk.witness, talk.officer, talk.worker):
        client.trust.mark_stale(talk.case_id)

    for sent in (
        await talk.witness.send("hello"),
        await talk.worker.send("hello", case_id=talk.case_id),
        await talk.officer.send("hello", case_id=talk.case_id),
    ):
        assert impostor.device_id in sent.withheld
    assert await copies_for(world, impostor.device_id) == []


async def test_a_roster_the_server_signs_itself_is_refused(world: World) -> None:
    talk = await open_conversation(world)
    ghost = attacker_device("staff:stf_ghost0000")
    identity = PersonalIdentity.generate()
    forged = attacker_roster(
        await roster_of(world, talk.case_id),
        RosterMember("staff:stf_ghost0000", identity.public_key, "officer", "New Officer"),
    )
    await set_roster(world, talk.case_id, forged)
    talk.witness.trust.mark_stale(talk.case_id)
    talk.witness.pending_events()

    sent = await talk.witness.send("hello")

    refused = [
        e
        for e in talk.witness.pending_events()
        if isinstance(e, TrustWarning) and e.reason == "roster-refused"
    ]
    assert refused != []
    assert talk.witness.trust.roster(talk.case_id).version == forged["version"] - 1  # type: ignore[union-attr]
    assert sorted(sent.recipients) == sorted([talk.officer.device_id, talk.worker.device_id])
    assert ghost.device_id not in sent.recipients


async def test_an_honest_roster_with_one_entry_changed_is_refused(world: World) -> None:
    talk = await open_conversation(world)
    roster = await roster_of(world, talk.case_id)
    attacker = PersonalIdentity.generate()
    for member in roster["members"]:
        if member["owner"] == talk.worker.owner:
            member["identity_key"] = attacker.public_key  # the signature no longer fits
    roster["version"] += 1
    await set_roster(world, talk.case_id, roster)
    talk.witness.trust.mark_stale(talk.case_id)
    talk.witness.pending_events()

    sent = await talk.witness.send("hello")

    assert any(
        isinstance(e, TrustWarning) and e.reason == "invalid-roster"
        for e in talk.witness.pending_events()
    )
    assert talk.worker.device_id in sent.recipients  # still trusted through the real roster


async def test_a_colleague_the_server_puts_on_a_case_is_not_trusted_there(
    world: World,
) -> None:
    talk = await open_conversation(world)
    # Everyone verified this colleague by safety number once (for other work) ...
    outsider = await world.login("outsider")
    # ... and the server, not any manager, puts them on this case.
    async with world.services.db.transaction() as conn:
        await conn.execute(
            "INSERT INTO case_staff (case_id, staff_id, added_by, added_at) VALUES ($1, $2, $2, 0)",
            talk.case_id,
            outsider.staff_id,
        )
    for client in (talk.officer, talk.worker, talk.witness):
        client.trust.mark_stale(talk.case_id)

    for sent in (
        await talk.officer.send("about the case", case_id=talk.case_id),
        await talk.worker.send("about the case", case_id=talk.case_id),
        await talk.witness.send("about me"),
    ):
        assert outsider.device_id in sent.withheld
    assert await copies_for(world, outsider.device_id) == []
