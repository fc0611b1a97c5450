"""Records of hearings and video-link appointments.

The server holds only when and what kind: times, the remote location's kind, whether an
interpreter is booked and in which language, statuses. Court names, addresses,
video-link URLs and PINs, instructions and interpreters' names travel only inside
end-to-end encrypted messages to the witness's phone.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime


class AppointmentKind(enum.StrEnum):
    HEARING = "hearing"  # a trial day, in person
    VIDEO_LINK = "video_link"  # remote testimony from the home country


class LocationKind(enum.StrEnum):
    HOME = "home"
    SUPPORT_OFFICE = "support_office"
    COURT = "court"
    EMBASSY = "embassy"


class AppointmentStatus(enum.StrEnum):
    SCHEDULED = "scheduled"
    CANCELLED = "cancelled"
    ATTENDED = "attended"
    MISSED = "missed"


class Confirmation(enum.StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    REARRANGE_REQUESTED = "rearrange_requested"


class DeadlineKind(enum.StrEnum):
    REMINDER = "reminder"
    TEST_CALL_REMINDER = "test_call_reminder"
    CONFIRM_BY = "confirm_by"  # no confirmation by then: alert
    TEST_READY = "test_ready"  # no "ready" when the test call starts: alert
    READY = "ready"  # no "ready" when the appointment starts: alert


@dataclass(frozen=True, slots=True)
class Appointment:
    id: str
    case_id: str
    witness_id: str
    kind: AppointmentKind
    starts_at: datetime
    ends_at: datetime
    timezone: str
    location_kind: LocationKind | None
    interpreter_booked: bool
    interpreter_language: str | None
    test_call_at: datetime | None
    test_call_ends_at: datetime | None
    confirm_by: datetime | None
    status: AppointmentStatus
    confirmation: Confirmation
    confirmed_at: datetime | None
    test_ready_at: datetime | None
    ready_at: datetime | None
    version: int
    created_by: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class AppointmentDeadline:
    id: str
    appointment_id: str
    case_id: str
    witness_id: str
    kind: DeadlineKind
    offset_minutes: int | None
    due_at: datetime
    appointment_version: int
