"""Which devices are connected here, and getting frames to them.

Each WebSocket connection has a bounded outgoing queue drained by its own writer, so a
slow phone never slows the sender or anyone else. A connection remembers which copies
it has pushed (a :class:`~server.realtime.sent_ledger.SentLedger`), so the backlog sent
at connect time, re-reads and live pushes never deliver the same copy twice on one
connection, even when a re-read's snapshot predates an acknowledgement. When a queue overflows,
or another instance says there is something new, the connection re-reads its pending
copies from the database instead: the database, not memory, is the source of truth.

Copies reach a device in the order they were stored (copy id order). Olm keeps only a
bounded number of skipped message keys, so a copy pushed far ahead of older ones can
make those undecryptable. Hence: the backlog is read page by page until it is
exhausted (not just its first page); while a re-read is due, live copies are not
queued (the re-read will find them, in order); and a re-read runs only once the frames
already queued have been written, never jumping ahead of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import msgspec

from server.clock import iso
from server.domain.models import MessageCopy
from server.realtime.bus import EventBus
from server.realtime.sent_ledger import SentLedger

log = logging.getLogger(__name__)

QUEUE_LIMIT = 2048
BACKLOG_PAGE = 500
_encoder = msgspec.json.Encoder()

#: Reads up to :data:`BACKLOG_PAGE` pending copies of a device with ids above the given
#: one, in id order.
PendingLoader = Callable[[str, int], Awaitable[list[MessageCopy]]]
EventLoader = Callable[[str], Awaitable[list[dict[str, Any]]]]


def message_frame(copy: MessageCopy) -> dict[str, Any]:
    """The JSON frame (and REST item) for one message copy."""
    return {
        "type": "message",
        "copy_id": copy.id,
        "case_id": copy.case_id,
        "message_id": copy.message_id,
        "sender_device_id": copy.sender_device_id,
        "olm_type": copy.olm_type,
        "body": copy.body,
        "sent_at": iso(copy.created_at),
    }


class DeviceConnection:
    """One open WebSocket of one device, seen from the hub."""

    def __init__(self, device_id: str, send: Callable[[bytes], Awaitable[None]]) -> None:
        self.device_id = device_id
        self._send = send
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue(QUEUE_LIMIT)
        self._pushed = SentLedger()
        self._pushed_events = SentLedger()
        # A read of the pending copies from the database is due: the backlog at first,
        # later after an overflow or a note from another instance. While it is due,
        # live copies are left to it so that they go out in id order.
        self._reread = True
        self.closed = False

    def offer_copy(self, copy: MessageCopy) -> None:
        """Queue a live copy unless it was already pushed on this connection, or a
        re-read (which will include it, in order) is due."""
        if copy.id in self._pushed or self._reread:
            return
        self._offer(_encoder.encode(message_frame(copy)), copy.id)

    def offer_event(self, event: dict[str, Any]) -> None:
        event_id = event.get("event_id")
        if isinstance(event_id, int):
            if event_id in self._pushed_events:
                return
            self._pushed_events.sent(event_id)
        self._offer(_encoder.encode(event), None)

    def _offer(self, frame: bytes, copy_id: int | None) -> None:
        if self.closed:
            return
        try:
            self._queue.put_nowait(frame)
        except asyncio.QueueFull:
            self.request_resync()
            return
        if copy_id is not None:
            self._pushed.sent(copy_id)

    def request_resync(self) -> None:
        """Re-read pending copies from the database once the queued frames are out."""
        self._reread = True
        if self._queue.empty():
            self._queue.put_nowait(b"")

    def queued(self) -> int:
        """How many frames wait in the outgoing queue."""
        return self._queue.qsize()

    def acknowledged(self, copy_ids: Sequence[int], event_ids: Sequence[int] = ()) -> None:
        """The device's acknowledgement of these ids has committed."""
        self._pushed.acknowledged(copy_ids)
        self._pushed_events.acknowledged(event_ids)

    def close(self) -> None:
        self.closed = True
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(None)

    async def run_writer(
        self, load_pending: PendingLoader, load_events: EventLoader | None = None
    ) -> None:
        """Send the backlog (messages, then waiting events), then whatever is queued,
        until closed; re-read the database whenever that is due and the queue is empty."""
        while not self.closed:
            if self._reread and self._queue.empty():
                self._reread = False
                await self._send_pending(load_pending)
                await self._send_pending_events(load_events)
                continue
            frame = await self._queue.get()
            if frame is None:
                return
            if frame:
                await self._send(frame)

    async def _send_pending(self, load_pending: PendingLoader) -> None:
        """Push every pending copy not yet pushed here, oldest first, page by page."""
        after = 0
        self._pushed.read_started()
        try:
            while not self.closed:
                page = await load_pending(self.device_id, after)
                for copy in page:
                    if copy.id not in self._pushed:
                        self._pushed.sent(copy.id)
                        await self._send(_encoder.encode(message_frame(copy)))
                if len(page) < BACKLOG_PAGE:
                    return
                after = page[-1].id
        finally:
            self._pushed.read_finished()

    async def _send_pending_events(self, load_events: EventLoader | None) -> None:
        """Push every waiting stored event not yet pushed here."""
        if load_events is None:
            return
        self._pushed_events.read_started()
        try:
            for event in await load_events(self.device_id):
                if event["event_id"] not in self._pushed_events:
                    self._pushed_events.sent(event["event_id"])
                    await self._send(_encoder.encode(event))
        finally:
            self._pushed_events.read_finished()


