"""Session repair: a message that does not decrypt is asked for again, and a message
asked for is sent again — Matrix's "unwedging", with limits on both sides.

Receiving side. When a copy does not decrypt (a broken or rolled-back session, a
corrupted or reordered copy), the receiver writes a :class:`RepairRecord` *before* it
acknowledges the copy, so the server may delete the copy without the message being
forgotten. It then asks the sender, end to end, for every message of that sender (and
case) it is waiting for: a ``repair_request`` naming them, sent only to that device
through the outbox. At most once an hour per sender the request goes over a *fresh*
Olm session (one claimed key): the sender creates the matching inbound session when the
request decrypts and from then on encrypts to this device with it, so whatever was
wedged on the old session is left behind. Requests repeat with backoff (a minute,
doubling, at most six hours), across restarts, until each message arrives (shown once,
under its own id) or the sender answers ``repair_unavailable`` (the app gets
:class:`~client_sdk.events.MessageUnavailable`); a sender whose device is no longer
one this device talks to is given up on the same way. A settled record stays as a
tombstone so that a late duplicate of a repaired message is ignored, not reported as a
replay.

Sending side. A request is believed only as far as the Olm session it came over: it
is from the device whose Curve25519 key the trust layer holds for the sender. For each
id the sender re-sends the message only if it has a record of it (kept for as long as
the server keeps messages), in that case, originally encrypted to *that same device*,
and fewer than :data:`MAX_RESENDS_PER_DEVICE` times before; the copy goes to that one
device, under the original id, encrypted with the newest session with it, after
everything queued before it. Every other id is answered ``repair_unavailable``. Each
device gets :data:`REQUESTS_PER_HOUR` requests answered an hour; more are ignored (its
asking backs off anyway). A replayed request never gets here: the receiver refuses a
message id it has already opened.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import msgspec

from client_sdk.context import DeviceContext
from client_sdk.delivery_records import (
    DeliveryRecords,
    RepairRecord,
    RepairState,
    SentRecord,
)
from client_sdk.errors import WitnesslinkError
from client_sdk.events import Event, MessageStatusChanged, MessageUnavailable
from client_sdk.localstore import KnownDevice, LocalStore, OutboxEntry, Put, StoredMessage
from client_sdk.outbox import Outbox
from client_sdk.payloads import (
    CONTROL_KINDS,
    FIELD_MESSAGE_IDS,
    KIND_REPAIR_REQUEST,
    KIND_REPAIR_UNAVAILABLE,
    MAX_IDS_PER_REQUEST,
    MAX_MESSAGE_ID_CHARS,
)

log = logging.getLogger("witnesslink.sdk")

FIRST_RETRY = timedelta(minutes=1)
MAX_RETRY = timedelta(hours=6)
FRESH_SESSION_EVERY = timedelta(hours=1)
MAX_RESENDS_PER_DEVICE = 3
REQUESTS_PER_HOUR = 10
#: How long this device keeps what it sent, for re-sending: the server's message lifetime.
SENT_RECORDS_KEPT = timedelta(days=30)
_PRUNE_EVERY = timedelta(hours=1)

GONE = "the sending device is no longer part of this conversation"
REFUSED = "the sender cannot send it again"


def retry_delay(attempts: int) -> timedelta:
    """A minute after the first request, doubling, at most six hours."""
    doublings = min(max(0, attempts - 1), 16)
    return min(MAX_RETRY, FIRST_RETRY * (1 << doublings))


@dataclass(slots=True)
class Handled:
    """What handling a repair message changes (one store write, ``puts``, which include
    the outbox entries ``queued``) and what it tells the app."""

    puts: list[Put] = field(default_factory=list)
    queued: list[OutboxEntry] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)


class RequestBudget:
    """Token buckets per asking device, in memory: a peer cannot make this device
    re-encrypt and re-send without end."""

    def __init__(self, per_hour: int) -> None:
        self._per_hour = per_hour
        self._buckets: dict[str, tuple[float, datetime]] = {}

    def take(self, device_id: str, now: datetime) -> bool:
        tokens, stamp = self._buckets.get(device_id, (float(self._per_hour), now))
        refill = (now - stamp).total_seconds() * self._per_hour / 3600
        tokens = min(float(self._per_hour), tokens + max(0.0, refill))
        if tokens < 1:
            self._buckets[device_id] = (tokens, now)
            return False
        self._buckets[device_id] = (tokens - 1, now)
        return True


def _message_ids(payload: dict[str, Any]) -> list[str]:
    """The ids a repair message names, or none when they are malformed."""
    raw = payload.get(FIELD_MESSAGE_IDS)
    if not isinstance(raw, list) or len(raw) > MAX_IDS_PER_REQUEST:
        return []
    if not all(isinstance(i, str) and 0 < len(i) <= MAX_MESSAGE_ID_CHARS for i in raw):
        return []
    return list(dict.fromkeys(raw))


class Repairs:
    """Asks senders again for messages that did not decrypt, and answers such asks."""

    def __init__(self, ctx: DeviceContext, outbox: Outbox, records: DeliveryRecords) -> None:
        self._ctx = ctx
        self._outbox = outbox
        self._records = records
        self._budget = RequestBudget(REQUESTS_PER_HOUR)
        self._asking = asyncio.Lock()
        self._pruned_at: datetime | None = None
        self.wakeup = asyncio.Event()

    # ------------------------------------------------------------------ receiving side
    # Called by the receiver while it holds the context's lock; the puts go into the
    # same store write as the rest of the copy's handling.

    async def record_failure(
        self, case_id: str, sender_id: str, message_id: str, copy_id: int
    ) -> list[Put]:
        """A copy did not decrypt: the record that keeps the message asked for, or
        nothing if it is already being asked for (or was settled)."""
        if await self._records.repair(sender_id, message_id) is not None:
            return []
        now = self._ctx.clock.now()
        record = RepairRecord(
            sender_device_id=sender_id,
            message_id=message_id,
            case_id=case_id,
            state=RepairState.WAITING,
            failed_at=now,
            copy_id=copy_id,
            next_attempt_at=now,
        )
        return [DeliveryRecords.repair_put(record)]

    async def was_repaired(self, sender_id: str, message_id: str) -> bool:
        """Whether this message once failed to decrypt (a later copy of it is expected,
        not a replay)."""
        return await self._records.repair(sender_id, message_id) is not None

    async def record_arrival(self, sender_id: str, message_id: str) -> list[Put]:
        """A message opened: settle its repair, if it had one."""
        record = await self._records.repair(sender_id, message_id)
        if record is None or record.state is RepairState.DONE:
            return []
        record.state = RepairState.DONE
        record.settled_at = self._ctx.clock.now()
        record.next_attempt_at = None
        return [DeliveryRecords.repair_put(record)]

    async def handle(self, sender: KnownDevice, case_id: str, payload: dict[str, Any]) -> Handled:
        """A repair message (a kind in :data:`CONTROL_KINDS`) from ``sender``."""
        ids = _message_ids(payload)
        if not ids:
            return Handled()
        if payload.get("kind") == KIND_REPAIR_REQUEST:
            return await self._answer(sender.device_id, case_id, ids)
        return await self._settle(sender.device_id, case_id, ids, REFUSED)

    async def _answer(self, asker: str, case_id: str, ids: list[str]) -> Handled:
        """Queue the messages asked for that may go to ``asker`` again; say which may not."""
        if not self._budget.take(asker, self._ctx.clock.now()):
            log.info("a device asked for messages again too often; its request is ignored")
            return Handled()
        handled = Handled()
        unavailable: list[str] = []
        found: list[SentRecord] = []
        for message_id in ids:
            sent = await self._records.sent(message_id)
            if sent is None or not self._may_resend(sent, case_id, asker):
                unavailable.append(message_id)
            else:
                found.append(sent)
        for sent in sorted(found, key=lambda r: (r.seq, r.created_at)):  # as first sent
            message_id = sent.message_id
            if await self._outbox.queued_resend(message_id, asker):
                continue  # already on its way
            sent.resends[asker] = sent.resends.get(asker, 0) + 1
            body = json.loads(sent.body)
            entry = await self._outbox.new_entry(
                case_id,
                body,
                message_id=message_id,
                created_at=sent.created_at,
                to=[asker],
                control=body.get("kind") in CONTROL_KINDS,
                history_key=sent.history_key,
                resend=True,
            )
            handled.puts += [DeliveryRecords.sent_put(sent), LocalStore.outbox_put(entry)]
            handled.queued.append(entry)
            await self._mark_resending(sent, handled)
        if unavailable:
            entry = await self._outbox.new_entry(
                case_id,
                {"kind": KIND_REPAIR_UNAVAILABLE, FIELD_MESSAGE_IDS: unavailable},
                to=[asker],
                control=True,
            )
            handled.puts.append(LocalStore.outbox_put(entry))
            handled.queued.append(entry)
        return handled

    def written(self, handled: Handled) -> None:
        """The receiver wrote ``handled``: queue its entries and tell the app."""
        self._outbox.adopt(handled.queued)
        for event in handled.events:
            self._ctx.emit(event)

    @staticmethod
    def _may_resend(sent: SentRecord, case_id: str, asker: str) -> bool:
        """Only a message of this case, first encrypted to the asking device itself, and
        not sent to it again too often already."""
        return (
            sent.case_id == case_id
            and asker in sent.recipients
            and sent.resends.get(asker, 0) < MAX_RESENDS_PER_DEVICE
        )

    async def _mark_resending(self, sent: SentRecord, handled: Handled) -> None:
        if not sent.history_key:
            return
        raw = await self._ctx.store.vault.get("message", sent.history_key)
        if raw is None:
            return
        record = msgspec.json.decode(raw, type=StoredMessage)
        if record.status != "resending":
            record.status = "resending"
            handled.puts.append(LocalStore.message_put(record))
            handled.events.append(
                MessageStatusChanged(record.case_id, record.message_id, "resending")
            )

    async def _settle(
        self, sender_id: str, case_id: str, ids: Sequence[str], reason: str
    ) -> Handled:
        """Stop waiting for these messages of ``sender_id``: they will not come."""
        handled = Handled()
        now = self._ctx.clock.now()
        for message_id in ids:
            record = await self._records.repair(sender_id, message_id)
            if record is None or record.state is not RepairState.WAITING:
                continue
            if record.case_id != case_id:
                continue
            record.state = RepairState.UNAVAILABLE
            record.settled_at = now
            record.next_attempt_at = None
            handled.puts.append(DeliveryRecords.repair_put(record))
            handled.events.append(MessageUnavailable(case_id, message_id, sender_id, reason))
        return handled

    # ------------------------------------------------------------------ asking

    async def waiting(self) -> list[RepairRecord]:
        """Messages that did not decrypt and are still being asked for, oldest first."""
        return [r for r in await self._records.repairs() if r.state is RepairState.WAITING]

    async def run_due(self, *, force: bool = False) -> int:
        """Ask the senders again for the messages whose time has come (all with
        ``force``) and deliver the requests; returns how many requests were queued.

        Raises:
            ApiError, TransportError: the requests could not be delivered now (they stay
                queued in the outbox).
        """
        async with self._asking:
            now = self._ctx.clock.now()
            groups: dict[tuple[str, str], list[RepairRecord]] = {}
            for record in await self.waiting():
                due = record.next_attempt_at is None or record.next_attempt_at <= now
                if force or due:
                    key = (record.sender_device_id, record.case_id)
                    groups.setdefault(key, []).append(record)
            queued = 0
            for (sender_id, case_id), records in groups.items():
                queued += await self._ask(sender_id, case_id, records, now)
        if queued:
            await self._outbox.flush(force=True)
        return queued

    async def _ask(
        self, sender_id: str, case_id: str, records: list[RepairRecord], now: datetime
    ) -> int:
        """One request to ``sender_id`` for the oldest of ``records``; or, if that device
        cannot be written to, wait (not trusted yet) or give up (gone)."""
        chosen = await self._outbox.recipients(case_id)
        if sender_id not in {d.device_id for d in chosen.usable}:
            if sender_id in chosen.withheld:  # not trusted (yet): keep waiting
                puts = [self._postponed(r, now) for r in records]
                await self._ctx.store.write(puts)
                return 0
            handled = await self._settle(sender_id, case_id, [r.message_id for r in records], GONE)
            await self._ctx.store.write(handled.puts)
            for event in handled.events:
                self._ctx.emit(event)
            return 0
        batch = records[:MAX_IDS_PER_REQUEST]
        peer = await self._records.peer(sender_id)
        fresh = peer.fresh_session_at is None or now - peer.fresh_session_at >= FRESH_SESSION_EVERY
        entry = await self._outbox.new_entry(
            case_id,
            {"kind": KIND_REPAIR_REQUEST, FIELD_MESSAGE_IDS: [r.message_id for r in batch]},
            to=[sender_id],
            fresh_session=fresh,
            control=True,
        )
        puts = [LocalStore.outbox_put(entry)]
        if fresh:
            peer.fresh_session_at = now
            puts.append(DeliveryRecords.peer_put(peer))
        puts += [self._postponed(r, now) for r in batch]
        await self._ctx.store.write(puts)
        self._outbox.adopt([entry])
        return 1

    @staticmethod
    def _postponed(record: RepairRecord, now: datetime) -> Put:
        record.attempts += 1
        record.next_attempt_at = now + retry_delay(record.attempts)
        return DeliveryRecords.repair_put(record)

    async def prune(self) -> int:
        """Forget sent messages older than the server keeps them, and long-settled
        repairs; returns how many records went."""
        self._pruned_at = self._ctx.clock.now()
        return await self._records.prune(self._pruned_at - SENT_RECORDS_KEPT)

    async def run(self, closed: asyncio.Event) -> None:
        """Ask again whenever a request falls due or :attr:`wakeup` is set (a new
        failure), until ``closed`` is set; prune old records now and then."""
        while not closed.is_set():
            self.wakeup.clear()
            now = self._ctx.clock.now()
            if self._pruned_at is None or now - self._pruned_at >= _PRUNE_EVERY:
                await self.prune()
            try:
                await self.run_due()
            except WitnesslinkError:
                timeout: float | None = FIRST_RETRY.total_seconds()  # the server is away
            else:
                dues = [r.next_attempt_at for r in await self.waiting() if r.next_attempt_at]
                now = self._ctx.clock.now()
                timeout = max(0.0, (min(dues) - now).total_seconds()) if dues else None
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.wakeup.wait(), timeout)
