"""The message relay: authorise, store durably, acknowledge, push, forget.

Each case is one conversation. A sender fans a message out itself — one Olm ciphertext
per recipient device — in one request carrying a client-chosen message id. The relay
checks that the sender and every recipient device belong to the case, stores all copies
in one transaction (group-committed with concurrent sends), and only then acknowledges.
A retried id with the same content is acknowledged again without storing anything; the
same id with different content is refused. A device's acknowledgement deletes its copy;
undelivered copies are purged after the TTL. The server never sees plaintext.

Copies for a phone last unlocked with its duress PIN are *held*: stored, but neither
pushed nor handed out, until the witness's own PIN opens it again — whoever forced the
phone open does not read what the team sends after the alarm.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from server.clock import Clock
from server.domain.access import Principal
from server.domain.audit import AuditLog
from server.domain.batching import GroupCommit
from server.domain.events import EventSink
from server.domain.models import Device, MessageCopy
from server.errors import (
    DomainError,
    InvalidInput,
    MessageIdReused,
    NotFound,
    StaleDevices,
)
from server.ids import is_client_id
from server.storage.protocols import NewCopy, NewSend, Store, UnitOfWork

OLM_PRE_KEY = 0
OLM_NORMAL = 1
MAX_RECIPIENTS = 200
MAX_CIPHERTEXT_CHARS = 96 * 1024


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """A send request as the relay sees it."""

    sender: Principal
    case_id: str
    message_id: str
    ciphertexts: Sequence[NewCopy]


@dataclass(frozen=True, slots=True)
class SendReceipt:
    """The acknowledgement: durable once this exists."""

    message_id: str
    stored_at: datetime
    duplicate: bool
    recipients: int
    missing_devices: list[str] = field(default_factory=list)


def message_digest(case_id: str, ciphertexts: Sequence[NewCopy]) -> str:
    """A digest of what was sent, to tell a retry from a reused id."""
    parts = sorted((c.recipient_device_id, c.olm_type, c.body) for c in ciphertexts)
    return hashlib.sha256(json.dumps([case_id, parts]).encode()).hexdigest()


def check_outgoing(message: OutgoingMessage) -> None:
    """Shape checks that need no database.

    Raises:
        InvalidInput: bad id, no or too many recipients, repeated or self recipients,
            unknown message type, oversized ciphertext.
    """
    if not is_client_id(message.message_id):
        raise InvalidInput("message_id must be 8-64 characters of A-Z, a-z, 0-9, '_' or '-'")
    count = len(message.ciphertexts)
    if count == 0 or count > MAX_RECIPIENTS:
        raise InvalidInput(f"a message needs 1 to {MAX_RECIPIENTS} recipient ciphertexts")
    recipients = {c.recipient_device_id for c in message.ciphertexts}
    if len(recipients) != count:
        raise InvalidInput("a recipient device appears twice")
    if message.sender.device.id in recipients:
        raise InvalidInput("a device does not send to itself")
    for copy in message.ciphertexts:
        if copy.olm_type not in (OLM_PRE_KEY, OLM_NORMAL):
            raise InvalidInput("olm type must be 0 (pre-key) or 1 (normal)")
        if not copy.body or len(copy.body) > MAX_CIPHERTEXT_CHARS:
            raise InvalidInput(f"a ciphertext must be 1 to {MAX_CIPHERTEXT_CHARS} characters")


class MessageRelay:
    """Stores and forwards end-to-end encrypted messages."""

    def __init__(
        self,
        store: Store,
        audit: AuditLog,
        clock: Clock,
        events: EventSink,
        *,
        ttl: timedelta = timedelta(days=30),
    ) -> None:
        self._store = store
        self._audit = audit
        self._clock = clock
        self._events = events
        self.ttl = ttl
        self._sends: GroupCommit[OutgoingMessage, SendReceipt] = GroupCommit(self._store_batch)
        self._acks: GroupCommit[tuple[str, Sequence[int]], int] = GroupCommit(self._ack_batch)

    async def send(self, message: OutgoingMessage) -> SendReceipt:
        """Store a message for every recipient device, durably, then acknowledge.

        Raises:
            InvalidInput: see :func:`check_outgoing`.
            NotFound: the sender is not a member of the case (audited).
            StaleDevices: a recipient is not an active device of the case.
            MessageIdReused: the id was used before for different content.
        """
        check_outgoing(message)
        return await self._sends.submit(message)

    async def _store_batch(self, batch: list[OutgoingMessage]) -> list[SendReceipt | BaseException]:
        now = self._clock.now()
        results: list[SendReceipt | BaseException] = []
        accepted: list[NewSend] = []
        denied: list[OutgoingMessage] = []
        async with self._store.write() as uow:
            keys = [(m.sender.device.id, m.message_id) for m in batch]
            existing = await uow.messages.existing_digests(keys)
            devices_by_case = await self._case_devices(uow, {m.case_id for m in batch})
            in_batch: dict[tuple[str, str], str] = {}
            for message in batch:
                key = (message.sender.device.id, message.message_id)
                digest = message_digest(message.case_id, message.ciphertexts)
                earlier = existing.get(key)
                if earlier is not None or key in in_batch:
                    earlier_digest = earlier[0] if earlier else in_batch[key]
                    stored_at = earlier[1] if earlier else now
                    results.append(self._retry_receipt(message, digest, earlier_digest, stored_at))
                    continue
                case_devices = devices_by_case[message.case_id]
                outcome = self._authorise(message, case_devices)
                if outcome is not None:
                    results.append(outcome)
                    if isinstance(outcome, NotFound):
                        denied.append(message)
                    continue
                in_batch[key] = digest
                accepted.append(
                    NewSend(
                        sender_device_id=message.sender.device.id,
                        message_id=message.message_id,
                        case_id=message.case_id,
                        digest=digest,
                        created_at=now,
                        copies=message.ciphertexts,
                    )
                )
                recipients = {c.recipient_device_id for c in message.ciphertexts}
                missing = sorted(
                    d for d in case_devices if d not in recipients and d != message.sender.device.id
                )
                results.append(
                    SendReceipt(message.message_id, now, False, len(recipients), missing)
                )
            copies = await uow.messages.insert_sends(accepted)
            held = await uow.unlock.in_duress(sorted({c.recipient_device_id for c in copies}))
            existing_cases = (
                set(await uow.cases.get_many(sorted({m.case_id for m in denied})))
                if denied
                else set()
            )
            for message in denied:
                await self._audit.append(
                    uow.audit,
                    message.sender.actor,
                    "access.denied",
                    case_id=message.case_id if message.case_id in existing_cases else None,
                    details={"attempted": "send message"},
                )
        pushed = [c for c in copies if c.recipient_device_id not in held]
        if pushed:
            await self._events.messages_stored(pushed)
        return results

    @staticmethod
    def _retry_receipt(
        message: OutgoingMessage, digest: str, earlier_digest: str, stored_at: datetime
    ) -> SendReceipt | DomainError:
        if digest != earlier_digest:
            return MessageIdReused()
        return SendReceipt(message.message_id, stored_at, True, len(message.ciphertexts), [])

    async def _case_devices(
        self, uow: UnitOfWork, case_ids: set[str]
    ) -> dict[str, dict[str, Device]]:
        found: dict[str, dict[str, Device]] = {}
        for case_id in sorted(case_ids):
            devices = await uow.devices.list_for_case(case_id, lock=True)
            found[case_id] = {d.id: d for d in devices}
        return found

    @staticmethod
    def _authorise(message: OutgoingMessage, case_devices: dict[str, Device]) -> DomainError | None:
        if message.sender.device.id not in case_devices:
            return NotFound("No such case")
        unknown = sorted(
            c.recipient_device_id
            for c in message.ciphertexts
            if c.recipient_device_id not in case_devices
        )
        if unknown:
            return StaleDevices(unknown_devices=unknown)
        return None

    async def pending(
        self, principal: Principal, *, after_id: int = 0, limit: int = 200
    ) -> list[MessageCopy]:
        """Copies waiting for the caller's device, oldest first (none while it is held
        in duress)."""
        limit = max(1, min(limit, 500))
        async with self._store.read() as uow:
            if await uow.unlock.in_duress([principal.device.id]):
                return []
            return await uow.messages.pending_for_device(
                principal.device.id, after_id=after_id, limit=limit
            )

    async def acknowledge(self, principal: Principal, copy_ids: Sequence[int]) -> int:
        """Delete the caller's copies that it has safely stored (ids of other devices
        are ignored); returns how many ids were processed.

        Raises:
            InvalidInput: more than 500 ids at once.
        """
        if len(copy_ids) > 500:
            raise InvalidInput("acknowledge at most 500 copies at a time")
        if not copy_ids:
            return 0
        return await self._acks.submit((principal.device.id, list(copy_ids)))

    async def _ack_batch(self, batch: list[tuple[str, Sequence[int]]]) -> list[int | BaseException]:
        pairs = [(device, copy_id) for device, ids in batch for copy_id in ids]
        async with self._store.write() as uow:
            await uow.messages.delete_copies(pairs)
        # Per-caller counts are not worth a query each; report what each asked for.
        return [len(ids) for _, ids in batch]

    async def purge_expired(self) -> int:
        """Delete undelivered copies older than the TTL; returns how many."""
        cutoff = self._clock.now() - self.ttl
        async with self._store.write() as uow:
            return await uow.messages.purge_older_than(cutoff)

    async def drain(self) -> None:
        """Finish every send and acknowledgement already submitted (shutdown)."""
        await self._sends.drain()
        await self._acks.drain()
