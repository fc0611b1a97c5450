"""Welfare visits by the home-country team: the plan, each visit, its record.

The server holds only what it needs to run the visits: the interval, who visits
(a staff id) and the time window, the outcome category, "seen alone" and the concerns
(sealed at rest with the server key). Who comes and when is told to the witness end to
end encrypted by the visitor's own client (``client_sdk.visits``); the server's push
about a visit carries ids and times only.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from server.domain.risk_levels import RiskLevel


class VisitStatus(enum.StrEnum):
    SCHEDULED = "scheduled"
    RECORDED = "recorded"
    CANCELLED = "cancelled"


class VisitOutcome(enum.StrEnum):
    """What happened (a fixed list; the detail goes into the sealed concerns)."""

    HELD = "held"
    NOT_MET = "not_met"  # the witness was not found
    DECLINED = "declined"  # the witness declined the visit


class DoorAnswer(enum.StrEnum):
    """What the witness pressed at the door. A duress confirmation is stored as
    ``confirmed`` too: the visit row shows what the visitor's screen showed; the truth
    is in the duress alert."""

    CONFIRMED = "confirmed"
    NOT_THE_PERSON = "not_the_person"


@dataclass(frozen=True, slots=True)
class VisitPlan:
    """How often the home-country team visits this witness."""

    witness_id: str
    case_id: str
    every_days: int
    risk_level: RiskLevel
    updated_by: str
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Visit:
    """One scheduled visit and, once recorded, what happened.

    ``due_at`` is the end of the window plus the grace period while nobody has recorded
    the visit; the overdue sweep claims it (setting it to None) exactly once."""

    id: str
    case_id: str
    witness_id: str
    visitor_staff_id: str
    window_start: datetime
    window_end: datetime
    due_at: datetime | None
    status: VisitStatus
    version: int
    outcome: VisitOutcome | None
    seen_alone: bool | None
    concerns_sealed: bytes | None
    recorded_by: str | None
    recorded_at: datetime | None
    door_answer: DoorAnswer | None
    door_answered_at: datetime | None
    created_by: str
    created_at: datetime
