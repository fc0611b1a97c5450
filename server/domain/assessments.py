"""Risk and needs assessment (issue 11, item 3): recorded before the return and
reviewed on a schedule.

An assessment is a risk level and factors from a fixed list (``risk_levels``), with
notes sealed at rest. Each one is a new row — the history is never rewritten — and
reading notes is an audited consultation, with a reason where the reader's agency
requires one (as opening the witness page does). The case team (assigned staff, and
supervisors and admins of either of the case's agencies) records and reads them.

The level sets defaults (:func:`server.domain.risk_levels.defaults_for`): the next
review date, and the check-in and visit intervals. A check-in plan the team set is
never rewritten here: :func:`checkin_suggestion` says whether the level asks for more
frequent check-ins than the plan gives, and the console offers to apply the default.

A review that falls due pushes a content-free ``review_due`` event to the case team's
devices (and the caseload shows "review due"); ``grace`` later, still not reviewed, it
raises ``review_overdue`` (source ``review:<assessment id>:<due ms>``). A new
assessment supersedes the previous one's deadlines.

For other parts: :func:`current_assessment` and :func:`latest_level` give the witness's
current assessment and level (the visits plan takes its interval from it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from server.clock import Clock, iso, to_ms
from server.domain.access import can_view_case
from server.domain.audit import Actor, AuditLog
from server.domain.case_lookup import case_for_staff, witness_of_case
from server.domain.effects import Effects
from server.domain.events import EventSink
from server.domain.free_text import check_free_text
from server.domain.handover_models import (
    Assessment,
    ReviewDeadline,
    ReviewDeadlineKind,
)
from server.domain.models import Case, Staff, Witness
from server.domain.risk_levels import RiskFactor, RiskLevel, defaults_for
from server.domain.welfare.alerts import AlertEngine, AlertSpec
from server.domain.welfare_models import AlertKind, CheckInPlanRecord
from server.errors import InvalidInput, NotFound, ReasonRequired
from server.ids import new_id
from server.security.sealing import Sealer
from server.storage.protocols import Store, UnitOfWork

MAX_NOTES = 8000


async def current_assessment(store: Store, witness_id: str) -> Assessment | None:
    """The witness's latest assessment, or None if none was recorded."""
    async with store.read() as uow:
        return (await uow.assessments.latest_for_witnesses([witness_id])).get(witness_id)


async def latest_level(store: Store, witness_id: str) -> RiskLevel | None:
    """The risk level of the witness's latest assessment (None: never assessed)."""
    assessment = await current_assessment(store, witness_id)
    return None if assessment is None else assessment.level


def plan_every_hours(plan: CheckInPlanRecord) -> float | None:
    """The average hours between check-ins a plan gives (None: not known)."""
    if plan.kind == "interval":
        return None if plan.every_hours is None else float(plan.every_hours)
    times = [t for t in (plan.times or "").split(",") if t]
    days = len([d for d in (plan.weekdays or "").split(",") if d]) or 7
    per_week = len(times) * days
    return None if per_week == 0 else 168.0 / per_week


@dataclass(frozen=True, slots=True)
class CheckInSuggestion:
    """The level asks for check-ins every ``every_hours``; the plan gives fewer."""

    level: RiskLevel
    every_hours: int
    plan_every_hours: float | None


def checkin_suggestion(
    level: RiskLevel, plan: CheckInPlanRecord | None
) -> CheckInSuggestion | None:
    """A suggestion to apply the level's default check-in plan, when the current plan
    (or no plan) checks in less often than the level's default; else None."""
    wanted = defaults_for(level).checkin_every_hours
    if plan is None:
        return CheckInSuggestion(level, wanted, None)
    current = plan_every_hours(plan)
    if current is None or current > wanted:
        return CheckInSuggestion(level, wanted, current)
    return None


def review_deadlines(assessment: Assessment, grace: timedelta) -> list[ReviewDeadline]:
    """The reminder when the review falls due and the alert check after the grace."""
    return [
        ReviewDeadline(
            new_id("rvd"),
            assessment.id,
            assessment.case_id,
            assessment.witness_id,
            ReviewDeadlineKind.REMINDER,
            assessment.review_due_at,
        ),
        ReviewDeadline(
            new_id("rvd"),
            assessment.id,
            assessment.case_id,
            assessment.witness_id,
            ReviewDeadlineKind.OVERDUE,
            assessment.review_due_at + grace,
        ),
    ]


