"""The conversation engine shared by the witness and staff clients.

It keeps the device's Olm state, the trust it places in other devices, the local
history and the outbox, all in the encrypted local store, and talks to the server:

* **Sending** fans a message out to every usable device of the case (one Olm
  ciphertext each), writes the ciphertexts to the outbox together with the advanced
  session state in one atomic store write, and then delivers; failed deliveries are
  retried with backoff, across lost connections and restarts. The message id is chosen
  here, so a retry can never be stored twice.
* **Receiving** takes copies pushed over the WebSocket (or fetched), decrypts them,
  checks that the decrypted envelope matches the outside (id, sender, recipient, case),
  refuses replays, stores message + session state + replay marker atomically, and only
  then acknowledges the copy so that the server deletes it.
* **Trust**: a device whose keys change is never used again and is reported; devices
  the app has not verified are reported too, and a witness's phone does not send to
  them unless told to.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import random
import secrets
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import aiohttp
import nacl.secret
import nacl.utils

from client_sdk.crypto import (
    DecryptionFailed,
    OlmDevice,
    SignedKeyMaterial,
    UntrustedKey,
    b64,
    unb64,
)
from client_sdk.errors import ApiError, TransportError, WitnesslinkError
from client_sdk.events import (
    AppointmentDetailsReceived,
    AttachmentRef,
    DecryptionFailure,
    Event,
    IncomingMessage,
    KeyChangeWarning,
    NewDevice,
    ReplayRejected,
)
from client_sdk.localstore import (
    DeviceIdentity,
    KnownDevice,
    LocalStore,
    OutboxCiphertext,
    OutboxEntry,
    Put,
    StoredAttachment,
    StoredMessage,
    Trust,
    message_key,
)
from client_sdk.safety import safety_number, same_safety_number
from client_sdk.transport import Transport

log = logging.getLogger("witnesslink.sdk")

PAYLOAD_VERSION = 1
MIN_ONE_TIME_KEYS = 10
TARGET_ONE_TIME_KEYS = 50
MAX_TEXT_CHARS = 16_000
MAX_BACKOFF_S = 300.0
DEVICE_LIST_MAX_AGE = timedelta(seconds=30)


class Clock(Protocol):
    def now(self) -> datetime: ...


class _WallClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class SentMessage:
    """What happened to a send: ``sent`` (the server holds it durably) or ``queued``
    (kept in the outbox and retried in the background)."""

    message_id: str
    case_id: str
    status: str
    recipients: list[str]
    withheld: list[str] = field(default_factory=list)


def backoff_delay(attempts: int) -> float:
    """Exponential backoff with jitter: about 1, 2, 4 ... seconds, at most 5 minutes."""
    base: float = min(MAX_BACKOFF_S, float(2 ** max(0, attempts - 1)))
    return base * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not a secret


class Conversation:
    """The engine behind :class:`WitnessClient` and :class:`StaffClient`."""

    def __init__(
        self,
        store: LocalStore,
        identity: DeviceIdentity,
        olm: OlmDevice,
        devices: dict[str, KnownDevice],
        *,
        send_to_unverified: bool,
        clock: Clock | None = None,
    ) -> None:
        self._store = store
        self.identity = identity
        self._olm = olm
        self._devices = devices
        self.send_to_unverified = send_to_unverified
        self._clock: Clock = clock or _WallClock()
        self.transport = Transport(identity.server_url, identity.token)
        self._lock = asyncio.Lock()
        self._events: asyncio.Queue[Event] = asyncio.Queue()
        self._device_refreshed: dict[str, datetime] = {}
        self._delivering: set[str] = set()
        self._outbox_wakeup = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self.connected = asyncio.Event()
        self._closed = False
        self._seen_events: set[int] = set()

    # ----------------------------------------------------------------- life cycle

    @property
    def device_id(self) -> str:
        return self.identity.device_id

    def start(self) -> None:
        """Start the background receiver (WebSocket) and outbox delivery."""
        if not self._tasks:
            self._tasks = [
                asyncio.create_task(self._receive_loop()),
                asyncio.create_task(self._outbox_loop()),
            ]

    async def close(self) -> None:
        """Stop background work and close the store; the outbox stays for next time."""
        self._closed = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        if self._ws is not None:
            await self._ws.close()
        await self.transport.close()
        await self._store.vault.close()

    # ----------------------------------------------------------------- trust

    def known_devices(self, case_id: str | None = None) -> list[KnownDevice]:
        devices = list(self._devices.values())
        if case_id is not None:
            devices = [d for d in devices if case_id in d.case_ids]
        return sorted(devices, key=lambda d: d.device_id)

    async def refresh_devices(self, case_id: str) -> list[KnownDevice]:
        """Fetch the case's device list; pin new devices as unverified, flag changed keys.

        Raises:
            ApiError, TransportError: the list could not be fetched.
        """
        reply = await self.transport.request("GET", f"/v1/cases/{case_id}/devices")
        events: list[Event] = []
        puts: list[Put] = []
        async with self._lock:
            listed = {d["device_id"]: d for d in reply["devices"]}
            for device_id, info in listed.items():
                if device_id == self.device_id:
                    continue
                known = self._devices.get(device_id)
                if known is None:
                    known = KnownDevice(
                        device_id=device_id,
                        owner_kind=info["owner_kind"],
                        owner_id=info["owner_id"],
                        name=info["name"],
                        curve25519=info["curve25519"],
                        ed25519=info["ed25519"],
                        trust=Trust.UNVERIFIED,
                        case_ids=[case_id],
                    )
                    events.append(
                        NewDevice(device_id, known.owner_kind, known.owner_id, known.name, False)
                    )
                elif (known.curve25519, known.ed25519) != (info["curve25519"], info["ed25519"]):
                    if known.trust is not Trust.KEY_CHANGED:
                        known.trust = Trust.KEY_CHANGED
                        events.append(
                            KeyChangeWarning(
                                device_id, known.owner_kind, known.owner_id, known.name
                            )
                        )
                else:
                    known.active = True
                    known.name = info["name"]
                    known.owner_kind = info["owner_kind"]
                    known.owner_id = info["owner_id"]
                    if case_id not in known.case_ids:
                        known.case_ids.append(case_id)
                self._devices[device_id] = known
                puts.append(LocalStore.device_put(known))
            for known in self._devices.values():
                if case_id in known.case_ids and known.device_id not in listed and known.active:
                    known.active = False
                    puts.append(LocalStore.device_put(known))
            await self._store.write(puts)
            self._device_refreshed[case_id] = self._clock.now()
        for event in events:
            self.emit(event)
        return self.known_devices(case_id)

    def safety_number(self, device_id: str) -> str:
        """The safety number to compare with the person holding ``device_id``.

        Raises:
            KeyError: unknown device.
        """
        peer = self._devices[device_id]
        return safety_number((self.device_id, self._olm.ed25519), (peer.device_id, peer.ed25519))

    async def verify_device(self, device_id: str, compared_number: str) -> None:
        """Mark a device verified after comparing safety numbers with its holder.

        Raises:
            KeyError: unknown device.
            ValueError: the numbers differ (do not trust the device).
        """
        if not same_safety_number(self.safety_number(device_id), compared_number):
            raise ValueError("the safety numbers differ: this device cannot be trusted")
        async with self._lock:
            device = self._devices[device_id]
            device.trust = Trust.VERIFIED
            await self._store.write([LocalStore.device_put(device)])

    async def _fresh_devices(self, case_id: str) -> list[KnownDevice]:
        refreshed = self._device_refreshed.get(case_id)
        if refreshed is None or self._clock.now() - refreshed > DEVICE_LIST_MAX_AGE:
            return await self.refresh_devices(case_id)
        return self.known_devices(case_id)

    # ----------------------------------------------------------------- keys

    async def ensure_one_time_keys(self) -> int:
        """Top up the server's supply of this device's one-time keys when low.

        Returns how many keys the server holds afterwards.

        Raises:
            ApiError, TransportError: the server could not be asked or told.
        """
        reply = await self.transport.request("GET", "/v1/keys/count")
        count = int(reply["one_time_keys"])
        if count >= MIN_ONE_TIME_KEYS:
            return count
        async with self._lock:
            keys = self._olm.generate_one_time_keys(TARGET_ONE_TIME_KEYS - count)
            await self._persist_crypto()
        reply = await self.transport.request(
            "POST", "/v1/keys", json={"one_time_keys": [k.as_json() for k in keys]}
        )
        async with self._lock:
            self._olm.mark_published()
            await self._persist_crypto()
        return int(reply["one_time_keys"])

    async def _persist_crypto(self, extra: Sequence[Put] = ()) -> None:
        account, sessions = self._olm.take_changes()
        puts = LocalStore.olm_puts(account, self._olm.pickle_key, sessions)
        await self._store.write([*puts, *extra])

    async def _ensure_sessions(self, case_id: str, targets: list[KnownDevice]) -> list[str]:
        """Open sessions with targets that have none; returns devices left without one."""
        missing = [d for d in targets if not self._olm.has_session(d.curve25519)]
        if not missing:
            return []
        reply = await self.transport.request(
            "POST",
            "/v1/keys/claim",
            json={"case_id": case_id, "device_ids": [d.device_id for d in missing]},
        )
        failed: list[str] = []
        for item in reply["keys"]:
            device = self._devices.get(item["device_id"])
            key = item.get("key")
            if device is None or key is None:
                failed.append(item["device_id"])
                continue
            if (item["curve25519"], item["ed25519"]) != (device.curve25519, device.ed25519):
                failed.append(device.device_id)
                continue
            try:
                self._olm.start_session(
                    device.curve25519,
                    device.ed25519,
                    SignedKeyMaterial(key["key_id"], key["key"], key["signature"]),
                    fallback=bool(item["fallback"]),
                )
            except UntrustedKey:
                log.warning("a claimed key did not verify; device skipped")
                failed.append(device.device_id)
        return failed

    # ----------------------------------------------------------------- sending

    async def send_payload(
        self,
        case_id: str,
        body: dict[str, Any],
        *,
        text: str = "",
        attachment: StoredAttachment | None = None,
    ) -> SentMessage:
        """Queue ``body`` durably for the case's devices and try to deliver it now.

        The message goes into the outbox first. If the server cannot be reached to
        fetch the device list or open sessions, it stays there unencrypted (inside the
        encrypted store) and is encrypted and sent when the server is back.

        Raises:
            WitnesslinkError: no device of the case team can be encrypted to.
        """
        now = self._clock.now()
        record = StoredMessage(
            case_id=case_id,
            message_id=secrets.token_urlsafe(16),
            direction="out",
            sender_device_id=self.device_id,
            sender_kind=self.identity.owner_kind,
            sender_id=self.identity.owner_id,
            text=text,
            sent_at=now,
            status="queued",
            attachment=attachment,
            kind=str(body.get("kind", "text")),
        )
        entry = OutboxEntry(
            message_id=record.message_id,
            case_id=case_id,
            ciphertexts=[],
            created_at=now,
            body=json.dumps(body, separators=(",", ":")),
            plaintext_record_key=message_key(record),
        )
        await self._store.write([LocalStore.outbox_put(entry), LocalStore.message_put(record)])
        try:
            withheld = await self._encrypt_entry(entry)
        except (TransportError, ApiError) as error:
            if isinstance(error, ApiError) and not error.retryable:
                await self._finish(entry, "failed")
                raise
            await self._reschedule(entry)
            return SentMessage(entry.message_id, case_id, "queued", [], [])
        except WitnesslinkError:
            await self._finish(entry, "failed")
            raise
        receipt = await self._deliver(entry)
        if receipt is not None:
            # Devices the server knows and we did not (a colleague's new client): learn
            # about them now, and say that this message was not encrypted to them.
            unknown = [d for d in receipt.get("missing_devices", []) if d not in self._devices]
            if unknown:
                with contextlib.suppress(WitnesslinkError):
                    await self.refresh_devices(case_id)
                withheld += unknown
        return SentMessage(
            entry.message_id,
            case_id,
            "sent" if receipt is not None else "queued",
            [c.device_id for c in entry.ciphertexts],
            sorted(set(withheld)),
        )

    async def _encrypt_entry(self, entry: OutboxEntry) -> list[str]:
        """Encrypt a queued message for every usable device; returns withheld devices.

        The ciphertexts and the advanced session state are written in one store write,
        so a crash can neither lose the state nor send a message twice under two ids.

        Raises:
            TransportError, ApiError: keys could not be claimed (try again later).
            WitnesslinkError: there is no device to encrypt to.
        """
        targets, withheld = await self._targets(entry.case_id)
        async with self._lock:
            withheld += await self._ensure_sessions(entry.case_id, targets)
            usable = [d for d in targets if d.device_id not in withheld]
            if not usable:
                raise WitnesslinkError("no trusted device of the case team can receive this yet")
            body = json.loads(entry.body)
            ciphertexts = []
            for device in usable:
                payload = {
                    "v": PAYLOAD_VERSION,
                    "message_id": entry.message_id,
                    "case_id": entry.case_id,
                    "sender_device_id": self.device_id,
                    "recipient_device_id": device.device_id,
                    "sent_at": entry.created_at.isoformat(),
                    **body,
                }
                olm_type, ciphertext = self._olm.encrypt(
                    device.curve25519, json.dumps(payload, separators=(",", ":")).encode()
                )
                ciphertexts.append(OutboxCiphertext(device.device_id, olm_type, ciphertext))
            entry.ciphertexts = ciphertexts
            entry.body = ""  # the plaintext has no business in the outbox any more
            await self._persist_crypto([LocalStore.outbox_put(entry)])
        return withheld

    async def _targets(self, case_id: str) -> tuple[list[KnownDevice], list[str]]:
        try:
            listed = await self._fresh_devices(case_id)
        except TransportError:
            listed = self.known_devices(case_id)  # offline: the devices we knew
        devices = [d for d in listed if d.usable]
        if self.send_to_unverified:
            return devices, []
        trusted = [d for d in devices if d.trusted]
        return trusted, [d.device_id for d in devices if not d.trusted]

    async def send_text(self, case_id: str, text: str) -> SentMessage:
        """Raises: ValueError for empty or oversized text; see :meth:`send_payload`."""
        if not text or len(text) > MAX_TEXT_CHARS:
            raise ValueError(f"text must be 1 to {MAX_TEXT_CHARS} characters")
        return await self.send_payload(case_id, {"kind": "text", "text": text}, text=text)

    async def send_attachment(
        self, case_id: str, data: bytes, *, filename: str, mime_type: str, text: str = ""
    ) -> SentMessage:
        """Encrypt ``data`` with a fresh key, upload the ciphertext, then send the key
        (and the description) inside an end-to-end encrypted message.

        Raises:
            ApiError, TransportError: the upload failed (nothing was sent).
        """
        key = nacl.utils.random(nacl.secret.SecretBox.KEY_SIZE)
        blob = bytes(nacl.secret.SecretBox(key).encrypt(data))
        targets, _withheld = await self._targets(case_id)
        async with self._lock:
            failed = await self._ensure_sessions(case_id, targets)
            await self._persist_crypto()
        recipients = [d.device_id for d in targets if d.device_id not in failed]
        reply = await self.transport.request(
            "POST",
            f"/v1/cases/{case_id}/attachments",
            data=blob,
            params={"recipients": ",".join(recipients)},
            headers={"Content-Type": "application/octet-stream"},
        )
        attachment = StoredAttachment(
            attachment_id=reply["attachment_id"],
            filename=filename,
            mime_type=mime_type,
            size=len(data),
            key=b64(key),
            sha256=hashlib.sha256(blob).hexdigest(),
        )
        body = {
            "kind": "attachment",
            "text": text,
            "attachment": {
                "attachment_id": attachment.attachment_id,
                "filename": filename,
                "mime_type": mime_type,
                "size": len(data),
                "key": attachment.key,
                "sha256": attachment.sha256,
            },
        }
        return await self.send_payload(case_id, body, text=text, attachment=attachment)

    async def download_attachment(self, ref: AttachmentRef | StoredAttachment) -> bytes:
        """Fetch, check and decrypt an attachment, then tell the server we have it.

        Raises:
            DecryptionFailed: the blob does not match its hash or does not decrypt.
            ApiError, TransportError: it could not be fetched.
        """
        blob = await self.transport.request("GET", f"/v1/attachments/{ref.attachment_id}")
        if not isinstance(blob, bytes) or hashlib.sha256(blob).hexdigest() != ref.sha256:
            raise DecryptionFailed("the attachment does not match its hash")
        try:
            data = nacl.secret.SecretBox(unb64(ref.key)).decrypt(blob)
        except Exception as exc:
            raise DecryptionFailed("the attachment does not decrypt") from exc
        await self.transport.request("POST", f"/v1/attachments/{ref.attachment_id}/ack")
        return bytes(data)

    async def _deliver(self, entry: OutboxEntry) -> dict[str, Any] | None:
        """One delivery attempt; the server's receipt once it holds the message durably."""
        if entry.message_id in self._delivering:
            return None
        self._delivering.add(entry.message_id)
        try:
            return await self._attempt(entry)
        finally:
            self._delivering.discard(entry.message_id)

    async def _attempt(self, entry: OutboxEntry) -> dict[str, Any] | None:
        try:
            receipt: dict[str, Any] = await self.transport.request(
                "PUT",
                f"/v1/cases/{entry.case_id}/messages/{entry.message_id}",
                json={
                    "ciphertexts": [
                        {"device_id": c.device_id, "type": c.type, "body": c.body}
                        for c in entry.ciphertexts
                    ]
                },
            )
        except ApiError as error:
            if error.code == "stale-devices":
                return await self._drop_stale(entry, error.extra.get("unknown_devices", []))
            if error.retryable:
                await self._reschedule(entry)
                return None
            log.warning("the server refused a queued message (%s); it is dropped", error.code)
            await self._finish(entry, "failed")
            return None
        except TransportError:
            await self._reschedule(entry)
            return None
        await self._finish(entry, "sent")
        return receipt

    async def _drop_stale(self, entry: OutboxEntry, unknown: list[str]) -> dict[str, Any] | None:
        remaining = [c for c in entry.ciphertexts if c.device_id not in set(unknown)]
        if not remaining or len(remaining) == len(entry.ciphertexts):
            await self._finish(entry, "failed")
            return None
        entry.ciphertexts = remaining
        await self._store.write([LocalStore.outbox_put(entry)])
        return await self._attempt(entry)

    async def _reschedule(self, entry: OutboxEntry) -> None:
        entry.attempts += 1
        entry.next_attempt_at = self._clock.now() + timedelta(seconds=backoff_delay(entry.attempts))
        await self._store.write([LocalStore.outbox_put(entry)])

    async def _finish(self, entry: OutboxEntry, status: str) -> None:
        puts: list[Put] = []
        raw = await self._store.vault.get("message", entry.plaintext_record_key)
        if raw is not None:
            import msgspec

            record = msgspec.json.decode(raw, type=StoredMessage)
            record.status = status
            puts.append(LocalStore.message_put(record))
        await self._store.write(puts, deletes=[("outbox", entry.message_id)])

    async def flush_outbox(self, *, force: bool = False) -> int:
        """Try every queued message that is due (all of them with ``force``).

        Returns how many were delivered.
        """
        delivered = 0
        now = self._clock.now()
        for entry in await self._store.outbox():
            if not (force or entry.next_attempt_at is None or entry.next_attempt_at <= now):
                continue
            if not entry.ciphertexts:
                try:
                    await self._encrypt_entry(entry)
                except (TransportError, ApiError):
                    await self._reschedule(entry)
                    continue
                except WitnesslinkError:
                    continue  # still nobody to send to; keep it until someone is
            delivered += await self._deliver(entry) is not None
        return delivered

    async def pending_outbox(self) -> int:
        return len(await self._store.outbox())

    async def _outbox_loop(self) -> None:
        while not self._closed:
            await self.flush_outbox()
            entries = await self._store.outbox()
            now = self._clock.now()
            waits = [
                max(0.0, (e.next_attempt_at - now).total_seconds())
                for e in entries
                if e.next_attempt_at is not None
            ]
            timeout = min(waits) if waits else None
            self._outbox_wakeup.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._outbox_wakeup.wait(), timeout)

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
        processed = await self._sync_events()
        handled: set[int] = set()
        while True:
            reply = await self.transport.request("GET", "/v1/messages", params={"limit": "200"})
            frames = [f for f in reply["messages"] if int(f["copy_id"]) not in handled]
            if not frames:
                return processed
            acks = [await self.process_frame(frame) for frame in frames]
            handled.update(acks)
            await self.transport.request("POST", "/v1/messages/ack", json={"copy_ids": acks})
            processed += len(frames)

    async def _sync_events(self) -> int:
        """Fetch and handle the content-free events waiting on the server."""
        reply = await self.transport.request("GET", "/v1/events")
        events = reply["events"]
        for frame in events:
            await self._handle_event(frame)
        if events:
            await self.transport.request(
                "POST", "/v1/events/ack", json={"event_ids": [e["event_id"] for e in events]}
            )
        return len(events)

    async def process_frame(self, frame: dict[str, Any]) -> int:
        """Decrypt and store one pushed copy; returns the copy id to acknowledge.

        Failures are reported as events, never raised: a bad copy must not stop the
        stream, and acknowledging it is right because it can never be opened.
        """
        copy_id = int(frame["copy_id"])
        case_id = str(frame["case_id"])
        message_id = str(frame["message_id"])
        sender_id = str(frame["sender_device_id"])
        sender = self._devices.get(sender_id)
        if sender is None or not sender.active:
            with contextlib.suppress(WitnesslinkError):
                await self.refresh_devices(case_id)
            sender = self._devices.get(sender_id)
        async with self._lock:
            event = await self._open_copy(frame, copy_id, case_id, message_id, sender)
        if event is not None:
            self.emit(event)
        return copy_id

    async def _open_copy(
        self,
        frame: dict[str, Any],
        copy_id: int,
        case_id: str,
        message_id: str,
        sender: KnownDevice | None,
    ) -> Event | None:
        sender_id = str(frame["sender_device_id"])
        if sender is None:
            return DecryptionFailure(case_id, message_id, sender_id, "unknown sender device")
        if sender.trust is Trust.KEY_CHANGED:
            return DecryptionFailure(case_id, message_id, sender_id, "the sender's keys changed")
        seen_copy = await self._store.seen_copy(sender_id, message_id)
        if seen_copy is not None:
            # The same copy again is a redelivery (we crashed before acknowledging);
            # the same message under another copy is a replay.
            if seen_copy == copy_id:
                return None
            return ReplayRejected(case_id, message_id, sender_id)
        try:
            plaintext = self._olm.decrypt(
                sender.curve25519, int(frame["olm_type"]), str(frame["body"])
            )
        except DecryptionFailed as failure:
            return DecryptionFailure(case_id, message_id, sender_id, str(failure))
        try:
            payload = json.loads(plaintext)
            bound = (
                payload.get("v") == PAYLOAD_VERSION
                and payload.get("message_id") == message_id
                and payload.get("case_id") == case_id
                and payload.get("sender_device_id") == sender_id
                and payload.get("recipient_device_id") == self.device_id
            )
            sent_at = datetime.fromisoformat(payload["sent_at"])
        except (ValueError, KeyError, TypeError, AttributeError):
            bound = False
        if not bound:
            await self._persist_crypto()
            return DecryptionFailure(case_id, message_id, sender_id, "the envelope does not match")
        if payload.get("kind") == "appointment_details":
            details = payload.get("details")
            appointment_id = str(payload.get("appointment_id", ""))
            clean = (
                {str(k): str(v) for k, v in details.items() if v is not None}
                if isinstance(details, dict)
                else {}
            )
            await self._persist_crypto(
                [
                    LocalStore.appointment_put(appointment_id, clean),
                    LocalStore.seen_put(sender_id, message_id, copy_id, self._clock.now()),
                ]
            )
            return AppointmentDetailsReceived(appointment_id)
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
            written_locked=payload.get("written_locked") is True,
        )
        await self._persist_crypto(
            [
                LocalStore.message_put(record),
                LocalStore.seen_put(sender_id, message_id, copy_id, self._clock.now()),
            ]
        )
        return IncomingMessage(
            case_id=case_id,
            message_id=message_id,
            sender_device_id=sender_id,
            sender_kind=sender.owner_kind,
            sender_id=sender.owner_id,
            sender_name=sender.name,
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
            written_locked=record.written_locked,
        )

    async def history(self, case_id: str) -> list[StoredMessage]:
        """Messages kept on this device for a case, oldest first (appointment details
        are kept apart, not shown as chat)."""
        return [m for m in await self._store.messages(case_id) if m.kind != "appointment_details"]

    async def _receive_loop(self) -> None:
        backoff = 1.0
        while not self._closed:
            try:
                self._ws = await self.transport.websocket()
                backoff = 1.0
                self.connected.set()
                self._outbox_wakeup.set()
                with contextlib.suppress(WitnesslinkError):
                    await self.ensure_one_time_keys()
                async for frame in self._ws:
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
            if self._closed:
                return
            await asyncio.sleep(backoff * (0.5 + random.random() / 2))  # noqa: S311
            backoff = min(backoff * 2, 60.0)

    async def _on_frame(self, frame: dict[str, Any]) -> None:
        if frame.get("type") == "message":
            copy_id = await self.process_frame(frame)
            if self._ws is not None and not self._ws.closed:
                await self._ws.send_json({"type": "ack", "copy_ids": [copy_id]})
            if int(frame.get("olm_type", 1)) == 0:
                with contextlib.suppress(WitnesslinkError):
                    await self.ensure_one_time_keys()
        else:
            await self._handle_event(frame)
            event_id = frame.get("event_id")
            if isinstance(event_id, int) and self._ws is not None and not self._ws.closed:
                await self._ws.send_json({"type": "ack", "event_ids": [event_id]})

    async def _handle_event(self, frame: dict[str, Any]) -> None:
        """Hand a content-free event to :meth:`on_event_frame`, once.

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
            if await self._store.vault.get("event_seen", key) is not None:
                return
            await self._store.vault.put("event_seen", key, self._clock.now().isoformat().encode())
        await self.on_event_frame(frame)

    async def on_event_frame(self, frame: dict[str, Any]) -> None:
        """Hook for content-free pushes (check-in prompts, reminders); subclasses act."""
        return None

    # ----------------------------------------------------------------- retention

    async def apply_retention(self, keep: timedelta) -> int:
        """Delete local messages older than ``keep``; returns how many were deleted."""
        return await self._store.prune(self._clock.now() - keep)


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
