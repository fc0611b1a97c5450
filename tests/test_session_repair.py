"""Session repair: a message that does not decrypt is recorded before its copy is
acknowledged, asked for again over a fresh session, re-sent by its sender to that one
device and shown once — or the app is told it will not come. A broken session heals.

The copy is broken the ways it breaks in the field: corrupted on the way, or the
receiver's session state rolled back to an older pickle (a restored backup)."""

from __future__ import annotations

from datetime import timedelta

import msgspec

from client_sdk import (
    DecryptionFailure,
    IncomingMessage,
    MessageStatusChanged,
    MessageUnavailable,
    ReplayRejected,
    StaffClient,
    WitnessClient,
)
from client_sdk.delivery_records import RepairState
from client_sdk.events import Event
from client_sdk.repair import FIRST_RETRY
from tests.support.delivery import broken_for_the_phone, copies_for, corrupt, one_time_keys
from tests.support.kdf import WITNESS_PIN
from tests.support.world import World, open_conversation


def events(client: StaffClient | WitnessClient) -> list[Event]:
    return [
        e
        for e in client.pending_events()
        if isinstance(
            e,
            IncomingMessage
            | DecryptionFailure
            | MessageUnavailable
            | ReplayRejected
            | MessageStatusChanged,
        )
    ]


def texts(found: list[Event]) -> list[str]:
    return [e.text for e in found if isinstance(e, IncomingMessage)]


async def status_of(client: StaffClient, case_id: str, message_id: str) -> str:
    (record,) = [m for m in await client.messages(case_id) if m.message_id == message_id]
    return record.status


async def test_a_corrupted_copy_is_asked_for_again_and_shown_once(world: World) -> None:
    talk = await open_conversation(world)
    await talk.witness.send("hello")
    await talk.officer.sync()
    sent = await talk.officer.send("the hearing moved to 10:00", case_id=talk.case_id)
    await corrupt(world, talk.witness.device_id, sent.message_id)
    talk.officer.pending_events()

    await talk.witness.sync()
    (failure,) = events(talk.witness)
    assert isinstance(failure, DecryptionFailure)
    assert failure.repairing
    assert failure.message_id == sent.message_id
    # The broken copy was acknowledged (the server deleted it), but not forgotten.
    assert await copies_for(world, talk.witness.device_id, sent.message_id) == 0
    (waiting,) = await talk.witness.awaited_messages()
    assert (waiting.message_id, waiting.state) == (sent.message_id, RepairState.WAITING)
    assert await status_of(talk.officer, talk.case_id, sent.message_id) == "sent"

    assert await talk.witness.request_repairs() == 1
    await talk.officer.sync()  # the request arrives; the message is queued again
    assert [(type(e), e.status) for e in events(talk.officer)] == [  # type: ignore[union-attr]
        (MessageStatusChanged, "resending")
    ]
    assert await status_of(talk.officer, talk.case_id, sent.message_id) == "resending"
    assert await talk.officer.flush_outbox() == 1
    assert await status_of(talk.officer, talk.case_id, sent.message_id) == "sent"
    # Only the device that asked gets the copy.
    assert await copies_for(world, talk.worker.device_id, sent.message_id) == 1

    await talk.witness.sync()
    (message,) = events(talk.witness)
    assert isinstance(message, IncomingMessage)
    assert (message.message_id, message.text) == (sent.message_id, "the hearing moved to 10:00")
    assert await talk.witness.awaited_messages() == []
    assert [m.text for m in await talk.witness.messages()] == [
        "hello",
        "the hearing moved to 10:00",
    ]
    # Nothing is left behind: no second copy, no second request.
    assert await talk.witness.request_repairs(force=True) == 0
    await talk.officer.send("see you then", case_id=talk.case_id)
    await talk.witness.sync()
    assert texts(events(talk.witness)) == ["see you then"]


async def _roll_back(client: WitnessClient, peer_curve25519: str, pickles: bytes) -> None:
    """Put an older session state back, as restoring a backup of the phone would."""
    await client._store.vault.put("session", peer_curve25519, pickles)
    client._olm.sessions[peer_curve25519] = msgspec.json.decode(pickles, type=list[str])


