"""Closing a case after the trial, retiring its phones, reviewing open cases, and the
retention erasure of a closed case's personal data.

Closing records the outcome CATEGORY only (:data:`OUTCOMES`); what the witness is told is
a translated template (``wire.case_outcome``) that a staff client renders in the
witness's language and sends end-to-end encrypted, on a content-free ``case_closed``
device event queued for the team's staff devices. Check-ins, reminders, appointment
deadlines and the silence deadline stop at once (and whatever the lead registers in
:attr:`CaseLifecycle.on_close`, e.g. visits). The witness's phones are retired — revoked,
which erases the key their stores need, so each erases itself on its next connection —
once every message sent to them since the close has been fetched (the outcome among
them) or when the grace period ends, whichever comes first.

After the retention period the sweep erases or anonymises the case's personal data
through the registry of steps in ``server/storage/repos/case_erasure.py``, in one
transaction with its audit entry (crash-safe; a second run changes nothing).

Open cases carry a review date (Law Enforcement Directive art. 5: periodic review of
the need for storage). A due review is a content-free device event to the case's
police staff, not an alert: it endangers no one, and alerts escalate to on-duty
support workers by SMS and calls, which a routine date would teach them to ignore.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from server.clock import Clock
from server.domain.access import can_manage_case, can_view_case
from server.domain.audit import Actor, AuditLog
from server.domain.authentication import DeviceAuthenticator
from server.domain.cases import CaseView, TeamMember
from server.domain.denials import audit_denied
from server.domain.effects import Effects
from server.domain.events import EventSink
from server.domain.lifecycle_models import CaseLifecycleRow, EnrolmentStateRow
from server.domain.models import Case, Device, OwnerKind, Staff
from server.domain.revocation import revoke_device_in
from server.errors import Forbidden, InvalidInput, NotFound
from server.security.phones import PhoneBook
from server.storage.protocols import Store, UnitOfWork

log = logging.getLogger(__name__)

#: The outcome categories a case can be closed with; the server stores nothing else.
OUTCOMES = ("convicted", "acquitted", "discontinued", "closed_without_trial", "other")
#: Closing from the old API without an outcome.
DEFAULT_OUTCOME = "other"
#: What an erased case's reference becomes (the reference may hold a name).
ERASED_REFERENCE = "erased-{case_id}"

OnClose = Callable[[UnitOfWork, Case, datetime], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class ClosedCase:
    case: Case
    newly_closed: bool
    revoked_devices: list[str]
    outcome: str


@dataclass(frozen=True, slots=True)
class CaseworkOverview:
    """What the console's case section shows beside the consulted case (read after
    :meth:`CaseService.view_case`, which did the access check and the audit)."""

    lifecycle: CaseLifecycleRow | None
    enrolment: EnrolmentStateRow | None
    phones: list[Device]
    #: Active staff of the case's two agencies not on its team, by agency then name.
    candidates: list[TeamMember]
    now: datetime
    #: The witness's SMS number masked to its last two digits ("••78"), or None.
    phone_hint: str | None = None

    @property
    def enrolment_state(self) -> str:
        """none | issued | expired | waiting (for the officer's confirmation) | enrolled"""
        state = None if self.enrolment is None else self.enrolment.state
        if state in ("claimed", "revealed"):
            return "waiting"  # the claiming phone has a device row already
        if self.phones:
            return "enrolled"
        if self.enrolment is None or state != "issued":
            return "none"
        return "issued" if self.enrolment.expires_at > self.now else "expired"


class CaseLifecycle:
    """Closes cases, retires their phones, reminds of reviews, erases after retention."""

    def __init__(
        self,
        store: Store,
        audit: AuditLog,
        clock: Clock,
        events: EventSink,
        authenticator: DeviceAuthenticator | None,
        *,
        phone_grace: timedelta = timedelta(days=7),
        retention: timedelta = timedelta(days=730),
        review_interval: timedelta = timedelta(days=182),
        after_erasure: Callable[[], Awaitable[object]] | None = None,
        phones: PhoneBook | None = None,
    ) -> None:
        self._phones = phones
        self._store = store
        self._audit = audit
        self._clock = clock
        self._events = events
        self._authenticator = authenticator
        self.phone_grace = phone_grace
        self.retention = retention
        self.review_interval = review_interval
        self._after_erasure = after_erasure
        #: Called inside the closing transaction (the lead adds: stop visits, …).
        self.on_close: list[OnClose] = []

    async def overview(self, view: CaseView) -> CaseworkOverview:
        """The lifecycle, enrolment state and assignable staff of a consulted case."""
        case = view.case
        on_team = {member.staff_id for member in view.team}
        async with self._store.read() as uow:
            lifecycle = await uow.case_lifecycle.get(case.id)
            enrolment = (
                None
                if view.witness is None
                else await uow.case_lifecycle.latest_enrolment(view.witness.id)
            )
            sealed = None if view.witness is None else await uow.witnesses.phone(view.witness.id)
            staff = [
                *await uow.staff.list_by_agency(case.police_agency_id),
                *await uow.staff.list_by_agency(case.support_agency_id),
            ]
        candidates = [
            TeamMember(s.id, s.display_name, s.agency_id, s.role.value)
            for s in staff
            if s.active and s.id not in on_team
        ]
        phones = [d for d in view.devices if d.owner_kind is OwnerKind.WITNESS]
        hint = None
        if sealed is not None and self._phones is not None:
            # Enough to tell which number is set, too little to call it; the page view
            # this belongs to is already an audited consultation.
            hint = "••" + self._phones.open(sealed)[-2:]
        return CaseworkOverview(
            lifecycle, enrolment, phones, candidates, self._clock.now(), phone_hint=hint
        )

    # ------------------------------------------------------------------ closing

    async def close_case(self, staff: Staff, case_id: str, outcome: str) -> ClosedCase:
        """Close the case with an outcome category. Closing a closed case changes
        nothing (and keeps its first outcome).

        Raises:
            InvalidInput: not one of :data:`OUTCOMES`.
            NotFound: the case is not visible (audited).
            Forbidden: not allowed to manage the case.
        """
        if outcome not in OUTCOMES:
            raise InvalidInput(f"outcome must be one of {', '.join(OUTCOMES)}")
        now = self._clock.now()
        effects = Effects()
        revoked: list[str] = []
        async with self._store.read() as uow:
            case = await uow.cases.get(case_id)
            assigned = case is not None and await uow.cases.is_assigned(case_id, staff.id)
            visible = case is not None and can_view_case(staff, case, assigned=assigned)
            if case is not None and visible and not can_manage_case(staff, case, assigned=assigned):
                raise Forbidden("Only the case's officers and supervisors can close it")
        if case is None or not visible:
            await audit_denied(
                self._store, self._audit, Actor.staff(staff.id), case_id if case else None, "close"
            )
            raise NotFound("No such case")
        async with self._store.write() as uow:
            newly = await uow.case_lifecycle.close(
                case.id,
                at=now,
                outcome=outcome,
                closed_by=staff.id,
                retire_phones_at=now + self.phone_grace,
                erase_at=now + self.retention,
            )
            if newly:
                await uow.case_lifecycle.stop_schedules(case.id)
                for hook in self.on_close:
                    await hook(uow, case, now)
                witness = await uow.witnesses.get_by_case(case.id)
                phones = (
                    []
                    if witness is None
                    else await uow.devices.list_for_owner(OwnerKind.WITNESS, witness.id)
                )
                if not phones:
                    # Nobody to tell: nothing waits for a grace period.
                    await uow.case_lifecycle.claim_retirement(case.id)
                else:
                    staff_devices = [
                        d.id
                        for d in await uow.devices.list_for_case(case.id)
                        if d.owner_kind is OwnerKind.STAFF
                    ]
                    assert witness is not None
                    await effects.push_durable(
                        uow,
                        staff_devices,
                        {
                            "type": "case_closed",
                            "case_id": case.id,
                            "outcome": outcome,
                            "language": witness.language,
                        },
                        now,
                        now + self.phone_grace,
                        ref=f"case_closed:{case.id}",
                    )
                await self._audit.append(
                    uow.audit,
                    Actor.staff(staff.id),
                    "case.closed",
                    subject=("case", case.id),
                    case_id=case.id,
                    details={"outcome": outcome, "phones": len(phones)},
                )
            closed = await uow.cases.get(case.id)
            record = await uow.case_lifecycle.get(case.id)
        await effects.run(self._events)
        assert closed is not None
        assert record is not None
        return ClosedCase(closed, newly, revoked, record.outcome or outcome)

    async def retire_due_phones(self, limit: int = 100) -> int:
        """Revoke the phones of closed cases whose outcome reached them or whose grace
        period ended; returns the phones revoked."""
        now = self._clock.now()
        async with self._store.read() as uow:
            due = await uow.case_lifecycle.due_retirements(now, limit)
        revoked: list[str] = []
        for case_id in due:
            async with self._store.write() as uow:
                if not await uow.case_lifecycle.claim_retirement(case_id):
                    continue  # another instance took it
                case = await uow.cases.get(case_id)
                witness = await uow.witnesses.get_by_case(case_id)
                phones = (
                    []
                    if witness is None
                    else await uow.devices.list_for_owner(OwnerKind.WITNESS, witness.id)
                )
                for phone in phones:
                    if await revoke_device_in(
                        uow,
                        self._audit,
                        Actor.system(),
                        "system",
                        phone,
                        case,
                        now,
                        why="case-closed",
                    ):
                        revoked.append(phone.id)
                await uow.device_events.withdraw(f"case_closed:{case_id}")
                await self._audit.append(
                    uow.audit,
                    Actor.system(),
                    "case.phones_retired",
                    subject=("case", case_id),
                    case_id=case_id,
                    details={"revoked_devices": len(phones)},
                )
        if revoked:
            if self._authenticator is not None:
                self._authenticator.forget_devices(set(revoked))
            await self._events.devices_revoked(revoked)
        return len(revoked)

    # ------------------------------------------------------------------ reviews

    async def review_done(self, staff: Staff, case_id: str) -> datetime:
        """Record that the case's need for its data was reviewed: the next review is
        one interval from now.

        Raises:
            NotFound: the case is not visible.
            Forbidden: not allowed to manage the case.
            InvalidInput: the case is closed.
        """
        now = self._clock.now()
        async with self._store.write() as uow:
            case = await uow.cases.get(case_id)
            assigned = case is not None and await uow.cases.is_assigned(case_id, staff.id)
            if case is None or not can_view_case(staff, case, assigned=assigned):
                raise NotFound("No such case")
            if not can_manage_case(staff, case, assigned=assigned):
                raise Forbidden("Only the case's officers and supervisors can review it")
            if case.closed_at is not None:
                raise InvalidInput("a closed case has no reviews")
            due = now + self.review_interval
            await uow.case_lifecycle.set_review(case_id, due)
            await self._audit.append(
                uow.audit,
                Actor.staff(staff.id),
                "case.reviewed",
                subject=("case", case_id),
                case_id=case_id,
                details={"next_review_days": self.review_interval.days},
            )
        return due

    async def remind_due_reviews(self, limit: int = 100) -> int:
        """Queue a content-free ``case_review_due`` event for the police staff of each
        open case whose review fell due (once per due date)."""
        now = self._clock.now()
        async with self._store.read() as uow:
            due = await uow.case_lifecycle.due_reviews(now, limit)
        reminded = 0
        for case_id, due_at in due:
            effects = Effects()
            async with self._store.write() as uow:
                if not await uow.case_lifecycle.claim_review_reminder(case_id, due_at, now):
                    continue
                case = await uow.cases.get(case_id)
                assert case is not None
                team = await uow.cases.assigned_staff_for_cases([case_id])
                police = {
                    s.id for s in team.get(case_id, []) if s.agency_id == case.police_agency_id
                }
                devices = [
                    d.id
                    for d in await uow.devices.list_for_case(case_id)
                    if d.owner_kind is OwnerKind.STAFF and d.owner_id in police
                ]
                await effects.push_durable(
                    uow,
                    devices,
                    {"type": "case_review_due", "case_id": case_id},
                    now,
                    now + self.review_interval,
                    ref=f"case_review:{case_id}",
                )
                await self._audit.append(
                    uow.audit,
                    Actor.system(),
                    "case.review_due",
                    subject=("case", case_id),
                    case_id=case_id,
                    details={"devices": len(devices)},
                )
                reminded += 1
            await effects.run(self._events)
        return reminded

    # ------------------------------------------------------------------ retention

    async def erase_due(self, limit: int = 20) -> int:
        """Erase the personal data of closed cases past their retention; returns how
        many cases were erased. Each case in one transaction with its audit entry."""
        now = self._clock.now()
        async with self._store.read() as uow:
            due = await uow.case_lifecycle.due_erasures(now, limit)
        erased = 0
        for case_id in due:
            async with self._store.write() as uow:
                record = await uow.case_lifecycle.get(case_id)
                if record is None or record.erase_at is None or record.erase_at > now:
                    continue  # another instance finished it
                counts = await uow.case_erasure.erase(case_id)
                await uow.case_lifecycle.finish_erasure(
                    case_id, now, ERASED_REFERENCE.format(case_id=case_id)
                )
                await self._audit.append(
                    uow.audit,
                    Actor.system(),
                    "case.erased",
                    subject=("case", case_id),
                    case_id=case_id,
                    details={"rows": sum(counts.values()), "steps": counts},
                )
                erased += 1
        if erased and self._after_erasure is not None:
            await self._after_erasure()
        return erased
