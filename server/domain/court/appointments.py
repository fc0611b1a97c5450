"""Hearings and video-link appointments: scheduling, reminders, confirmation, attendance.

The server knows *when*, never *where* or *what*: times, kinds and statuses only. The
details go to the witness's phone end to end encrypted (the staff client sends them as
a structured message); reminders are content-free pushes the phone turns into a full
reminder in the witness's language from the details it keeps.

Every reminder and every check ("confirmed by then?", "ready at the test call?",
"ready at the start?") is a deadline row. Rescheduling or cancelling supersedes the
rows of the old version, so an old reminder can never fire; each row is marked done
with a compare-and-swap, so nothing fires twice, across restarts or instances.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from server.clock import Clock, iso
from server.domain.access import Principal
from server.domain.audit import Actor, AuditLog
from server.domain.case_lookup import case_for_staff, witness_of_case
from server.domain.court.models import (
    Appointment,
    AppointmentDeadline,
    AppointmentKind,
    AppointmentStatus,
    Confirmation,
    DeadlineKind,
    LocationKind,
)
from server.domain.effects import Effects
from server.domain.events import EventSink
from server.domain.models import Case, Device, OwnerKind, Staff, Witness
from server.domain.validation import check_language, check_timezone
from server.domain.welfare.alerts import AlertEngine, AlertSpec
from server.domain.welfare.checkins import default_settings, witness_sms
from server.domain.welfare.presence import phone_offline
from server.domain.welfare_models import AlertKind
from server.errors import Conflict, Forbidden, InvalidInput, NotFound
from server.ids import new_id
from server.storage.protocols import Store, UnitOfWork
from wire.i18n import texts

DAY = 24 * 60
DEFAULT_REMINDER_OFFSETS: tuple[int, ...] = (14 * DAY, 2 * DAY, DAY, 120)
TEST_CALL_REMINDER_OFFSETS: tuple[int, ...] = (DAY, 60)
DEFAULT_CONFIRM_BEFORE = timedelta(hours=48)
MAX_REMINDERS = 8


@dataclass(frozen=True, slots=True)
class AppointmentSpec:
    """An appointment as staff describe it (times are aware datetimes)."""

    kind: AppointmentKind
    starts_at: datetime
    ends_at: datetime
    timezone: str
    location_kind: LocationKind | None = None
    interpreter_booked: bool = False
    interpreter_language: str | None = None
    test_call_at: datetime | None = None
    test_call_ends_at: datetime | None = None
    confirm_by: datetime | None = None


def reminder_time(starts_at: datetime, offset_minutes: int, witness_timezone: str) -> datetime:
    """When a reminder ``offset_minutes`` before ``starts_at`` is due for the witness.

    Whole-day offsets ("2 days before") are counted on the witness's wall clock, so the
    reminder comes at the same local time of day as the appointment even across a DST
    change; shorter offsets ("2 hours before") are plain elapsed time.
    """
    if offset_minutes % DAY:
        return starts_at - timedelta(minutes=offset_minutes)
    zone = zoneinfo.ZoneInfo(witness_timezone)
    local = starts_at.astimezone(zone).replace(tzinfo=None) - timedelta(minutes=offset_minutes)
    return local.replace(tzinfo=zone).astimezone(starts_at.tzinfo)


def check_spec(spec: AppointmentSpec, now: datetime) -> None:
    """Raises: InvalidInput for an appointment that cannot work."""
    check_timezone(spec.timezone)
    if spec.starts_at.tzinfo is None or spec.ends_at.tzinfo is None:
        raise InvalidInput("give times with a timezone offset (ISO 8601)")
    if spec.ends_at <= spec.starts_at:
        raise InvalidInput("an appointment must end after it starts")
    if spec.ends_at - spec.starts_at > timedelta(days=1):
        raise InvalidInput("schedule each day of a hearing as its own appointment")
    if spec.starts_at <= now:
        raise InvalidInput("the appointment must be in the future")
    if spec.kind is AppointmentKind.VIDEO_LINK and spec.location_kind is None:
        raise InvalidInput("say where the witness will connect from (location_kind)")
    if spec.kind is AppointmentKind.HEARING and (spec.location_kind or spec.test_call_at):
        raise InvalidInput("a hearing in person has no remote location or test call")
    if spec.interpreter_booked != (spec.interpreter_language is not None):
        raise InvalidInput("an interpreter needs a language, and a language an interpreter")
    if spec.interpreter_language is not None:
        check_language(spec.interpreter_language)
    if (spec.test_call_at is None) != (spec.test_call_ends_at is None):
        raise InvalidInput("a test-call slot needs a start and an end")
    if (
        spec.test_call_at is not None
        and spec.test_call_ends_at is not None
        and not now < spec.test_call_at < spec.test_call_ends_at <= spec.starts_at
    ):
        raise InvalidInput("the test call must come before the appointment")
    if spec.confirm_by is not None and not now < spec.confirm_by < spec.starts_at:
        raise InvalidInput("confirmation must be due before the appointment")


def confirmation_deadline(spec: AppointmentSpec, now: datetime) -> datetime | None:
    """When the witness must have confirmed: as given, else 48 hours before (but never
    in the past); none when the appointment is too close for one to make sense."""
    due = spec.confirm_by or max(
        now + timedelta(minutes=5), spec.starts_at - DEFAULT_CONFIRM_BEFORE
    )
    return due if due < spec.starts_at else None


def deadlines_for(
    appointment: Appointment, witness_timezone: str, offsets: Sequence[int], now: datetime
) -> list[AppointmentDeadline]:
    """The reminder and check rows of one version of an appointment (future ones only)."""
    rows: list[tuple[DeadlineKind, int | None, datetime]] = []
    for minutes in sorted(set(offsets), reverse=True):
        rows.append(
            (
                DeadlineKind.REMINDER,
                minutes,
                reminder_time(appointment.starts_at, minutes, witness_timezone),
            )
        )
    if appointment.test_call_at is not None:
        for minutes in TEST_CALL_REMINDER_OFFSETS:
            due = reminder_time(appointment.test_call_at, minutes, witness_timezone)
            rows.append((DeadlineKind.TEST_CALL_REMINDER, minutes, due))
        rows.append((DeadlineKind.TEST_READY, None, appointment.test_call_at))
    if appointment.confirm_by is not None:
        rows.append((DeadlineKind.CONFIRM_BY, None, appointment.confirm_by))
    rows.append((DeadlineKind.READY, None, appointment.starts_at))
    return [
        AppointmentDeadline(
            id=new_id("adl"),
            appointment_id=appointment.id,
            case_id=appointment.case_id,
            witness_id=appointment.witness_id,
            kind=kind,
            offset_minutes=minutes,
            due_at=due,
            appointment_version=appointment.version,
        )
        for kind, minutes, due in rows
        if due > now
    ]


def appointment_event(appointment: Appointment, change: str) -> dict[str, object]:
    """The push that tells devices an appointment changed: when and what kind only."""
    return {
        "type": "appointment",
        "change": change,
        "appointment_id": appointment.id,
        "case_id": appointment.case_id,
        "kind": appointment.kind.value,
        "starts_at": iso(appointment.starts_at),
        "ends_at": iso(appointment.ends_at),
        "test_call_at": None if appointment.test_call_at is None else iso(appointment.test_call_at),
        "status": appointment.status.value,
        "confirmation": appointment.confirmation.value,
        "version": appointment.version,
    }


class AppointmentService:
    """Schedules court dates and runs their reminders and checks."""

    def __init__(
        self,
        store: Store,
        audit: AuditLog,
        clock: Clock,
        events: EventSink,
        alerts: AlertEngine,
        *,
        presence: Callable[[str], bool] = lambda _device_id: False,
        wake_dispatcher: Callable[[], None] | None = None,
    ) -> None:
        self._store = store
        self._audit = audit
        self._clock = clock
        self._events = events
        self._alerts = alerts
        self._presence = presence
        self._wake = wake_dispatcher

    # ------------------------------------------------------------------ staff

    async def _case_for(self, uow: UnitOfWork, staff: Staff, case_id: str, *, change: bool) -> Case:
        return await case_for_staff(
            uow,
            staff,
            case_id,
            change=change,
            refusal="Only the case team can change its court dates",
        )

    async def _witness(self, uow: UnitOfWork, case_id: str) -> Witness:
        return await witness_of_case(uow, case_id)

    async def _offsets(self, uow: UnitOfWork, case_id: str) -> tuple[int, ...]:
        settings = await uow.case_settings.get(case_id)
        if settings is None or settings.reminder_offsets is None:
            return DEFAULT_REMINDER_OFFSETS
        return settings.reminder_offsets

    async def schedule(self, staff: Staff, case_id: str, spec: AppointmentSpec) -> Appointment:
        """Put a hearing or video-link appointment in the case's calendar.

        Raises:
            InvalidInput: times or details that cannot work.
            NotFound, Forbidden: not the caller's case to schedule for.
            Conflict: the case has no witness yet.
        """
        now = self._clock.now()
        check_spec(spec, now)
        effects = Effects()
        async with self._store.write() as uow:
            await self._case_for(uow, staff, case_id, change=True)
            witness = await self._witness(uow, case_id)
            confirm_by = confirmation_deadline(spec, now)
            appointment = Appointment(
                id=new_id("apt"),
                case_id=case_id,
                witness_id=witness.id,
                kind=spec.kind,
                starts_at=spec.starts_at,
                ends_at=spec.ends_at,
                timezone=spec.timezone,
                location_kind=spec.location_kind,
                interpreter_booked=spec.interpreter_booked,
                interpreter_language=spec.interpreter_language,
                test_call_at=spec.test_call_at,
                test_call_ends_at=spec.test_call_ends_at,
                confirm_by=confirm_by,
                status=AppointmentStatus.SCHEDULED,
                confirmation=Confirmation.PENDING,
                confirmed_at=None,
                test_ready_at=None,
                ready_at=None,
                version=1,
                created_by=staff.id,
                created_at=now,
                updated_at=now,
            )
            await uow.appointments.insert(appointment)
            offsets = await self._offsets(uow, case_id)
            await uow.deadlines.insert_many(
                deadlines_for(appointment, witness.timezone, offsets, now)
            )
            await self._audit.append(
                uow.audit,
                Actor.staff(staff.id),
                "appointment.scheduled",
                subject=("appointment", appointment.id),
                case_id=case_id,
                details={"kind": spec.kind.value},
            )
            await self._announce(uow, appointment, "scheduled", effects)
        await effects.run(self._events)
        return appointment

    async def _announce(
        self, uow: UnitOfWork, appointment: Appointment, change: str, effects: Effects
    ) -> None:
        """Tell the phone (durably: it gets it when it next connects) and the team's
        devices; a phone that has been offline also gets a neutral SMS nudge when the
        appointment is scheduled, moved or cancelled."""
        now = self._clock.now()
        phones = (await uow.devices.for_owners(OwnerKind.WITNESS, [appointment.witness_id])).get(
            appointment.witness_id, []
        )
        staff = await uow.devices.staff_devices_for_cases([appointment.case_id])
        event = appointment_event(appointment, change)
        await effects.push_durable(
            uow, [d.id for d in phones], event, now, appointment.ends_at + timedelta(days=1)
        )
        effects.push(staff.get(appointment.case_id, []), event)
        if change in ("scheduled", "rescheduled", "cancelled"):
            await self._nudge_if_offline(
                uow, appointment.witness_id, appointment.case_id, phones, now, effects
            )

    async def _nudge_if_offline(
        self,
        uow: UnitOfWork,
        witness_id: str,
        case_id: str,
        phones: Sequence[Device],
        now: datetime,
        effects: Effects,
    ) -> None:
        contact = await uow.contact.get(witness_id)
        settings = await uow.case_settings.get(case_id) or default_settings(case_id)
        offline = phone_offline(
            phones,
            None if contact is None else contact.last_heartbeat_at,
            timedelta(seconds=settings.offline_after_s),
            now,
            self._presence,
        )
        if not offline or await uow.witnesses.phone(witness_id) is None:
            return
        witness = await uow.witnesses.get(witness_id)
        if witness is None:
            return
        await uow.notifications.insert_many(
            [
                witness_sms(
                    witness, "appointment_nudge", texts.appointment_nudge(witness.language), now
                )
            ]
        )
        effects.wake_dispatcher = True

    async def _load(
        self, uow: UnitOfWork, staff: Staff, appointment_id: str, *, change: bool
    ) -> Appointment:
        appointment = await uow.appointments.get(appointment_id)
        if appointment is None:
            raise NotFound("No such appointment")
        await self._case_for(uow, staff, appointment.case_id, change=change)
        return appointment

    async def reschedule(
        self, staff: Staff, appointment_id: str, spec: AppointmentSpec
    ) -> Appointment:
        """Move an appointment: its old reminders and checks are superseded, the witness
        must confirm again, and the phone is told.

        Raises:
            InvalidInput, NotFound, Forbidden: as for scheduling.
            Conflict: the appointment is cancelled or already over.
        """
        now = self._clock.now()
        check_spec(spec, now)
        effects = Effects()
        async with self._store.write() as uow:
            old = await self._load(uow, staff, appointment_id, change=True)
            if old.status is not AppointmentStatus.SCHEDULED:
                raise Conflict("Only a scheduled appointment can be moved")
            if spec.kind is not old.kind:
                raise InvalidInput("an appointment keeps its kind; cancel and schedule anew")
            witness = await self._witness(uow, old.case_id)
            confirm_by = confirmation_deadline(spec, now)
            moved = replace(
                old,
                starts_at=spec.starts_at,
                ends_at=spec.ends_at,
                timezone=spec.timezone,
                location_kind=spec.location_kind,
                interpreter_booked=spec.interpreter_booked,
                interpreter_language=spec.interpreter_language,
                test_call_at=spec.test_call_at,
                test_call_ends_at=spec.test_call_ends_at,
                confirm_by=confirm_by,
                confirmation=Confirmation.PENDING,
                confirmed_at=None,
                test_ready_at=None,
                ready_at=None,
                version=old.version + 1,
                updated_at=now,
            )
            if not await uow.appointments.save(moved, old.version):
                raise Conflict("The appointment was changed meanwhile; reload it")
            await uow.deadlines.supersede(old.id)
            offsets = await self._offsets(uow, old.case_id)
            await uow.deadlines.insert_many(deadlines_for(moved, witness.timezone, offsets, now))
            await self._audit.append(
                uow.audit,
                Actor.staff(staff.id),
                "appointment.rescheduled",
                subject=("appointment", old.id),
                case_id=old.case_id,
                details={"version": moved.version},
            )
            await self._announce(uow, moved, "rescheduled", effects)
        await effects.run(self._events)
        return moved

    async def cancel(self, staff: Staff, appointment_id: str, *, reason: str) -> Appointment:
        """Cancel: every pending reminder and check goes, and the phone is told.

        Raises:
            InvalidInput: no reason.
            NotFound, Forbidden: not the caller's to change.
            Conflict: already cancelled or over.
        """
        reason = reason.strip()
        if not reason or len(reason) > 500:
            raise InvalidInput("say why it is cancelled (up to 500 characters)")
        now = self._clock.now()
        effects = Effects()
        async with self._store.write() as uow:
            old = await self._load(uow, staff, appointment_id, change=True)
            if old.status is not AppointmentStatus.SCHEDULED:
                raise Conflict("Only a scheduled appointment can be cancelled")
            cancelled = replace(
                old, status=AppointmentStatus.CANCELLED, version=old.version + 1, updated_at=now
            )
            if not await uow.appointments.save(cancelled, old.version):
                raise Conflict("The appointment was changed meanwhile; reload it")
            await uow.deadlines.supersede(old.id)
            await self._audit.append(
                uow.audit,
                Actor.staff(staff.id),
                "appointment.cancelled",
                subject=("appointment", old.id),
                case_id=old.case_id,
                reason=reason,
            )
            await self._announce(uow, cancelled, "cancelled", effects)
        await effects.run(self._events)
        return cancelled

    async def mark_attendance(
        self, staff: Staff, appointment_id: str, *, attended: bool
    ) -> Appointment:
        """Record that the witness attended, or did not (which raises an alert).

        Raises:
            NotFound, Forbidden: not the caller's to change.
            Conflict: cancelled, or not started yet.
        """
        now = self._clock.now()
        effects = Effects()
        async with self._store.write() as uow:
            old = await self._load(uow, staff, appointment_id, change=True)
            if old.status is AppointmentStatus.CANCELLED:
                raise Conflict("This appointment was cancelled")
            if old.starts_at > now:
                raise Conflict("Attendance can be recorded once the appointment has started")
            status = AppointmentStatus.ATTENDED if attended else AppointmentStatus.MISSED
            marked = replace(old, status=status, version=old.version + 1, updated_at=now)
            if not await uow.appointments.save(marked, old.version):
                raise Conflict("The appointment was changed meanwhile; reload it")
            await uow.deadlines.supersede(old.id)
            if not attended:
                await self._alerts.raise_alerts(
                    uow,
                    [
                        AlertSpec(
                            old.case_id,
                            old.witness_id,
                            AlertKind.MISSED_APPOINTMENT,
                            f"appointment:{old.id}:missed",
                        )
                    ],
                    now,
                    effects,
                )
            await self._audit.append(
                uow.audit,
                Actor.staff(staff.id),
                "appointment.attendance_recorded",
                subject=("appointment", old.id),
                case_id=old.case_id,
                details={"attended": attended},
            )
            await self._announce(uow, marked, "attendance", effects)
        await effects.run(self._events, self._wake)
        return marked

    async def for_case(
        self, staff: Staff, case_id: str, *, include_past: bool = False
    ) -> list[Appointment]:
        async with self._store.read() as uow:
            await self._case_for(uow, staff, case_id, change=False)
            since = None if include_past else self._clock.now() - timedelta(days=1)
            return await uow.appointments.list_for_cases([case_id], since=since)

    async def get(self, staff: Staff, appointment_id: str) -> Appointment:
        async with self._store.read() as uow:
            return await self._load(uow, staff, appointment_id, change=False)

    # ------------------------------------------------------------------ the phone

    @staticmethod
    def _witness_of(principal: Principal) -> Witness:
        if principal.witness is None:
            raise Forbidden("This is for a witness's phone")
        return principal.witness

    async def upcoming(self, principal: Principal) -> list[Appointment]:
        """The witness's appointments that have not ended (a day of grace)."""
        witness = self._witness_of(principal)
        async with self._store.read() as uow:
            return await uow.appointments.list_for_witness(
                witness.id, since=self._clock.now() - timedelta(days=1)
            )

    async def _witness_load(
        self, uow: UnitOfWork, witness: Witness, appointment_id: str
    ) -> Appointment:
        appointment = await uow.appointments.get(appointment_id)
        if appointment is None or appointment.witness_id != witness.id:
            raise NotFound("No such appointment")
        if appointment.status is not AppointmentStatus.SCHEDULED:
            raise Conflict("This appointment is no longer scheduled")
        return appointment

    async def answer(
        self, principal: Principal, appointment_id: str, *, confirm: bool
    ) -> Appointment:
        """The witness confirms, or asks to rearrange (the team sees which).

        Raises:
            NotFound: not this witness's appointment.
            Conflict: cancelled or over.
        """
        witness = self._witness_of(principal)
        now = self._clock.now()
        effects = Effects()
        async with self._store.write() as uow:
            old = await self._witness_load(uow, witness, appointment_id)
            answered = replace(
                old,
                confirmation=Confirmation.CONFIRMED
                if confirm
                else Confirmation.REARRANGE_REQUESTED,
                confirmed_at=now,
                version=old.version + 1,
                updated_at=now,
            )
            if not await uow.appointments.save(answered, old.version):
                raise Conflict("The appointment changed meanwhile; reload it")
            # The deadline rows belong to the version whose times they track; answering
            # does not move the times, so they keep working with the newer version.
            await self._announce(uow, answered, "confirmation", effects)
        await effects.run(self._events)
        return answered

    async def ready(
        self, principal: Principal, appointment_id: str, *, test_call: bool
    ) -> Appointment:
        """The witness presses "I'm ready" for the test call or the appointment.

        Raises:
            NotFound: not this witness's appointment (or no test call for it).
            Conflict: cancelled or over.
        """
        witness = self._witness_of(principal)
        now = self._clock.now()
        effects = Effects()
        async with self._store.write() as uow:
            old = await self._witness_load(uow, witness, appointment_id)
            if test_call and old.test_call_at is None:
                raise NotFound("This appointment has no test call")
            ready = replace(
                old,
                test_ready_at=now if test_call else old.test_ready_at,
                ready_at=old.ready_at if test_call else now,
                version=old.version + 1,
                updated_at=now,
            )
            if not await uow.appointments.save(ready, old.version):
                raise Conflict("The appointment changed meanwhile; reload it")
            await self._announce(uow, ready, "ready", effects)
        await effects.run(self._events)
        return ready

    # ------------------------------------------------------------------ the sweep

    async def process_due(self, limit: int = 500) -> int:
        """Send due reminders and run due checks (one batch); returns how many."""
        now = self._clock.now()
        async with self._store.read() as uow:
            if not await uow.deadlines.any_due(now):
                return 0
        effects = Effects()
        async with self._store.write() as uow:
            due = await uow.deadlines.due(now, limit)
            if not due:
                return 0
            claimed = await uow.deadlines.mark_done([d.id for d in due], now)
            due = [d for d in due if d.id in claimed]
            appointments = {
                d.appointment_id: await uow.appointments.get(d.appointment_id) for d in due
            }
            witnesses = {
                w.id: w for w in await uow.witnesses.get_many(sorted({d.witness_id for d in due}))
            }
            phones = await uow.devices.for_owners(OwnerKind.WITNESS, sorted(witnesses))
            contacts = await uow.contact.get_many(sorted(witnesses))
            settings = await uow.case_settings.get_many(sorted({d.case_id for d in due}))
            alerts: list[AlertSpec] = []
            nudged: set[str] = set()
            nudges = []
            for deadline in due:
                appointment = appointments.get(deadline.appointment_id)
                witness = witnesses.get(deadline.witness_id)
                if (
                    appointment is None
                    or witness is None
                    or appointment.status is not AppointmentStatus.SCHEDULED
                ):
                    continue
                if deadline.kind in (DeadlineKind.REMINDER, DeadlineKind.TEST_CALL_REMINDER):
                    devices = phones.get(witness.id, [])
                    for_test_call = deadline.kind is DeadlineKind.TEST_CALL_REMINDER
                    await effects.push_durable(
                        uow,
                        [d.id for d in devices],
                        {
                            "type": "appointment_reminder",
                            "appointment_id": appointment.id,
                            "kind": appointment.kind.value,
                            "for": "test_call"
                            if deadline.kind is DeadlineKind.TEST_CALL_REMINDER
                            else "appointment",
                            "starts_at": iso(appointment.starts_at),
                            "test_call_at": None
                            if appointment.test_call_at is None
                            else iso(appointment.test_call_at),
                            "offset_minutes": deadline.offset_minutes,
                        },
                        now,
                        # Worth delivering late only until the thing itself begins.
                        (appointment.test_call_at or appointment.starts_at)
                        if for_test_call
                        else appointment.starts_at,
                    )
                    contact = contacts.get(witness.id)
                    case_settings = settings.get(deadline.case_id) or default_settings(
                        deadline.case_id
                    )
                    offline = phone_offline(
                        devices,
                        None if contact is None else contact.last_heartbeat_at,
                        timedelta(seconds=case_settings.offline_after_s),
                        now,
                        self._presence,
                    )
                    if offline and witness.id not in nudged:
                        nudged.add(witness.id)
                        nudges.append(witness)
                    continue
                alert = self._check(deadline, appointment)
                if alert is not None:
                    alerts.append(alert)
            rows = []
            with_phone = await uow.witnesses.phones([w.id for w in nudges])
            for witness in nudges:
                if witness.id in with_phone:
                    rows.append(
                        witness_sms(
                            witness,
                            "appointment_nudge",
                            texts.appointment_nudge(witness.language),
                            now,
                        )
                    )
            await uow.notifications.insert_many(rows)
            effects.wake_dispatcher = bool(rows)
            await self._alerts.raise_alerts(uow, alerts, now, effects)
        await effects.run(self._events, self._wake)
        return len(due)

    @staticmethod
    def _check(deadline: AppointmentDeadline, appointment: Appointment) -> AlertSpec | None:
        source = (
            f"appointment:{appointment.id}:v{deadline.appointment_version}:{deadline.kind.value}"
        )
        if (
            deadline.kind is DeadlineKind.CONFIRM_BY
            and appointment.confirmation is not Confirmation.CONFIRMED
        ):
            return AlertSpec(
                appointment.case_id, appointment.witness_id, AlertKind.NO_CONFIRMATION, source
            )
        if deadline.kind is DeadlineKind.TEST_READY and appointment.test_ready_at is None:
            return AlertSpec(
                appointment.case_id, appointment.witness_id, AlertKind.NOT_READY, source
            )
        if deadline.kind is DeadlineKind.READY and appointment.ready_at is None:
            return AlertSpec(
                appointment.case_id, appointment.witness_id, AlertKind.NOT_READY, source
            )
        return None
