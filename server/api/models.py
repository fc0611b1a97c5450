"""Request bodies as typed models: unknown fields are rejected, sizes are bounded.

msgspec decodes and validates in one pass (and quickly, which matters on the message
hot path); a body that does not fit becomes a 422 problem that names the field.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, ClassVar, Literal

import msgspec

from server.domain.free_text import unsafe_text_problem
from server.security.known_clients import MAX_PROOF_LENGTH

Id = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+\Z")]
Base64 = Annotated[
    str, msgspec.Meta(min_length=1, max_length=96 * 1024, pattern=r"^[A-Za-z0-9+/]+={0,2}\Z")
]
CopyId = Annotated[int, msgspec.Meta(ge=1, le=2**63 - 1)]
KeyId = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_+/=-]+\Z")]
Key = Annotated[str, msgspec.Meta(min_length=40, max_length=64)]
Signature = Annotated[str, msgspec.Meta(min_length=80, max_length=100)]
ShortText = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Label = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
RiskFactorName = Literal[
    "re_trafficking",
    "network_threats",
    "family_involvement",
    "health",
    "mental_health",
    "housing",
    "debt",
    "income",
    "dependants",
    "stigma",
    "substance_use",
    "legal_status",
]


HOUR_MINUTE = msgspec.Meta(pattern=r"^[0-9]{2}:[0-9]{2}\Z")
Aware = Annotated[datetime, msgspec.Meta(tz=True)]  # a time with its UTC offset


class Strict(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Base for every request model.

    Every string field (and every string in a list field) is checked for control and
    invisible formatting characters (:mod:`server.domain.free_text`), so a new field is
    covered without anyone remembering to. Fields named in ``multiline_fields`` may hold
    tabs and line breaks; those in ``verbatim_fields`` (secrets compared as typed) are
    not checked. Signed key objects (dicts) are checked by their signatures instead.
    """

    multiline_fields: ClassVar[frozenset[str]] = frozenset()
    verbatim_fields: ClassVar[frozenset[str]] = frozenset()

    def __post_init__(self) -> None:
        for name in self.__struct_fields__:
            if name in self.verbatim_fields:
                continue
            value = getattr(self, name)
            texts = [value] if isinstance(value, str) else value if isinstance(value, list) else []
            for text in texts:
                if not isinstance(text, str):
                    continue
                problem = unsafe_text_problem(
                    text, field=name, multiline=name in self.multiline_fields
                )
                if problem is not None:
                    # msgspec turns this into a ValidationError (a 422 naming the path).
                    raise ValueError(problem)


class SignedKeyIn(Strict):
    key_id: KeyId
    key: Key
    signature: Signature


class DeviceIn(Strict):
    name: Label
    curve25519: Key
    ed25519: Key
    proof: Signature
    one_time_keys: Annotated[list[SignedKeyIn], msgspec.Meta(max_length=100)]
    fallback_key: SignedKeyIn | None = None


class LoginIn(Strict):
    username: Annotated[
        str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+\Z")
    ]
    verbatim_fields: ClassVar[frozenset[str]] = frozenset({"password"})

    password: Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]
    device: DeviceIn
    totp: Annotated[str, msgspec.Meta(max_length=10)] | None = None
    #: The proof this client got from its last sign-in to this account, if any.
    known_client: Annotated[str, msgspec.Meta(max_length=MAX_PROOF_LENGTH)] | None = None


B64Bytes32 = Annotated[str, msgspec.Meta(min_length=43, max_length=44)]
#: A signed key object (``wire.keys``); its fields are checked by the domain.
KeyObject = dict[str, Any]


class EnrolIn(Strict):
    """A phone enrolling: the server token derived from the code, its device, and its
    identity key with the MAC that proves the code to the officer's client."""

    code: B64Bytes32
    device: DeviceIn
    identity_key: Key
    identity_mac: B64Bytes32


class IssueEnrolmentIn(Strict):
    code_hash: B64Bytes32
    roster: KeyObject
    team_mac: B64Bytes32
    commitment: B64Bytes32


class NonceIn(Strict):
    nonce: B64Bytes32


class DeviceKeysIn(Strict):
    device: KeyObject


class IdentityIn(Strict):
    device_list: KeyObject


class IdentityBackupIn(Strict):
    identity_key: Key
    sealed: Annotated[str, msgspec.Meta(min_length=1, max_length=512)]