class Hub:
    """The real-time hub; implements the domain's :class:`~server.domain.events.EventSink`."""

    def __init__(self, bus: EventBus) -> None:
        self._bus = bus
        self._connections: dict[str, set[DeviceConnection]] = {}
        self.on_revoked: list[Callable[[set[str]], None]] = []

    async def start(self) -> None:
        await self._bus.start(self._on_note)

    async def close(self) -> None:
        for connections in list(self._connections.values()):
            for connection in list(connections):
                connection.close()
        await self._bus.close()

    def register(self, connection: DeviceConnection) -> None:
        self._connections.setdefault(connection.device_id, set()).add(connection)

    def unregister(self, connection: DeviceConnection) -> None:
        connections = self._connections.get(connection.device_id)
        if connections is not None:
            connections.discard(connection)
            if not connections:
                del self._connections[connection.device_id]

    def is_connected(self, device_id: str) -> bool:
        return device_id in self._connections

    def connected_devices(self) -> set[str]:
        return set(self._connections)

    async def messages_stored(self, copies: Sequence[MessageCopy]) -> None:
        remote: set[str] = set()
        for copy in copies:
            connections = self._connections.get(copy.recipient_device_id)
            if connections:
                for connection in connections:
                    connection.offer_copy(copy)
            else:
                remote.add(copy.recipient_device_id)
        if remote:
            await self._bus.publish({"kind": "wake", "devices": sorted(remote)})

    async def devices_revoked(self, device_ids: Sequence[str]) -> None:
        self._drop(set(device_ids))
        await self._bus.publish({"kind": "revoked", "devices": list(device_ids)})

    async def device_event(self, device_ids: Sequence[str], event: dict[str, Any]) -> None:
        remote: list[str] = []
        for device_id in device_ids:
            connections = self._connections.get(device_id)
            if connections:
                for connection in connections:
                    connection.offer_event(event)
            else:
                remote.append(device_id)
        if remote:
            await self._bus.publish({"kind": "event", "devices": remote, "event": event})

    def _drop(self, device_ids: set[str]) -> None:
        for device_id in device_ids:
            for connection in list(self._connections.get(device_id, ())):
                connection.close()
        for callback in self.on_revoked:
            callback(device_ids)

    async def _on_note(self, note: dict[str, Any]) -> None:
        devices = [d for d in note.get("devices", []) if isinstance(d, str)]
        kind = note.get("kind")
        if kind == "wake":
            for device_id in devices:
                for connection in self._connections.get(device_id, ()):
                    connection.request_resync()
        elif kind == "revoked":
            self._drop(set(devices))
        elif kind == "event" and isinstance(note.get("event"), dict):
            for device_id in devices:
                for connection in self._connections.get(device_id, ()):
                    if "event_id" in note["event"]:
                        connection.request_resync()  # stored: read it (and others) back
                    else:
                        connection.offer_event(note["event"])
        else:
            log.debug("ignoring an unknown real-time note")
