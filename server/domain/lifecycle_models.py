"""What the storage hands the case-lifecycle services (closing, review, erasure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class CaseLifecycleRow:
    case_id: str
    outcome: str | None
    closed_by: str | None
    closed_at: datetime | None
    retire_phones_at: datetime | None
    erase_at: datetime | None
    erased_at: datetime | None
    review_due_at: datetime | None
    review_reminded_at: datetime | None


@dataclass(frozen=True, slots=True)
class EnrolmentStateRow:
    """The newest enrolment of a witness's phone, as the console describes it."""

    state: str
    created_at: datetime
    expires_at: datetime
    device_id: str | None
