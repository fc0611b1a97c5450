"""The witness page: one case at a glance, and the forms that change it.

What it shows: the case's facts and devices, the check-in plan, welfare settings and
the escalation policy in force, court dates, and a timeline of check-ins, alerts,
appointments and device events. What it never shows: message content, hearing or
video-link details, or phone numbers — the server holds none of the first two, and the
third only sealed; the page says whether a number is set and lets staff set a new one
without ever displaying it.

Opening the page is an audited consultation (:meth:`CaseService.view_case`). Where the
viewer's agency requires a reason, the page asks for it with a POSTed form (never in the
URL, which would put it in access logs and browser history). The reason is then
remembered for ten minutes for that sign-in session and that case only, in this
process's memory, so that the redirects after the page's own forms do not ask again;
each view still writes its own ``witness.consulted`` entry with the reason. Memory
rather than the database, because the reason is already in the audit log and a second
copy would be one more thing to protect; with several instances behind a proxy a
request may reach one that has not seen the reason, and the page simply asks again.

Every POST checks the CSRF token first, calls one domain service, and redirects back.
"""

from __future__ import annotations

import hashlib
import re
import weakref
import zoneinfo
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from server.api.context import path_id
from server.console.views.handover import handover_section
from server.console.views.visit_context import visits_context
from server.console.web import PREFIX, Page, back_to, page, services, submitted_form
from server.domain.access import can_manage_case
from server.domain.cases import CaseView
from server.domain.court.appointments import AppointmentSpec
from server.domain.court.models import (
    Appointment,
    AppointmentKind,
    AppointmentStatus,
    LocationKind,
)
from server.domain.escalation import EscalationPolicy
from server.domain.models import OwnerKind, Witness
from server.domain.validation import check_timezone
from server.domain.welfare.plans import PlanSpec
from server.domain.welfare_models import CheckInState
from server.errors import InvalidInput, NotFound, ReasonRequired

routes = web.RouteTableDef()

CASE_PATH = PREFIX + "/cases/{case_id}"
REASON_TTL = timedelta(minutes=10)
MAX_REASON = 500
TIMELINE_LENGTH = 50
#: Open alerts listed at the top of the witness page (a case rarely has more than one).
OPEN_ALERTS_SHOWN = 100
POLICY_LEVELS = 3
DEVICE_ACTIONS = ("device.enrolled", "device.revoked", "device.wiped_after_wrong_pins")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
TIME_SLOTS = 3

# The role targets the policy form offers, as the escalation module spells them.
TARGET_CHOICES: dict[str, dict[str, Any]] = {
    "workers_on_duty": {"agency": "support", "roles": ["support_worker"], "on_duty_only": True},
    "support_supervisors": {"agency": "support", "roles": ["supervisor"], "on_duty_only": False},
    "officers": {"agency": "police", "roles": ["officer"], "on_duty_only": False},
    "police_supervisors": {"agency": "police", "roles": ["supervisor"], "on_duty_only": False},
}


# --------------------------------------------------------------------- the reason memory


class ConsultationReasons:
    """Reasons for consulting a witness, per (sign-in session, case), for a short while.

    Keys are digests of the session's id hash and the case id, so the map holds no
    cookie and cannot be read by another session. Bounded in size; expired entries go
    whenever a new one is remembered.
    """

    def __init__(self, ttl: timedelta = REASON_TTL, max_entries: int = 10_000) -> None:
        self._ttl = ttl
        self._max = max_entries
        self._entries: dict[bytes, tuple[str, datetime]] = {}

    @staticmethod
    def _key(session_hash: bytes, case_id: str) -> bytes:
        return hashlib.sha256(session_hash + b"\n" + case_id.encode()).digest()

    def remember(self, session_hash: bytes, case_id: str, reason: str, now: datetime) -> None:
        self._entries = {k: v for k, v in self._entries.items() if v[1] > now}
        if len(self._entries) >= self._max:
            oldest = min(self._entries, key=lambda k: self._entries[k][1])
            del self._entries[oldest]
        self._entries[self._key(session_hash, case_id)] = (reason, now + self._ttl)

    def recall(self, session_hash: bytes, case_id: str, now: datetime) -> str | None:
        entry = self._entries.get(self._key(session_hash, case_id))
        if entry is None or entry[1] <= now:
            return None
        return entry[0]


