"""Sending one copy of an already stored message again, to one device (session repair).

When a device cannot open its copy of a message (a broken Olm session, a corrupted
copy), it asks the sender, end to end, to send it again; the sender encrypts the
message again for that one device and adds the new copy here, under the original
message id, so the device recognises it and shows it once. The server cannot read the
request or the copy; what it checks is what it can: the caller sent that message id in
that case, is still a member, and the device is an active device of the case (not the
caller). A retried request with the same ciphertext adds nothing; a message can be sent
again to a device at most :data:`MAX_RESENDS_PER_DEVICE` times.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from server.clock import Clock
from server.domain.access import Principal
from server.domain.audit import AuditLog
from server.domain.denials import audit_denied
from server.domain.events import EventSink
from server.domain.messages import MAX_CIPHERTEXT_CHARS, OLM_NORMAL, OLM_PRE_KEY
from server.errors import InvalidInput, NotFound, ResendLimit, StaleDevices
from server.ids import is_client_id
from server.storage.protocols import NewResend, Store

MAX_RESENDS_PER_DEVICE = 5


@dataclass(frozen=True, slots=True)
class ResentCopy:
    """A request to add a copy of one of the caller's messages for one device."""

    sender: Principal
    case_id: str
    message_id: str
    recipient_device_id: str
    olm_type: int
    body: str


@dataclass(frozen=True, slots=True)
class ResendReceipt:
    message_id: str
    recipient_device_id: str
    stored_at: datetime
    duplicate: bool


def copy_digest(olm_type: int, body: str) -> str:
    return hashlib.sha256(f"{olm_type}\n{body}".encode()).hexdigest()


def check_resend(copy: ResentCopy) -> None:
    """Shape checks that need no database.

    Raises:
        InvalidInput: bad message id, a copy to the sender itself, unknown message type,
            oversized ciphertext.
    """
    if not is_client_id(copy.message_id):
        raise InvalidInput("message_id must be 8-64 characters of A-Z, a-z, 0-9, '_' or '-'")
    if copy.recipient_device_id == copy.sender.device.id:
        raise InvalidInput("a device does not send to itself")
    if copy.olm_type not in (OLM_PRE_KEY, OLM_NORMAL):
        raise InvalidInput("olm type must be 0 (pre-key) or 1 (normal)")
    if not copy.body or len(copy.body) > MAX_CIPHERTEXT_CHARS:
        raise InvalidInput(f"a ciphertext must be 1 to {MAX_CIPHERTEXT_CHARS} characters")


class Resends:
    """Adds re-sent copies of stored messages, for one device each."""

    def __init__(self, store: Store, audit: AuditLog, clock: Clock, events: EventSink) -> None:
        self._store = store
        self._audit = audit
        self._clock = clock
        self._events = events

    async def add_copy(self, copy: ResentCopy) -> ResendReceipt:
        """Store the copy durably for its device, then acknowledge (and push it).

        Raises:
            InvalidInput: see :func:`check_resend`.
            NotFound: the caller is not a member of the case (audited), or sent no
                message with that id in that case (or it has expired).
            StaleDevices: the device is not an active device of the case.
            ResendLimit: the message was sent again to the device too often already.
        """
        check_resend(copy)
        sender = copy.sender.device.id
        now = self._clock.now()
        async with self._store.write() as uow:
            devices = {d.id for d in await uow.devices.list_for_case(copy.case_id, lock=True)}
            member = sender in devices
            original = (
                await uow.messages.sent_message(sender, copy.message_id, lock=True)
                if member
                else None
            )
            if member:
                if original is None or original[0] != copy.case_id:
                    raise NotFound("No such message")
                if copy.recipient_device_id not in devices:
                    raise StaleDevices(unknown_devices=[copy.recipient_device_id])
                digest = copy_digest(copy.olm_type, copy.body)
                earlier = await uow.messages.resent_digests(
                    sender, copy.message_id, copy.recipient_device_id
                )
                if digest in earlier:
                    return ResendReceipt(copy.message_id, copy.recipient_device_id, now, True)
                if len(earlier) >= MAX_RESENDS_PER_DEVICE:
                    raise ResendLimit()
                stored = await uow.messages.insert_resent_copy(
                    NewResend(
                        sender_device_id=sender,
                        message_id=copy.message_id,
                        case_id=copy.case_id,
                        recipient_device_id=copy.recipient_device_id,
                        olm_type=copy.olm_type,
                        body=copy.body,
                        digest=digest,
                        created_at=now,
                    )
                )
        if not member:
            await audit_denied(
                self._store, self._audit, copy.sender.actor, copy.case_id, "re-send a message"
            )
            raise NotFound("No such case")
        if stored is None:  # the same ciphertext, concurrently
            return ResendReceipt(copy.message_id, copy.recipient_device_id, now, True)
        await self._events.messages_stored([stored])
        return ResendReceipt(copy.message_id, copy.recipient_device_id, now, False)
