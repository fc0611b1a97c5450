"""What the SDK does when something is wrong: tampering, replays, changed keys,
unverified devices, and a mismatched enrolment fingerprint."""

from __future__ import annotations

import json

import pytest
import vodozemac

from client_sdk import (
    DecryptionFailure,
    EnrolmentRefused,
    IncomingMessage,
    KeyChangeWarning,
    NewDevice,
    ReplayRejected,
    WitnessClient,
)
from tests.support.kdf import FAST_KDF, WITNESS_PIN
from tests.support.world import World, open_conversation


async def _raw_pending(client: WitnessClient | object) -> list[dict[str, object]]:
    reply = await client.transport.request("GET", "/v1/messages")  # type: ignore[attr-defined]
    frames: list[dict[str, object]] = reply["messages"]
    return frames


def _events(client: object) -> list[object]:
    """Events other than the routine "a device joined" notices."""
    return [e for e in client.pending_events() if not isinstance(e, NewDevice)]  # type: ignore[attr-defined]


def _flip(body: str) -> str:
    middle = len(body) // 2
    replacement = "A" if body[middle] != "A" else "B"
    return body[:middle] + replacement + body[middle + 1 :]


async def test_tampered_ciphertext_is_reported_and_the_session_survives(world: World) -> None:
    talk = await open_conversation(world)
    await talk.witness.send("the first words")
    (frame,) = await _raw_pending(talk.officer)
    tampered = {**frame, "body": _flip(str(frame["body"])), "copy_id": 10_000}

    await talk.officer.process_frame(tampered)
    (failure,) = _events(talk.officer)
    assert isinstance(failure, DecryptionFailure)
    assert failure.sender_device_id == talk.witness.device_id

    # The genuine copy still opens: the failed attempt did not damage the session.
    await talk.officer.process_frame(frame)
    (message,) = _events(talk.officer)
    assert isinstance(message, IncomingMessage)
    assert message.text == "the first words"


async def _reinsert_copy(
    world: World, frame: dict[str, object], recipient: str, message_id: str
) -> None:
    """What a compromised server could do: queue an old ciphertext again."""
    async with world.services.db.transaction() as conn:
        await conn.execute(
            "INSERT INTO message_copies (recipient_device_id, case_id, sender_device_id,"
            " message_id, olm_type, body, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            recipient,
            frame["case_id"],
            frame["sender_device_id"],
            message_id,
            frame["olm_type"],
            frame["body"],
            0,
        )


async def test_a_replayed_message_is_rejected(world: World) -> None:
    talk = await open_conversation(world)
    await talk.witness.send("meet me at the station")
    (frame,) = await _raw_pending(talk.officer)
    assert await talk.officer.sync() == 1
    assert isinstance(_events(talk.officer)[-1], IncomingMessage)

    await _reinsert_copy(world, frame, talk.officer.device_id, str(frame["message_id"]))
    assert await talk.officer.sync() == 1
    (replay,) = _events(talk.officer)
    assert isinstance(replay, ReplayRejected)
    assert replay.message_id == frame["message_id"]

    # The same ciphertext under a fresh id does not decrypt a second time either.
    await _reinsert_copy(world, frame, talk.officer.device_id, "fresh-message-id-1")
    assert await talk.officer.sync() == 1
    (failure,) = _events(talk.officer)
    assert isinstance(failure, DecryptionFailure)
    assert [m.text for m in await talk.officer.messages(talk.case_id)] == ["meet me at the station"]


async def test_the_same_copy_delivered_twice_is_stored_once_and_not_alarming(world: World) -> None:
    talk = await open_conversation(world)
    await talk.witness.send("only once please")
    (frame,) = await _raw_pending(talk.worker)
    await talk.worker.process_frame(frame)
    await talk.worker.process_frame(frame)  # e.g. we crashed before acknowledging
    events = _events(talk.worker)
    assert [type(e) for e in events] == [IncomingMessage]
    assert len(await talk.worker.messages(talk.case_id)) == 1


