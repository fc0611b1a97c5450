"""A thousand messages across an outage and server restarts arrive complete, once each
and in order, in both directions (phone to team, team to phone).

The real server is stopped while the sender flushes its queue and while new messages
are being sent, several times; receivers fetch in between. Everything runs on the
test's manual clock and explicit calls (flush, send, sync): no sleeping."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from client_sdk import (
    DecryptionFailure,
    IncomingMessage,
    MessageStatusChanged,
    ReplayRejected,
    StaffClient,
    WitnessClient,
)
from tests.support.world import World, open_conversation

TOTAL = 1000
SHARED_MEMORY = Path("/dev/shm")  # noqa: S108 - a folder of our own is made inside


@pytest.fixture
def tmp_path(tmp_path: Path) -> Iterator[Path]:
    """The stores and the server's SQLite file in memory when the machine has a tmpfs.

    This test is about order and completeness across restarts, not about what reaches
    the disk (the crash tests are); on a disk every durable commit costs an fsync, and
    a thousand messages make several thousand of them."""
    if not SHARED_MEMORY.is_dir():
        yield tmp_path
        return
    folder = Path(tempfile.mkdtemp(prefix="wl-outage-", dir=SHARED_MEMORY))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


class Receiving:
    """What one receiving device has shown, in order."""

    def __init__(self, client: StaffClient | WitnessClient) -> None:
        self.client = client
        self.texts: list[str] = []

    async def sync(self) -> None:
        await self.client.sync()
        for event in self.client.pending_events():
            assert not isinstance(event, DecryptionFailure | ReplayRejected), event
            if isinstance(event, IncomingMessage):
                self.texts.append(event.text)


class Sending:
    """The sending device, numbering what it sends."""

    def __init__(self, client: StaffClient | WitnessClient, case_id: str) -> None:
        self.client = client
        self.case_id = case_id
        self.next = 0

    async def send(self, count: int) -> None:
        for _ in range(count):
            text = f"message {self.next:04d}"
            self.next += 1
            if isinstance(self.client, WitnessClient):
                await self.client.send(text)
            else:
                await self.client.send(text, case_id=self.case_id)

    async def until_sent_in_background(self, count: int) -> None:
        """Wait until ``count`` queued messages were reported sent by a flush."""
        seen = 0
        async with asyncio.timeout(30):
            while seen < count:
                event = await self.client.receive()
                if isinstance(event, MessageStatusChanged) and event.status == "sent":
                    seen += 1


@pytest.mark.parametrize("direction", ["phone to team", "team to phone"])
async def test_a_thousand_messages_across_an_outage_and_restarts_arrive_once_in_order(
    world: World, direction: str
) -> None:
    talk = await open_conversation(world)
    if direction == "phone to team":
        sender = Sending(talk.witness, talk.case_id)
        receivers = [Receiving(talk.officer), Receiving(talk.worker)]
    else:
        sender = Sending(talk.officer, talk.case_id)
        receivers = [Receiving(talk.witness), Receiving(talk.worker)]
    await sender.send(1)  # sessions exist from here on: later sends encrypt offline
    for receiver in receivers:
        await receiver.sync()
    sender.client.pending_events()

    # An outage: everything sent meanwhile is queued.
    await world.stop_server()
    await sender.send(300)
    await world.start_server_again()

    # The server goes down again while the queue is being flushed...
    flushing = asyncio.create_task(sender.client.flush_outbox(force=True))
    await sender.until_sent_in_background(120)
    await world.stop_server()
    await flushing
    await sender.send(100)
    await world.start_server_again()
    for receiver in receivers[:1]:
        await receiver.sync()

    # ... and while the rest is flushed and new messages are sent at the same time.
    flushing = asyncio.create_task(sender.client.flush_outbox(force=True))
    sending = asyncio.create_task(sender.send(250))
    await sender.until_sent_in_background(150)
    await world.stop_server()
    await asyncio.gather(flushing, sending)
    await world.start_server_again()
    sending = asyncio.create_task(sender.send(200))
    await sender.until_sent_in_background(50)
    await world.stop_server()
    await sending
    await world.start_server_again()

    await sender.send(TOTAL + 1 - sender.next)
    while await sender.client.pending_outbox():
        await sender.client.flush_outbox(force=True)
    for receiver in receivers:
        await receiver.sync()

    expected = [f"message {i:04d}" for i in range(TOTAL + 1)]
    for receiver in receivers:
        duplicates = [t for t, n in Counter(receiver.texts).items() if n > 1]
        assert duplicates == []
        assert len(receiver.texts) == len(expected)
        assert receiver.texts == expected
    statuses = Counter(m.status for m in await sender.client.history(talk.case_id))
    assert statuses == {"sent": TOTAL + 1}
    async with world.services.store.read() as uow:
        for receiver in receivers:
            assert await uow.messages.count_pending(receiver.client.device_id) == 0
