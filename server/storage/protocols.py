"""Repository protocols: everything the domain may ask of storage, in one module.

The domain opens a unit of work with :meth:`Store.write` (one transaction, committed
durably when the block exits) or :meth:`Store.read` (a consistent snapshot) and talks to
the repositories on the :class:`UnitOfWork` it gets. There is one SQL implementation
per repository, parametrised by dialect, in :mod:`server.storage.repositories`.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from server.domain.models import (
    Agency,
    Attachment,
    AuditEntry,
    Case,
    Device,
    EnrolmentCode,
    MessageCopy,
    OwnerKind,
    SignedKey,
    Staff,
    Witness,
)


class AgencyRepository(Protocol):
    async def insert(self, agency: Agency) -> None:
        """Raises: Conflict if the name is taken."""
        ...

    async def get(self, agency_id: str) -> Agency | None: ...

    async def get_by_name(self, name: str) -> Agency | None: ...

    async def list(self) -> list[Agency]: ...


class StaffRepository(Protocol):
    async def insert(self, staff: Staff) -> None:
        """Raises: Conflict if the username is taken."""
        ...

    async def get(self, staff_id: str) -> Staff | None: ...

    async def get_by_username(self, username: str) -> Staff | None: ...

    async def list_by_agency(self, agency_id: str) -> list[Staff]: ...

    async def set_totp(self, staff_id: str, sealed_secret: bytes | None) -> None: ...

    async def use_totp_step(self, staff_id: str, step: int) -> bool:
        """Record a used TOTP step; False if that step or a later one was used."""
        ...

    async def set_password_hash(self, staff_id: str, password_hash: str) -> None: ...

    async def set_active(self, staff_id: str, active: bool) -> None: ...


class CaseRepository(Protocol):
    async def insert(self, case: Case) -> None:
        """Raises: Conflict if the police agency already has this reference."""
        ...

    async def get(self, case_id: str) -> Case | None: ...

    async def add_staff(self, case_id: str, staff_id: str, added_by: str, at: datetime) -> bool:
        """Assign a staff member; False if already assigned."""
        ...

    async def remove_staff(self, case_id: str, staff_id: str) -> bool: ...

    async def staff_ids(self, case_id: str) -> list[str]: ...

    async def is_assigned(self, case_id: str, staff_id: str) -> bool: ...

    async def list_assigned(self, staff_id: str) -> list[Case]: ...

    async def list_for_agency(self, agency_id: str) -> list[Case]: ...


class WitnessRepository(Protocol):
    async def insert(self, witness: Witness) -> None:
        """Raises: Conflict if the case already has a witness."""
        ...

    async def get(self, witness_id: str) -> Witness | None: ...

    async def get_by_case(self, case_id: str) -> Witness | None: ...


class EnrolmentRepository(Protocol):
    async def insert(self, code: EnrolmentCode) -> None: ...

    async def consume(
        self, code_hash: bytes, now: datetime, device_id: str
    ) -> EnrolmentCode | None:
        """Mark an unused, unexpired code used (compare-and-swap); None if it was not."""
        ...

    async def purge_expired(self, now: datetime) -> int: ...


class DeviceRepository(Protocol):
    async def insert(self, device: Device, token_hash: bytes) -> None:
        """Raises: Conflict if an identity key is already registered."""
        ...

    async def get(self, device_id: str) -> Device | None: ...

    async def get_by_token_hash(self, token_hash: bytes) -> Device | None: ...

    async def list_for_owner(
        self, owner_kind: OwnerKind, owner_id: str, *, include_revoked: bool = False
    ) -> list[Device]: ...

    async def list_for_case(self, case_id: str, *, lock: bool = False) -> list[Device]:
        """Active devices of the case's witness and assigned staff.

        With ``lock`` (PostgreSQL) the rows are share-locked until commit, so a
        concurrent revocation waits for the transaction that is queueing messages.
        """
        ...

    async def revoke(self, device_id: str, revoked_by: str, at: datetime) -> bool:
        """Revoke an active device; False if it was already revoked."""
        ...

    async def touch_many(self, seen: Sequence[tuple[str, datetime]]) -> None:
        """Record when devices were last seen (batched, monotonic)."""
        ...


class KeyRepository(Protocol):
    async def add_one_time_keys(self, device_id: str, keys: Sequence[SignedKey]) -> int:
        """Store new one-time keys; ids already present are ignored. Returns how many
        were added."""
        ...

    async def count_one_time_keys(self, device_id: str) -> int: ...

    async def claim_one_time_key(self, device_id: str) -> SignedKey | None:
        """Remove and return one key; each key is handed out at most once, even under
        concurrent claims."""
        ...

    async def set_fallback_key(self, device_id: str, key: SignedKey, at: datetime) -> None: ...

    async def get_fallback_key(self, device_id: str) -> SignedKey | None: ...

    async def delete_for_device(self, device_id: str) -> None: ...


@dataclass(frozen=True, slots=True)
class NewCopy:
    recipient_device_id: str
    olm_type: int
    body: str


@dataclass(frozen=True, slots=True)
class NewSend:
    """A message to store: one copy per recipient device."""

    sender_device_id: str
    message_id: str
    case_id: str
    digest: str
    created_at: datetime
    copies: Sequence[NewCopy]


class MessageRepository(Protocol):
    async def existing_digests(
        self, keys: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], tuple[str, datetime]]:
        """Digests and times of already stored (sender device, message id) pairs."""
        ...

    async def insert_sends(self, sends: Sequence[NewSend]) -> list[MessageCopy]:
        """Store the sends (whose ids must be new) and return the stored copies."""
        ...

    async def pending_for_device(
        self, device_id: str, *, after_id: int = 0, limit: int = 500
    ) -> list[MessageCopy]: ...

    async def delete_copies(self, acks: Sequence[tuple[str, int]]) -> int:
        """Delete acknowledged copies, given as (recipient device id, copy id) pairs; a
        pair whose copy belongs to another device deletes nothing."""
        ...

    async def delete_for_device(self, device_id: str) -> int: ...

    async def purge_older_than(self, cutoff: datetime) -> int:
        """Delete undelivered copies and send records older than ``cutoff``."""
        ...

    async def count_pending(self, device_id: str) -> int: ...


class AttachmentRepository(Protocol):
    async def insert(
        self, attachment: Attachment, content: bytes, recipient_device_ids: Sequence[str]
    ) -> None: ...

    async def get(self, attachment_id: str) -> Attachment | None: ...

    async def is_recipient(self, attachment_id: str, device_id: str) -> bool: ...

    async def content(self, attachment_id: str) -> bytes | None: ...

    async def mark_fetched(self, attachment_id: str, device_id: str, at: datetime) -> int:
        """Record a recipient's fetch; return how many recipients have not fetched yet."""
        ...

    async def delete(self, attachment_id: str) -> None: ...

    async def purge_older_than(self, cutoff: datetime) -> int: ...

    async def delete_recipient(self, device_id: str) -> list[str]:
        """Forget a device as recipient; return attachments nobody still waits for."""
        ...