async def test_a_session_rolled_back_on_the_receiver_heals_and_nothing_is_lost(
    world: World,
) -> None:
    talk = await open_conversation(world)
    witness, officer, case = talk.witness, talk.officer, talk.case_id
    await witness.send("one")
    await officer.sync()
    await officer.send("two", case_id=case)
    await witness.sync()
    old_state = await witness._store.vault.get("session", officer._olm.curve25519)
    assert old_state is not None
    await witness.send("three")
    await officer.sync()
    await officer.send("four", case_id=case)
    await witness.sync()
    await witness.send("five")
    await officer.sync()
    await _roll_back(witness, officer._olm.curve25519, old_state)
    witness.pending_events()

    lost = [await officer.send(text, case_id=case) for text in ("six", "seven", "eight")]
    await witness.sync()
    failures = events(witness)
    assert [type(e) for e in failures] == [DecryptionFailure] * 3, failures
    claims_before = await one_time_keys(world, officer.device_id)

    # The repair request goes over a fresh session: one key of the officer's is claimed.
    assert await witness.request_repairs() == 1
    assert await one_time_keys(world, officer.device_id) == claims_before - 1
    await officer.sync()
    assert await officer.flush_outbox() == 3
    await witness.sync()
    assert texts(events(witness)) == ["six", "seven", "eight"]
    assert [m.message_id for m in await witness.messages()][-3:] == [s.message_id for s in lost]

    # Healed: the officer now writes over the new session, and the witness reads it.
    await officer.send("nine", case_id=case)
    await witness.sync()
    assert texts(events(witness)) == ["nine"]
    officer.pending_events()
    await witness.send("ten")
    await officer.sync()
    assert texts(events(officer)) == ["ten"]
    assert await witness.awaited_messages() == []


async def test_asking_is_durable_repeated_with_backoff_and_answered_once(
    world: World,
) -> None:
    talk = await open_conversation(world)
    await broken_for_the_phone(world, talk, "are you safe?")
    assert await talk.witness.request_repairs() == 1

    # The phone restarts (its acknowledgement went; only its own record remembers).
    store = talk.witness._store.vault.path
    await talk.witness.close()
    phone = await WitnessClient.open(store, WITNESS_PIN, clock=world.clock)
    world.clients.append(phone)
    (waiting,) = await phone.awaited_messages()
    assert waiting.attempts == 1
    assert await phone.request_repairs() == 0, "not due yet"
    world.clock.advance(FIRST_RETRY)
    assert await phone.request_repairs() == 1
    assert await phone.request_repairs() == 0
    world.clock.advance(FIRST_RETRY)
    assert await phone.request_repairs() == 0, "the wait doubled"
    world.clock.advance(FIRST_RETRY)
    assert await phone.request_repairs() == 1

    # The officer answers all three requests: the message is sent again, and shown once.
    await talk.officer.sync()
    await talk.officer.flush_outbox()
    await phone.sync()
    found = events(phone)
    assert texts(found) == ["are you safe?"]
    assert not [e for e in found if isinstance(e, ReplayRejected | DecryptionFailure)]
    assert await phone.awaited_messages() == []
    assert [m.text for m in await phone.messages()].count("are you safe?") == 1


async def test_a_sender_that_no_longer_has_the_message_says_so(world: World) -> None:
    talk = await open_conversation(world)
    sent = await broken_for_the_phone(world, talk, "old news")
    world.clock.advance(timedelta(seconds=1))
    await talk.officer.apply_retention(timedelta(0))  # the officer's client forgot it

    await talk.witness.request_repairs()
    await talk.officer.sync()
    await talk.officer.flush_outbox()
    talk.witness.pending_events()
    await talk.witness.sync()
    (gone,) = events(talk.witness)
    assert isinstance(gone, MessageUnavailable)
    assert (gone.message_id, gone.sender_device_id) == (sent.message_id, talk.officer.device_id)
    assert await talk.witness.awaited_messages() == []
    assert await talk.witness.request_repairs(force=True) == 0


async def test_a_repair_request_handled_before_a_crash_is_answered_once(world: World) -> None:
    """The officer's client stores the request's effects and dies before acknowledging
    it: the request comes again and changes nothing; the message goes once."""
    talk = await open_conversation(world)
    sent = await broken_for_the_phone(world, talk, "bring your passport")
    await talk.witness.request_repairs()

    reply = await talk.officer.transport.request("GET", "/v1/messages")
    (request,) = reply["messages"]
    await talk.officer.process_frame(request)  # stored; then the client is killed
    store = talk.officer._store.vault.path
    await talk.officer.close()
    officer = await StaffClient.open(store, "staff passphrase", clock=world.clock)
    world.clients.append(officer)
    assert await officer.pending_outbox() == 1
    await officer.sync()  # the same copy again: already handled
    assert await officer.pending_outbox() == 1
    assert await officer.flush_outbox() == 1
    assert await copies_for(world, talk.witness.device_id, sent.message_id) == 1
    await talk.witness.sync()
    assert texts(events(talk.witness)) == ["bring your passport"]
