"""Repair cannot be turned against anyone: a device gets a message again only if it was
encrypted to that very device, over a session authenticated as that device, a bounded
number of times; a replayed or relabelled request does nothing; and a receiver flooded
with broken copies asks in batches, claiming one key an hour, instead of spinning."""

from __future__ import annotations

from typing import Any

from client_sdk import (
    DecryptionFailure,
    IncomingMessage,
    MessageUnavailable,
    ReplayRejected,
    StaffClient,
    WitnessClient,
)
from client_sdk.payloads import FIELD_MESSAGE_IDS, KIND_REPAIR_REQUEST, KIND_REPAIR_UNAVAILABLE
from client_sdk.repair import MAX_RESENDS_PER_DEVICE, REQUESTS_PER_HOUR
from tests.support.delivery import (
    broken_for_the_phone,
    copies_for,
    corrupt,
    insert_copy,
    one_time_keys,
    resent_copies,
)
from tests.support.world import World, open_conversation


async def ask_for(
    asker: StaffClient | WitnessClient, case_id: str, target: str, message_ids: list[str]
) -> None:
    """What a modified client can do: send a repair request of its own making."""
    entry = await asker.outbox.new_entry(
        case_id,
        {"kind": KIND_REPAIR_REQUEST, FIELD_MESSAGE_IDS: message_ids},
        to=[target],
        control=True,
    )
    await asker._store.write([asker._store.outbox_put(entry)])
    asker.outbox.adopt([entry])
    assert await asker.flush_outbox() >= 1


async def pending_frames(client: StaffClient | WitnessClient) -> list[dict[str, Any]]:
    reply = await client.transport.request("GET", "/v1/messages")
    frames: list[dict[str, Any]] = reply["messages"]
    return frames


async def test_a_device_that_was_not_a_recipient_gets_nothing_by_asking(world: World) -> None:
    talk = await open_conversation(world)
    sent = await talk.officer.send("the safe house is on Strada Lalelelor", case_id=talk.case_id)
    laptop = await world.login("worker")  # joined after the message was sent
    await laptop.refresh_devices(talk.case_id)

    await ask_for(laptop, talk.case_id, talk.officer.device_id, [sent.message_id])
    await talk.officer.sync()
    await talk.officer.flush_outbox()
    assert await copies_for(world, laptop.device_id, sent.message_id) == 0
    assert (
        await resent_copies(world, talk.officer.device_id, sent.message_id, laptop.device_id) == 0
    )
    # It is told, end to end, that there is nothing for it; no content reached it.
    frames = await pending_frames(laptop)
    (answer,) = frames
    assert answer["message_id"] != sent.message_id
    await laptop.sync()
    assert not [e for e in laptop.pending_events() if isinstance(e, IncomingMessage)]


async def test_a_recipient_asking_again_and_again_gets_a_bounded_number_of_copies(
    world: World,
) -> None:
    talk = await open_conversation(world)
    sent = await talk.officer.send("meet at nine", case_id=talk.case_id)
    await talk.worker.sync()
    for _ in range(MAX_RESENDS_PER_DEVICE + 3):
        await ask_for(talk.worker, talk.case_id, talk.officer.device_id, [sent.message_id])
        await talk.officer.sync()
        await talk.officer.flush_outbox()
    rows = await resent_copies(
        world, talk.officer.device_id, sent.message_id, talk.worker.device_id
    )
    assert rows == MAX_RESENDS_PER_DEVICE
    talk.worker.pending_events()
    await talk.worker.sync()
    found = talk.worker.pending_events()
    # It already had the message: the copies it begged for are refused as replays and
    # the extra requests answered "unavailable"; none of it is shown as a new message.
    assert not [e for e in found if isinstance(e, IncomingMessage)]
    assert len([e for e in found if isinstance(e, ReplayRejected)]) == MAX_RESENDS_PER_DEVICE


async def test_a_device_gets_a_limited_number_of_requests_answered_an_hour(
    world: World,
) -> None:
    talk = await open_conversation(world)
    await talk.worker.sync()
    for n in range(REQUESTS_PER_HOUR + 5):
        await ask_for(talk.worker, talk.case_id, talk.officer.device_id, [f"no-such-id-{n:04d}"])
    await talk.officer.sync()
    await talk.officer.flush_outbox()
    answers = await pending_frames(talk.worker)
    assert len(answers) == REQUESTS_PER_HOUR, "the requests over the limit were ignored"
    await talk.worker.sync()
    assert not [e for e in talk.worker.pending_events() if isinstance(e, DecryptionFailure)]


