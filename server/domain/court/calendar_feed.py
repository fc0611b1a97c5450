"""A staff member's court dates as an iCalendar (RFC 5545) feed behind a secret URL.

Calendar apps cannot send credentials, so the URL itself is the credential: 256 random
bits, stored only as a hash, revocable (and replaced when issued again). The feed says
as little as possible: the witness's alias, the kind of appointment, its times and
status. No court, address, link, PIN or name is ever in it — the server does not have
them. Each fetch is an audited consultation.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

import icalendar

from server.clock import Clock
from server.domain.audit import Actor, AuditLog
from server.domain.court.models import Appointment, AppointmentKind, AppointmentStatus
from server.domain.models import Staff
from server.domain.visit_models import Visit
from server.errors import NotFound
from server.storage.protocols import Store

KIND_LABEL = {AppointmentKind.HEARING: "Hearing", AppointmentKind.VIDEO_LINK: "Video link"}
STATUS = {
    AppointmentStatus.SCHEDULED: "CONFIRMED",
    AppointmentStatus.ATTENDED: "CONFIRMED",
    AppointmentStatus.MISSED: "CONFIRMED",
    AppointmentStatus.CANCELLED: "CANCELLED",
}


def feed_hash(token: str) -> bytes:
    return hashlib.sha256(b"witnesslink/calendar/v1\n" + token.encode()).digest()


class CalendarFeeds:
    """Issues, revokes and renders staff calendar feeds."""

    def __init__(self, store: Store, audit: AuditLog, clock: Clock) -> None:
        self._store = store
        self._audit = audit
        self._clock = clock

    async def issue(self, staff: Staff) -> str:
        """A new secret token (any earlier one stops working)."""
        token = secrets.token_urlsafe(32)
        async with self._store.write() as uow:
            await uow.calendar_feeds.put(staff.id, feed_hash(token), self._clock.now())
            await self._audit.append(
                uow.audit,
                Actor.staff(staff.id),
                "calendar.feed_issued",
                subject=("staff", staff.id),
            )
        return token

    async def revoke(self, staff: Staff) -> bool:
        async with self._store.write() as uow:
            revoked = await uow.calendar_feeds.delete(staff.id)
            if revoked:
                await self._audit.append(
                    uow.audit,
                    Actor.staff(staff.id),
                    "calendar.feed_revoked",
                    subject=("staff", staff.id),
                )
        return revoked

    async def render(self, token: str) -> bytes:
        """The feed for a token.

        Raises:
            NotFound: unknown or revoked token, or the account is disabled.
        """
        now = self._clock.now()
        async with self._store.read() as uow:
            owner = await uow.calendar_feeds.owner(feed_hash(token))
            staff = None if owner is None else await uow.staff.get(owner)
            if staff is None or not staff.active:
                raise NotFound("No such calendar")
            cases = await uow.cases.list_assigned(staff.id)
            case_ids = [c.id for c in cases]
            appointments = await uow.appointments.list_for_cases(
                case_ids, since=now - timedelta(days=30)
            )
            # Welfare visits of the staff member's cases (issue 11): alias and window
            # only, like an appointment — never where the witness lives.
            visits = await uow.visits.scheduled_for_cases(case_ids, since=now - timedelta(days=30))
            aliases: dict[str, str] = {}
            for case_id in case_ids:
                witness = await uow.witnesses.get_by_case(case_id)
                if witness is not None:
                    aliases[case_id] = witness.alias
        async with self._store.write() as uow:
            await self._audit.append(
                uow.audit,
                Actor.staff(staff.id),
                "calendar.feed_fetched",
                subject=("staff", staff.id),
                details={"appointments": len(appointments), "visits": len(visits)},
            )
        calendar = self._calendar(appointments, aliases, now)
        for visit in visits:
            calendar.add_component(visit_event(visit, aliases.get(visit.case_id, "witness"), now))
        rendered: bytes = calendar.to_ical()
        return rendered

    def _calendar(
        self, appointments: list[Appointment], aliases: dict[str, str], now: object
    ) -> icalendar.Calendar:
        calendar = icalendar.Calendar()
        calendar.add("prodid", "-//witnesslink//court dates//EN")
        calendar.add("version", "2.0")
        calendar.add("calscale", "GREGORIAN")
        calendar.add("x-wr-calname", "witnesslink court dates")
        for appointment in appointments:
            alias = aliases.get(appointment.case_id, "witness")
            calendar.add_component(
                self._event(
                    f"{appointment.id}@witnesslink",
                    f"{KIND_LABEL[appointment.kind]} — {alias}",
                    appointment,
                    appointment.starts_at,
                    appointment.ends_at,
                    now,
                )
            )
            if appointment.test_call_at is not None and appointment.test_call_ends_at is not None:
                calendar.add_component(
                    self._event(
                        f"{appointment.id}-test@witnesslink",
                        f"Test call — {alias}",
                        appointment,
                        appointment.test_call_at,
                        appointment.test_call_ends_at,
                        now,
                    )
                )
        return calendar

    @staticmethod
    def _event(
        uid: str, summary: str, appointment: Appointment, start: object, end: object, now: object
    ) -> icalendar.Event:
        event = icalendar.Event()
        event.add("uid", uid)
        event.add("dtstamp", now)
        event.add("dtstart", start)
        event.add("dtend", end)
        event.add("summary", summary)
        event.add("status", STATUS[appointment.status])
        event.add("sequence", appointment.version)
        event.add("transp", "OPAQUE")
        return event


def visit_event(visit: Visit, alias: str, now: object) -> icalendar.Event:
    """A scheduled welfare visit: the alias and the window, nothing else."""
    event = icalendar.Event()
    event.add("uid", f"{visit.id}@witnesslink")
    event.add("dtstamp", now)
    event.add("dtstart", visit.window_start)
    event.add("dtend", visit.window_end)
    event.add("summary", f"Welfare visit — {alias}")
    event.add("status", "CONFIRMED")
    event.add("sequence", visit.version)
    event.add("transp", "OPAQUE")
    return event
