"""Handover before return (issue 11, item 2): the police ask the receiving support
organisation to take the witness on; it accepts, naming a primary and an alternate
contact, or declines with a reason.

Who is who:

* The request goes to the case's support agency (``Case.support_agency_id``), kept on
  the row as the receiving agency. Choosing another agency is a change of the case and
  then a new request: sending a request withdraws the open one.
* The police side (the case's police agency: its assigned officers, its supervisors
  and admins) sends the request, records the witness's consent, and reads the decision
  (the decline reason included, an audited consultation).
* The receiving side sees only the minimum the request needs — alias, language,
  return date, current risk level — until it accepts. Its supervisors and admins
  decide for the agency; its staff already on the case's team (a support worker the
  agency assigned) may too, since they already see the case. Anybody else is told
  nothing exists (NotFound).

No acceptance by ``accept_days`` before the return raises ``handover_not_accepted``
through the escalation (source ``handover:<id>``, so once per request), to the police
side of the case only (``escalation.for_one_side``): it is theirs to solve, by finding
another organisation or date. An acceptance
after the alert resolves nothing by itself: the alert stays for a person to resolve,
and the handover shows as accepted beside it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta

from server.clock import Clock
from server.domain.access import SUPERVISING_ROLES, Principal, can_manage_case, can_view_case
from server.domain.audit import Actor, AuditLog
from server.domain.case_lookup import witness_of_case
from server.domain.effects import Effects
from server.domain.events import EventSink
from server.domain.free_text import check_free_text
from server.domain.handover_models import (
    Consent,
    ConsentHow,
    Handover,
    HandoverState,
    HandoverStatus,
)
from server.domain.identities import notify_keys_changed
from server.domain.models import AgencyKind, Case, Staff, Witness
from server.domain.risk_levels import RiskLevel
from server.domain.welfare.alerts import AlertEngine, AlertSpec
from server.domain.welfare_models import AlertKind
from server.errors import Conflict, Forbidden, InvalidInput, NotFound
from server.ids import new_id
from server.security.sealing import Sealer
from server.storage.protocols import Store, UnitOfWork

MAX_REASON = 2000


@dataclass(frozen=True, slots=True)
class HandoverRequest:
    """What the receiving agency sees: the minimum before acceptance (the case id only
    once it has accepted)."""

    handover: Handover
    alias: str
    language: str
    risk_level: RiskLevel | None

    @property
    def case_id(self) -> str | None:
        return self.handover.case_id if self.handover.status is HandoverStatus.ACCEPTED else None


@dataclass(frozen=True, slots=True)
class HandoverRecord:
    """What the police side sees: the latest request, its decision, and the consents."""

    handover: Handover | None
    decline_reason: str | None
    consents: list[Consent]


def handover_state(handover: Handover | None, now: datetime) -> str:
    """The caseload's handover column: none, requested, accepted, declined, overdue."""
    return HandoverState.NONE.value if handover is None else handover.state(now).value


def accept_by(return_on: date, accept_days: int) -> datetime:
    """The acceptance deadline: ``accept_days`` before the start of the return day (UTC)."""
    start = datetime(return_on.year, return_on.month, return_on.day, tzinfo=UTC)
    return start - timedelta(days=accept_days)


