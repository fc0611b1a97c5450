"""The caseload at a glance: every witness a staff member may see, and how they are.

One row per case with a welfare state a tired support worker can read in a second:

* ``duress`` — an open duress alert: act now, and quietly (someone may be watching);
* ``panic`` — an open panic alert: act now;
* ``alert`` — another open (or acknowledged, unresolved) alert;
* ``overdue`` — a check-in window has closed without an answer (grace is running);
* ``due`` — a check-in is open now;
* ``paused`` — check-ins paused (hospital stay, travel);
* ``ok`` — nothing waiting;
* ``no_plan`` — no check-in plan yet.

Loaded in a handful of batched queries however long the caseload.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from server.clock import Clock
from server.domain.access import SUPERVISING_ROLES, can_view_case
from server.domain.assessments import review_due
from server.domain.court.models import Appointment, AppointmentStatus
from server.domain.handovers import handover_state
from server.domain.models import Case, Staff, Witness
from server.domain.welfare_models import AlertKind, CheckInState
from server.storage.protocols import Store

STATE_ORDER = ("duress", "panic", "alert", "overdue", "due", "paused", "ok", "no_plan")


@dataclass(frozen=True, slots=True)
class CaseloadRow:
    case: Case
    witness: Witness | None
    state: str
    open_alerts: int
    last_contact_at: datetime | None
    next_checkin_at: datetime | None
    checkin_closes_at: datetime | None
    next_appointment_kind: str | None
    next_appointment_at: datetime | None
    #: The start of the earliest welfare visit still scheduled (issue 11).
    next_visit_at: datetime | None = None
    #: The handover (issue 11): none, requested, accepted, declined or overdue.
    handover_state: str = "none"
    #: The latest risk assessment's review has fallen due.
    review_due: bool = False
    #: The open case's next periodic review (issue 11, casework); None once closed.
    review_due_at: datetime | None = None
    #: Whether that periodic case review has fallen due.
    case_review_due: bool = False

    @property
    def urgency(self) -> int:
        return STATE_ORDER.index(self.state)


class Caseload:
    """Builds caseload rows for a staff member."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def rows(self, staff: Staff) -> list[CaseloadRow]:
        now = self._clock.now()
        async with self._store.read() as uow:
            cases = await uow.cases.list_assigned(staff.id)
            if staff.role in SUPERVISING_ROLES:
                known = {c.id for c in cases}
                cases += [
                    c
                    for c in await uow.cases.list_for_agency(staff.agency_id)
                    if c.id not in known and can_view_case(staff, c, assigned=False)
                ]
            case_ids = [c.id for c in cases]
            witnesses = await uow.witnesses.for_cases(case_ids)
            witness_ids = [w.id for w in witnesses.values()]
            current = await uow.checkins.current_many(witness_ids)
            plans = await uow.plans.get_many(witness_ids)
            contacts = await uow.contact.get_many(witness_ids)
            alerts = await uow.alerts.list_for_cases(
                case_ids, statuses=["open", "acknowledged"], limit=10_000
            )
            appointments = await uow.appointments.list_for_cases(case_ids, since=now)
            next_visits = await uow.visits.next_for_cases(case_ids)
            handovers = await uow.handovers.latest_for_cases(case_ids)
            assessments = await uow.assessments.latest_for_witnesses(witness_ids)
            reviews = await uow.case_lifecycle.reviews_for(case_ids)
        by_case: dict[str, list[str]] = {}
        for alert in alerts:
            by_case.setdefault(alert.case_id, []).append(alert.kind.value)
        next_appointment: dict[str, Appointment] = {}
        for appointment in appointments:
            if (
                appointment.status is AppointmentStatus.SCHEDULED
                and appointment.starts_at >= now - timedelta(hours=2)
            ):
                next_appointment.setdefault(appointment.case_id, appointment)
        rows = []
        for case in cases:
            witness = witnesses.get(case.id)
            kinds = by_case.get(case.id, [])
            checkin = None if witness is None else current.get(witness.id)
            plan = None if witness is None else plans.get(witness.id)
            contact = None if witness is None else contacts.get(witness.id)
            if AlertKind.DURESS.value in kinds:
                state = "duress"
            elif AlertKind.PANIC.value in kinds:
                state = "panic"
            elif kinds:
                state = "alert"
            elif (
                checkin is not None
                and checkin.state is CheckInState.OPEN
                and now >= checkin.closes_at
            ):
                state = "overdue"
            elif checkin is not None and checkin.state is CheckInState.OPEN:
                state = "due"
            elif plan is not None and plan.paused:
                state = "paused"
            elif plan is not None:
                state = "ok"
            else:
                state = "no_plan"
            upcoming = next_appointment.get(case.id)
            rows.append(
                CaseloadRow(
                    case=case,
                    witness=witness,
                    state=state,
                    open_alerts=len(kinds),
                    last_contact_at=None if contact is None else contact.last_contact_at,
                    next_checkin_at=None if checkin is None else checkin.due_at,
                    checkin_closes_at=None if checkin is None else checkin.closes_at,
                    next_appointment_kind=None if upcoming is None else upcoming.kind.value,
                    next_appointment_at=None if upcoming is None else upcoming.starts_at,
                    next_visit_at=next_visits.get(case.id),
                    handover_state=handover_state(handovers.get(case.id), now),
                    review_due=witness is not None and review_due(assessments.get(witness.id), now),
                    review_due_at=reviews.get(case.id),
                    case_review_due=case.id in reviews and reviews[case.id] <= now,
                )
            )
        rows.sort(key=lambda r: (r.urgency, r.case.reference))
        return rows