# One memory per application (a test may run several in one process); weak, so a
# stopped application takes its reasons with it.
_REASONS: weakref.WeakKeyDictionary[web.Application, ConsultationReasons] = (
    weakref.WeakKeyDictionary()
)


def reasons(request: web.Request) -> ConsultationReasons:
    memory = _REASONS.get(request.app)
    if memory is None:
        memory = _REASONS[request.app] = ConsultationReasons()
    return memory


def _session_hash(current: Page) -> bytes:
    assert current.signed_in is not None
    return current.signed_in.session.id_hash


# --------------------------------------------------------------------- the page


@dataclass(frozen=True, slots=True)
class TimelineItem:
    """One thing that happened; ``kind`` and ``what`` are codes the template words."""

    at: datetime
    kind: str  # checkin | alert | appointment | device
    what: str
    extra: str = ""


def case_path(case_id: str) -> str:
    return f"{PREFIX}/cases/{case_id}"


@routes.get(CASE_PATH)
async def witness_page(request: web.Request) -> web.StreamResponse:
    """The page, after an audited consultation (asks for a reason where required).

    A case the caller may not see is "not found" (and the attempt is audited).
    """
    current = await page(request)
    case_id = path_id(request, "case_id")
    svc = services(request)
    reason = reasons(request).recall(_session_hash(current), case_id, svc.clock.now())
    try:
        view = await svc.cases.view_case(current.staff, case_id, reason=reason)
    except ReasonRequired:
        return current.render("witness_reason.html", case_id=case_id, error=False)
    return await _render(request, current, view)


@routes.post(CASE_PATH + "/consult")
async def consult(request: web.Request) -> web.StreamResponse:
    """The reason for this consultation: used for this view's audit entry, then
    remembered briefly. The page is rendered here, not redirected to, so it works
    even where the next request reaches an instance without the memory."""
    current = await page(request)
    # Giving a reason to read is not an action: on-call screens may read without a
    # fresh sign-in.
    form = await submitted_form(request, current, is_action=False)
    case_id = path_id(request, "case_id")
    reason = form.get("reason", "").strip()
    if len(reason) > MAX_REASON:
        raise InvalidInput(f"the reason is limited to {MAX_REASON} characters")
    svc = services(request)
    try:
        view = await svc.cases.view_case(current.staff, case_id, reason=reason or None)
    except ReasonRequired:
        return current.render("witness_reason.html", status=422, case_id=case_id, error=True)
    if reason:
        reasons(request).remember(_session_hash(current), case_id, reason, svc.clock.now())
    return await _render(request, current, view)


@routes.get(CASE_PATH + "/consult")
async def back_to_page(request: web.Request) -> web.StreamResponse:
    """Pages rendered in answer to a POST come back here on a reload by GET (the
    language switch does that): go to the witness page."""
    await page(request)
    raise web.HTTPSeeOther(case_path(path_id(request, "case_id")))


