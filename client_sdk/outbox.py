"""Sending: the durable outbox, kept in one order, encrypted per recipient device,
delivered in that order.

A message goes into the outbox first, together with its local history record. It is
then encrypted for every usable device of the case (one Olm ciphertext each); the
ciphertexts, the advanced session state and the record of what was sent (kept so the
message can be encrypted again for a device that could not open it) are written in
one store write, so a crash can neither lose the state nor send a message twice under
two ids. The message id is chosen here, so a retry can never be stored twice by the
server. Failed deliveries are retried with backoff, across lost connections and
restarts.

Order. Olm keeps a bounded number of skipped message keys (40 in vodozemac): a message
delivered far ahead of older ones of the same session makes those undecryptable. A
session belongs to a pair of devices and a peer device can share several cases with
this one, so the whole outbox has one order (``seq``), whatever the case:

* entries are encrypted in that order, and an entry gets a new ``seq`` after every
  other one when it is encrypted, so encrypted entries are ordered as they were
  encrypted;
* encrypted entries are delivered in ``seq`` order, and a delivery that fails stops
  every entry behind it until it goes through (they may still be encrypted meanwhile);
* an entry that cannot be encrypted yet (offline: keys cannot be claimed) stops the
  encryption of those behind it; an entry with nobody to send to yet waits without
  holding the others up (its re-numbering when it is encrypted keeps the rule above).

One drain runs at a time: :meth:`Outbox.send_payload`, :meth:`Outbox.flush`, the
background loop and session repair all go through it, so concurrent callers cannot
reorder anything either.

The outbox keeps a view of its entries in memory, read from the store once and kept up
to date by its own writes (entries others queue, repair's, are handed over with
:meth:`Outbox.adopt` once written), so sending a message does not read and decrypt the
whole queue again. :meth:`Outbox.flush` and the background loop read the store afresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import msgspec

from client_sdk.context import DeviceContext
from client_sdk.delivery_records import DeliveryRecords, SentRecord
from client_sdk.errors import ApiError, TransportError, WitnesslinkError
from client_sdk.events import MessageStatusChanged
from client_sdk.localstore import (
    KnownDevice,
    LocalStore,
    OutboxCiphertext,
    OutboxEntry,
    Put,
    StoredAttachment,
    StoredMessage,
    message_key,
)
from client_sdk.payloads import PAYLOAD_VERSION
from client_sdk.sessions import Sessions
from client_sdk.trust import DeviceTrust, Recipients

log = logging.getLogger("witnesslink.sdk")

__all__ = ["PAYLOAD_VERSION", "SEND_DELIVERS_AT_MOST", "Outbox", "SentMessage", "backoff_delay"]

MAX_BACKOFF_S = 300.0
#: How many queued messages a send delivers ahead of its own before it leaves the rest
#: (its own included, in order) to the background loop and answers "queued": after a
#: long outage the app's send call should not wait for the whole backlog.
SEND_DELIVERS_AT_MOST = 100


@dataclass(frozen=True, slots=True)
class SentMessage:
    """What happened to a send: ``sent`` (the server holds it durably) or ``queued``
    (kept in the outbox and retried in the background)."""

    message_id: str
    case_id: str
    status: str
    recipients: list[str]
    withheld: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Outcome:
    """What a drain did with an entry that a caller of :meth:`Outbox.send_payload`
    is waiting on."""

    recipients: list[str] = field(default_factory=list)
    withheld: list[str] = field(default_factory=list)
    receipt: dict[str, Any] | None = None
    error: WitnesslinkError | None = None


def backoff_delay(attempts: int) -> float:
    """Exponential backoff with jitter: about 1, 2, 4 ... seconds, at most 5 minutes."""
    base: float = min(MAX_BACKOFF_S, float(2 ** max(0, attempts - 1)))
    return base * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not a secret


def new_message_id() -> str:
    return secrets.token_urlsafe(16)


def _in_order(entries: Iterable[OutboxEntry]) -> list[OutboxEntry]:
    return sorted(entries, key=lambda e: (e.seq, e.created_at, e.key))


class Outbox:
    """The durable queue of messages this device sends, and their delivery in order."""

    def __init__(
        self,
        ctx: DeviceContext,
        trust: DeviceTrust,
        sessions: Sessions,
        records: DeliveryRecords,
    ) -> None:
        self._ctx = ctx
        self._trust = trust
        self._sessions = sessions
        self._records = records
        self._drain_lock = asyncio.Lock()
        self._loading = asyncio.Lock()
        self._seq: int | None = None
        self._entries: dict[str, OutboxEntry] = {}  # the queue, by key, once read
        self._awaited: dict[str, _Outcome] = {}
        self.wakeup = asyncio.Event()

    # ------------------------------------------------------------------ queueing

    async def _ready(self) -> None:
        """Read the queue once: its entries and the last place taken in it."""
        if self._seq is None:
            async with self._loading:
                if self._seq is None:
                    await self._read()

    async def _read(self) -> None:
        entries = await self._ctx.store.outbox()
        loaded = {e.key: e for e in entries}
        for key, entry in self._entries.items():  # adopted while the store was read
            loaded.setdefault(key, entry)
        self._entries = loaded
        highest = max((e.seq for e in entries), default=0)
        self._seq = highest if self._seq is None else max(self._seq, highest)

    def _take_seq(self) -> int:
        assert self._seq is not None, "call _ready() first"
        self._seq += 1
        return self._seq

    async def reload(self) -> None:
        """Read the queue again, for entries others wrote to the store directly (the
        messages a locked phone took down, moved in at unlock), and wake the loop."""
        async with self._loading:
            await self._read()
        self.wakeup.set()

    def adopt(self, entries: Sequence[OutboxEntry]) -> None:
        """Entries made with :meth:`new_entry` and written by their caller: queue them."""
        for entry in entries:
            self._entries[entry.key] = entry
        if entries:
            self.wakeup.set()

    async def new_entry(
        self,
        case_id: str,
        body: dict[str, Any],
        *,
        message_id: str | None = None,
        created_at: datetime | None = None,
        to: Sequence[str] = (),
        fresh_session: bool = False,
        control: bool = False,
        history_key: str = "",
        resend: bool = False,
    ) -> OutboxEntry:
        """An entry placed after everything queued; the caller writes it.

        ``to`` limits it to those devices of the case (repair traffic);
        ``fresh_session`` opens a new Olm session with each of them before encrypting;
        ``control`` marks delivery machinery, which has no history record; ``resend``
        sends message ``message_id`` again to the one device in ``to`` (its history
        record, ``history_key``, follows the copy's delivery).
        """
        await self._ready()
        return OutboxEntry(
            message_id=message_id or new_message_id(),
            case_id=case_id,
            ciphertexts=[],
            created_at=created_at or self._ctx.clock.now(),
            body=json.dumps(body, separators=(",", ":")),
            plaintext_record_key=history_key,
            seq=self._take_seq(),
            to=list(to),
            fresh_session=fresh_session,
            control=control,
            resend=resend,
        )

    async def send_payload(
        self,
        case_id: str,
        body: dict[str, Any],
        *,
        text: str = "",
        attachment: StoredAttachment | None = None,
        to: Sequence[str] = (),
    ) -> SentMessage:
        """Queue ``body`` durably for the case's devices (only those in ``to`` when
        set) and deliver the outbox now, in order (this message after everything
        queued before it).

        If the server cannot be reached, the message stays in the outbox (inside the
        encrypted store) and is encrypted and sent, in order, when the server is back.

        Raises:
            WitnesslinkError: no device of the case team can be encrypted to.
            ApiError: the server refused the message for good.
        """
        ctx = self._ctx
        # From here to the outbox write nothing waits, so concurrent callers take their
        # places in the order they called, and their history records agree with it.
        await self._ready()
        now = ctx.clock.now()
        record = StoredMessage(
            case_id=case_id,
            message_id=new_message_id(),
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
            seq=self._take_seq(),
            to=list(to),
        )
        self._awaited[entry.message_id] = outcome = _Outcome()
        try:
            await ctx.store.write([LocalStore.outbox_put(entry), LocalStore.message_put(record)])
            self._entries[entry.key] = entry
            await self._drain(force=True, budget=SEND_DELIVERS_AT_MOST + 1)
        finally:
            self._awaited.pop(entry.message_id, None)
        if outcome.error is not None:
            raise outcome.error
        withheld = list(outcome.withheld)
        if outcome.receipt is None:
            return SentMessage(entry.message_id, case_id, "queued", outcome.recipients, withheld)
        # Devices the server knows and we did not (a colleague's new client): learn about
        # them now, and say that this message was not encrypted to them.
        missing = outcome.receipt.get("missing_devices", [])
        unknown = [d for d in missing if self._trust.get(d) is None]
        if unknown:
            with contextlib.suppress(WitnesslinkError):
                await self._trust.refresh(case_id)
            withheld += unknown
        return SentMessage(
            entry.message_id, case_id, "sent", outcome.recipients, sorted(set(withheld))
        )

    async def recipients(self, case_id: str) -> Recipients:
        """The devices to encrypt to; offline, the devices already known."""
        return (await self._recipients(case_id))[0]

    async def _recipients(self, case_id: str) -> tuple[Recipients, bool]:
        """:meth:`recipients`, and whether they are only those known (offline)."""
        try:
            return await self._trust.recipients(case_id), False
        except TransportError:
            return await self._trust.recipients(case_id, offline=True), True

    # ------------------------------------------------------------------ encryption

    async def encrypt(self, entry: OutboxEntry) -> list[str]:
        """Encrypt a queued message for every usable device (only those in ``to`` when
        set) and move it after everything queued; returns the devices withheld.

        Raises:
            TransportError, ApiError: keys could not be claimed (try again later).
            WitnesslinkError: there is no device to encrypt to.
        """
        ctx = self._ctx
        chosen, offline = await self._recipients(entry.case_id)
        try:
            usable, withheld = await self._open_sessions(entry, chosen)
        except ApiError as error:
            if error.status != 404:
                raise
            # Someone left the case since the last look (the server will not hand out
            # their keys any more): look again, once.
            self._trust.mark_stale(entry.case_id)
            chosen, offline = await self._recipients(entry.case_id)
            usable, withheld = await self._open_sessions(entry, chosen)
        async with ctx.lock:
            if not usable and offline:  # the devices are not known yet: wait for them
                raise TransportError("the server is unreachable and no recipient is known yet")
            if not usable:
                raise WitnesslinkError("no trusted device of the case team can receive this yet")
            body = json.loads(entry.body)
            ciphertexts = []
            for device in usable:
                payload = {
                    **body,
                    "v": PAYLOAD_VERSION,
                    "message_id": entry.message_id,
                    "case_id": entry.case_id,
                    "sender_device_id": ctx.device_id,
                    "recipient_device_id": device.device_id,
                    "sent_at": entry.created_at.isoformat(),
                }
                olm_type, ciphertext = ctx.olm.encrypt(
                    device.curve25519, json.dumps(payload, separators=(",", ":")).encode()
                )
                ciphertexts.append(OutboxCiphertext(device.device_id, olm_type, ciphertext))
            entry.ciphertexts = ciphertexts
            await self._ready()
            entry.seq = self._take_seq()
            puts: list[Put] = []
            if not entry.resend:  # keep what was sent, to send it again if asked
                sent = SentRecord(
                    message_id=entry.message_id,
                    case_id=entry.case_id,
                    created_at=entry.created_at,
                    body=entry.body,
                    recipients=[c.device_id for c in ciphertexts],
                    history_key=entry.plaintext_record_key,
                    seq=entry.seq,
                )
                puts.append(DeliveryRecords.sent_put(sent))
            entry.body = ""  # the plaintext has no business in the outbox any more
            await ctx.persist_crypto([LocalStore.outbox_put(entry), *puts])
        return withheld

    async def _open_sessions(
        self, entry: OutboxEntry, chosen: Recipients
    ) -> tuple[list[KnownDevice], list[str]]:
        """The devices ``entry`` goes to (only those in ``to`` when set), each with a
        session — a fresh one first with ``fresh_session`` — and the devices withheld.

        Raises:
            ApiError, TransportError: keys could not be claimed.
        """
        usable = chosen.usable
        withheld = list(chosen.withheld)
        if entry.to:
            wanted = set(entry.to)
            usable = [d for d in usable if d.device_id in wanted]
            withheld = [d for d in withheld if d in wanted]
        async with self._ctx.lock:
            renew = [d.device_id for d in usable] if entry.fresh_session else []
            failed = await self._sessions.ensure(entry.case_id, usable, renew=renew)
        return [d for d in usable if d.device_id not in failed], [*withheld, *failed]

    # ------------------------------------------------------------------ the drain

    async def flush(self, *, force: bool = False) -> int:
        """Encrypt and deliver, in order, what is due (everything with ``force``),
        reading the queue from the store afresh. Returns how many messages went.
        """
        return await self._drain(force=force, reread=True)

    async def _drain(self, *, force: bool, reread: bool = False, budget: int | None = None) -> int:
        """Encrypt and deliver in order; with a ``budget``, stop after that many
        deliveries and leave the rest to the background loop."""
        async with self._drain_lock:
            await self._ready()
            if reread:
                async with self._loading:
                    await self._read()
            delivered = 0
            looked_at: set[str] = set()
            while True:
                fresh = _in_order(e for e in self._entries.values() if e.key not in looked_at)
                if not fresh:
                    return delivered
                looked_at.update(e.key for e in fresh)
                await self._encrypt_in_order(fresh, force=force)
                queue = _in_order(e for e in self._entries.values() if e.ciphertexts)
                if budget is not None and len(queue) > budget - delivered:
                    queue = queue[: budget - delivered]
                    self.wakeup.set()  # the rest goes in the background, in order
                went, stopped = await self._deliver_in_order(queue, force=force)
                delivered += went
                if stopped or (budget is not None and delivered >= budget):
                    return delivered

    async def _encrypt_in_order(self, entries: list[OutboxEntry], *, force: bool) -> None:
        """Encrypt the entries not yet encrypted, in order; stop at the first that cannot
        be encrypted for now (none behind it may be encrypted before it)."""
        now = self._ctx.clock.now()
        for entry in entries:
            if entry.ciphertexts:
                continue
            if not force and entry.next_attempt_at is not None and entry.next_attempt_at > now:
                break
            outcome = self._awaited.get(entry.message_id)
            try:
                withheld = await self.encrypt(entry)
            except (TransportError, ApiError) as error:
                if isinstance(error, ApiError) and not error.retryable:
                    await self._finish(entry, "failed")
                    if outcome is not None:
                        outcome.error = error
                    continue
                await self._reschedule(entry)
                break
            except WitnesslinkError as error:
                # Nobody to send to yet. A message being sent now fails at once; one that
                # was queued waits for a device; repair traffic is dropped (its device
                # is no longer one this device sends to).
                if outcome is not None or entry.to:
                    await self._finish(entry, "failed")
                if outcome is not None:
                    outcome.error = error
                continue
            if outcome is not None:
                outcome.recipients = [c.device_id for c in entry.ciphertexts]
                outcome.withheld = withheld

    async def _deliver_in_order(self, queue: list[OutboxEntry], *, force: bool) -> tuple[int, bool]:
        """Deliver encrypted entries in order; returns how many went and whether a
        delivery failed (or was not due), which stops everything behind it. (Entries
        not encrypted yet are not held back by: encrypted later, they go behind.)"""
        now = self._ctx.clock.now()
        delivered = 0
        for entry in queue:
            if not force and entry.next_attempt_at is not None and entry.next_attempt_at > now:
                return delivered, True
            receipt, stopped = await self._attempt(entry)
            if stopped:
                return delivered, True
            if receipt is not None:
                delivered += 1
                outcome = self._awaited.get(entry.message_id)
                if outcome is not None:  # as delivered: stale devices may have been dropped
                    outcome.receipt = receipt
                    outcome.recipients = [c.device_id for c in entry.ciphertexts]
        return delivered, False

    async def _attempt(self, entry: OutboxEntry) -> tuple[dict[str, Any] | None, bool]:
        """One delivery attempt: the server's receipt once it holds the message durably,
        and whether the outbox must stop here (the entry is rescheduled)."""
        path = f"/v1/cases/{entry.case_id}/messages/{entry.message_id}"
        if entry.resend:
            (copy,) = entry.ciphertexts
            path += f"/copies/{copy.device_id}"
            body: dict[str, Any] = {"type": copy.type, "body": copy.body}
        else:
            body = {
                "ciphertexts": [
                    {"device_id": c.device_id, "type": c.type, "body": c.body}
                    for c in entry.ciphertexts
                ]
            }
        try:
            receipt: dict[str, Any] = await self._ctx.transport.request("PUT", path, json=body)
        except ApiError as error:
            if error.code == "stale-devices" and not entry.resend:
                return await self._drop_stale(entry, error.extra.get("unknown_devices", []))
            if error.retryable:
                await self._reschedule(entry)
                return None, True
            log.warning("the server refused a queued message (%s); it is dropped", error.code)
            # A re-send refused (the message expired, the device left, sent too often)
            # leaves the original as it was: the asking device asks again or gives up.
            await self._finish(entry, "failed")
            outcome = self._awaited.get(entry.message_id)
            if outcome is not None:
                outcome.error = error
            return None, False
        except TransportError:
            await self._reschedule(entry)
            return None, True
        await self._finish(entry, "sent")
        return receipt, False

    async def _drop_stale(
        self, entry: OutboxEntry, unknown: list[str]
    ) -> tuple[dict[str, Any] | None, bool]:
        self._trust.mark_stale(entry.case_id)  # someone left: look again before the next
        remaining = [c for c in entry.ciphertexts if c.device_id not in set(unknown)]
        if not remaining or len(remaining) == len(entry.ciphertexts):
            await self._finish(entry, "failed")
            return None, False
        entry.ciphertexts = remaining
        await self._ctx.store.write([LocalStore.outbox_put(entry)])
        return await self._attempt(entry)

    async def _reschedule(self, entry: OutboxEntry) -> None:
        now = self._ctx.clock.now()
        if entry.next_attempt_at is not None and entry.next_attempt_at > now:
            return  # tried early (a new message, a reconnection): the backoff stands
        entry.attempts += 1
        entry.next_attempt_at = now + timedelta(seconds=backoff_delay(entry.attempts))
        await self._ctx.store.write([LocalStore.outbox_put(entry)])

    async def _finish(self, entry: OutboxEntry, status: str) -> None:
        """Take the entry out of the outbox and record the message's new status.

        A re-sent copy updates the original message's record: it is ``sent`` again once
        the copy is stored, and also when the copy had to be dropped (the device it was
        for is no longer one this device sends to; the others have the message).
        """
        ctx = self._ctx
        puts: list[Put] = []
        shown = "sent" if entry.resend else status
        raw = (
            await ctx.store.vault.get("message", entry.plaintext_record_key)
            if entry.plaintext_record_key
            else None
        )
        record = None if raw is None else msgspec.json.decode(raw, type=StoredMessage)
        if record is not None and record.status != shown:
            record.status = shown
            puts.append(LocalStore.message_put(record))
        else:
            record = None
        await ctx.store.write(puts, deletes=[("outbox", entry.key)])
        self._entries.pop(entry.key, None)
        if record is not None and entry.message_id not in self._awaited:
            ctx.emit(MessageStatusChanged(record.case_id, record.message_id, shown))

    async def queued_resend(self, message_id: str, device_id: str) -> bool:
        """Whether message ``message_id`` is queued to be sent again to ``device_id``."""
        await self._ready()
        return any(
            e.resend and e.message_id == message_id and e.to == [device_id]
            for e in self._entries.values()
        )

    async def pending(self) -> int:
        """How many entries wait in the outbox."""
        await self._ready()
        return len(self._entries)

    async def run(self, closed: asyncio.Event) -> None:
        """Deliver until ``closed`` is set: at once on start and whenever :attr:`wakeup`
        is set (a reconnection, something queued), else when the next retry is due."""
        forced = True
        while not closed.is_set():
            self.wakeup.clear()
            await self._drain(force=forced, reread=forced)
            # Whatever is due was tried, or waits behind an entry whose retry time is
            # still to come: sleep until the first such time (or a wake-up).
            now = self._ctx.clock.now()
            retries = [
                e.next_attempt_at
                for e in self._entries.values()
                if e.next_attempt_at is not None and e.next_attempt_at > now
            ]
            timeout = (min(retries) - now).total_seconds() if retries else None
            forced = False
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.wakeup.wait(), timeout)
                forced = True
