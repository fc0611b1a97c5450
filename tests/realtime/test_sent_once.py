"""One connection never sends a copy (or a stored event) twice, even when a re-read of
pending items runs on a snapshot taken before the device's acknowledgement committed:
the race that pushed 130 of 5,047 copies twice with two instances on PostgreSQL.

The database is replaced by loaders that play the stale snapshot on cue, so the race
happens every time, not by luck.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

from server.domain.models import MessageCopy
from server.realtime.hub import DeviceConnection

DEVICE = "dev_phone"


def copy(copy_id: int) -> MessageCopy:
    return MessageCopy(
        copy_id, DEVICE, "case_1", "dev_officer", f"m-{copy_id}", 1, "b64", datetime.now(UTC)
    )


class Phone:
    """Records what the connection sends; signals each send."""

    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []
        self.arrived = asyncio.Event()

    async def send(self, frame: bytes) -> None:
        self.frames.append(json.loads(frame))
        self.arrived.set()

    def copy_ids(self) -> list[int]:
        return [f["copy_id"] for f in self.frames if f["type"] == "message"]

    def event_ids(self) -> list[int]:
        return [f["event_id"] for f in self.frames if "event_id" in f]

    async def until(self, condition: Any) -> None:
        """Wait for frames until ``condition()`` holds."""
        async with asyncio.timeout(5):
            while not condition():
                self.arrived.clear()
                await self.arrived.wait()


async def test_a_reread_on_a_snapshot_older_than_an_ack_does_not_send_the_copy_again() -> None:
    phone = Phone()
    connection = DeviceConnection(DEVICE, phone.send)
    reads: list[int] = []
    stale_read_started = asyncio.Event()
    release_stale_read = asyncio.Event()

    async def load_pending(_device: str, _after: int) -> list[MessageCopy]:
        reads.append(len(reads))
        if len(reads) == 1:
            return [copy(1), copy(2)]  # the backlog
        if len(reads) == 2:
            # This read's snapshot predates the acknowledgement of copies 1 and 2,
            # which commits (and is reported) while the read is still under way.
            stale_read_started.set()
            await release_stale_read.wait()
            return [copy(1), copy(2), copy(3)]
        return [copy(3), copy(4)]  # later reads see the acknowledgement

    writer = asyncio.create_task(connection.run_writer(load_pending))
    try:
        await phone.until(lambda: phone.copy_ids() == [1, 2])
        connection.request_resync()  # e.g. another instance stored copy 3
        async with asyncio.timeout(5):
            await stale_read_started.wait()
        connection.acknowledged([1, 2])
        release_stale_read.set()
        await phone.until(lambda: 3 in phone.copy_ids())
        assert phone.copy_ids() == [1, 2, 3]

        # Once that read is over, what it had to remember is dropped, and the
        # connection goes on as before: 3 is still unacknowledged, 4 is new.
        connection.request_resync()
        await phone.until(lambda: 4 in phone.copy_ids())
        assert phone.copy_ids() == [1, 2, 3, 4]
    finally:
        connection.close()
        await writer


async def test_a_live_copy_acknowledged_during_a_reread_is_not_sent_again() -> None:
    phone = Phone()
    connection = DeviceConnection(DEVICE, phone.send)
    in_read = asyncio.Event()
    release = asyncio.Event()
    calls = 0

    async def load_pending(_device: str, _after: int) -> list[MessageCopy]:
        nonlocal calls
        calls += 1
        if calls == 1:
            return [copy(6)]
        if calls == 2:
            in_read.set()
            await release.wait()
            return [copy(7)]  # stale: 7 was pushed live and acknowledged meanwhile
        return [copy(8)]

    writer = asyncio.create_task(connection.run_writer(load_pending))
    try:
        await phone.until(lambda: phone.copy_ids() == [6])  # the backlog read is over
        connection.offer_copy(copy(7))
        await phone.until(lambda: 7 in phone.copy_ids())
        connection.request_resync()
        async with asyncio.timeout(5):
            await in_read.wait()
        connection.acknowledged([7])
        release.set()
        # Reads run one after another: once 8 (from the next read) is out, the stale
        # read has sent whatever it was going to send.
        connection.request_resync()
        await phone.until(lambda: 8 in phone.copy_ids())
        assert phone.copy_ids() == [6, 7, 8]
    finally:
        connection.close()
        await writer


async def test_a_stored_event_acknowledged_during_a_reread_is_not_sent_again() -> None:
    phone = Phone()
    connection = DeviceConnection(DEVICE, phone.send)
    event = {"type": "reminder", "event_id": 11}
    event_reads = 0
    in_read = asyncio.Event()
    release = asyncio.Event()

    async def no_copies(_device: str, _after: int) -> list[MessageCopy]:
        return []

    async def load_events(_device: str) -> list[dict[str, Any]]:
        nonlocal event_reads
        event_reads += 1
        if event_reads == 2:
            in_read.set()
            await release.wait()
            return [event]
        return [event] if event_reads == 1 else [{"type": "reminder", "event_id": 12}]

    writer = asyncio.create_task(connection.run_writer(no_copies, load_events))
    try:
        await phone.until(lambda: phone.event_ids() == [11])
        connection.request_resync()
        async with asyncio.timeout(5):
            await in_read.wait()
        connection.acknowledged([], [11])
        release.set()
        connection.request_resync()
        await phone.until(lambda: 12 in phone.event_ids())
        assert phone.event_ids() == [11, 12]
    finally:
        connection.close()
        await writer
