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
    #: Written on the witness's phone while it was locked (offline), before any PIN
    #: was confirmed: possibly by whoever held the phone.
    written_locked: bool = False
    #: The sending device chains, by signatures this device checked, to a person
    #: verified in person or by safety number. A phone never shows unverified messages
    #: as from the team: it holds them apart (see :class:`HeldMessage`).
    verified: bool = True


@dataclass(frozen=True, slots=True)
class HeldMessage:
    """The phone received a message from a device that does not chain to anyone the
    witness verified. It is kept apart, not shown as from the team: someone may be
    impersonating them. It is released if the sender is later verified."""

    case_id: str
    message_id: str
    sender_device_id: str
    sender_owner: str


@dataclass(frozen=True, slots=True)
class DecryptionFailure:
    """A message arrived that could not be opened (tampered, or state was lost).

    With ``repairing`` the SDK has recorded it and asks the sender to send it again
    (over a fresh session): the app can show "a message is on its way"; it arrives as
    an :class:`IncomingMessage` under the same ``message_id``, or a
    :class:`MessageUnavailable` says it will not."""

    case_id: str
    message_id: str
    sender_device_id: str
    reason: str
    repairing: bool = False


@dataclass(frozen=True, slots=True)
class MessageUnavailable:
    """A message that could not be opened will not arrive: its sender no longer has it
    (or may not send it to this device again), or the sending device left the case.
    Show: "A message from <sender> could not be delivered. Ask them to send it again."
    """

    case_id: str
    message_id: str
    sender_device_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class MessageStatusChanged:
    """One of this device's messages changed status in the background: ``sent`` (the
    server holds it), ``failed`` (refused for good), or ``resending`` (a recipient
    device could not open it and asked for it again; ``sent`` again once re-sent)."""

    case_id: str
    message_id: str
    status: str


@dataclass(frozen=True, slots=True)
class ReplayRejected:
    """A message id from this sender was delivered again and was refused."""

    case_id: str
    message_id: str
    sender_device_id: str


@dataclass(frozen=True, slots=True)
class KeyChangeWarning:
    """A known device id was presented with different keys. That device is never used
    again: a device keeps its keys for life, so this is a substitution."""

    device_id: str
    owner_kind: str
    owner_id: str
    name: str


@dataclass(frozen=True, slots=True)
class IdentityChangeWarning:
    """A person now presents another identity key that nobody this device trusts has
    vouched for. Their devices are not used until the new identity is verified (by
    safety number) or introduced by a roster from someone trusted."""

    owner: str
    name: str


@dataclass(frozen=True, slots=True)
class TrustWarning:
    """Key material from the server was refused: a forged or unsigned object, a roster
    not signed by someone trusted, or an older or conflicting version replayed. Nothing
    it said was used. ``reason`` is a short stable code."""

    reason: str
    case_id: str | None
    owner: str | None
    detail: str


@dataclass(frozen=True, slots=True)
class NewDevice:
    """A device joined the conversation; ``verified`` says whether it chains to a
    verified person (only then is anything encrypted to it)."""

    device_id: str
    owner_kind: str
    owner_id: str
    name: str
    verified: bool


@dataclass(frozen=True, slots=True)
class CheckInPrompt:
    """Time to check in: show the check-in screen (and, for ``reminder``, nudge again
    before the window closes)."""

    checkin_id: str
    due_at: datetime
    closes_at: datetime
    deadline_at: datetime
    reminder: bool = False


@dataclass(frozen=True, slots=True)
class CheckInClosed:
    """The window for a prompt has closed; the app can take the prompt down."""

    checkin_id: str


@dataclass(frozen=True, slots=True)
class AlertNotice:
    """Staff clients: an alert on one of your cases was raised, escalated to you,
    acknowledged or resolved."""

    alert_id: str
    case_id: str | None
    kind: str | None
    severity: str | None
    status: str | None
    event: str
    level: int | None


@dataclass(frozen=True, slots=True)
class CaseReviewDue:
    """Staff clients: one of your open cases is due for its periodic review (is its
    personal data still needed?). Mark it reviewed in the console."""

    case_id: str


@dataclass(frozen=True, slots=True)
class CheckInAnswered:
    """Staff clients: the witness of one of your cases answered a check-in."""

    case_id: str
    checkin_id: str
    status: str


@dataclass(frozen=True, slots=True)
class ReviewDue:
    """Staff clients: the risk assessment of one of your cases is due for review (an
    alert follows after the grace if nobody records a new one)."""

    case_id: str
    assessment_id: str
    due_at: str


@dataclass(frozen=True, slots=True)
class AppointmentDetailsReceived:
    """The case team sent (or updated) the private details of an appointment: where,
    which link and PIN, instructions. Kept only on this device."""

    appointment_id: str


@dataclass(frozen=True, slots=True)
class AppointmentChanged:
    """An appointment was scheduled, moved, cancelled, confirmed or marked."""

    appointment_id: str
    change: str
    kind: str
    starts_at: datetime
    status: str
    confirmation: str


@dataclass(frozen=True, slots=True)
class AppointmentReminder:
    """A reminder, made on the phone from a content-free push and the details the phone
    keeps, in the witness's language. Show it inside the unlocked app only."""

    appointment_id: str
    kind: str  # hearing, video_link or test_call
    title: str
    body: str
    starts_at: datetime
    local_time: str  # e.g. "2026-03-30 10:00 (Europe/Bucharest)"
    details: dict[str, str] | None


@dataclass(frozen=True, slots=True)
class VisitNoticeReceived:
    """Phones: the visitor of a welfare visit told you, end to end encrypted, who comes
    and when (kept on this device; the server's list of visits is not used)."""

    visit_id: str
    version: int
    visitor_name: str
    window_start: datetime
    window_end: datetime


@dataclass(frozen=True, slots=True)
class DoorCodeShown:
    """Phones: the visitor at the door sent a fresh nonce; show ``code`` and ask the
    witness whether it is the code on the visitor's device."""

    visit_id: str
    visitor_name: str
    code: str


@dataclass(frozen=True, slots=True)
class VisitChanged:
    """Staff clients: a welfare visit of one of your cases was scheduled, recorded or
    cancelled (ids and times only)."""

    visit_id: str
    case_id: str
    change: str
    visitor_staff_id: str
    version: int


@dataclass(frozen=True, slots=True)
class DoorAnswered:
    """The visitor's client: the witness answered at the door. ``confirmed`` is what a
    duress confirmation shows too (the team gets the duress alert)."""

    visit_id: str
    answer: str


Event = (
    IncomingMessage
    | HeldMessage
    | IdentityChangeWarning
    | TrustWarning
    | DecryptionFailure
    | MessageUnavailable
    | MessageStatusChanged
    | ReplayRejected
    | KeyChangeWarning
    | NewDevice
    | CheckInPrompt
    | CheckInClosed
    | AlertNotice
    | CheckInAnswered
    | ReviewDue
    | CaseReviewDue
    | AppointmentDetailsReceived
    | AppointmentChanged
    | AppointmentReminder
    | VisitNoticeReceived
    | DoorCodeShown
    | VisitChanged
    | DoorAnswered
)