class RosterIn(Strict):
    roster: KeyObject


class CreateCaseIn(Strict):
    reference: Label
    support_agency_id: Id


class AssignStaffIn(Strict):
    staff_id: Id


class CloseCaseIn(Strict):
    #: One of server.domain.case_lifecycle.OUTCOMES; the witness is told by a staff
    #: client, end-to-end encrypted, never by the server.
    outcome: Literal["convicted", "acquitted", "discontinued", "closed_without_trial", "other"] = (
        "other"
    )


class AddWitnessIn(Strict):
    alias: Label
    language: Annotated[str, msgspec.Meta(min_length=2, max_length=35)]
    timezone: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class KeysIn(Strict):
    one_time_keys: Annotated[list[SignedKeyIn], msgspec.Meta(max_length=100)] = []
    fallback_key: SignedKeyIn | None = None


class ClaimIn(Strict):
    case_id: Id
    device_ids: Annotated[list[Id], msgspec.Meta(min_length=1, max_length=100)]


class CiphertextIn(Strict):
    device_id: Id
    type: Annotated[int, msgspec.Meta(ge=0, le=1)]
    body: Base64


class SendIn(Strict):
    ciphertexts: Annotated[list[CiphertextIn], msgspec.Meta(min_length=1, max_length=200)]


class ResendIn(Strict):
    """One ciphertext of an already sent message, for the device named in the path."""

    type: Annotated[int, msgspec.Meta(ge=0, le=1)]
    body: Base64


class EventAckIn(Strict):
    event_ids: Annotated[list[CopyId], msgspec.Meta(max_length=500)]


class AckIn(Strict):
    copy_ids: Annotated[list[CopyId], msgspec.Meta(max_length=500)]


class CheckInResponseIn(Strict):
    status: Literal["ok", "contact", "help", "duress"]
    signature: Signature


class HeartbeatIn(Strict):
    battery: Annotated[int, msgspec.Meta(ge=0, le=100)] | None = None


class PanicIn(Strict):
    request_id: Annotated[
        str, msgspec.Meta(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+\Z")
    ]


class SmsWordsIn(Strict):
    checkin_word: Annotated[str, msgspec.Meta(min_length=3, max_length=40)]
    duress_word: Annotated[str, msgspec.Meta(min_length=3, max_length=40)]


class PlanIn(Strict):
    every_hours: Annotated[int, msgspec.Meta(ge=1, le=168)] | None = None
    start_local: Annotated[str, HOUR_MINUTE] | None = None
    weekdays: Annotated[
        list[Annotated[str, msgspec.Meta(max_length=10)]], msgspec.Meta(max_length=7)
    ] = []
    times: Annotated[list[Annotated[str, HOUR_MINUTE]], msgspec.Meta(max_length=24)] = []
    window_minutes: Annotated[int, msgspec.Meta(ge=5, le=1440)] = 60
    grace_minutes: Annotated[int, msgspec.Meta(ge=0, le=1440)] = 30
    reminder_minutes: Annotated[int, msgspec.Meta(ge=0, le=1440)] = 15


class PauseIn(Strict):
    multiline_fields: ClassVar[frozenset[str]] = frozenset({"reason"})

    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
    until: Annotated[datetime, msgspec.Meta(tz=True)] | None = None


class ResolveIn(Strict):
    multiline_fields: ClassVar[frozenset[str]] = frozenset({"note"})

    outcome: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    note: Annotated[str, msgspec.Meta(min_length=1, max_length=4000)]


class PhoneIn(Strict):
    number: Annotated[str, msgspec.Meta(min_length=7, max_length=32)] | None


VoicePin = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{4,8}$")]


class WitnessVoiceIn(Strict):
    """A witness's check-in by phone: the voice PIN and duress voice PIN (both, or both
    null for none) and whether check-ins call the witness."""

    pin: VoicePin | None = None
    duress_pin: VoicePin | None = None
    checkin_call: Literal["never", "fallback", "always"] = "never"


class DutyIn(Strict):
    on_duty: bool


Offsets = Annotated[
    list[Annotated[int, msgspec.Meta(ge=5, le=60 * 24 * 60)]], msgspec.Meta(max_length=8)
]


class CaseSettingsIn(Strict):
    multiline_fields: ClassVar[frozenset[str]] = frozenset({"nudge_text"})

    nudge_text: Annotated[str, msgspec.Meta(max_length=320)] | None = None
    offline_after_minutes: Annotated[int, msgspec.Meta(ge=5, le=10080)] = 120
    silent_after_hours: Annotated[int, msgspec.Meta(ge=1, le=720)] = 48
    # Omitted: keep the current offsets; null: back to the defaults.
    reminder_offsets_minutes: Offsets | msgspec.UnsetType | None = msgspec.UNSET


class AppointmentIn(Strict):
    kind: Literal["hearing", "video_link"]
    starts_at: Aware
    ends_at: Aware
    timezone: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    location_kind: Literal["home", "support_office", "court", "embassy"] | None = None
    interpreter_booked: bool = False
    interpreter_language: Annotated[str, msgspec.Meta(min_length=2, max_length=35)] | None = None
    test_call_at: Aware | None = None
    test_call_ends_at: Aware | None = None
    confirm_by: Aware | None = None


class CancelIn(Strict):
    multiline_fields: ClassVar[frozenset[str]] = frozenset({"reason"})

    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]