async def _render(request: web.Request, current: Page, view: CaseView) -> web.StreamResponse:
    svc = services(request)
    staff = current.staff
    case = view.case
    witness = view.witness
    assigned = any(member.staff_id == staff.id for member in view.team)
    manage = can_manage_case(staff, case, assigned=assigned)
    plan = None if witness is None else await svc.plans.view(staff, witness.id)
    settings = await svc.welfare.case_settings(staff, case.id)
    policy, source = await svc.welfare.policy_for_case(staff, case.id)
    appointments = await svc.appointments.for_case(staff, case.id, include_past=True)
    names = {member.staff_id: member.display_name for member in view.team}
    instructions = (
        None if witness is None else await svc.alert_guidance.instructions(staff, witness.id)
    )
    async with svc.store.read() as uow:
        has_phone = witness is not None and await uow.witnesses.phone(witness.id) is not None
        voice = None if witness is None else await uow.witness_voice.get(witness.id)
        contact = None if witness is None else await uow.contact.get(witness.id)
        checkins = (
            [] if witness is None else await uow.checkins.history(witness.id, TIMELINE_LENGTH)
        )
        alerts = await uow.alerts.list_for_cases(
            [case.id], statuses=["open", "acknowledged", "resolved"], limit=TIMELINE_LENGTH
        )
        open_alerts = await uow.alerts.list_for_cases(
            [case.id], statuses=["open", "acknowledged"], limit=OPEN_ALERTS_SHOWN
        )
        device_events = []
        for action in DEVICE_ACTIONS:
            device_events += await uow.audit.query(
                case_id=case.id, action=action, limit=TIMELINE_LENGTH
            )
        for staff_id in _named_staff(policy):
            if staff_id not in names:
                member = await uow.staff.get(staff_id)
                names[staff_id] = member.display_name if member else staff_id
    timeline: list[TimelineItem] = []
    for checkin in checkins:
        if checkin.state is CheckInState.SCHEDULED:
            continue
        timeline.append(
            TimelineItem(
                checkin.answered_at or checkin.due_at,
                "checkin",
                checkin.state.value,
                "" if checkin.response is None else checkin.response.value,
            )
        )
    for alert in alerts:
        timeline.append(
            TimelineItem(alert.created_at, "alert", alert.kind.value, alert.status.value)
        )
    for appointment in appointments:
        timeline.append(
            TimelineItem(appointment.created_at, "appointment", "scheduled", appointment.kind.value)
        )
        if appointment.status is not AppointmentStatus.SCHEDULED:
            timeline.append(
                TimelineItem(
                    appointment.updated_at,
                    "appointment",
                    appointment.status.value,
                    appointment.kind.value,
                )
            )
    for entry in device_events:
        timeline.append(TimelineItem(entry.at, "device", entry.action, entry.subject_id or ""))
    timeline.sort(key=lambda item: item.at, reverse=True)
    now = svc.clock.now()
    return current.render(
        "witness.html",
        case=case,
        witness=witness,
        team=view.team,
        devices=view.devices,
        owners=_owners(view, names),
        can_manage=manage,
        can_change=assigned or manage,
        plan=plan,
        plan_form=_plan_form(plan),
        settings=settings,
        policy=_policy_view(policy, names),
        policy_source=_policy_source(source, case.police_agency_id, case.support_agency_id),
        policy_form=_policy_form(policy),
        has_phone=has_phone,
        instructions=instructions,
        voice=voice,
        contact=contact,
        appointments=appointments,
        started={a.id: a.starts_at <= now for a in appointments},
        timeline=timeline[:TIMELINE_LENGTH],
        # At the top of the page, not below thousands of pixels of settings.
        open_alerts=sorted(open_alerts, key=lambda a: (-a.severity.rank, a.created_at)),
        weekdays=WEEKDAYS,
        time_slots=TIME_SLOTS,
        target_choices=list(TARGET_CHOICES),
        location_kinds=[kind.value for kind in LocationKind],
        now=now,
        **await visits_context(svc, staff, case, witness, view.team),
        **await handover_section(svc, staff, case, witness, assigned=assigned),
        casework=await svc.case_lifecycle.overview(view),
    )


def _owners(view: CaseView, names: dict[str, str]) -> dict[str, str]:
    """Who each device belongs to, by alias or display name."""
    owners: dict[str, str] = {}
    for device in view.devices:
        if device.owner_kind is OwnerKind.WITNESS:
            owners[device.id] = view.witness.alias if view.witness else ""
        else:
            owners[device.id] = names.get(device.owner_id, "")
    return owners


def _named_staff(policy: EscalationPolicy) -> list[str]:
    return [s for level in policy.levels for target in level.targets for s in target.staff_ids]


def _policy_source(source: str, police_agency_id: str, support_agency_id: str) -> str:
    if source.startswith("case:"):
        return "case"
    if source == f"agency:{support_agency_id}":
        return "support_agency"
    if source == f"agency:{police_agency_id}":
        return "police_agency"
    return "default"


def _policy_view(policy: EscalationPolicy, names: dict[str, str]) -> dict[str, Any]:
    """The policy in plain data the template can word in the console's language."""
    return {
        "levels": [
            {
                "after_minutes": level.after_minutes,
                "targets": [
                    {
                        "agency": target.agency,
                        "roles": [role.value for role in target.roles],
                        "on_duty_only": target.on_duty_only,
                        "staff": [names.get(s, s) for s in target.staff_ids],
                    }
                    for target in level.targets
                ],
            }
            for level in policy.levels
        ],
        "ack_timeout_minutes": policy.ack_timeout_minutes,
        "repeat_minutes": policy.repeat_minutes,
    }


