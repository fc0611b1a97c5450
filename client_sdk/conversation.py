"""The conversation engine behind the witness and staff clients.

It is made of parts that share one :class:`~client_sdk.context.DeviceContext`:

* :class:`~client_sdk.trust.DeviceTrust` — which devices may be encrypted to, and
  what is made of the devices that write;
* :class:`~client_sdk.sessions.Sessions` — Olm sessions and this device's one-time keys;
* :class:`~client_sdk.outbox.Outbox` — the durable outbox, encryption and delivery;
* :class:`~client_sdk.receiver.Receiver` — decryption, replay refusal, content-free
  events, the WebSocket;
* :class:`~client_sdk.repair.Repairs` — asking again for messages that did not
  decrypt, and sending again what others ask for;
* :class:`~client_sdk.fallback.FallbackKeys` — replacing this device's fallback key;
* :class:`~client_sdk.attachments.Attachments` — encrypted attachments.

This class wires them together, runs their background loops, and hands events to the
app. Everything is kept in the device's encrypted local store.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from typing import Any

from client_sdk.attachments import Attachments
from client_sdk.context import Clock, DeviceContext, WallClock
from client_sdk.crypto import OlmDevice
from client_sdk.delivery_records import DeliveryRecords, RepairRecord
from client_sdk.events import AttachmentRef, Event
from client_sdk.fallback import FallbackKeys
from client_sdk.localstore import (
    DeviceIdentity,
    KnownDevice,
    LocalStore,
    StoredAttachment,
    StoredMessage,
)
from client_sdk.outbox import Outbox, SentMessage
from client_sdk.receiver import Receiver
from client_sdk.repair import Repairs
from client_sdk.sessions import Sessions
from client_sdk.transport import Transport
from client_sdk.trust import DeviceTrust, TrustState

MAX_TEXT_CHARS = 16_000

__all__ = ["MAX_TEXT_CHARS", "Clock", "Conversation", "SentMessage"]


class Conversation:
    """The engine behind :class:`WitnessClient` and :class:`StaffClient`."""

    def __init__(
        self,
        store: LocalStore,
        identity: DeviceIdentity,
        olm: OlmDevice,
        trust: TrustState,
        *,
        clock: Clock | None = None,
    ) -> None:
        self._events: asyncio.Queue[Event] = asyncio.Queue()
        self._ctx = DeviceContext(
            store=store,
            identity=identity,
            olm=olm,
            transport=Transport(identity.server_url, identity.token),
            clock=clock or WallClock(),
            emit=self.emit,
        )
        self.trust = DeviceTrust(self._ctx, trust)
        self.sessions = Sessions(self._ctx)
        self.records = DeliveryRecords(store.vault)
        self.outbox = Outbox(self._ctx, self.trust, self.sessions, self.records)
        self.repairs = Repairs(self._ctx, self.outbox, self.records)
        self.fallback = FallbackKeys(self._ctx, self.records)
        self.receiver = Receiver(
            self._ctx,
            self.trust,
            self.sessions,
            self._on_event_frame,
            self.outbox.wakeup.set,
            self.repairs,
            self.fallback,
        )
        self.attachments = Attachments(self._ctx, self.outbox, self.sessions)
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = asyncio.Event()

    # ----------------------------------------------------------------- shared state

    @property
    def identity(self) -> DeviceIdentity:
        return self._ctx.identity

    @property
    def device_id(self) -> str:
        return self._ctx.device_id

    @property
    def transport(self) -> Transport:
        return self._ctx.transport

    @property
    def _store(self) -> LocalStore:
        return self._ctx.store

    @property
    def _olm(self) -> OlmDevice:
        return self._ctx.olm

    @property
    def _clock(self) -> Clock:
        return self._ctx.clock

    @property
    def connected(self) -> asyncio.Event:
        """Set while the WebSocket is open."""
        return self.receiver.connected

    # ----------------------------------------------------------------- life cycle

    def start(self) -> None:
        """Start the background receiver (WebSocket), outbox delivery and repair."""
        if not self._tasks:
            self._tasks = [
                asyncio.create_task(self.receiver.run(self._closed)),
                asyncio.create_task(self.outbox.run(self._closed)),
                asyncio.create_task(self.repairs.run(self._closed)),
            ]

    async def close(self) -> None:
        """Stop background work and close the store; the outbox stays for next time."""
        self._closed.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        await self.receiver.close()
        await self.transport.close()
        await self._store.vault.close()

    # ----------------------------------------------------------------- trust

    def known_devices(self, case_id: str | None = None) -> list[KnownDevice]:
        return self.trust.known_devices(case_id)

    async def refresh_devices(self, case_id: str) -> list[KnownDevice]:
        """Fetch the case's device list (see :meth:`DeviceTrust.refresh`).

        Raises:
            ApiError, TransportError: the list could not be fetched.
        """
        return await self.trust.refresh(case_id)

    @property
    def owner(self) -> str:
        """This device's person as key objects name them (``staff:…``, ``witness:…``)."""
        return self.trust.me.owner

    def safety_number(self, owner: str) -> str:
        """The safety number to compare with ``owner`` (``staff:<id>`` or
        ``witness:<id>``), by call or in person; it covers both identity keys.

        Raises:
            KeyError: nothing is known of this person (refresh a shared case first).
            WitnesslinkError: this device does not hold its person's identity key.
        """
        return self.trust.safety_number(owner)

    async def verify_person(
        self, owner: str, compared_number: str, *, case_id: str | None = None
    ) -> None:
        """Record ``owner``'s identity as verified after comparing safety numbers. With
        ``case_id``, every device their identity vouches for is trusted for that case
        (a witness's phone passes its own case); otherwise the verification lets them
        start a case's roster and be vouched for in one, and each case's roster decides.

        Raises:
            KeyError: nothing is known of this person.
            ValueError: the numbers differ (do not trust them).
        """
        await self.trust.verify_person(owner, compared_number, case_id=case_id)

    # ----------------------------------------------------------------- keys

    async def ensure_one_time_keys(self) -> int:
        """Top up the server's supply of this device's one-time keys when low.

        Raises:
            ApiError, TransportError: the server could not be asked or told.
        """
        return await self.sessions.ensure_one_time_keys()

    async def maintain_keys(self) -> bool:
        """Top up one-time keys and replace the fallback key if it was used or is a
        week old (the background receiver does this on connecting and after a new
        session); returns whether the fallback key was replaced.

        Raises:
            ApiError, TransportError: the server could not be asked or told.
        """
        await self.sessions.ensure_one_time_keys()
        return await self.fallback.rotate_if_due()

    # ----------------------------------------------------------------- sending

    async def send_payload(
        self,
        case_id: str,
        body: dict[str, Any],
        *,
        text: str = "",
        attachment: StoredAttachment | None = None,
        to: Sequence[str] = (),
    ) -> SentMessage:
        """Queue ``body`` for the case's devices (only those in ``to`` when set) and try
        to deliver it now.

        Raises:
            WitnesslinkError: no device of the case team can be encrypted to.
        """
        return await self.outbox.send_payload(
            case_id, body, text=text, attachment=attachment, to=to
        )

    async def send_text(self, case_id: str, text: str) -> SentMessage:
        """Raises: ValueError for empty or oversized text; see :meth:`send_payload`."""
        if not text or len(text) > MAX_TEXT_CHARS:
            raise ValueError(f"text must be 1 to {MAX_TEXT_CHARS} characters")
        return await self.send_payload(case_id, {"kind": "text", "text": text}, text=text)

    async def send_attachment(
        self, case_id: str, data: bytes, *, filename: str, mime_type: str, text: str = ""
    ) -> SentMessage:
        """Send an encrypted attachment (see :meth:`Attachments.send`).

        Raises:
            ApiError, TransportError: the upload failed (nothing was sent).
        """
        return await self.attachments.send(
            case_id, data, filename=filename, mime_type=mime_type, text=text
        )

    async def download_attachment(self, ref: AttachmentRef | StoredAttachment) -> bytes:
        """Fetch, check and decrypt an attachment (see :meth:`Attachments.download`).

        Raises:
            DecryptionFailed: the blob does not match its hash or does not decrypt.
            ApiError, TransportError: it could not be fetched.
        """
        return await self.attachments.download(ref)

    async def flush_outbox(self, *, force: bool = False) -> int:
        """Try every queued message that is due (all with ``force``); how many went."""
        return await self.outbox.flush(force=force)

    async def pending_outbox(self) -> int:
        return await self.outbox.pending()

    # ----------------------------------------------------------------- repair

    async def request_repairs(self, *, force: bool = False) -> int:
        """Ask senders again for messages that did not decrypt, when due (all with
        ``force``), and deliver the requests; the background loop does this by itself.
        Returns how many requests were queued.

        Raises:
            ApiError, TransportError: see :meth:`Repairs.run_due`.
        """
        return await self.repairs.run_due(force=force)

    async def awaited_messages(self) -> list[RepairRecord]:
        """Messages that did not decrypt and are being asked for again, oldest first."""
        return await self.repairs.waiting()

    # ----------------------------------------------------------------- receiving

    async def receive(self) -> Event:
        """The next event (message, warning...); waits until there is one. Wrap it in
        ``asyncio.timeout`` to bound the wait."""
        return await self._events.get()

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        while True:
            yield await self._events.get()

    def emit(self, event: Event) -> None:
        """Hand an event to the app (subclasses may hold some back)."""
        self._events.put_nowait(event)

    def pending_events(self) -> list[Event]:
        """Take every event that is already waiting, without blocking."""
        events: list[Event] = []
        while not self._events.empty():
            events.append(self._events.get_nowait())
        return events

    async def sync(self) -> int:
        """Fetch and process everything waiting on the server (without the WebSocket).

        Returns how many copies were processed.

        Raises:
            ApiError, TransportError: the server could not be asked.
        """
        return await self.receiver.sync()

    async def process_frame(self, frame: dict[str, Any]) -> int:
        """Decrypt and store one pushed copy; returns the copy id to acknowledge."""
        return await self.receiver.process_frame(frame)

    async def _on_event_frame(self, frame: dict[str, Any]) -> None:
        if frame.get("type") == "keys_changed":
            self.trust.mark_stale(str(frame.get("case_id")))
            return
        await self.on_event_frame(frame)

    async def on_event_frame(self, frame: dict[str, Any]) -> None:
        """Hook for content-free pushes (check-in prompts, reminders); subclasses act."""
        return None

    async def history(self, case_id: str) -> list[StoredMessage]:
        """Messages kept on this device for a case, oldest first (appointment details
        are kept apart, not shown as chat)."""
        return [m for m in await self._store.messages(case_id) if m.kind != "appointment_details"]

    # ----------------------------------------------------------------- retention

    async def apply_retention(self, keep: timedelta) -> int:
        """Delete local messages older than ``keep`` (and what was kept of them for
        re-sending); returns how many messages were deleted."""
        before = self._clock.now() - keep
        await self.records.prune(before)
        return await self._store.prune(before)