class AttendanceIn(Strict):
    outcome: Literal["attended", "missed"]


class AppointmentAnswerIn(Strict):
    answer: Literal["confirm", "rearrange"]


class ReadyIn(Strict):
    step: Literal["test_call", "appointment"]


class PolicyTargetIn(Strict):
    agency: Literal["support", "police"] | None = None
    roles: Annotated[
        list[Literal["officer", "support_worker", "supervisor", "admin"]],
        msgspec.Meta(max_length=4),
    ] = []
    staff_ids: Annotated[list[Id], msgspec.Meta(max_length=20)] = []
    on_duty_only: bool = False
    #: Also phone these people ("press 1 to acknowledge"); needs voice calls enabled.
    call: bool = False


class PolicyLevelIn(Strict):
    after_minutes: Annotated[int, msgspec.Meta(ge=0, le=1440)]
    notify: Annotated[list[PolicyTargetIn], msgspec.Meta(min_length=1, max_length=10)]


class PolicyIn(Strict):
    levels: Annotated[list[PolicyLevelIn], msgspec.Meta(min_length=1, max_length=6)]
    ack_timeout_minutes: Annotated[int, msgspec.Meta(ge=1, le=10080)] = 60
    repeat_minutes: Annotated[int, msgspec.Meta(ge=1, le=1440)] = 30


# ---------------------------------------------------------------- welfare visits


class VisitPlanIn(Strict):
    """Without ``every_days``, the interval the risk level sets (the witness's current
    level unless ``risk_level`` is given)."""

    every_days: Annotated[int, msgspec.Meta(ge=1, le=365)] | None = None
    risk_level: Literal["low", "medium", "high", "severe"] | None = None


class VisitIn(Strict):
    visitor_staff_id: Id
    window_start: Aware
    window_end: Aware


class NextVisitIn(Strict):
    window_start: Aware
    window_end: Aware
    visitor_staff_id: Id | None = None


class VisitRecordIn(Strict):
    multiline_fields: ClassVar[frozenset[str]] = frozenset({"concerns"})

    outcome: Literal["held", "not_met", "declined"]
    seen_alone: bool | None = None
    concerns: Annotated[str, msgspec.Meta(max_length=4000)] | None = None
    next_visit: NextVisitIn | None = None


class DoorAnswerIn(Strict):
    answer: Literal["confirmed", "not_the_person"]


# --- handover before return; risk assessment (issue 11, part "handover") ---


class HandoverIn(Strict):
    #: The planned return day (the request goes to the case's support agency).
    return_on: date


class ConsentIn(Strict):
    how: Literal["in_person", "phone_call"]
    given_at: Aware | None = None


class HandoverAcceptIn(Strict):
    primary_contact_id: Id
    alternate_contact_id: Id


class HandoverDeclineIn(Strict):
    multiline_fields: ClassVar[frozenset[str]] = frozenset({"reason"})

    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]


class AssessmentIn(Strict):
    multiline_fields: ClassVar[frozenset[str]] = frozenset({"notes"})

    level: Literal["low", "medium", "high", "severe"]
    factors: Annotated[list[RiskFactorName], msgspec.Meta(max_length=20)] = []
    notes: Annotated[str, msgspec.Meta(max_length=8000)] | None = None