def _policy_form(policy: EscalationPolicy) -> dict[str, Any]:
    """The policy as the simple form shows it: per level, minutes and chosen targets;
    ``partial`` when some of the policy cannot be shown by the form's choices."""
    by_shape = {
        (spec["agency"], spec["roles"][0], spec["on_duty_only"]): key
        for key, spec in TARGET_CHOICES.items()
    }
    levels: list[dict[str, Any]] = []
    partial = len(policy.levels) > POLICY_LEVELS
    for level in policy.levels[:POLICY_LEVELS]:
        chosen: list[str] = []
        for target in level.targets:
            if target.staff_ids:
                partial = True
            for role in target.roles:
                key = by_shape.get((target.agency, role.value, target.on_duty_only))
                if key is None:
                    partial = True
                elif key not in chosen:
                    chosen.append(key)
        levels.append({"after_minutes": level.after_minutes, "targets": chosen})
    while len(levels) < POLICY_LEVELS:
        levels.append({"after_minutes": None, "targets": []})
    return {
        "levels": levels,
        "partial": partial,
        "ack_timeout_minutes": policy.ack_timeout_minutes,
        "repeat_minutes": policy.repeat_minutes,
    }


def _plan_form(plan: Any) -> dict[str, Any]:
    """The plan form's initial values: the current plan, else sensible defaults."""
    values: dict[str, Any] = {
        "mode": "calendar",
        "every_hours": 24,
        "start_local": "10:00",
        "weekdays": list(WEEKDAYS),
        "times": ["10:00"],
        "window_minutes": 60,
        "grace_minutes": 30,
        "reminder_minutes": 15,
    }
    if plan is None:
        return values
    record = plan.plan
    values.update(
        window_minutes=record.window_minutes,
        grace_minutes=record.grace_minutes,
        reminder_minutes=record.reminder_minutes,
    )
    if record.kind == "interval":
        values.update(
            mode="interval",
            every_hours=record.every_hours,
            start_local=datetime.fromisoformat(record.anchor_local).strftime("%H:%M"),
        )
    else:
        values.update(
            weekdays=[WEEKDAYS[int(d)] for d in (record.weekdays or "").split(",") if d],
            times=[t for t in (record.times or "").split(",") if t],
        )
    return values


# --------------------------------------------------------------------- form parsing

_HHMM = re.compile(r"^\d{2}:\d{2}$")


def _int(form: MultiDictProxy[str], name: str, what: str) -> int:
    """Raises: InvalidInput when the field is not a whole number."""
    value = form.get(name, "").strip()
    if not re.fullmatch(r"\d{1,6}", value):
        raise InvalidInput(f"{what} must be a whole number")
    return int(value)


def _local_time(value: str, what: str) -> str:
    value = value.strip()
    if not _HHMM.match(value):
        raise InvalidInput(f"{what} must be a time of day such as 10:00")
    return value


def _local_datetime(value: str, timezone: str, what: str) -> datetime:
    """A ``datetime-local`` field read as wall-clock time in ``timezone``.

    Raises:
        InvalidInput: not a date and time.
    """
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise InvalidInput(f"{what} must be a date and time") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zoneinfo.ZoneInfo(timezone))
    return parsed


def _optional(form: MultiDictProxy[str], name: str) -> str | None:
    value = form.get(name, "").strip()
    return value or None


def plan_spec(form: MultiDictProxy[str]) -> PlanSpec:
    """Raises: InvalidInput for a form that does not describe a plan."""
    window = _int(form, "window_minutes", "the response window")
    grace = _int(form, "grace_minutes", "the grace period")
    reminder = _int(form, "reminder_minutes", "the reminder")
    mode = form.get("mode")
    if mode == "interval":
        start = _optional(form, "start_local")
        return PlanSpec(
            every_hours=_int(form, "every_hours", "the interval in hours"),
            start_local=None if start is None else _local_time(start, "the start time"),
            window_minutes=window,
            grace_minutes=grace,
            reminder_minutes=reminder,
        )
    if mode == "calendar":
        days = tuple(d for d in form.getall("weekdays", []) if d in WEEKDAYS)
        if not days:
            raise InvalidInput("choose at least one day")
        times = tuple(_local_time(t, "each time") for t in form.getall("times", []) if t.strip())
        return PlanSpec(
            weekdays=days,
            times=times,
            window_minutes=window,
            grace_minutes=grace,
            reminder_minutes=reminder,
        )
    raise InvalidInput("choose every few hours or days and times")


