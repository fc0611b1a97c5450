"""Sending: the durable outbox, encryption for each recipient device, and delivery.

A message goes into the outbox first, together with its local history record. It is
then encrypted for every usable device of the case (one Olm ciphertext each); the
ciphertexts and the advanced session state are written in one store write, so a crash
can neither lose the state nor send a message twice under two ids. Failed deliveries
are retried with backoff, across lost connections and restarts. The message id is
chosen here, so a retry can never be stored twice by the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import msgspec

from client_sdk.context import DeviceContext
from client_sdk.errors import ApiError, TransportError, WitnesslinkError
from client_sdk.localstore import (
    LocalStore,
    OutboxCiphertext,
    OutboxEntry,
    Put,
    StoredAttachment,
    StoredMessage,
    message_key,
)
from client_sdk.sessions import Sessions
from client_sdk.trust import DeviceTrust, Recipients

log = logging.getLogger("witnesslink.sdk")

PAYLOAD_VERSION = 1
MAX_BACKOFF_S = 300.0


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


class Outbox:
    """The durable queue of messages this device sends, and their delivery."""

    def __init__(self, ctx: DeviceContext, trust: DeviceTrust, sessions: Sessions) -> None:
        self._ctx = ctx
        self._trust = trust
        self._sessions = sessions
        self._delivering: set[str] = set()
        self.wakeup = asyncio.Event()

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
        ctx = self._ctx
        now = ctx.clock.now()
        record = StoredMessage(
            case_id=case_id,
            message_id=secrets.token_urlsafe(16),
            direction="out",
            sender_device_id=ctx.device_id,
            sender_kind=ctx.identity.owner_kind,
            sender_id=ctx.identity.owner_id,
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
        await ctx.store.write([LocalStore.outbox_put(entry), LocalStore.message_put(record)])
        try:
            withheld = await self.encrypt(entry)
        except (TransportError, ApiError) as error:
            if isinstance(error, ApiError) and not error.retryable:
                await self._finish(entry, "failed")
                raise
            await self._reschedule(entry)
            return SentMessage(entry.message_id, case_id, "queued", [], [])
        except WitnesslinkError:
            await self._finish(entry, "failed")
            raise
        receipt = await self.deliver(entry)
        if receipt is not None:
            # Devices the server knows and we did not (a colleague's new client): learn
            # about them now, and say that this message was not encrypted to them.
            unknown = [d for d in receipt.get("missing_devices", []) if self._trust.get(d) is None]
            if unknown:
                with contextlib.suppress(WitnesslinkError):
                    await self._trust.refresh(case_id)
                withheld += unknown
        return SentMessage(
            entry.message_id,
            case_id,
            "sent" if receipt is not None else "queued",
            [c.device_id for c in entry.ciphertexts],
            sorted(set(withheld)),
        )

    async def recipients(self, case_id: str) -> Recipients:
        """The devices to encrypt to; offline, the devices already known."""
        try:
            return await self._trust.recipients(case_id)
        except TransportError:
            return await self._trust.recipients(case_id, offline=True)

    async def encrypt(self, entry: OutboxEntry) -> list[str]:
        """Encrypt a queued message for every usable device; returns withheld devices.

        Raises:
            TransportError, ApiError: keys could not be claimed (try again later).
            WitnesslinkError: there is no device to encrypt to.
        """
        ctx = self._ctx
        chosen = await self.recipients(entry.case_id)
        try:
            async with ctx.lock:
                failed = await self._sessions.ensure(entry.case_id, chosen.usable)
        except ApiError as error:
            if error.status != 404:
                raise
            # Someone left the case since the last look (the server will not hand out
            # their keys any more): look again, once.
            self._trust.mark_stale(entry.case_id)
            chosen = await self.recipients(entry.case_id)
            async with ctx.lock:
                failed = await self._sessions.ensure(entry.case_id, chosen.usable)
        withheld = [*chosen.withheld, *failed]
        async with ctx.lock:
            usable = [d for d in chosen.usable if d.device_id not in withheld]
            if not usable:
                raise WitnesslinkError("no trusted device of the case team can receive this yet")
            body = json.loads(entry.body)
            ciphertexts = []
            for device in usable:
                payload = {
                    "v": PAYLOAD_VERSION,
                    "message_id": entry.message_id,
                    "case_id": entry.case_id,
                    "sender_device_id": ctx.device_id,
                    "recipient_device_id": device.device_id,
                    "sent_at": entry.created_at.isoformat(),
                    **body,
                }
                olm_type, ciphertext = ctx.olm.encrypt(
                    device.curve25519, json.dumps(payload, separators=(",", ":")).encode()
                )
                ciphertexts.append(OutboxCiphertext(device.device_id, olm_type, ciphertext))
            entry.ciphertexts = ciphertexts
            entry.body = ""  # the plaintext has no business in the outbox any more
            await ctx.persist_crypto([LocalStore.outbox_put(entry)])
        return withheld

    async def deliver(self, entry: OutboxEntry) -> dict[str, Any] | None:
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
            receipt: dict[str, Any] = await self._ctx.transport.request(
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
        self._trust.mark_stale(entry.case_id)  # someone left: look again before the next
        remaining = [c for c in entry.ciphertexts if c.device_id not in set(unknown)]
        if not remaining or len(remaining) == len(entry.ciphertexts):
            await self._finish(entry, "failed")
            return None
        entry.ciphertexts = remaining
        await self._ctx.store.write([LocalStore.outbox_put(entry)])
        return await self._attempt(entry)

    async def _reschedule(self, entry: OutboxEntry) -> None:
        entry.attempts += 1
        entry.next_attempt_at = self._ctx.clock.now() + timedelta(
            seconds=backoff_delay(entry.attempts)
        )
        await self._ctx.store.write([LocalStore.outbox_put(entry)])

    async def _finish(self, entry: OutboxEntry, status: str) -> None:
        store = self._ctx.store
        puts: list[Put] = []
        raw = await store.vault.get("message", entry.plaintext_record_key)
        if raw is not None:
            record = msgspec.json.decode(raw, type=StoredMessage)
            record.status = status
            puts.append(LocalStore.message_put(record))
        await store.write(puts, deletes=[("outbox", entry.message_id)])

    async def flush(self, *, force: bool = False) -> int:
        """Try every queued message that is due (all of them with ``force``).

        Returns how many were delivered.
        """
        delivered = 0
        now = self._ctx.clock.now()
        for entry in await self._ctx.store.outbox():
            if not (force or entry.next_attempt_at is None or entry.next_attempt_at <= now):
                continue
            if not entry.ciphertexts:
                try:
                    await self.encrypt(entry)
                except (TransportError, ApiError):
                    await self._reschedule(entry)
                    continue
                except WitnesslinkError:
                    continue  # still nobody to send to; keep it until someone is
            delivered += await self.deliver(entry) is not None
        return delivered

    async def pending(self) -> int:
        return len(await self._ctx.store.outbox())

    async def run(self, closed: asyncio.Event) -> None:
        """Deliver due messages until ``closed`` is set, waking on :attr:`wakeup`."""
        while not closed.is_set():
            await self.flush()
            entries = await self._ctx.store.outbox()
            now = self._ctx.clock.now()
            waits = [
                max(0.0, (e.next_attempt_at - now).total_seconds())
                for e in entries
                if e.next_attempt_at is not None
            ]
            timeout = min(waits) if waits else None
            self.wakeup.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.wakeup.wait(), timeout)
