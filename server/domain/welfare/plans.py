"""Check-in plans set by case staff, and the occurrences they produce.

A plan is either "every N hours" or calendar times ("Mon and Thu 10:00"), always in the
witness's timezone (see :mod:`server.domain.recurrence` for DST behaviour). Each due
time becomes one occurrence row: prompt at ``due_at``, optional reminder before the
window closes, missed after window + grace. Only the next occurrence exists ahead of
time; each finished occurrence schedules the following one. A pause (hospital stay,
known travel) cancels what is scheduled and may carry an automatic resume date.
"""

from __future__ import annotations

import secrets
import zoneinfo
from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta

from server.clock import Clock
from server.domain.access import can_manage_case, can_view_case
from server.domain.audit import Actor, AuditLog
from server.domain.models import Staff
from server.domain.recurrence import (
    CalendarPlan,
    IntervalPlan,
    Plan,
    PlanError,
    describe,
    next_occurrence,
    parse_weekdays,
    validate,
)
from server.domain.welfare_models import CheckIn, CheckInPlanRecord, CheckInState, CheckInStep
from server.errors import Conflict, Forbidden, InvalidInput, NotFound
from server.ids import new_id
from server.storage.protocols import Store, UnitOfWork


@dataclass(frozen=True, slots=True)
class PlanSpec:
    """A plan as staff describe it."""

    every_hours: int | None = None
    start_local: str | None = None  # "HH:MM" wall-clock start of an interval series
    weekdays: tuple[str, ...] = ()
    times: tuple[str, ...] = ()
    window_minutes: int = 60
    grace_minutes: int = 30
    reminder_minutes: int = 15


@dataclass(frozen=True, slots=True)
class PlanView:
    plan: CheckInPlanRecord
    description: str
    current: CheckIn | None


def recurrence_of(plan: CheckInPlanRecord) -> Plan:
    if plan.kind == "interval":
        assert plan.every_hours is not None
        assert plan.anchor_local is not None
        return IntervalPlan(
            every_hours=plan.every_hours,
            anchor_local=datetime.fromisoformat(plan.anchor_local),
            timezone=plan.timezone,
        )
    assert plan.weekdays is not None
    assert plan.times is not None
    return CalendarPlan(
        weekdays=frozenset(int(d) for d in plan.weekdays.split(",")),
        times=tuple(time.fromisoformat(t) for t in plan.times.split(",")),
        timezone=plan.timezone,
    )


def next_checkin(plan: CheckInPlanRecord, after: datetime) -> CheckIn:
    """The occurrence that follows ``after`` under ``plan``."""
    due = next_occurrence(recurrence_of(plan), after)
    closes = due + timedelta(minutes=plan.window_minutes)
    deadline = closes + timedelta(minutes=plan.grace_minutes)
    remind = closes - timedelta(minutes=plan.reminder_minutes)
    return CheckIn(
        id=new_id("chk"),
        witness_id=plan.witness_id,
        case_id=plan.case_id,
        plan_version=plan.version,
        due_at=due,
        closes_at=closes,
        deadline_at=deadline,
        remind_at=remind if plan.reminder_minutes and remind > due else None,
        state=CheckInState.SCHEDULED,
        step=CheckInStep.PROMPT,
        next_action_at=due,
        nonce=secrets.token_urlsafe(16),
        prompted_at=None,
        answered_at=None,
        response=None,
        response_channel=None,
        version=0,
    )


def _check_spec(spec: PlanSpec) -> None:
    if not 5 <= spec.window_minutes <= 24 * 60:
        raise InvalidInput("the response window must be 5 minutes to 24 hours")
    if not 0 <= spec.grace_minutes <= 24 * 60:
        raise InvalidInput("the grace period must be 0 minutes to 24 hours")
    if not 0 <= spec.reminder_minutes < spec.window_minutes:
        raise InvalidInput("the reminder must come before the window closes")