class HandoverService:
    """Requests, decisions, consents, and the acceptance-deadline sweep."""

    def __init__(
        self,
        store: Store,
        audit: AuditLog,
        clock: Clock,
        events: EventSink,
        alerts: AlertEngine,
        sealer: Sealer,
        *,
        accept_days: int = 7,
        wake_dispatcher: Callable[[], None] | None = None,
    ) -> None:
        self._store = store
        self._audit = audit
        self._clock = clock
        self._events = events
        self._alerts = alerts
        self._sealer = sealer
        self._accept_days = accept_days
        self._wake = wake_dispatcher

    # ------------------------------------------------------------------ police side

    async def _police_case(self, uow: UnitOfWork, staff: Staff, case_id: str) -> Case:
        case = await uow.cases.get(case_id)
        assigned = case is not None and await uow.cases.is_assigned(case_id, staff.id)
        if case is None or not can_view_case(staff, case, assigned=assigned):
            raise NotFound("No such case")
        if staff.agency_id != case.police_agency_id or not can_manage_case(
            staff, case, assigned=assigned
        ):
            raise Forbidden("Only the police team of the case hands it over")
        return case

    @staticmethod
    async def _witness(uow: UnitOfWork, case_id: str) -> Witness:
        return await witness_of_case(uow, case_id)

    async def request(self, staff: Staff, case_id: str, return_on: date) -> Handover:
        """Send a handover request to the case's support agency for a return on
        ``return_on``; a request still open for the case is withdrawn.

        Raises:
            NotFound, Forbidden: not the caller's case to hand over.
            InvalidInput: a return date not in the future.
            Conflict: the case has no witness, or is closed.
        """
        now = self._clock.now()
        if return_on <= now.date():
            raise InvalidInput("the return date must be in the future")
        async with self._store.write() as uow:
            case = await self._police_case(uow, staff, case_id)
            if case.closed_at is not None:
                raise Conflict("The case is closed")
            witness = await self._witness(uow, case_id)
            await uow.handovers.withdraw_open(case_id)
            handover = Handover(
                id=new_id("hov"),
                case_id=case_id,
                witness_id=witness.id,
                receiving_agency_id=case.support_agency_id,
                return_on=return_on,
                accept_by=accept_by(return_on, self._accept_days),
                status=HandoverStatus.REQUESTED,
                alert_raised=False,
                requested_by=staff.id,
                requested_at=now,
                decided_by=None,
                decided_at=None,
                primary_contact_id=None,
                alternate_contact_id=None,
                decline_reason_sealed=None,
                version=0,
            )
            await uow.handovers.insert(handover)
            await self._audit.append(
                uow.audit,
                Actor.staff(staff.id),
                "handover.requested",
                subject=("handover", handover.id),
                case_id=case_id,
                details={"receiving_agency_id": case.support_agency_id},
            )
        return handover

    async def record_consent(
        self, staff: Staff, case_id: str, how: ConsentHow, given_at: datetime | None = None
    ) -> Consent:
        """Record that the witness consented to the handover, and how.

        Raises:
            NotFound, Forbidden: not the caller's case.
            InvalidInput: a time in the future, or "in_app" (the phone records that).
        """
        now = self._clock.now()
        given = given_at or now
        if given > now + timedelta(minutes=5):
            raise InvalidInput("consent cannot be given in the future")
        if how is ConsentHow.IN_APP:
            raise InvalidInput("consent in the app is given on the witness's phone")
        async with self._store.write() as uow:
            await self._police_case(uow, staff, case_id)
            witness = await self._witness(uow, case_id)
            consent = Consent(new_id("hcn"), case_id, witness.id, how, staff.id, given, now)
            await uow.handovers.add_consent(consent)
            await self._audit.append(
                uow.audit,
                Actor.staff(staff.id),
                "handover.consent_recorded",
                subject=("witness", witness.id),
                case_id=case_id,
                details={"how": how.value},
            )
        return consent

    async def witness_consents(self, principal: Principal) -> Consent:
        """The witness gives consent to the handover in the app.

        Raises:
            Forbidden: the caller is not a witness's phone.
        """
        witness = principal.witness
        if witness is None:
            raise Forbidden("Only the witness's phone gives consent in the app")
        now = self._clock.now()
        async with self._store.write() as uow:
            consent = Consent(
                new_id("hcn"), witness.case_id, witness.id, ConsentHow.IN_APP, witness.id, now, now
            )
            await uow.handovers.add_consent(consent)
            await self._audit.append(
                uow.audit,
                Actor.witness(witness.id),
                "handover.consent_recorded",
                subject=("witness", witness.id),
                case_id=witness.case_id,
                details={"how": ConsentHow.IN_APP.value},
            )
        return consent

    async def for_case(self, staff: Staff, case_id: str) -> HandoverRecord:
        """The case's handover as the case team sees it; opening a decline reason is an
        audited consultation.

        Raises:
            NotFound: the case is not visible to the caller.
        """
        async with self._store.read() as uow:
            case = await uow.cases.get(case_id)
            assigned = case is not None and await uow.cases.is_assigned(case_id, staff.id)
            if case is None or not can_view_case(staff, case, assigned=assigned):
                raise NotFound("No such case")
            handover = await uow.handovers.latest_for_case(case_id)
            consents = await uow.handovers.consents(case_id)
        reason = None
        if handover is not None and handover.decline_reason_sealed is not None:
            reason = self._sealer.open(handover.decline_reason_sealed)
            async with self._store.write() as uow:
                await self._audit.append(
                    uow.audit,
                    Actor.staff(staff.id),
                    "handover.reason_consulted",
                    subject=("handover", handover.id),
                    case_id=case_id,
                )
        return HandoverRecord(handover, reason, consents)

    # ------------------------------------------------------------------ receiving side

    @staticmethod
    async def _may_decide(uow: UnitOfWork, staff: Staff, handover: Handover) -> bool:
        if not staff.active or staff.agency_id != handover.receiving_agency_id:
            return False
        if staff.role in SUPERVISING_ROLES:
            return True
        return await uow.cases.is_assigned(handover.case_id, staff.id)

    async def _request_view(self, uow: UnitOfWork, handover: Handover) -> HandoverRequest:
        witness = await uow.witnesses.get(handover.witness_id)
        latest = await uow.assessments.latest_for_witnesses([handover.witness_id])
        assessment = latest.get(handover.witness_id)
        return HandoverRequest(
            handover,
            alias="" if witness is None else witness.alias,
            language="" if witness is None else witness.language,
            risk_level=None if assessment is None else assessment.level,
        )

    async def requests_for(self, staff: Staff) -> list[HandoverRequest]:
        """The handover requests addressed to the caller's agency that the caller may
        decide: open ones first, then the decided ones."""
        async with self._store.read() as uow:
            agency = await uow.agencies.get(staff.agency_id)
            if agency is None or agency.kind is not AgencyKind.SUPPORT:
                return []
            found = await uow.handovers.for_agency(
                staff.agency_id, ["requested", "accepted", "declined"]
            )
            views = []
            for handover in found:
                if await self._may_decide(uow, staff, handover):
                    views.append(await self._request_view(uow, handover))
        return views

    async def _load(self, uow: UnitOfWork, staff: Staff, handover_id: str) -> Handover:
        handover = await uow.handovers.get(handover_id)
        if (
            handover is None
            or handover.status is HandoverStatus.WITHDRAWN
            or not await self._may_decide(uow, staff, handover)
        ):
            raise NotFound("No such handover request")
        return handover

    async def request_for(self, staff: Staff, handover_id: str) -> HandoverRequest:
        """One request as the receiving agency sees it.

        Raises:
            NotFound: not addressed to the caller's agency (or not the caller's to see).
        """
        async with self._store.read() as uow:
            return await self._request_view(uow, await self._load(uow, staff, handover_id))

    async def accept(
        self, staff: Staff, handover_id: str, primary_id: str, alternate_id: str
    ) -> HandoverRequest:
        """Accept the witness, naming a primary and an alternate contact of the
        receiving agency; both join the case's team.

        Raises:
            NotFound: not the caller's request to decide.
            InvalidInput: contacts that are the same person, or not active staff of the
                receiving agency.
            Conflict: the request was decided or withdrawn meanwhile.
        """
        if primary_id == alternate_id:
            raise InvalidInput("name two different people as primary and alternate contact")
        now = self._clock.now()
        async with self._store.write() as uow:
            handover = await self._load(uow, staff, handover_id)
            if handover.status is not HandoverStatus.REQUESTED:
                raise Conflict("This handover request was already decided")
            for contact_id in (primary_id, alternate_id):
                member = await uow.staff.get(contact_id)
                if (
                    member is None
                    or not member.active
                    or member.agency_id != handover.receiving_agency_id
                ):
                    raise InvalidInput("each contact must be active staff of your agency")
            decided = replace(
                handover,
                status=HandoverStatus.ACCEPTED,
                decided_by=staff.id,
                decided_at=now,
                primary_contact_id=primary_id,
                alternate_contact_id=alternate_id,
                version=handover.version + 1,
            )
            if not await uow.handovers.decide(decided, handover.version):
                raise Conflict("This handover request changed meanwhile")
            added = []
            for contact_id in (primary_id, alternate_id):
                if await uow.cases.add_staff(handover.case_id, contact_id, staff.id, now):
                    added.append(contact_id)
                    await self._audit.append(
                        uow.audit,
                        Actor.staff(staff.id),
                        "case.member_added",
                        subject=("staff", contact_id),
                        case_id=handover.case_id,
                    )
            await self._audit.append(
                uow.audit,
                Actor.staff(staff.id),
                "handover.accepted",
                subject=("handover", handover.id),
                case_id=handover.case_id,
                details={"primary": primary_id, "alternate": alternate_id},
            )
            view = await self._request_view(uow, decided)
        if added:
            await notify_keys_changed(self._store, self._events, [handover.case_id])
        return view

    async def decline(self, staff: Staff, handover_id: str, reason: str) -> HandoverRequest:
        """Decline the request with a reason (sealed at rest; the police team reads it).

        Raises:
            NotFound: not the caller's request to decide.
            InvalidInput: no reason, too long, or with control characters.
            Conflict: the request was decided or withdrawn meanwhile.
        """
        text = reason.strip()
        if not text:
            raise InvalidInput("say why the request is declined")
        if len(text) > MAX_REASON:
            raise InvalidInput(f"the reason is at most {MAX_REASON} characters")
        check_free_text(text, field="reason", multiline=True)
        now = self._clock.now()
        async with self._store.write() as uow:
            handover = await self._load(uow, staff, handover_id)
            if handover.status is not HandoverStatus.REQUESTED:
                raise Conflict("This handover request was already decided")
            decided = replace(
                handover,
                status=HandoverStatus.DECLINED,
                decided_by=staff.id,
                decided_at=now,
                decline_reason_sealed=self._sealer.seal(text),
                version=handover.version + 1,
            )
            if not await uow.handovers.decide(decided, handover.version):
                raise Conflict("This handover request changed meanwhile")
            await self._audit.append(
                uow.audit,
                Actor.staff(staff.id),
                "handover.declined",
                subject=("handover", handover.id),
                case_id=handover.case_id,
            )
            return await self._request_view(uow, decided)

    # ------------------------------------------------------------------ the sweep

    async def process_due(self, limit: int = 500) -> int:
        """Raise ``handover_not_accepted`` for requests past their deadline (one batch)."""
        now = self._clock.now()
        async with self._store.read() as uow:
            if not await uow.handovers.any_due(now):
                return 0
        effects = Effects()
        async with self._store.write() as uow:
            due = await uow.handovers.claim_due(now, limit)
            # A closed case raises nothing (its deadlines are claimed all the same).
            cases = await uow.cases.get_many(sorted({h.case_id for h in due}))
            due_open = [h for h in due if h.case_id in cases and cases[h.case_id].closed_at is None]
            specs = [
                AlertSpec(
                    h.case_id,
                    h.witness_id,
                    AlertKind.HANDOVER_NOT_ACCEPTED,
                    f"handover:{h.id}",
                    # The police must find another organisation (or a later date).
                    side="police",
                )
                for h in due_open
            ]
            await self._alerts.raise_alerts(uow, specs, now, effects)
        await effects.run(self._events, self._wake)
        return len(due)