class AuditRepository(Protocol):
    async def head(self) -> tuple[int, bytes] | None:
        """The last entry's sequence number and hash, locked for appending."""
        ...

    async def insert(self, entry: AuditEntry) -> None: ...

    async def scan(self, after_seq: int, limit: int) -> list[AuditEntry]: ...

    async def query(
        self,
        *,
        case_id: str | None = None,
        actor_id: str | None = None,
        action: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
        before_seq: int | None = None,
    ) -> list[AuditEntry]: ...


class UnitOfWork(Protocol):
    """The repositories, bound to one transaction or snapshot."""

    @property
    def agencies(self) -> AgencyRepository: ...

    @property
    def staff(self) -> StaffRepository: ...

    @property
    def cases(self) -> CaseRepository: ...

    @property
    def witnesses(self) -> WitnessRepository: ...

    @property
    def enrolments(self) -> EnrolmentRepository: ...

    @property
    def devices(self) -> DeviceRepository: ...

    @property
    def keys(self) -> KeyRepository: ...

    @property
    def messages(self) -> MessageRepository: ...

    @property
    def attachments(self) -> AttachmentRepository: ...

    @property
    def audit(self) -> AuditRepository: ...


class Store(Protocol):
    """Opens units of work."""

    def write(self) -> AbstractAsyncContextManager[UnitOfWork]:
        """One transaction; committed durably when the block exits, else rolled back."""
        ...

    def read(self) -> AbstractAsyncContextManager[UnitOfWork]:
        """A read-only consistent snapshot."""
        ...
