"""Receiving: copies pushed over the WebSocket (or fetched), decrypted and stored once.

Each copy is decrypted, the decrypted envelope is checked against the outside (id,
sender, recipient, case), replays are refused, and message + session state + replay
marker are stored atomically; only then is the copy acknowledged, so that the server
deletes it. A copy that does not decrypt is recorded for session repair in the same
way before it is acknowledged (:mod:`client_sdk.repair`): the message is asked for
again, never silently dropped. Repair messages are handed to the repair part instead
of being shown. Content-free events (check-in prompts, reminders) are handed to the app
once each, however often they are delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import aiohttp

from client_sdk.context import DeviceContext
from client_sdk.crypto import DecryptionFailed
from client_sdk.errors import ApiError, TransportError, WitnesslinkError
from client_sdk.events import (
    AppointmentDetailsReceived,
    AttachmentRef,
    DecryptionFailure,
    Event,
    HeldMessage,
    IncomingMessage,
    ReplayRejected,
)
from client_sdk.fallback import FallbackKeys
from client_sdk.localstore import KnownDevice, LocalStore, Put, StoredAttachment, StoredMessage
from client_sdk.payloads import CONTROL_KINDS, PAYLOAD_VERSION
from client_sdk.repair import Repairs
from client_sdk.sessions import Sessions
from client_sdk.trust import DeviceTrust
from client_sdk.visits import VISIT_KINDS, receive_visit_payload

log = logging.getLogger("witnesslink.sdk")

EventHandler = Callable[[dict[str, Any]], Awaitable[None]]


class Receiver:
    """Turns what the server delivers into stored messages and app events."""

    def __init__(
        self,
        ctx: DeviceContext,
        trust: DeviceTrust,
        sessions: Sessions,
        on_event: EventHandler,
        on_connected: Callable[[], None],
        repairs: Repairs,
        fallback: FallbackKeys,
    ) -> None:
        self._ctx = ctx
        self._trust = trust
        self._sessions = sessions
        self._on_event = on_event
        self._on_connected = on_connected
        self._repairs = repairs
        self._fallback = fallback
        self._seen_events: set[int] = set()
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.connected = asyncio.Event()

    async def sync(self) -> int:
        """Fetch and process everything waiting on the server (without the WebSocket).

        Returns how many copies were processed.

        Raises:
            ApiError, TransportError: the server could not be asked.
        """
        transport = self._ctx.transport
        processed = await self._sync_events()
        handled: set[int] = set()
        while True:
            reply = await transport.request("GET", "/v1/messages", params={"limit": "200"})
            frames = [f for f in reply["messages"] if int(f["copy_id"]) not in handled]
            if not frames:
                return processed
            acks = [await self.process_frame(frame) for frame in frames]
            handled.update(acks)
            await transport.request("POST", "/v1/messages/ack", json={"copy_ids": acks})
            processed += len(frames)

    async def _sync_events(self) -> int:
        """Fetch and handle the content-free events waiting on the server."""
        transport = self._ctx.transport
        reply = await transport.request("GET", "/v1/events")
        events = reply["events"]
        for frame in events:
            await self.handle_event(frame)
        if events:
            await transport.request(
                "POST", "/v1/events/ack", json={"event_ids": [e["event_id"] for e in events]}
            )
        return len(events)

    async def process_frame(self, frame: dict[str, Any]) -> int:
        """Decrypt and store one pushed copy; returns the copy id to acknowledge.

        Failures are reported as events, never raised: a bad copy must not stop the
        stream. Acknowledging one is right because the copy can never be opened; the
        message itself is not given up (it was recorded for repair first).
        """
        copy_id = int(frame["copy_id"])
        case_id = str(frame["case_id"])
        sender_id = str(frame["sender_device_id"])
        sender = self._trust.get(sender_id)
        if sender is None or not self._trust.device_trusted(sender, case_id):
            # A new colleague or device may have been introduced since the last look.
            with contextlib.suppress(WitnesslinkError):
                if sender is None:
                    await self._trust.refresh(case_id)
                else:
                    await self._trust.fresh(case_id)
            sender = self._trust.get(sender_id)
        async with self._ctx.lock:
            event = await self._open_copy(frame, copy_id, case_id, sender)
        if event is not None:
            self._ctx.emit(event)
            if isinstance(event, DecryptionFailure) and event.repairing:
                self._repairs.wakeup.set()
        return copy_id

    async def _open_copy(
        self, frame: dict[str, Any], copy_id: int, case_id: str, sender: KnownDevice | None
    ) -> Event | None:
        ctx = self._ctx
        message_id = str(frame["message_id"])
        sender_id = str(frame["sender_device_id"])
        if sender is None:
            return DecryptionFailure(case_id, message_id, sender_id, "unknown sender device")
        if sender.conflict:
            return DecryptionFailure(case_id, message_id, sender_id, "the sender's keys changed")
        seen_copy = await ctx.store.seen_copy(sender_id, message_id)
        if seen_copy is not None:
            # The same copy again is a redelivery (we crashed before acknowledging);
            # another copy of a message that once failed is a repair answered twice;
            # the same message under another copy otherwise is a replay.
            if seen_copy == copy_id or await self._repairs.was_repaired(sender_id, message_id):
                return None
            return ReplayRejected(case_id, message_id, sender_id)
        olm_type, body = int(frame["olm_type"]), str(frame["body"])
        try:
            plaintext = ctx.olm.decrypt(sender.curve25519, olm_type, body)
        except DecryptionFailed as failure:
            return await self._failed(case_id, message_id, sender_id, copy_id, str(failure))
        try:
            payload = json.loads(plaintext)
            bound = (
                payload.get("v") == PAYLOAD_VERSION
                and payload.get("message_id") == message_id
                and payload.get("case_id") == case_id
                and payload.get("sender_device_id") == sender_id
                and payload.get("recipient_device_id") == ctx.device_id
            )
            sent_at = datetime.fromisoformat(payload["sent_at"])
        except (ValueError, KeyError, TypeError, AttributeError):
            bound = False
        if not bound:  # the session advanced: keep that, with the repair record
            return await self._failed(
                case_id,
                message_id,
                sender_id,
                copy_id,
                "the envelope does not match",
                advanced=True,
            )
        opened: list[Put] = [
            LocalStore.seen_put(sender_id, message_id, copy_id, ctx.clock.now()),
            *await self._repairs.record_arrival(sender_id, message_id),
            *await self._fallback.used_puts(olm_type, body),
        ]
        if payload.get("kind") in CONTROL_KINDS:
            handled = await self._repairs.handle(sender, case_id, payload)
            await ctx.persist_crypto([*opened, *handled.puts])
            self._repairs.written(handled)
            return None
        verified = self._trust.device_trusted(sender, case_id)
        if payload.get("kind") in VISIT_KINDS:
            return await receive_visit_payload(
                ctx, self._trust, sender, case_id, message_id, payload, opened
            )
        if payload.get("kind") == "appointment_details":
            if not verified:
                # Details of a hearing from someone unverified could send the witness
                # anywhere: never kept as the team's.
                await ctx.persist_crypto(opened)
                return HeldMessage(case_id, message_id, sender_id, sender.owner)
            details = payload.get("details")
            appointment_id = str(payload.get("appointment_id", ""))
            clean = (
                {str(k): str(v) for k, v in details.items() if v is not None}
                if isinstance(details, dict)
                else {}
            )
            await ctx.persist_crypto([LocalStore.appointment_put(appointment_id, clean), *opened])
            return AppointmentDetailsReceived(appointment_id)
        if payload.get("kind") == "case_outcome" and any(
            m.kind == "case_outcome" for m in await ctx.store.messages(case_id)
        ):
            # Every staff client of the team may send the outcome: keep the first.
            await ctx.persist_crypto(opened)
            return None
        attachment = _attachment(payload.get("attachment"))
        record = StoredMessage(
            case_id=case_id,
            message_id=message_id,
            direction="in",
            sender_device_id=sender_id,
            sender_kind=sender.owner_kind,
            sender_id=sender.owner_id,
            text=str(payload.get("text", "")),
            sent_at=sent_at,
            status="received",
            attachment=attachment,
            kind=str(payload.get("kind", "text")),
            verified=verified,
            written_locked=payload.get("written_locked") is True,
        )
        await ctx.persist_crypto([LocalStore.message_put(record), *opened])
        return IncomingMessage(
            case_id=case_id,
            message_id=message_id,
            sender_device_id=sender_id,
            sender_kind=sender.owner_kind,
            sender_id=sender.owner_id,
            sender_name=self._trust.name_of(sender.owner, case_id) or sender.name,
            text=record.text,
            sent_at=sent_at,
            attachment=None
            if attachment is None
            else AttachmentRef(
                attachment.attachment_id,
                attachment.filename,
                attachment.mime_type,
                attachment.size,
                attachment.key,
                attachment.sha256,
            ),
            verified=verified,
            written_locked=record.written_locked,
        )

    async def _failed(
        self,
        case_id: str,
        message_id: str,
        sender_id: str,
        copy_id: int,
        reason: str,
        *,
        advanced: bool = False,
    ) -> Event | None:
        """A copy that does not open: record the message for repair (durably, before the
        copy is acknowledged) and report it; a message already being repaired is not
        reported twice. ``advanced``: the session state changed and is saved with it."""
        ctx = self._ctx
        puts = await self._repairs.record_failure(case_id, sender_id, message_id, copy_id)
        if advanced:
            await ctx.persist_crypto(puts)
        elif puts:
            await ctx.store.write(puts)
        if not puts:
            return None
        return DecryptionFailure(case_id, message_id, sender_id, reason, repairing=True)

    async def _look_after_keys(self) -> None:
        """Top up one-time keys and replace the fallback key when due (best effort)."""
        with contextlib.suppress(WitnesslinkError):
            await self._sessions.ensure_one_time_keys()
        with contextlib.suppress(WitnesslinkError):
            await self._fallback.rotate_if_due()

    async def run(self, closed: asyncio.Event) -> None:
        """Hold the WebSocket open (reconnecting with backoff) until ``closed`` is set."""
        backoff = 1.0
        while not closed.is_set():
            try:
                self.ws = await self._ctx.transport.websocket()
                backoff = 1.0
                self.connected.set()
                self._on_connected()
                await self._look_after_keys()
                async for frame in self.ws:
                    if frame.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                        break
                    await self._on_frame(json.loads(frame.data))
            except ApiError as error:
                if error.status in (401, 403):
                    log.warning("the server no longer accepts this device")
                    return
            except (TransportError, aiohttp.ClientError, ConnectionError):
                pass
            finally:
                self.connected.clear()
            if closed.is_set():
                return
            await asyncio.sleep(backoff * (0.5 + random.random() / 2))  # noqa: S311
            backoff = min(backoff * 2, 60.0)

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()

    async def _on_frame(self, frame: dict[str, Any]) -> None:
        ws = self.ws
        if frame.get("type") == "message":
            copy_id = await self.process_frame(frame)
            if ws is not None and not ws.closed:
                await ws.send_json({"type": "ack", "copy_ids": [copy_id]})
            if int(frame.get("olm_type", 1)) == 0:
                await self._look_after_keys()
        else:
            await self.handle_event(frame)
            event_id = frame.get("event_id")
            if isinstance(event_id, int) and ws is not None and not ws.closed:
                await ws.send_json({"type": "ack", "event_ids": [event_id]})

    async def handle_event(self, frame: dict[str, Any]) -> None:
        """Hand a content-free event to the app's handler, once.

        A durable event can arrive again (live, then from the backlog; or after the app
        stopped before its acknowledgement left): the ids handled are remembered in the
        encrypted store, so a redelivery is acknowledged but not shown twice.
        """
        event_id = frame.get("event_id")
        if isinstance(event_id, int):
            if event_id in self._seen_events:
                return
            self._seen_events.add(event_id)
            key = str(event_id)
            vault = self._ctx.store.vault
            if await vault.get("event_seen", key) is not None:
                return
            await vault.put("event_seen", key, self._ctx.clock.now().isoformat().encode())
        await self._on_event(frame)


def _attachment(raw: Any) -> StoredAttachment | None:
    if not isinstance(raw, dict):
        return None
    try:
        return StoredAttachment(
            attachment_id=str(raw["attachment_id"]),
            filename=str(raw["filename"]),
            mime_type=str(raw["mime_type"]),
            size=int(raw["size"]),
            key=str(raw["key"]),
            sha256=str(raw["sha256"]),
        )
    except (KeyError, TypeError, ValueError):
        return None