class AssessmentService:
    """Records assessments, opens their notes (audited), and runs review deadlines."""

    def __init__(
        self,
        store: Store,
        audit: AuditLog,
        clock: Clock,
        events: EventSink,
        alerts: AlertEngine,
        sealer: Sealer,
        *,
        grace: timedelta = timedelta(days=3),
        wake_dispatcher: Callable[[], None] | None = None,
    ) -> None:
        self._store = store
        self._audit = audit
        self._clock = clock
        self._events = events
        self._alerts = alerts
        self._sealer = sealer
        self._grace = grace
        self._wake = wake_dispatcher

    @staticmethod
    async def _case(uow: UnitOfWork, staff: Staff, case_id: str) -> tuple[Case, Witness]:
        case = await case_for_staff(uow, staff, case_id, change=False, refusal="")
        return case, await witness_of_case(uow, case_id)

    async def record(
        self,
        staff: Staff,
        case_id: str,
        level: RiskLevel,
        factors: Sequence[RiskFactor],
        notes: str | None,
    ) -> Assessment:
        """Record a new assessment (the previous ones stay as they are) and schedule
        its review.

        Raises:
            NotFound: the case is not visible to the caller.
            Conflict: the case has no witness yet.
            InvalidInput: notes too long or with control characters.
        """
        text = (notes or "").strip()
        if len(text) > MAX_NOTES:
            raise InvalidInput(f"notes are at most {MAX_NOTES} characters")
        if text:
            check_free_text(text, field="notes", multiline=True)
        now = self._clock.now()
        async with self._store.write() as uow:
            _case, witness = await self._case(uow, staff, case_id)
            assessment = Assessment(
                id=new_id("ras"),
                case_id=case_id,
                witness_id=witness.id,
                level=level,
                factors=tuple(sorted(set(factors), key=list(RiskFactor).index)),
                notes_sealed=self._sealer.seal(text) if text else None,
                assessed_by=staff.id,
                assessed_at=now,
                review_due_at=now + timedelta(days=defaults_for(level).review_every_days),
            )
            await uow.assessments.insert(assessment)
            await uow.assessments.supersede_deadlines(witness.id)
            await uow.assessments.insert_deadlines(review_deadlines(assessment, self._grace))
            await self._audit.append(
                uow.audit,
                Actor.staff(staff.id),
                "assessment.recorded",
                subject=("assessment", assessment.id),
                case_id=case_id,
                details={"level": level.value, "with_notes": bool(text)},
            )
        return assessment

    async def history(
        self, staff: Staff, case_id: str
    ) -> tuple[list[Assessment], CheckInSuggestion | None]:
        """Every assessment of the case's witness, newest first (notes stay sealed),
        and whether the latest level asks for more check-ins than the plan gives.

        Raises:
            NotFound: the case is not visible to the caller.
            Conflict: the case has no witness yet.
        """
        async with self._store.read() as uow:
            _case, witness = await self._case(uow, staff, case_id)
            found = await uow.assessments.history(witness.id)
            plan = await uow.plans.get(witness.id)
        suggestion = checkin_suggestion(found[0].level, plan) if found else None
        return found, suggestion

    async def read_notes(self, staff: Staff, assessment_id: str, *, reason: str | None) -> str:
        """The notes of one assessment: an audited consultation.

        Raises:
            NotFound: no such assessment, or its case is not visible to the caller.
            ReasonRequired: the caller's agency requires a reason and none was given.
        """
        async with self._store.read() as uow:
            assessment = await uow.assessments.get(assessment_id)
            case = None if assessment is None else await uow.cases.get(assessment.case_id)
            assigned = case is not None and await uow.cases.is_assigned(case.id, staff.id)
            if (
                assessment is None
                or case is None
                or not can_view_case(staff, case, assigned=assigned)
            ):
                raise NotFound("No such assessment")
            agency = await uow.agencies.get(staff.agency_id)
        if reason is not None:
            check_free_text(reason, field="reason")
        if agency is not None and agency.requires_reason and not (reason and reason.strip()):
            raise ReasonRequired()
        async with self._store.write() as uow:
            await self._audit.append(
                uow.audit,
                Actor.staff(staff.id),
                "assessment.notes_consulted",
                subject=("assessment", assessment.id),
                case_id=assessment.case_id,
                reason=reason.strip() if reason else None,
            )
        sealed = assessment.notes_sealed
        return "" if sealed is None else self._sealer.open(sealed)

    # ------------------------------------------------------------------ the sweep

    async def process_due(self, limit: int = 500) -> int:
        """Review reminders and overdue reviews that are due (one batch)."""
        now = self._clock.now()
        async with self._store.read() as uow:
            if not await uow.assessments.any_due(now):
                return 0
        effects = Effects()
        async with self._store.write() as uow:
            claimed = await uow.assessments.claim_due(now, limit)
            # A closed case is reviewed no more (its deadlines are claimed all the same).
            cases = await uow.cases.get_many(sorted({d.case_id for d in claimed}))
            due = [d for d in claimed if d.case_id in cases and cases[d.case_id].closed_at is None]
            reminders = [d for d in due if d.kind is ReviewDeadlineKind.REMINDER]
            devices = await uow.devices.staff_devices_for_cases(
                sorted({d.case_id for d in reminders})
            )
            for deadline in reminders:
                # Content-free: which case, which assessment, and when it fell due. Kept
                # for a device that is offline until the review turns into an alert.
                await effects.push_durable(
                    uow,
                    devices.get(deadline.case_id, []),
                    {
                        "type": "review_due",
                        "case_id": deadline.case_id,
                        "assessment_id": deadline.assessment_id,
                        "due_at": iso(deadline.due_at),
                    },
                    now,
                    deadline.due_at + self._grace,
                )
            specs = [
                AlertSpec(
                    d.case_id,
                    d.witness_id,
                    AlertKind.REVIEW_OVERDUE,
                    f"review:{d.assessment_id}:{to_ms(d.due_at)}",
                )
                for d in due
                if d.kind is ReviewDeadlineKind.OVERDUE
            ]
            await self._alerts.raise_alerts(uow, specs, now, effects)
        await effects.run(self._events, self._wake)
        return len(claimed)


def review_due(assessment: Assessment | None, now: datetime) -> bool:
    """Whether the assessment's review has fallen due (the caseload's badge)."""
    return assessment is not None and assessment.review_due_at <= now