def policy_spec(form: MultiDictProxy[str]) -> dict[str, Any]:
    """The escalation policy the structured form describes, in the policy's JSON form.

    Level 1 fires when the alert fires; a later level left empty is dropped.

    Raises:
        InvalidInput: a level with targets but no time, or a time but no targets.
    """
    levels: list[dict[str, Any]] = []
    for n in range(1, POLICY_LEVELS + 1):
        chosen = [k for k in form.getall(f"level{n}_targets", []) if k in TARGET_CHOICES]
        unique = list(dict.fromkeys(chosen))
        if n == 1:
            minutes = 0
        else:
            raw = form.get(f"level{n}_minutes", "").strip()
            if not raw and not unique:
                continue
            minutes = _int(form, f"level{n}_minutes", f"the minutes of level {n}")
        if not unique:
            raise InvalidInput(f"choose who level {n} notifies")
        levels.append(
            {"after_minutes": minutes, "notify": [dict(TARGET_CHOICES[k]) for k in unique]}
        )
    return {
        "levels": levels,
        "ack_timeout_minutes": _int(form, "ack_timeout_minutes", "the acknowledgement timeout"),
        "repeat_minutes": _int(form, "repeat_minutes", "the repeat interval"),
    }


def appointment_spec(form: MultiDictProxy[str]) -> AppointmentSpec:
    """Raises: InvalidInput for a form that does not describe an appointment."""
    try:
        kind = AppointmentKind(form.get("kind", ""))
    except ValueError as exc:
        raise InvalidInput("choose a hearing or a video link") from exc
    timezone = check_timezone(form.get("timezone", "").strip())
    location = _optional(form, "location_kind")
    try:
        location_kind = None if location is None else LocationKind(location)
    except ValueError as exc:
        raise InvalidInput("choose where the witness connects from") from exc
    language = _optional(form, "interpreter_language")
    test_start = _optional(form, "test_call_at")
    test_end = _optional(form, "test_call_ends_at")
    return AppointmentSpec(
        kind=kind,
        starts_at=_local_datetime(form.get("starts_at", ""), timezone, "the start"),
        ends_at=_local_datetime(form.get("ends_at", ""), timezone, "the end"),
        timezone=timezone,
        location_kind=location_kind if kind is AppointmentKind.VIDEO_LINK else None,
        interpreter_booked=language is not None,
        interpreter_language=language,
        test_call_at=None
        if test_start is None
        else _local_datetime(test_start, timezone, "the test call's start"),
        test_call_ends_at=None
        if test_end is None
        else _local_datetime(test_end, timezone, "the test call's end"),
    )


# --------------------------------------------------------------------- the forms


async def witness_of_case(request: web.Request, case_id: str) -> str:
    """The case's witness; the service called next decides whether the caller may act.

    Raises:
        NotFound: no such case, or no witness on it.
    """
    witness = await _witness(request, case_id)
    return witness.id


async def _witness(request: web.Request, case_id: str) -> Witness:
    """Raises: NotFound when the case has no witness (or does not exist)."""
    async with services(request).store.read() as uow:
        witness: Witness | None = await uow.witnesses.get_by_case(case_id)
    if witness is None:
        raise NotFound("No such witness")
    return witness


@routes.post(CASE_PATH + "/plan")
async def set_plan(request: web.Request) -> web.StreamResponse:
    current = await page(request)
    form = await submitted_form(request, current)
    case_id = path_id(request, "case_id")
    witness_id = await witness_of_case(request, case_id)
    await services(request).plans.set_plan(current.staff, witness_id, plan_spec(form))
    raise back_to(case_path(case_id), "saved")


@routes.post(CASE_PATH + "/plan/pause")
async def pause_plan(request: web.Request) -> web.StreamResponse:
    current = await page(request)
    form = await submitted_form(request, current)
    case_id = path_id(request, "case_id")
    witness = await _witness(request, case_id)
    until = _optional(form, "until")
    await services(request).plans.pause(
        current.staff,
        witness.id,
        reason=form.get("reason", ""),
        until=None
        if until is None
        else _local_datetime(until, witness.timezone, "the automatic resume"),
    )
    raise back_to(case_path(case_id), "saved")


