"""Response bodies as typed models: what each presenter and handler sends back.

Presenters and handlers build them, so mypy checks every field they fill; the API
contract (``server.api.operations``) names them per operation, and ``GET /openapi.json``
takes its response schemas from them with ``msgspec.json.schema_components``. The
schemathesis run in ``tests/contract`` checks the server's responses against those
schemas; unknown fields are forbidden in them (``additionalProperties: false``).

Times are RFC 3339 strings in UTC (``Timestamp``, written by ``server.clock.iso``);
signed key objects are passed through as their signers wrote them (``KeyObject``),
checked by the clients.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from server.domain.court.models import (
    AppointmentKind,
    AppointmentStatus,
    Confirmation,
    LocationKind,
)
from server.domain.handover_models import ConsentHow, HandoverState, HandoverStatus
from server.domain.models import EnrolmentState, OwnerKind, Role
from server.domain.risk_levels import RiskFactor, RiskLevel
from server.domain.visit_models import DoorAnswer, VisitOutcome, VisitStatus
from server.domain.welfare_models import (
    AlertKind,
    AlertStatus,
    CheckInState,
    NotificationStatus,
    Response,
    Severity,
)

#: An instant as ``server.clock.iso`` writes it: RFC 3339 in UTC, to the millisecond.
Timestamp = Annotated[str, msgspec.Meta(extra_json_schema={"format": "date-time"})]
#: A signed key object (``wire.keys``), exactly as its signer uploaded it.
KeyObject = dict[str, Any]


class Out(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Base for every response model."""


class Ok(Out):
    ok: Literal[True]


class DeviceOut(Out):
    device_id: str
    owner_kind: OwnerKind
    owner_id: str
    name: str
    curve25519: str
    ed25519: str
    created_at: Timestamp
    last_seen_at: Timestamp
    revoked: bool
    key_object: KeyObject | None


class StaffOut(Out):
    staff_id: str
    agency_id: str
    username: str
    display_name: str
    role: Role
    totp: bool


class WitnessOut(Out):
    witness_id: str
    case_id: str
    alias: str
    language: str
    timezone: str


class LoginOut(Out):
    device_id: str
    token: str
    #: A proof that this client signed in to this account: sent with the next sign-in,
    #: it exempts the client from the per-account lock others' failures can trigger.
    known_client: str
    staff: StaffOut


class MeOut(Out):
    device: DeviceOut
    staff: StaffOut | None
    witness: WitnessOut | None


class DevicesOut(Out):
    devices: list[DeviceOut]


class OneDeviceOut(Out):
    device: DeviceOut


class CaseOut(Out):
    case_id: str
    reference: str
    police_agency_id: str
    support_agency_id: str
    created_at: Timestamp
    closed: bool
    witness: WitnessOut | None


class CasesOut(Out):
    cases: list[CaseOut]


class TeamMemberOut(Out):
    staff_id: str
    display_name: str
    agency_id: str
    role: str


class CaseDetailOut(CaseOut):
    team: list[TeamMemberOut]
    devices: list[DeviceOut]


class ClosedCaseOut(CaseOut):
    newly_closed: bool
    revoked_devices: list[str]
    outcome: str


class AddedOut(Out):
    added: bool


class RemovedOut(Out):
    removed: bool


class CaseReviewedOut(Out):
    case_id: str
    next_review_at: Timestamp


class MemberDeviceOut(Out):
    device_id: str
    name: str
    key_object: KeyObject | None


class MemberKeysOut(Out):
    owner: str
    name: str
    role: str
    device_list: KeyObject | None
    devices: list[MemberDeviceOut]


class CaseKeysOut(Out):
    case_id: str
    roster: KeyObject | None
    members: list[MemberKeysOut]


class DeviceListOut(Out):
    device_list: KeyObject


class VersionOut(Out):
    version: int


class RosterOut(Out):
    roster: KeyObject | None


class IdentityBackupOut(Out):
    identity_key: str
    sealed: str


class EnrolmentOfficerOut(Out):
    enrolment_id: str
    witness_id: str
    state: EnrolmentState
    expires_at: Timestamp
    device_id: str | None
    phone_identity: str | None
    phone_mac: str | None
    phone_nonce: str | None


class EnrolmentPhoneOut(Out):
    enrolment_id: str
    state: EnrolmentState
    roster: KeyObject
    team_mac: str
    commitment: str
    officer_nonce: str | None


class EnrolledOut(Out):
    device_id: str
    token: str
    witness: WitnessOut
    enrolment: EnrolmentPhoneOut


class KeyCountOut(Out):
    one_time_keys: int


class ClaimedKeyOut(Out):
    key_id: str
    key: str
    signature: str