class PlanService:
    """Sets, pauses and resumes check-in plans (audited), and schedules occurrences."""

    def __init__(self, store: Store, audit: AuditLog, clock: Clock) -> None:
        self._store = store
        self._audit = audit
        self._clock = clock

    async def _witness_case(
        self, uow: UnitOfWork, staff: Staff, witness_id: str, *, manage: bool
    ) -> tuple[str, str]:
        witness = await uow.witnesses.get(witness_id)
        case = None if witness is None else await uow.cases.get(witness.case_id)
        if witness is None or case is None:
            raise NotFound("No such witness")
        assigned = await uow.cases.is_assigned(case.id, staff.id)
        if not can_view_case(staff, case, assigned=assigned):
            raise NotFound("No such witness")
        if manage and not (assigned or can_manage_case(staff, case, assigned=assigned)):
            raise Forbidden("Only the case team can change the check-in plan")
        if manage and case.closed_at is not None:
            raise Conflict("The case is closed: check-ins have stopped for good")
        return witness.timezone, case.id

    async def set_plan(self, staff: Staff, witness_id: str, spec: PlanSpec) -> PlanView:
        """Replace the witness's plan; the next occurrence follows the new plan.

        Raises:
            InvalidInput: a plan that cannot work (bad times, window, zone...).
            NotFound, Forbidden: not the caller's witness to plan for.
        """
        _check_spec(spec)
        now = self._clock.now()
        async with self._store.write() as uow:
            timezone, case_id = await self._witness_case(uow, staff, witness_id, manage=True)
            old = await uow.plans.get(witness_id)
            record = self._record(spec, witness_id, case_id, timezone, now, staff, old)
            try:
                validate(recurrence_of(record))
            except PlanError as exc:
                raise InvalidInput(str(exc)) from exc
            if old is not None and old.paused:
                # A change to a paused plan stays paused (with its reason and date).
                record = replace(
                    record, paused_reason=old.paused_reason, paused_until=old.paused_until
                )
            await uow.plans.put(record)
            await uow.checkins.cancel_scheduled(witness_id)
            current = await uow.checkins.current(witness_id)
            if current is None and not record.paused:
                current = next_checkin(record, now)
                await uow.checkins.insert_many([current])
            await self._audit.append(
                uow.audit,
                Actor.staff(staff.id),
                "checkin_plan.changed",
                subject=("witness", witness_id),
                case_id=case_id,
                details={"kind": record.kind, "version": record.version},
            )
        return PlanView(record, describe(recurrence_of(record)), current)

    def _record(
        self,
        spec: PlanSpec,
        witness_id: str,
        case_id: str,
        timezone: str,
        now: datetime,
        staff: Staff,
        old: CheckInPlanRecord | None,
    ) -> CheckInPlanRecord:
        version = 1 if old is None else old.version + 1
        common = {
            "witness_id": witness_id,
            "case_id": case_id,
            "timezone": timezone,
            "window_minutes": spec.window_minutes,
            "grace_minutes": spec.grace_minutes,
            "reminder_minutes": spec.reminder_minutes,
            "paused_reason": None,
            "paused_until": None,
            "version": version,
            "updated_by": staff.id,
            "updated_at": now,
        }
        try:
            if spec.every_hours is not None:
                if spec.weekdays or spec.times:
                    raise InvalidInput("a plan is either every N hours or calendar times")
                local_now = now.astimezone(zoneinfo.ZoneInfo(timezone)).replace(tzinfo=None)
                start = (
                    time.fromisoformat(spec.start_local) if spec.start_local else local_now.time()
                )
                anchor = datetime.combine(local_now.date(), start.replace(second=0, microsecond=0))
                return CheckInPlanRecord(
                    kind="interval",
                    every_hours=spec.every_hours,
                    anchor_local=anchor.isoformat(),
                    weekdays=None,
                    times=None,
                    **common,  # type: ignore[arg-type]
                )
            days = sorted(parse_weekdays(spec.weekdays))
            times = sorted({time.fromisoformat(t).replace(second=0) for t in spec.times})
        except (ValueError, PlanError) as exc:
            if isinstance(exc, InvalidInput):
                raise
            raise InvalidInput(str(exc)) from exc
        if not times:
            raise InvalidInput("give at least one time of day, e.g. 10:00")
        return CheckInPlanRecord(
            kind="calendar",
            every_hours=None,
            anchor_local=None,
            weekdays=",".join(str(d) for d in days),
            times=",".join(t.strftime("%H:%M") for t in times),
            **common,  # type: ignore[arg-type]
        )

    async def pause(
        self, staff: Staff, witness_id: str, *, reason: str, until: datetime | None
    ) -> PlanView:
        """Pause check-ins with a reason, optionally resuming automatically at ``until``.

        Raises:
            InvalidInput: no reason, or a resume time in the past.
            NotFound: no plan for this witness (or not visible).
        """
        reason = reason.strip()
        if not reason or len(reason) > 500:
            raise InvalidInput("say why check-ins are paused (up to 500 characters)")
        now = self._clock.now()
        if until is not None and until <= now:
            raise InvalidInput("the automatic resume must be in the future")
        async with self._store.write() as uow:
            _tz, case_id = await self._witness_case(uow, staff, witness_id, manage=True)
            plan = await uow.plans.get(witness_id)
            if plan is None:
                raise NotFound("This witness has no check-in plan")
            paused = replace(
                plan,
                paused_reason=reason,
                paused_until=until,
                version=plan.version + 1,
                updated_by=staff.id,
                updated_at=now,
            )
            await uow.plans.put(paused)
            await uow.checkins.cancel_scheduled(witness_id)
            # A prompt open now is withdrawn too: a paused witness is not "missing".
            closed = await uow.checkins.cancel_open(witness_id)
            for checkin_id in closed:
                await uow.device_events.withdraw(f"checkin:{checkin_id}")
            await self._audit.append(
                uow.audit,
                Actor.staff(staff.id),
                "checkin_plan.paused",
                subject=("witness", witness_id),
                case_id=case_id,
                reason=reason,
                details={"until": None if until is None else until.isoformat()},
            )
        return PlanView(paused, describe(recurrence_of(paused)), None)

    async def resume(self, staff: Staff, witness_id: str) -> PlanView:
        """Resume a paused plan now.

        Raises:
            NotFound: no plan for this witness (or not visible).
        """
        now = self._clock.now()
        async with self._store.write() as uow:
            _tz, case_id = await self._witness_case(uow, staff, witness_id, manage=True)
            plan = await uow.plans.get(witness_id)
            if plan is None:
                raise NotFound("This witness has no check-in plan")
            resumed, current = await self._resume(uow, plan, now, staff.id)
            await self._audit.append(
                uow.audit,
                Actor.staff(staff.id),
                "checkin_plan.resumed",
                subject=("witness", witness_id),
                case_id=case_id,
            )
        return PlanView(resumed, describe(recurrence_of(resumed)), current)

    @staticmethod
    async def _resume(
        uow: UnitOfWork, plan: CheckInPlanRecord, now: datetime, by: str
    ) -> tuple[CheckInPlanRecord, CheckIn | None]:
        resumed = replace(
            plan,
            paused_reason=None,
            paused_until=None,
            version=plan.version + 1,
            updated_by=by,
            updated_at=now,
        )
        await uow.plans.put(resumed)
        current = await uow.checkins.current(plan.witness_id)
        if current is None:
            current = next_checkin(resumed, now)
            await uow.checkins.insert_many([current])
        return resumed, current

    async def resume_due(self, limit: int = 200) -> int:
        """Resume paused plans whose automatic resume time has come (scheduler sweep)."""
        now = self._clock.now()
        async with self._store.write() as uow:
            plans = await uow.plans.due_resumes(now, limit)
            for plan in plans:
                await self._resume(uow, plan, now, "system")
                await self._audit.append(
                    uow.audit,
                    Actor.system("scheduler"),
                    "checkin_plan.resumed",
                    subject=("witness", plan.witness_id),
                    case_id=plan.case_id,
                    details={"automatic": True},
                )
        return len(plans)

    async def view(self, staff: Staff, witness_id: str) -> PlanView | None:
        """The plan and the current occurrence, if the witness has a plan.

        Raises:
            NotFound: not visible to the caller.
        """
        async with self._store.read() as uow:
            await self._witness_case(uow, staff, witness_id, manage=False)
            plan = await uow.plans.get(witness_id)
            current = await uow.checkins.current(witness_id)
        if plan is None:
            return None
        return PlanView(plan, describe(recurrence_of(plan)), current)
