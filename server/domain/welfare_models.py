"""Records of the welfare side: check-in plans and occurrences, contact, alerts,
escalation policies and the notification outbox.

Every deadline is a column of a row (``next_action_at``, ``next_escalation_at``,
``ack_expires_at``, ``next_attempt_at``, ``silent_deadline_at``): the scheduler finds
due rows, claims them with a compare-and-swap on ``version`` or ``status`` and acts, so
nothing lives only in memory and nothing fires twice.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime


class CheckInState(enum.StrEnum):
    SCHEDULED = "scheduled"  # due in the future; the phone knows nothing yet
    OPEN = "open"  # prompted; waiting for an answer
    ANSWERED = "answered"
    MISSED = "missed"
    CANCELLED = "cancelled"  # superseded by a plan change or a pause


class CheckInStep(enum.StrEnum):
    """The next thing to do for an occurrence, at its ``next_action_at``."""

    PROMPT = "prompt"
    REMIND = "remind"
    MISS = "miss"
    SCHEDULE = "schedule"  # finished: schedule the next occurrence (after urgent work)


class Response(enum.StrEnum):
    OK = "ok"
    CONTACT = "contact"  # please contact me
    HELP = "help"  # I need help
    DURESS = "duress"  # looks like ok on the phone


class AlertKind(enum.StrEnum):
    MISSED_CHECKIN = "missed_checkin"
    DEVICE_SILENT = "device_silent"
    CONTACT_REQUESTED = "contact_requested"
    HELP = "help"
    PANIC = "panic"
    DURESS = "duress"
    STORE_WIPED = "store_wiped"
    MISSED_APPOINTMENT = "missed_appointment"
    NO_CONFIRMATION = "no_confirmation"
    NOT_READY = "not_ready"
    # The life of a case (issue 11): the receiving organisation has not accepted the
    # handover in time; a risk assessment's review is overdue; a planned welfare visit
    # has no record; the witness said at the door that the visitor is not the person
    # the team sent.
    HANDOVER_NOT_ACCEPTED = "handover_not_accepted"
    REVIEW_OVERDUE = "review_overdue"
    VISIT_OVERDUE = "visit_overdue"
    WRONG_VISITOR = "wrong_visitor"


class Severity(enum.StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    NORMAL = "normal"

    @property
    def rank(self) -> int:
        return {"critical": 3, "high": 2, "normal": 1}[self.value]


DEFAULT_SEVERITY = {
    AlertKind.MISSED_CHECKIN: Severity.HIGH,
    AlertKind.DEVICE_SILENT: Severity.NORMAL,
    AlertKind.CONTACT_REQUESTED: Severity.NORMAL,
    AlertKind.HELP: Severity.HIGH,
    AlertKind.PANIC: Severity.CRITICAL,
    AlertKind.DURESS: Severity.CRITICAL,
    AlertKind.STORE_WIPED: Severity.HIGH,
    AlertKind.MISSED_APPOINTMENT: Severity.HIGH,
    AlertKind.NO_CONFIRMATION: Severity.NORMAL,
    AlertKind.NOT_READY: Severity.HIGH,
    AlertKind.HANDOVER_NOT_ACCEPTED: Severity.HIGH,
    AlertKind.REVIEW_OVERDUE: Severity.NORMAL,
    AlertKind.VISIT_OVERDUE: Severity.HIGH,
    AlertKind.WRONG_VISITOR: Severity.CRITICAL,
}


class AlertStatus(enum.StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class NotificationStatus(enum.StrEnum):
    PENDING = "pending"  # to be sent at next_attempt_at
    SENDING = "sending"  # claimed under a lease by one dispatcher
    UNCERTAIN = "uncertain"  # the provider may have it: reconcile before retrying
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"  # permanent: counts as not notified
    SKIPPED = "skipped"  # nothing to send to (no phone number): counts as not notified
    CANCELLED = "cancelled"  # the alert was acknowledged or resolved first


@dataclass(frozen=True, slots=True)
class CheckInPlanRecord:
    witness_id: str
    case_id: str
    kind: str  # "interval" or "calendar"
    every_hours: int | None
    anchor_local: str | None  # ISO wall-clock time in the witness's zone
    weekdays: str | None  # "0,3" (Monday=0)
    times: str | None  # "10:00,18:30"
    timezone: str
    window_minutes: int
    grace_minutes: int
    reminder_minutes: int
    paused_reason: str | None
    paused_until: datetime | None
    version: int
    updated_by: str
    updated_at: datetime

    @property
    def paused(self) -> bool:
        return self.paused_reason is not None


@dataclass(frozen=True, slots=True)
class CheckIn:
    id: str
    witness_id: str
    case_id: str
    plan_version: int
    due_at: datetime
    closes_at: datetime
    deadline_at: datetime
    remind_at: datetime | None
    state: CheckInState
    step: CheckInStep | None
    next_action_at: datetime | None
    nonce: str
    prompted_at: datetime | None
    answered_at: datetime | None
    response: Response | None
    response_channel: str | None
    version: int


@dataclass(frozen=True, slots=True)
class CaseSettings:
    case_id: str
    nudge_text: str | None
    offline_after_s: int
    silent_after_s: int
    reminder_offsets: tuple[int, ...] | None = None  # minutes before; None: the defaults


@dataclass(frozen=True, slots=True)
class WitnessContact:
    witness_id: str
    case_id: str
    last_heartbeat_at: datetime | None
    last_contact_at: datetime | None
    silent_deadline_at: datetime | None
    battery: int | None


@dataclass(frozen=True, slots=True)
class Alert:
    id: str
    case_id: str
    witness_id: str
    kind: AlertKind
    severity: Severity
    source: str
    status: AlertStatus
    policy: str  # JSON snapshot of the escalation policy when it fired
    level: int
    round: int
    round_started_at: datetime
    next_escalation_at: datetime | None
    created_at: datetime
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    ack_expires_at: datetime | None
    resolved_by: str | None
    resolved_at: datetime | None
    #: The outcome in clear, only ever in memory: opened from ``outcome_sealed`` by the
    #: alert desk (or a row resolved before outcomes were sealed, until sealed at start).
    outcome: str | None
    note_sealed: bytes | None
    version: int
    outcome_sealed: bytes | None = None


@dataclass(frozen=True, slots=True)
class Notification:
    id: str
    purpose: str  # "alert", "checkin_nudge", "appointment_nudge"
    alert_id: str | None
    checkin_id: str | None
    channel: str  # "sms" or "app"
    recipient_kind: str
    recipient_id: str
    level: int | None
    round: int | None
    severity: str | None
    language: str
    body: str | None
    status: NotificationStatus
    attempts: int
    next_attempt_at: datetime | None
    lease_until: datetime | None
    claimed_at: datetime | None
    group_ref: str | None
    provider_id: str | None
    error_code: str | None
    created_at: datetime
    sent_at: datetime | None
    delivered_at: datetime | None
    #: Set once an attempt's outcome is unknown: reconcile against messages since then.
    reconcile_since: datetime | None = None
    #: Lower is sent first when senders are paced (see server.domain.welfare.urgency):
    #: 0/1 critical alerts (first/repeat), 2/3 other alerts, 4 reminders and nudges.
    urgency: int = 4


@dataclass(frozen=True, slots=True)
class WitnessVoice:
    """A witness's check-in-by-phone settings (issue 13, voice): keyed digests of the
    voice PIN and duress PIN (both None: no PIN), and when check-ins call the witness."""

    witness_id: str
    pin_digest: bytes | None
    duress_digest: bytes | None
    checkin_call: str = "never"  # "never", "fallback" (phone offline), "always"