class ClaimOut(Out):
    device_id: str
    curve25519: str
    ed25519: str
    fallback: bool
    key: ClaimedKeyOut | None


class ClaimsOut(Out):
    keys: list[ClaimOut]


class ReceiptOut(Out):
    message_id: str
    stored_at: Timestamp
    duplicate: bool
    recipients: int
    missing_devices: list[str]


class ResendOut(Out):
    message_id: str
    device_id: str
    stored_at: Timestamp
    duplicate: bool


class MessageFrameOut(Out):
    type: Literal["message"]
    copy_id: int
    case_id: str
    message_id: str
    sender_device_id: str
    olm_type: int
    body: str
    sent_at: Timestamp


class MessagesOut(Out):
    messages: list[MessageFrameOut]


class AcknowledgedOut(Out):
    acknowledged: int


class EventsOut(Out):
    #: Small content-free events; each carries its ``event_id`` and a ``type``.
    events: list[dict[str, Any]]


class AttachmentOut(Out):
    attachment_id: str
    size: int
    created_at: Timestamp


class DeletedOut(Out):
    deleted: bool


class CheckInOut(Out):
    checkin_id: str
    state: CheckInState
    due_at: Timestamp
    closes_at: Timestamp
    deadline_at: Timestamp
    remind_at: Timestamp | None
    response: Response | None
    answered_at: Timestamp | None
    channel: str | None


class PromptOut(CheckInOut):
    #: The one-time nonce the phone signs with its answer.
    nonce: str


class CurrentCheckInOut(Out):
    checkin: PromptOut | None


class RecordedOut(Out):
    recorded: bool
    next_due_at: Timestamp | None


class PlanOut(Out):
    witness_id: str
    kind: str
    description: str
    every_hours: int | None
    anchor_local: str | None
    weekdays: list[int] | None
    times: list[str] | None
    timezone: str
    window_minutes: int
    grace_minutes: int
    reminder_minutes: int
    paused: bool
    paused_reason: str | None
    paused_until: Timestamp | None
    version: int
    current: CheckInOut | None


class PhoneSetOut(Out):
    ok: Literal[True]
    has_phone: bool


class DutyOut(Out):
    on_duty: bool


class CaseSettingsOut(Out):
    nudge_text: str | None
    offline_after_minutes: int
    silent_after_hours: int
    reminder_offsets_minutes: list[int] | None


class PolicyTargetOut(Out):
    agency: str | None
    roles: list[Role]
    staff_ids: list[str]
    on_duty_only: bool
    call: bool = False


class PolicyLevelOut(Out):
    after_minutes: int
    notify: list[PolicyTargetOut]


class PolicyOut(Out):
    levels: list[PolicyLevelOut]
    ack_timeout_minutes: int
    repeat_minutes: int
    #: Where the policy comes from: ``default``, ``agency:<id>`` or ``case:<id>``.
    source: str


class AlertOut(Out):
    alert_id: str
    case_id: str
    witness_id: str
    kind: AlertKind
    severity: Severity
    status: AlertStatus
    level: int
    round: int
    created_at: Timestamp
    next_escalation_at: Timestamp | None
    acknowledged_by: str | None
    acknowledged_at: Timestamp | None
    ack_expires_at: Timestamp | None
    resolved_by: str | None
    resolved_at: Timestamp | None
    outcome: str | None


class AlertsOut(Out):
    alerts: list[AlertOut]


class NotificationOut(Out):
    notification_id: str
    channel: str
    recipient_kind: str
    recipient_id: str
    level: int | None
    round: int | None
    status: NotificationStatus
    attempts: int
    sent_at: Timestamp | None
    delivered_at: Timestamp | None
    error_code: str | None


class AlertDetailOut(AlertOut):
    note: str | None
    notifications: list[NotificationOut]


class AppointmentOut(Out):
    appointment_id: str
    case_id: str
    witness_id: str
    kind: AppointmentKind
    starts_at: Timestamp
    ends_at: Timestamp
    timezone: str
    location_kind: LocationKind | None
    interpreter_booked: bool
    interpreter_language: str | None
    test_call_at: Timestamp | None
    test_call_ends_at: Timestamp | None
    confirm_by: Timestamp | None
    status: AppointmentStatus
    confirmation: Confirmation
    confirmed_at: Timestamp | None
    test_ready_at: Timestamp | None
    ready_at: Timestamp | None
    version: int


class AppointmentsOut(Out):
    appointments: list[AppointmentOut]


class FeedOut(Out):
    url: str


class RevokedOut(Out):
    revoked: bool


class EvaluationOut(Out):
    element: str
    proof: str


