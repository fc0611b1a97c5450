"""Court dates on the phone: the list, and reminders made from content-free pushes.

The server tells the phone only *when* and *what kind*; the case team sends the private
details (court, address, video link and PIN, instructions, interpreter) end to end
encrypted, and the phone keeps them in its encrypted store. A reminder push carries no
details: the phone composes the full reminder in the witness's language from what it
keeps.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from client_sdk.events import AppointmentChanged, AppointmentReminder
from wire.i18n import texts


@dataclass(frozen=True, slots=True)
class UpcomingAppointment:
    """An appointment as the phone shows it: times in the witness's zone, and the
    private details when the team has sent them."""

    appointment_id: str
    kind: str
    starts_at: datetime
    ends_at: datetime
    local_start: str
    test_call_at: datetime | None
    status: str
    confirmation: str
    test_ready: bool
    ready: bool
    details: dict[str, str] | None


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def local_label(when: datetime, timezone: str) -> str:
    local = when.astimezone(zoneinfo.ZoneInfo(timezone))
    return f"{local:%Y-%m-%d %H:%M} ({timezone})"


def upcoming_from(
    rows: list[dict[str, Any]], details: dict[str, dict[str, str]], timezone: str
) -> list[UpcomingAppointment]:
    out = []
    for row in rows:
        starts = parse_time(row["starts_at"])
        out.append(
            UpcomingAppointment(
                appointment_id=row["appointment_id"],
                kind=row["kind"],
                starts_at=starts,
                ends_at=parse_time(row["ends_at"]),
                local_start=local_label(starts, timezone),
                test_call_at=None
                if row["test_call_at"] is None
                else parse_time(row["test_call_at"]),
                status=row["status"],
                confirmation=row["confirmation"],
                test_ready=row["test_ready_at"] is not None,
                ready=row["ready_at"] is not None,
                details=details.get(row["appointment_id"]),
            )
        )
    return out


def changed_event(frame: dict[str, Any]) -> AppointmentChanged:
    return AppointmentChanged(
        appointment_id=str(frame["appointment_id"]),
        change=str(frame["change"]),
        kind=str(frame["kind"]),
        starts_at=parse_time(str(frame["starts_at"])),
        status=str(frame["status"]),
        confirmation=str(frame["confirmation"]),
    )


def reminder_event(
    frame: dict[str, Any],
    details: dict[str, str] | None,
    *,
    language: str,
    timezone: str,
    now: datetime,
) -> AppointmentReminder:
    """Compose the reminder: how long until it (in the witness's calendar days), what it
    is, and what to do — in the witness's language."""
    for_test_call = frame.get("for") == "test_call" and frame.get("test_call_at")
    kind = "test_call" if for_test_call else str(frame["kind"])
    starts = parse_time(str(frame["test_call_at"] if for_test_call else frame["starts_at"]))
    zone = zoneinfo.ZoneInfo(timezone)
    days = max(0, (starts.astimezone(zone).date() - now.astimezone(zone).date()).days)
    # Rounded: a "2 hours before" reminder that lands a minute late still says 2 hours.
    hours = max(0, round((starts - now).total_seconds() / 3600)) if days == 0 else 0
    return AppointmentReminder(
        appointment_id=str(frame["appointment_id"]),
        kind=kind,
        title=texts.reminder_title(language, kind=kind, days=days, hours=hours),
        body=texts.reminder_body(language, kind=kind),
        starts_at=starts,
        local_time=local_label(starts, timezone),
        details=details,
    )