async def test_a_replayed_request_changes_nothing(world: World) -> None:
    talk = await open_conversation(world)
    sent = await broken_for_the_phone(world, talk, "the court is in room 7")
    await talk.witness.request_repairs()
    (request,) = await pending_frames(talk.officer)
    await talk.officer.sync()
    assert await talk.officer.pending_outbox() == 1

    # A compromised server delivers the same request again, under a new copy id.
    await insert_copy(world, request, talk.officer.device_id)
    talk.officer.pending_events()
    await talk.officer.sync()
    assert [type(e) for e in talk.officer.pending_events()] == [ReplayRejected]
    assert await talk.officer.pending_outbox() == 1
    await talk.officer.flush_outbox()
    assert await copies_for(world, talk.witness.device_id, sent.message_id) == 1


async def test_a_request_relabelled_as_another_devices_opens_nothing_and_sends_nothing(
    world: World,
) -> None:
    """The server cannot make the officer re-send the worker's messages to the phone by
    saying the worker's request came from the phone: it does not decrypt as the phone."""
    talk = await open_conversation(world)
    sent = await talk.officer.send("for the team", case_id=talk.case_id)
    await talk.worker.sync()
    await ask_for(talk.worker, talk.case_id, talk.officer.device_id, [sent.message_id])
    (request,) = await pending_frames(talk.officer)
    forged = {**request, "sender_device_id": talk.witness.device_id, "copy_id": 999_999}
    await talk.officer.process_frame(forged)
    assert [type(e) for e in talk.officer.pending_events() if not _routine(e)] == [
        DecryptionFailure
    ]
    assert await talk.officer.pending_outbox() == 0
    assert await copies_for(world, talk.witness.device_id, sent.message_id) == 1


def _routine(event: object) -> bool:
    return type(event).__name__ == "NewDevice"


async def test_a_flood_of_broken_copies_is_asked_for_in_batches_with_one_fresh_session(
    world: World,
) -> None:
    talk = await open_conversation(world)
    await talk.witness.send("hello")
    await talk.officer.sync()
    sent = [await talk.officer.send(f"note {n}", case_id=talk.case_id) for n in range(120)]
    for message in sent:
        await corrupt(world, talk.witness.device_id, message.message_id)
    await talk.witness.sync()
    assert len(await talk.witness.awaited_messages()) == 120
    keys_before = await one_time_keys(world, talk.officer.device_id)

    asked = [await talk.witness.request_repairs() for _ in range(4)]
    assert asked == [1, 1, 1, 0], "50 ids a request, and nothing more until the retry"
    assert await one_time_keys(world, talk.officer.device_id) == keys_before - 1
    await talk.officer.sync()
    await talk.officer.flush_outbox()
    talk.witness.pending_events()
    await talk.witness.sync()
    found = talk.witness.pending_events()
    assert [e.text for e in found if isinstance(e, IncomingMessage)] == [
        f"note {n}" for n in range(120)
    ]
    assert not [e for e in found if isinstance(e, MessageUnavailable | DecryptionFailure)]


async def test_an_answer_that_a_message_is_unavailable_settles_only_the_answerers_own(
    world: World,
) -> None:
    """The worker cannot tell the phone that the officer's message will never come."""
    talk = await open_conversation(world)
    await talk.worker.sync()
    sent = await broken_for_the_phone(world, talk, "a message for you")
    entry = await talk.worker.outbox.new_entry(
        talk.case_id,
        {"kind": KIND_REPAIR_UNAVAILABLE, FIELD_MESSAGE_IDS: [sent.message_id]},
        to=[talk.witness.device_id],
        control=True,
    )
    await talk.worker._store.write([talk.worker._store.outbox_put(entry)])
    talk.worker.outbox.adopt([entry])
    await talk.worker.flush_outbox()
    talk.witness.pending_events()
    await talk.witness.sync()
    assert not [e for e in talk.witness.pending_events() if isinstance(e, MessageUnavailable)]
    assert [r.message_id for r in await talk.witness.awaited_messages()] == [sent.message_id]
