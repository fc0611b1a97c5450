"""The domain's records: what the services read and write through the repositories.

Plain frozen dataclasses; timestamps are aware UTC datetimes. Nothing here is
secret from the server by design: message bodies are opaque ciphertext, and personal
data the server must hold (phone numbers, TOTP secrets) is carried sealed.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime


class AgencyKind(enum.StrEnum):
    POLICE = "police"
    SUPPORT = "support"


class Role(enum.StrEnum):
    OFFICER = "officer"
    SUPPORT_WORKER = "support_worker"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


class OwnerKind(enum.StrEnum):
    STAFF = "staff"
    WITNESS = "witness"


@dataclass(frozen=True, slots=True)
class Agency:
    id: str
    name: str
    country: str
    kind: AgencyKind
    requires_reason: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Staff:
    id: str
    agency_id: str
    username: str
    display_name: str
    role: Role
    password_hash: str
    totp_secret_sealed: bytes | None
    totp_last_step: int
    active: bool
    created_at: datetime
    on_duty: bool = True

    @property
    def has_totp(self) -> bool:
        return self.totp_secret_sealed is not None


@dataclass(frozen=True, slots=True)
class Case:
    id: str
    reference: str
    police_agency_id: str
    support_agency_id: str
    created_by: str
    created_at: datetime
    closed_at: datetime | None

    def agency_ids(self) -> tuple[str, str]:
        return (self.police_agency_id, self.support_agency_id)


@dataclass(frozen=True, slots=True)
class Witness:
    id: str
    case_id: str
    alias: str
    language: str
    timezone: str
    created_by: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class EnrolmentCode:
    code_hash: bytes
    witness_id: str
    created_by: str
    created_at: datetime
    expires_at: datetime
    team_fingerprint: str
    team_devices: str  # JSON snapshot of the team identities the fingerprint covers
    used_at: datetime | None


@dataclass(frozen=True, slots=True)
class Device:
    id: str
    owner_kind: OwnerKind
    owner_id: str
    name: str
    curve25519: str
    ed25519: str
    created_at: datetime
    last_seen_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True, slots=True)
class SignedKey:
    """A Curve25519 one-time or fallback key signed by the device's Ed25519 key."""

    key_id: str
    public_key: str
    signature: str


@dataclass(frozen=True, slots=True)
class ClaimedKey:
    device_id: str
    key: SignedKey
    fallback: bool


@dataclass(frozen=True, slots=True)
class MessageCopy:
    """One device's copy of a message: the ciphertext only that device can open."""

    id: int
    recipient_device_id: str
    case_id: str
    sender_device_id: str
    message_id: str
    olm_type: int
    body: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Attachment:
    id: str
    case_id: str
    uploader_device_id: str
    size: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class AuditEntry:
    seq: int
    at: datetime
    actor_kind: str
    actor_id: str | None
    action: str
    subject_kind: str | None
    subject_id: str | None
    case_id: str | None
    reason: str | None
    details: str
    prev_hash: bytes
    entry_hash: bytes


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    """A staff member signed in to the web console (stored by the cookie's hash)."""

    id_hash: bytes
    staff_id: str
    csrf: str
    language: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
