"""Encrypted attachments: opaque blobs, each encrypted on the device with a fresh key.

The key travels inside the Olm message; the server stores only ciphertext, for the
devices the uploader names (all of them devices of the case). A recipient confirms it
has fetched and stored the blob; when every recipient has, the blob is deleted, and
whatever is left is deleted at the TTL.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from server.clock import Clock
from server.domain.access import Principal
from server.domain.audit import AuditLog
from server.domain.denials import audit_denied
from server.domain.models import Attachment
from server.errors import InvalidInput, NotFound, StaleDevices, TooLarge
from server.ids import new_id
from server.storage.protocols import Store, UnitOfWork


class AttachmentService:
    """Holds encrypted attachment blobs until their recipients have them."""

    def __init__(
        self,
        store: Store,
        audit: AuditLog,
        clock: Clock,
        *,
        max_bytes: int = 16 * 1024 * 1024,
        ttl: timedelta = timedelta(days=30),
    ) -> None:
        self._store = store
        self._audit = audit
        self._clock = clock
        self.max_bytes = max_bytes
        self.ttl = ttl

    async def upload(
        self, principal: Principal, case_id: str, recipients: Sequence[str], content: bytes
    ) -> Attachment:
        """Store an encrypted blob for the listed devices of a case.

        Raises:
            TooLarge: above the size limit.
            InvalidInput: empty blob, or no/repeated recipients.
            NotFound: the caller is not a member of the case.
            StaleDevices: a recipient is not an active device of the case.
        """
        if len(content) > self.max_bytes:
            raise TooLarge(f"attachments are limited to {self.max_bytes} bytes")
        if not content:
            raise InvalidInput("an attachment cannot be empty")
        if not recipients or len(set(recipients)) != len(recipients):
            raise InvalidInput("name each recipient device once")
        if principal.device.id in recipients:
            raise InvalidInput("a device does not send an attachment to itself")
        attachment = Attachment(
            id=new_id("att"),
            case_id=case_id,
            uploader_device_id=principal.device.id,
            size=len(content),
            created_at=self._clock.now(),
        )
        try:
            async with self._store.write() as uow:
                devices = await self._member_devices(uow, principal, case_id)
                unknown = sorted(set(recipients) - devices)
                if unknown:
                    raise StaleDevices(unknown_devices=unknown)
                await uow.attachments.insert(attachment, content, list(recipients))
        except NotFound:
            await audit_denied(
                self._store, self._audit, principal.actor, case_id, "upload attachment"
            )
            raise
        return attachment

    async def _member_devices(
        self, uow: UnitOfWork, principal: Principal, case_id: str
    ) -> set[str]:
        devices = {d.id for d in await uow.devices.list_for_case(case_id)}
        if principal.device.id not in devices:
            raise NotFound("No such case")
        return devices

    async def fetch(self, principal: Principal, attachment_id: str) -> bytes:
        """The blob, for one of its recipient devices.

        Raises:
            NotFound: no such attachment for this device (or already deleted).
        """
        async with self._store.read() as uow:
            if not await uow.attachments.is_recipient(attachment_id, principal.device.id):
                raise NotFound("No such attachment")
            content = await uow.attachments.content(attachment_id)
        if content is None:
            raise NotFound("No such attachment")
        return content

    async def confirm_fetched(self, principal: Principal, attachment_id: str) -> bool:
        """Record that the caller has the blob; deletes it once every recipient has.

        Returns whether the blob was deleted.

        Raises:
            NotFound: no such attachment for this device.
        """
        async with self._store.write() as uow:
            if not await uow.attachments.is_recipient(attachment_id, principal.device.id):
                raise NotFound("No such attachment")
            waiting = await uow.attachments.mark_fetched(
                attachment_id, principal.device.id, self._clock.now()
            )
            if waiting == 0:
                await uow.attachments.delete(attachment_id)
                return True
        return False

    async def purge_expired(self) -> int:
        """Delete attachments older than the TTL; returns how many."""
        async with self._store.write() as uow:
            return await uow.attachments.purge_older_than(self._clock.now() - self.ttl)