class VaultSetupOut(Out):
    device_id: str
    unlock_token: str
    oprf_public_key: str
    evaluations: list[EvaluationOut]


class AttemptOut(Out):
    attempt_id: str
    challenge: str


class EvaluateOut(Out):
    element: str
    proof: str
    attempt_id: str
    challenge: str
    attempts_left: int


class ConfirmedOut(Out):
    confirmed: Literal[True]


class AttemptsLeftOut(Out):
    attempts_left: int


class RetiredOut(Out):
    retired: bool


class ErasedOut(Out):
    erased: Literal[True]


class HealthOut(Out):
    status: Literal["ok", "unhealthy"]
    #: The scheduler watchdog's report, or null when no scheduler runs in this process.
    scheduler: dict[str, Any] | None
    #: "full" while the database refuses writes for lack of space (until one succeeds).
    storage: Literal["ok", "full"] = "ok"


class LiveOut(Out):
    status: Literal["ok"]


class ReadyOut(Out):
    """Every readiness check passed; ``checks`` names each one (``database``,
    ``migrations`` and, where this instance runs it, ``scheduler``) with ``ok``."""

    status: Literal["ready"]
    checks: dict[str, str]


class Problem(msgspec.Struct, kw_only=True):
    """An RFC 9457 problem (``application/problem+json``), as ``server.api.problems``
    writes it. ``code`` is the stable machine-readable reason; extensions such as
    ``retry_after`` or ``incident`` may follow."""

    type: str
    title: str
    status: int
    code: str
    detail: str | None = None


# ---------------------------------------------------------------- welfare visits


class VisitPlanOut(Out):
    witness_id: str
    every_days: int
    risk_level: RiskLevel
    #: False: no plan was set; these are the defaults the risk level sets.
    set: bool
    updated_at: Timestamp | None


class VisitOut(Out):
    """Who visits (a staff id) and when; what happened once recorded. Never the
    concerns (see ``VisitDetailOut``)."""

    visit_id: str
    case_id: str
    witness_id: str
    visitor_staff_id: str
    window_start: Timestamp
    window_end: Timestamp
    status: VisitStatus
    overdue: bool
    outcome: VisitOutcome | None
    seen_alone: bool | None
    has_concerns: bool
    recorded_at: Timestamp | None
    door_answer: DoorAnswer | None
    version: int


class VisitsOut(Out):
    visits: list[VisitOut]


class VisitDetailOut(Out):
    visit: VisitOut
    #: Opened from its sealed form; the reading is audited.
    concerns: str | None


class VisitRecordedOut(Out):
    visit: VisitOut
    next_visit: VisitOut | None


class DoorAnswerOut(Out):
    visit_id: str
    answer: DoorAnswer


# --- handover before return; risk assessment (issue 11, part "handover") ---


class HandoverOut(Out):
    """A handover as the case team sees it."""

    handover_id: str
    case_id: str
    receiving_agency_id: str
    return_on: str
    accept_by: Timestamp
    status: HandoverStatus
    state: HandoverState
    alert_raised: bool
    requested_by: str
    requested_at: Timestamp
    decided_by: str | None
    decided_at: Timestamp | None
    primary_contact_id: str | None
    alternate_contact_id: str | None
    decline_reason: str | None


class ConsentOut(Out):
    consent_id: str
    how: ConsentHow
    recorded_by: str
    given_at: Timestamp
    recorded_at: Timestamp


class CaseHandoverOut(Out):
    handover: HandoverOut | None
    consents: list[ConsentOut]


class HandoverRequestOut(Out):
    """A handover request as the receiving agency sees it: the minimum (the case id
    only after acceptance)."""

    handover_id: str
    alias: str
    language: str
    return_on: str
    accept_by: Timestamp
    risk_level: RiskLevel | None
    status: HandoverStatus
    case_id: str | None
    primary_contact_id: str | None
    alternate_contact_id: str | None


class HandoverRequestsOut(Out):
    requests: list[HandoverRequestOut]


class AssessmentOut(Out):
    """An assessment without its notes (they are read one at a time, audited)."""

    assessment_id: str
    case_id: str
    witness_id: str
    level: RiskLevel
    factors: list[RiskFactor]
    has_notes: bool
    assessed_by: str
    assessed_at: Timestamp
    review_due_at: Timestamp


class CheckInSuggestionOut(Out):
    """The level asks for check-ins every ``every_hours``; the plan gives fewer."""

    level: RiskLevel
    every_hours: int
    plan_every_hours: float | None


class AssessmentsOut(Out):
    assessments: list[AssessmentOut]
    checkin_suggestion: CheckInSuggestionOut | None


class AssessmentNotesOut(Out):
    assessment_id: str
    notes: str
