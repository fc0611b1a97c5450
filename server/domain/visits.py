"""Welfare visits by the home-country team: plan, schedule, record, the overdue sweep.

* A **plan** per witness sets how often the team visits: by default the interval the
  witness's current risk level sets (``risk_levels.defaults_for``).
* A **visit** names the visitor (staff of the case's support agency who is on the case)
  and a time window. The server keeps only those facts; the push it sends the case
  team's devices carries ids and times, and the visitor's own client tells the witness
  who comes and when, end to end encrypted (``client_sdk.visits``).
* The **record** says what happened (held / not met / declined), whether the witness was
  seen alone, concerns (sealed with the server key) and, optionally, the next visit. A
  held visit counts as contact from the witness: it moves the silence deadline exactly
  as a check-in does.
* A visit nobody recorded by the end of its window plus the grace period is claimed once
  by the overdue sweep (compare-and-swap on ``due_at``) and raises ``visit_overdue``
  (source ``visit:<id>``) through the ordinary escalation.

The witness's answer at the door is :mod:`server.domain.visit_door`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from server.clock import Clock, iso
from server.domain.audit import Actor, AuditLog
from server.domain.case_lookup import case_for_staff, witness_of_case
from server.domain.effects import Effects
from server.domain.events import EventSink
from server.domain.models import Case, Staff, Witness
from server.domain.risk_levels import RiskLevel, defaults_for
from server.domain.visit_models import (
    Visit,
    VisitOutcome,
    VisitPlan,
    VisitStatus,
)
from server.domain.welfare.alerts import AlertEngine, AlertSpec
from server.domain.welfare.checkins import default_settings
from server.domain.welfare_models import AlertKind
from server.errors import Conflict, InvalidInput, NotFound
from server.ids import new_id
from server.security.sealing import Sealer
from server.storage.protocols import Store, UnitOfWork

MAX_EVERY_DAYS = 365
MAX_WINDOW = timedelta(hours=12)
MAX_AHEAD = timedelta(days=366)
MAX_CONCERNS = 4000


async def current_risk_level(uow: UnitOfWork, witness_id: str) -> RiskLevel:
    """The witness's current risk level, which sets the default visit interval: the
    level of the newest risk assessment, MEDIUM while none was recorded."""
    latest = (await uow.assessments.latest_for_witnesses([witness_id])).get(witness_id)
    return RiskLevel.MEDIUM if latest is None else latest.level


@dataclass(frozen=True, slots=True)
class NextVisit:
    """The next visit asked for in a record (same visitor unless another is named)."""

    window_start: datetime
    window_end: datetime
    visitor_staff_id: str | None = None


@dataclass(frozen=True, slots=True)
class VisitRecord:
    outcome: VisitOutcome
    seen_alone: bool | None
    concerns: str | None
    next_visit: NextVisit | None = None


@dataclass(frozen=True, slots=True)
class PlanView:
    """The plan as set, or what it would be by default (``plan`` None)."""

    witness_id: str
    every_days: int
    risk_level: RiskLevel
    plan: VisitPlan | None


# How long after a visit's window its event still waits for an offline staff device.
ANNOUNCE_AFTER_WINDOW = timedelta(days=1)


def visit_event(visit: Visit, change: str) -> dict[str, object]:
    """The push to the case team's devices: ids and times only. The visitor's client
    answers a "scheduled" one by sending the witness the notice end to end encrypted."""
    return {
        "type": "visit",
        "change": change,
        "visit_id": visit.id,
        "case_id": visit.case_id,
        "witness_id": visit.witness_id,
        "visitor_staff_id": visit.visitor_staff_id,
        "window_start": iso(visit.window_start),
        "window_end": iso(visit.window_end),
        "status": visit.status.value,
        "version": visit.version,
    }


class VisitService:
    """Plans, schedules and records welfare visits; runs the overdue sweep; takes the
    witness's answer at the door."""

    def __init__(
        self,
        store: Store,
        audit: AuditLog,
        clock: Clock,
        events: EventSink,
        alerts: AlertEngine,
        sealer: Sealer,
        *,
        grace: timedelta = timedelta(hours=24),
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

    # ------------------------------------------------------------------ access

    async def _case_for(self, uow: UnitOfWork, staff: Staff, case_id: str, *, change: bool) -> Case:
        return await case_for_staff(
            uow,
            staff,
            case_id,
            change=change,
            refusal="Only the case team can plan and record its visits",
        )

    async def _witness_of_case(self, uow: UnitOfWork, case_id: str) -> Witness:
        return await witness_of_case(uow, case_id)

    async def _load(self, uow: UnitOfWork, staff: Staff, visit_id: str, *, change: bool) -> Visit:
        visit = await uow.visits.get(visit_id)
        if visit is None:
            raise NotFound("No such visit")
        await self._case_for(uow, staff, visit.case_id, change=change)
        return visit

    async def _check_visitor(self, uow: UnitOfWork, case: Case, visitor_id: str) -> None:
        """The visitor is active staff of the case's support agency and on the case
        (only then can their client reach the witness's phone end to end)."""
        visitor = await uow.staff.get(visitor_id)
        if (
            visitor is None
            or not visitor.active
            or visitor.agency_id != case.support_agency_id
            or not await uow.cases.is_assigned(case.id, visitor_id)
        ):
            raise InvalidInput(
                "the visitor must be a member of the support organisation on this case"
            )

    # ------------------------------------------------------------------ the plan

    async def set_plan(
        self,
        staff: Staff,
        witness_id: str,
        *,
        every_days: int | None = None,
        risk_level: RiskLevel | None = None,
    ) -> VisitPlan:
        """Set how often the team visits; without an interval, the level's default.

        Raises:
            InvalidInput: an interval outside 1..365 days.
            NotFound, Forbidden: not the caller's witness to plan for.
        """
        if every_days is not None and not 1 <= every_days <= MAX_EVERY_DAYS:
            raise InvalidInput(f"visit every 1 to {MAX_EVERY_DAYS} days")
        now = self._clock.now()
        async with self._store.write() as uow:
            witness = await uow.witnesses.get(witness_id)
            if witness is None:
                raise NotFound("No such witness")
            await self._case_for(uow, staff, witness.case_id, change=True)
            level = risk_level or await current_risk_level(uow, witness.id)
            plan = VisitPlan(
                witness_id=witness.id,
                case_id=witness.case_id,
                every_days=every_days or defaults_for(level).visit_every_days,
                risk_level=level,
                updated_by=staff.id,
                updated_at=now,
            )
            await uow.visits.put_plan(plan)
            await self._audit.append(
                uow.audit,
                Actor.staff(staff.id),
                "visit_plan.set",
                subject=("witness", witness.id),
                case_id=witness.case_id,
                details={"every_days": plan.every_days},
            )
        return plan

    async def plan(self, staff: Staff, witness_id: str) -> PlanView:
        """The witness's plan, or the default its risk level would set."""
        async with self._store.read() as uow:
            witness = await uow.witnesses.get(witness_id)
            if witness is None:
                raise NotFound("No such witness")
            await self._case_for(uow, staff, witness.case_id, change=False)
            plan = await uow.visits.plan(witness.id)
            if plan is not None:
                return PlanView(witness.id, plan.every_days, plan.risk_level, plan)
            level = await current_risk_level(uow, witness.id)
            return PlanView(witness.id, defaults_for(level).visit_every_days, level, None)

    # ------------------------------------------------------------------ visits

    def _check_window(self, start: datetime, end: datetime, now: datetime) -> None:
        if start.tzinfo is None or end.tzinfo is None:
            raise InvalidInput("give times with a timezone offset (ISO 8601)")
        if end <= start:
            raise InvalidInput("a visit's window must end after it starts")
        if end - start > MAX_WINDOW:
            raise InvalidInput("a visit's window may be at most 12 hours")
        if end <= now:
            raise InvalidInput("the visit's window must not be over already")
        if start - now > MAX_AHEAD:
            raise InvalidInput("schedule visits at most a year ahead")

    async def _insert(
        self,
        uow: UnitOfWork,
        staff: Staff,
        case: Case,
        visitor_id: str,
        start: datetime,
        end: datetime,
        now: datetime,
        effects: Effects,
    ) -> Visit:
        self._check_window(start, end, now)
        witness = await self._witness_of_case(uow, case.id)
        await self._check_visitor(uow, case, visitor_id)
        visit = Visit(
            id=new_id("vis"),
            case_id=case.id,
            witness_id=witness.id,
            visitor_staff_id=visitor_id,
            window_start=start,
            window_end=end,
            due_at=end + self._grace,
            status=VisitStatus.SCHEDULED,
            version=1,
            outcome=None,
            seen_alone=None,
            concerns_sealed=None,
            recorded_by=None,
            recorded_at=None,
            door_answer=None,
            door_answered_at=None,
            created_by=staff.id,
            created_at=now,
        )
        await uow.visits.insert(visit)
        await self._audit.append(
            uow.audit,
            Actor.staff(staff.id),
            "visit.scheduled",
            subject=("visit", visit.id),
            case_id=case.id,
            details={"visitor": visitor_id},
        )
        await self._announce(uow, visit, "scheduled", effects)
        return visit

    async def _announce(self, uow: UnitOfWork, visit: Visit, change: str, effects: Effects) -> None:
        """Tell the case team's devices durably: the visitor's app may be offline when
        someone else schedules the visit in the console, and it alone can tell the
        witness; it gets the event when it next connects (until a day after the window)."""
        staff = await uow.devices.staff_devices_for_cases([visit.case_id])
        await effects.push_durable(
            uow,
            staff.get(visit.case_id, []),
            visit_event(visit, change),
            self._clock.now(),
            visit.window_end + ANNOUNCE_AFTER_WINDOW,
        )

    async def schedule(
        self,
        staff: Staff,
        case_id: str,
        *,
        visitor_staff_id: str,
        window_start: datetime,
        window_end: datetime,
    ) -> Visit:
        """Schedule a visit; the case team's devices are told (the visitor's client then
        tells the witness, end to end encrypted).

        Raises:
            InvalidInput: a window that cannot work, or a visitor not on the case's
                support organisation's side of the team.
            NotFound, Forbidden: not the caller's case.
            Conflict: no witness yet, or the case is closed.
        """
        now = self._clock.now()
        effects = Effects()
        async with self._store.write() as uow:
            case = await self._case_for(uow, staff, case_id, change=True)
            visit = await self._insert(
                uow, staff, case, visitor_staff_id, window_start, window_end, now, effects
            )
        await effects.run(self._events)
        return visit

    async def cancel(self, staff: Staff, visit_id: str) -> Visit:
        """Cancel a scheduled visit (its overdue deadline goes with it).

        Raises:
            NotFound, Forbidden: not the caller's; Conflict: not scheduled any more.
        """
        effects = Effects()
        async with self._store.write() as uow:
            old = await self._load(uow, staff, visit_id, change=True)
            if old.status is not VisitStatus.SCHEDULED:
                raise Conflict("Only a scheduled visit can be cancelled")
            cancelled = replace(
                old, status=VisitStatus.CANCELLED, due_at=None, version=old.version + 1
            )
            if not await uow.visits.save(cancelled, old.version):
                raise Conflict("The visit was changed meanwhile; reload it")
            await self._audit.append(
                uow.audit,
                Actor.staff(staff.id),
                "visit.cancelled",
                subject=("visit", old.id),
                case_id=old.case_id,
            )
            await self._announce(uow, cancelled, "cancelled", effects)
        await effects.run(self._events)
        return cancelled

    async def record(
        self, staff: Staff, visit_id: str, record: VisitRecord
    ) -> tuple[Visit, Visit | None]:
        """Record what happened, and schedule the next visit if one is given. A held
        visit counts as contact (it moves the silence deadline).

        Raises:
            InvalidInput: concerns too long, or a next visit that cannot work.
            NotFound, Forbidden: not the caller's.
            Conflict: cancelled or already recorded.
        """
        concerns = (record.concerns or "").strip() or None
        if concerns is not None and len(concerns) > MAX_CONCERNS:
            raise InvalidInput(f"concerns may be up to {MAX_CONCERNS} characters")
        now = self._clock.now()
        effects = Effects()
        async with self._store.write() as uow:
            old = await self._load(uow, staff, visit_id, change=True)
            if old.status is not VisitStatus.SCHEDULED:
                raise Conflict("This visit was cancelled or is recorded already")
            if old.window_start > now:
                raise Conflict("A visit can be recorded once its window has begun")
            recorded = replace(
                old,
                status=VisitStatus.RECORDED,
                due_at=None,
                version=old.version + 1,
                outcome=record.outcome,
                seen_alone=record.seen_alone,
                concerns_sealed=None if concerns is None else self._sealer.seal(concerns),
                recorded_by=staff.id,
                recorded_at=now,
            )
            if not await uow.visits.save(recorded, old.version):
                raise Conflict("The visit was changed meanwhile; reload it")
            if record.outcome is VisitOutcome.HELD:
                settings = await uow.case_settings.get(old.case_id) or default_settings(old.case_id)
                await uow.contact.record(
                    old.witness_id,
                    old.case_id,
                    now,
                    now + timedelta(seconds=settings.silent_after_s),
                    heartbeat=False,
                    battery=None,
                )
            await self._audit.append(
                uow.audit,
                Actor.staff(staff.id),
                "visit.recorded",
                subject=("visit", old.id),
                case_id=old.case_id,
                details={"outcome": record.outcome.value, "concerns": concerns is not None},
            )
            await self._announce(uow, recorded, "recorded", effects)
            following = None
            if record.next_visit is not None:
                case = await self._case_for(uow, staff, old.case_id, change=True)
                following = await self._insert(
                    uow,
                    staff,
                    case,
                    record.next_visit.visitor_staff_id or old.visitor_staff_id,
                    record.next_visit.window_start,
                    record.next_visit.window_end,
                    now,
                    effects,
                )
        await effects.run(self._events)
        return recorded, following

    async def for_case(self, staff: Staff, case_id: str) -> list[Visit]:
        """The case's visits, newest first (concerns stay sealed)."""
        async with self._store.read() as uow:
            await self._case_for(uow, staff, case_id, change=False)
            return await uow.visits.for_case(case_id)

    async def get(self, staff: Staff, visit_id: str) -> Visit:
        """One visit the caller may see (concerns stay sealed).

        Raises: NotFound: not a visit the caller may see.
        """
        async with self._store.read() as uow:
            return await self._load(uow, staff, visit_id, change=False)

    async def read(self, staff: Staff, visit_id: str) -> tuple[Visit, str | None]:
        """One visit with its concerns opened; the reading is audited.

        Raises: NotFound: not a visit the caller may see.
        """
        async with self._store.write() as uow:
            visit = await self._load(uow, staff, visit_id, change=False)
            concerns = (
                None if visit.concerns_sealed is None else self._sealer.open(visit.concerns_sealed)
            )
            if concerns is not None:
                await self._audit.append(
                    uow.audit,
                    Actor.staff(staff.id),
                    "visit.concerns_read",
                    subject=("visit", visit.id),
                    case_id=visit.case_id,
                )
        return visit, concerns

    # ------------------------------------------------------------------ the sweep

    async def overdue_due(self, limit: int = 500) -> int:
        """Raise ``visit_overdue`` for visits unrecorded past their window and grace
        (one batch); returns how many were claimed."""
        now = self._clock.now()
        effects = Effects()
        async with self._store.write() as uow:
            due = await uow.visits.due(now, limit)
            if not due:
                return 0
            claimed = await uow.visits.claim_due([v.id for v in due])
            await self._alerts.raise_alerts(
                uow,
                [
                    AlertSpec(v.case_id, v.witness_id, AlertKind.VISIT_OVERDUE, f"visit:{v.id}")
                    for v in due
                    if v.id in claimed
                ],
                now,
                effects,
            )
        await effects.run(self._events, self._wake)
        return len(due)


async def stop_visits(uow: UnitOfWork, case: Case, now: datetime) -> int:
    """On closing a case: its scheduled visits are cancelled (no overdue alert follows).

    Registered in :attr:`server.domain.case_lifecycle.CaseLifecycle.on_close`."""
    del now
    return await uow.visits.cancel_open(case.id)