async def test_a_changed_pinned_key_is_surfaced_and_never_used(world: World) -> None:
    talk = await open_conversation(world)
    attacker = vodozemac.Account()
    async with world.services.db.transaction() as conn:
        # A compromised server swaps the officer device's keys for ones it controls.
        await conn.execute(
            "UPDATE devices SET curve25519 = $2, ed25519 = $3 WHERE id = $1",
            talk.officer.device_id,
            attacker.curve25519_key.to_base64(),
            attacker.ed25519_key.to_base64(),
        )
    talk.witness.pending_events()
    await talk.witness.refresh_devices(talk.case_id)
    warnings = [e for e in talk.witness.pending_events() if isinstance(e, KeyChangeWarning)]
    assert [w.device_id for w in warnings] == [talk.officer.device_id]

    sent = await talk.witness.send("are you still there?")
    assert talk.officer.device_id not in sent.recipients
    assert sent.recipients == [talk.worker.device_id]
    # Refreshing again does not quietly accept the new key.
    await talk.witness.refresh_devices(talk.case_id)
    sent = await talk.witness.send("hello?")
    assert talk.officer.device_id not in sent.recipients


async def test_a_staff_device_added_later_stays_unverified_until_safety_numbers_match(
    world: World,
) -> None:
    talk = await open_conversation(world)
    laptop = await world.login("officer")  # the officer logs in from a second client
    sent = await talk.witness.send("first")
    assert laptop.device_id in sent.withheld
    assert laptop.device_id not in sent.recipients
    new = [e for e in talk.witness.pending_events() if isinstance(e, NewDevice)]
    assert [(e.device_id, e.verified) for e in new] == [(laptop.device_id, False)]

    await laptop.refresh_devices(talk.case_id)
    on_phone = talk.witness.safety_number(laptop.device_id)
    on_laptop = laptop.safety_number(talk.witness.device_id)
    assert on_phone == on_laptop
    assert len(on_phone.replace(" ", "")) == 60

    with pytest.raises(ValueError, match="differ"):
        await talk.witness.verify_device(laptop.device_id, "1" * 60)
    await talk.witness.verify_device(laptop.device_id, on_laptop)
    sent = await talk.witness.send("second")
    assert laptop.device_id in sent.recipients
    await laptop.sync()
    texts = [e.text for e in laptop.pending_events() if isinstance(e, IncomingMessage)]
    assert texts == ["second"]


async def test_enrolment_is_refused_when_the_team_keys_do_not_match_the_code(world: World) -> None:
    officer = await world.login("officer")
    case = await officer.create_case("DE-7", world.agencies["support"])
    enrolment = await officer.add_witness(
        case["case_id"], alias="Heron", language="sq", timezone="Europe/Tirane"
    )
    forged = enrolment.qr_payload.replace(f"f={enrolment.team_fingerprint}", "f=" + "0" * 64)
    store = world.tmp / "forged.store"
    with pytest.raises(EnrolmentRefused, match="do not match"):
        await WitnessClient.enroll(world.url, forged, store, WITNESS_PIN, kdf=FAST_KDF)
    assert not store.exists()


async def test_the_typed_code_carries_enough_fingerprint_to_catch_a_swap(world: World) -> None:
    officer = await world.login("officer")
    case = await officer.create_case("DE-8", world.agencies["support"])
    enrolment = await officer.add_witness(
        case["case_id"], alias="Wren", language="bg", timezone="Europe/Sofia"
    )
    groups = enrolment.code.split("-")
    groups[-1] = "AAAA" if groups[-1] != "AAAA" else "BBBB"
    with pytest.raises(EnrolmentRefused):
        await WitnessClient.enroll(
            world.url, "-".join(groups), world.tmp / "typed.store", WITNESS_PIN, kdf=FAST_KDF
        )
    payload = json.dumps(enrolment.code)
    assert enrolment.code.count("-") == 10, payload