@routes.post(CASE_PATH + "/plan/resume")
async def resume_plan(request: web.Request) -> web.StreamResponse:
    current = await page(request)
    await submitted_form(request, current)
    case_id = path_id(request, "case_id")
    witness_id = await witness_of_case(request, case_id)
    await services(request).plans.resume(current.staff, witness_id)
    raise back_to(case_path(case_id), "saved")


@routes.post(CASE_PATH + "/settings")
async def set_settings(request: web.Request) -> web.StreamResponse:
    current = await page(request)
    form = await submitted_form(request, current)
    case_id = path_id(request, "case_id")
    welfare = services(request).welfare
    existing = await welfare.case_settings(current.staff, case_id)
    await welfare.set_case_settings(
        current.staff,
        case_id,
        nudge_text=form.get("nudge_text", ""),
        offline_after=timedelta(minutes=_int(form, "offline_after_minutes", "offline after")),
        silent_after=timedelta(hours=_int(form, "silent_after_hours", "silent after")),
        reminder_offsets=existing.reminder_offsets,
    )
    raise back_to(case_path(case_id), "saved")


@routes.post(CASE_PATH + "/phone")
async def set_phone(request: web.Request) -> web.StreamResponse:
    """Set or erase the witness's SMS number; write-only, never shown back."""
    current = await page(request)
    form = await submitted_form(request, current)
    case_id = path_id(request, "case_id")
    witness_id = await witness_of_case(request, case_id)
    if form.get("erase") == "1":
        number = None
    else:
        number = form.get("number", "").strip()
        if not number:
            raise InvalidInput("type the witness's phone number, e.g. +40 712 345 678")
    await services(request).welfare.set_witness_phone(current.staff, witness_id, number)
    raise back_to(case_path(case_id), "saved")


@routes.post(CASE_PATH + "/policy")
async def set_policy(request: web.Request) -> web.StreamResponse:
    current = await page(request)
    form = await submitted_form(request, current)
    case_id = path_id(request, "case_id")
    await services(request).welfare.set_case_policy(current.staff, case_id, policy_spec(form))
    raise back_to(case_path(case_id), "saved")


@routes.post(CASE_PATH + "/appointments")
async def schedule(request: web.Request) -> web.StreamResponse:
    current = await page(request)
    form = await submitted_form(request, current)
    case_id = path_id(request, "case_id")
    await services(request).appointments.schedule(current.staff, case_id, appointment_spec(form))
    raise back_to(case_path(case_id), "scheduled")


async def _appointment_of_case(request: web.Request, current: Page, case_id: str) -> Appointment:
    """The appointment in the path, which must belong to the case in the path.

    Raises:
        NotFound: not visible, or of another case.
    """
    appointment: Appointment = await services(request).appointments.get(
        current.staff, path_id(request, "appointment_id")
    )
    if appointment.case_id != case_id:
        raise NotFound("No such appointment")
    return appointment


@routes.post(CASE_PATH + "/appointments/{appointment_id}/cancel")
async def cancel(request: web.Request) -> web.StreamResponse:
    current = await page(request)
    form = await submitted_form(request, current)
    case_id = path_id(request, "case_id")
    appointment = await _appointment_of_case(request, current, case_id)
    await services(request).appointments.cancel(
        current.staff, appointment.id, reason=form.get("reason", "")
    )
    raise back_to(case_path(case_id), "cancelled")


@routes.post(CASE_PATH + "/appointments/{appointment_id}/attendance")
async def attendance(request: web.Request) -> web.StreamResponse:
    current = await page(request)
    form = await submitted_form(request, current)
    case_id = path_id(request, "case_id")
    appointment = await _appointment_of_case(request, current, case_id)
    attended = form.get("attended")
    if attended not in ("yes", "no"):
        raise InvalidInput("say whether the witness attended")
    await services(request).appointments.mark_attendance(
        current.staff, appointment.id, attended=attended == "yes"
    )
    raise back_to(case_path(case_id), "saved")


@routes.post(CASE_PATH + "/devices/{device_id}/revoke")
async def revoke(request: web.Request) -> web.StreamResponse:
    current = await page(request)
    await submitted_form(request, current)
    case_id = path_id(request, "case_id")
    await services(request).devices.revoke_as_staff(current.staff, path_id(request, "device_id"))
    raise back_to(case_path(case_id), "revoked")
