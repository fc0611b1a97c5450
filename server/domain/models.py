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
    # The agency a handover of this case was asked of and has not accepted (the latest
    # request is requested or declined); ``None`` without a handover, or once accepted.
    # Loaded with the case (not a column): ``access`` holds that agency's unassigned
    # staff back to the handover request until it accepts.
    handover_pending_for: str | None = None

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


class EnrolmentState(enum.StrEnum):
    ISSUED = "issued"  # the officer's client registered a code
    CLAIMED = "claimed"  # a phone enrolled with it
    REVEALED = "revealed"  # the officer's client revealed its nonce: both show the SAS
    COMPLETED = "completed"  # the officer confirmed the SAS
    ABORTED = "aborted"  # either side refused; the phone's device is revoked
    WITHDRAWN = "withdrawn"  # superseded by a newer code before use


@dataclass(frozen=True, slots=True)
class Enrolment:
    """One in-person enrolment of a witness's phone (see ``wire.enrolment``).

    The server holds only what it relays: a hash of the server token, the roster and
    MAC the officer's client made, the commitment and nonces of the SAS exchange, and
    the phone's identity key and MAC. It can check none of them."""

    id: str
    code_hash: bytes
    witness_id: str
    created_by: str
    created_by_device: str
    created_at: datetime
    expires_at: datetime
    roster: str
    team_mac: str
    commitment: str
    state: EnrolmentState
    device_id: str | None = None
    phone_identity: str | None = None
    phone_mac: str | None = None
    phone_nonce: str | None = None
    reveal: str | None = None


@dataclass(frozen=True, slots=True)
class Identity:
    """A person's identity key and the device list it last signed (JSON as uploaded)."""

    owner: str
    identity_key: str
    version: int
    device_list: str
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class RosterRecord:
    """A case's latest roster (JSON as uploaded) and who signed it."""

    case_id: str
    version: int
    signer_key: str
    body: str
    updated_at: datetime


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
    key_object: str | None = None  # the signed device object (JSON), as uploaded

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    @property
    def owner(self) -> str:
        """The owner as key objects name it: ``staff:<id>`` or ``witness:<id>``."""
        return f"{self.owner_kind.value}:{self.owner_id}"


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
    #: "desk" (signs out after the idle time) or "shift" (an on-call screen).
    mode: str = "desk"
