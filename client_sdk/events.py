"""What the SDK tells the app: incoming messages and security-relevant happenings.

Apps iterate over these (``async for event in client``) and decide how to show them.
Nothing here is ever sent anywhere: it lives only on the device.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class AttachmentRef:
    """An attachment announced inside a message: where it is and how to open it."""

    attachment_id: str
    filename: str
    mime_type: str
    size: int
    key: str  # base64 SecretBox key; only ever inside the end-to-end encrypted message
    sha256: str


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    case_id: str
    message_id: str
    sender_device_id: str
    sender_kind: str
    sender_id: str
    sender_name: str
    text: str
    sent_at: datetime
    attachment: AttachmentRef | None = None


@dataclass(frozen=True, slots=True)
class DecryptionFailure:
    """A message arrived that could not be opened (tampered, or state was lost)."""

    case_id: str
    message_id: str
    sender_device_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class ReplayRejected:
    """A message id from this sender was delivered again and was refused."""

    case_id: str
    message_id: str
    sender_device_id: str


@dataclass(frozen=True, slots=True)
class KeyChangeWarning:
    """A known device now presents different identity keys. It is no longer used until
    someone verifies it in person or by call; never accepted silently."""

    device_id: str
    owner_kind: str
    owner_id: str
    name: str


@dataclass(frozen=True, slots=True)
class NewDevice:
    """A device joined the conversation; unverified until safety numbers are compared."""

    device_id: str
    owner_kind: str
    owner_id: str
    name: str
    verified: bool


Event = IncomingMessage | DecryptionFailure | ReplayRejected | KeyChangeWarning | NewDevice
