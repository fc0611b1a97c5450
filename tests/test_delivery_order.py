"""Messages to a device go out in the order they were encrypted, however long the
outage: a new message never overtakes queued ones (send, flush, the background loop
and concurrent callers share one order), messages written offline are encrypted in
order, and a delivery that fails at the head holds back the ones behind it.

Olm keeps 40 skipped message keys per chain: a message delivered more than 40 ahead
of older ones of the same session made those undecryptable, and they were lost."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from client_sdk import (
    DecryptionFailure,
    IncomingMessage,
    MessageStatusChanged,
    StaffClient,
    WitnessClient,
)
from client_sdk.outbox import SEND_DELIVERS_AT_MOST
from tests.support.world import World, open_conversation


def received(client: StaffClient | WitnessClient) -> list[str]:
    """Texts of the messages that arrived; fails on any message that did not open."""
    events = client.pending_events()
    failures = [e for e in events if isinstance(e, DecryptionFailure)]
    assert failures == [], failures
    return [e.text for e in events if isinstance(e, IncomingMessage)]


async def test_sixty_queued_in_an_outage_then_a_new_one_sent_first_none_is_lost(
    world: World,
) -> None:
    """The reported failure: 20 of 60 queued messages were lost."""
    talk = await open_conversation(world)
    await talk.witness.send("before the outage")  # the session exists from here on
    await world.stop_server()
    texts = [f"queued {i}" for i in range(60)]
    for text in texts:
        assert (await talk.witness.send(text)).status == "queued"
    await world.start_server_again()

    sent = await talk.witness.send("back online")
    assert sent.status == "sent"
    assert await talk.witness.pending_outbox() == 0
    for staff in (talk.officer, talk.worker):
        await staff.sync()
        assert received(staff) == ["before the outage", *texts, "back online"]
    assert {m.status for m in await talk.witness.messages()} == {"sent"}


async def test_messages_written_before_any_session_are_encrypted_in_order(world: World) -> None:
    """Offline from the start: no key could be claimed, so nothing was encrypted; the
    queue is encrypted in order once the server is back, behind nothing and ahead of
    the next message."""
    talk = await open_conversation(world)
    await world.stop_server()
    texts = [f"written offline {i}" for i in range(50)]
    for text in texts:
        await talk.officer.send(text, case_id=talk.case_id)
    assert all(not e.ciphertexts for e in await talk.officer._store.outbox())
    await world.start_server_again()

    await talk.officer.send("and now", case_id=talk.case_id)
    for client in (talk.witness, talk.worker):
        await client.sync()
        assert received(client) == [*texts, "and now"]


async def test_a_failed_delivery_at_the_head_holds_back_the_ones_behind_it(
    world: World,
) -> None:
    talk = await open_conversation(world)
    await talk.witness.send("hello")
    await world.stop_server()
    for text in ("first", "second", "third"):
        await talk.witness.send(text)
    await world.start_server_again()
    head, *behind = await talk.witness._store.outbox()
    assert head.next_attempt_at is not None, "the head failed and waits for its retry"
    for entry in behind:  # the ones behind it would be due now
        entry.next_attempt_at = None
        await talk.witness._store.write([talk.witness._store.outbox_put(entry)])

    assert await talk.witness.flush_outbox() == 0, "nothing may pass the head"
    await talk.officer.sync()
    assert received(talk.officer) == ["hello"]

    world.clock.advance(timedelta(minutes=10))
    assert await talk.witness.flush_outbox() == 3
    await talk.officer.sync()
    assert received(talk.officer) == ["first", "second", "third"]


async def test_concurrent_senders_share_one_order(world: World) -> None:
    talk = await open_conversation(world)
    await talk.officer.send("hello", case_id=talk.case_id)
    await world.stop_server()
    for i in range(45):
        await talk.officer.send(f"queued {i}", case_id=talk.case_id)
    await world.start_server_again()

    texts = [f"concurrent {i}" for i in range(45)]
    results = await asyncio.gather(
        talk.officer.flush_outbox(force=True),
        *(talk.officer.send(text, case_id=talk.case_id) for text in texts),
        talk.officer.flush_outbox(force=True),
    )
    assert all(r.status == "sent" for r in results[1:-1])  # type: ignore[union-attr]
    history = [m.text for m in await talk.officer.messages(talk.case_id)]
    await talk.witness.sync()
    assert received(talk.witness) == history
    assert history[46:] == texts


async def test_the_background_loop_delivers_the_queue_in_order_before_new_messages(
    world: World,
) -> None:
    talk = await open_conversation(world)
    await talk.witness.send("hello")
    await world.stop_server()
    queued = [f"queued {i}" for i in range(50)]
    for text in queued:
        await talk.witness.send(text)
    await world.start_server_again()

    talk.witness.start()  # delivers the queue at once, in the background
    later = [f"later {i}" for i in range(5)]
    for text in later:
        await talk.witness.send(text)
    async with asyncio.timeout(20):
        while await talk.witness.pending_outbox():
            event = await talk.witness.receive()
            assert not isinstance(event, DecryptionFailure)
            if isinstance(event, MessageStatusChanged):
                assert event.status == "sent"
    await talk.officer.sync()
    assert received(talk.officer) == ["hello", *queued, *later]


async def test_a_send_after_a_long_outage_leaves_most_of_the_backlog_to_the_background(
    world: World,
) -> None:
    """The app's send call does not wait for the whole backlog: it delivers a bounded
    number of queued messages and answers "queued"; the rest follows, in order."""
    talk = await open_conversation(world)
    await talk.witness.send("hello")
    await world.stop_server()
    queued = [f"queued {i}" for i in range(SEND_DELIVERS_AT_MOST + 50)]
    for text in queued:
        await talk.witness.send(text)
    await world.start_server_again()

    sent = await talk.witness.send("after the outage")
    assert sent.status == "queued"
    assert sent.recipients, "it was encrypted, in its place"
    assert await talk.witness.pending_outbox() == 50
    await talk.officer.sync()
    assert received(talk.officer) == ["hello", *queued[: SEND_DELIVERS_AT_MOST + 1]]
    assert await talk.witness.flush_outbox() == 50
    await talk.officer.sync()
    assert received(talk.officer) == [*queued[SEND_DELIVERS_AT_MOST + 1 :], "after the outage"]
