"""witnesslink client SDK: the witness's phone and the staff clients.

Start with :class:`WitnessClient` (``enroll`` in person, then ``open`` with the PIN) or
:class:`StaffClient` (``login``, then ``open``). Both send with ``send(...)``, receive
by iterating (``async for event in client``) or with ``receive()``, and keep
everything in an encrypted local store.
"""

from client_sdk.appointments import UpcomingAppointment
from client_sdk.conversation import SentMessage
from client_sdk.errors import (
    ApiError,
    EnrolmentRefused,
    NotEnrolled,
    ServerTampering,
    TransportError,
    WitnesslinkError,
)
from client_sdk.events import (
    AlertNotice,
    AppointmentChanged,
    AppointmentDetailsReceived,
    AppointmentReminder,
    AttachmentRef,
    CaseReviewDue,
    CheckInAnswered,
    CheckInClosed,
    CheckInPrompt,
    DecryptionFailure,
    Event,
    HeldMessage,
    IdentityChangeWarning,
    IncomingMessage,
    KeyChangeWarning,
    MessageStatusChanged,
    MessageUnavailable,
    NewDevice,
    ReplayRejected,
    ReviewDue,
    TrustWarning,
)
from client_sdk.keywrap import KeyWrapper, SoftwareKeyWrapper, WrapperError
from client_sdk.locked import LockedPhone, Offline
from client_sdk.officer_enrolment import EnrolingPhone, Enrolment
from client_sdk.phone_enrolment import PendingEnrolment
from client_sdk.staff import StaffClient
from client_sdk.staff_identity import IdentityMismatch
from client_sdk.team import NotVerified
from client_sdk.vault import (
    DEFAULT_KDF,
    KdfParams,
    VaultUnavailable,
    VaultWiped,
    WrongSecret,
)
from client_sdk.witness import CheckInResult, WitnessClient

__all__ = [
    "DEFAULT_KDF",
    "AlertNotice",
    "ApiError",
    "AppointmentChanged",
    "AppointmentDetailsReceived",
    "AppointmentReminder",
    "AttachmentRef",
    "CaseReviewDue",
    "CheckInAnswered",
    "CheckInClosed",
    "CheckInPrompt",
    "CheckInResult",
    "DecryptionFailure",
    "EnrolingPhone",
    "Enrolment",
    "EnrolmentRefused",
    "Event",
    "HeldMessage",
    "IdentityChangeWarning",
    "IdentityMismatch",
    "IncomingMessage",
    "KdfParams",
    "KeyChangeWarning",
    "KeyWrapper",
    "LockedPhone",
    "MessageStatusChanged",
    "MessageUnavailable",
    "NewDevice",
    "NotEnrolled",
    "NotVerified",
    "Offline",
    "PendingEnrolment",
    "ReplayRejected",
    "ReviewDue",
    "SentMessage",
    "ServerTampering",
    "SoftwareKeyWrapper",
    "StaffClient",
    "TransportError",
    "TrustWarning",
    "UpcomingAppointment",
    "VaultUnavailable",
    "VaultWiped",
    "WitnessClient",
    "WitnesslinkError",
    "WrapperError",
    "WrongSecret",
]
