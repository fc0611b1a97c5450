"""Cases, their team and their witness.

A case joins a destination-country police agency and a home-country support agency.
Its conversation members are the witness and the staff assigned to it. Every look at a
witness's data by staff is an audited consultation, with a reason where the viewer's
agency requires one; every refused attempt is audited too. Closing, reviewing and
erasing a case are in :mod:`server.domain.case_lifecycle`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from server.clock import Clock
from server.domain.access import (
    can_assign,
    can_create_case,
    can_manage_case,
    can_view_case,
)
from server.domain.audit import Actor, AuditLog
from server.domain.authentication import DeviceAuthenticator
from server.domain.denials import audit_denied
from server.domain.events import EventSink
from server.domain.identities import notify_keys_changed
from server.domain.models import (
    Agency,
    AgencyKind,
    Case,
    Device,
    Staff,
    Witness,
)
from server.domain.validation import check_label, check_language, check_timezone
from server.errors import Conflict, Forbidden, InvalidInput, NotFound, ReasonRequired
from server.ids import new_id
from server.storage.protocols import Store, UnitOfWork


@dataclass(frozen=True, slots=True)
class TeamMember:
    staff_id: str
    display_name: str
    agency_id: str
    role: str


@dataclass(frozen=True, slots=True)
class CaseView:
    """What staff see of a case: no content, only who and which devices."""

    case: Case
    witness: Witness | None
    team: list[TeamMember]
    devices: list[Device]


class CaseService:
    """Opens cases and manages their team and witness."""

    def __init__(
        self,
        store: Store,
        audit: AuditLog,
        clock: Clock,
        events: EventSink,
        authenticator: DeviceAuthenticator,
        *,
        review_interval: timedelta = timedelta(days=182),
    ) -> None:
        self._store = store
        self._review_interval = review_interval
        self._audit = audit
        self._clock = clock
        self._authenticator = authenticator
        self._events = events

    async def create_case(self, staff: Staff, *, reference: str, support_agency_id: str) -> Case:
        """Open a case in the officer's police agency with a home-country support agency.

        Raises:
            Forbidden: the staff member may not open cases.
            InvalidInput: bad reference, or the support agency is not a support agency.
            Conflict: the reference is already used in this police agency.
        """
        reference = check_label(reference, "case reference")
        now = self._clock.now()
        async with self._store.write() as uow:
            agency = await uow.agencies.get(staff.agency_id)
            if agency is None or not can_create_case(staff, agency):
                raise Forbidden("Only officers of a police agency can open cases")
            support = await uow.agencies.get(support_agency_id)
            if support is None or support.kind is not AgencyKind.SUPPORT:
                raise InvalidInput("support_agency_id must name a support organisation")
            case = Case(
                id=new_id("case"),
                reference=reference,
                police_agency_id=agency.id,
                support_agency_id=support.id,
                created_by=staff.id,
                created_at=now,
                closed_at=None,
            )
            await uow.cases.insert(case)
            await uow.cases.add_staff(case.id, staff.id, staff.id, now)
            await uow.case_lifecycle.set_review(case.id, now + self._review_interval)
            await self._audit.append(
                uow.audit,
                Actor.staff(staff.id),
                "case.created",
                subject=("case", case.id),
                case_id=case.id,
                details={"support_agency_id": support.id},
            )
        return case

    async def support_agencies_for(self, staff: Staff) -> list[Agency]:
        """The support organisations a case opened by ``staff`` may go to; empty when
        ``staff`` may not open cases (the console then offers no form)."""
        async with self._store.read() as uow:
            agency = await uow.agencies.get(staff.agency_id)
            if agency is None or not can_create_case(staff, agency):
                return []
            agencies = await uow.agencies.list()
        return sorted(
            (a for a in agencies if a.kind is AgencyKind.SUPPORT), key=lambda a: a.name.casefold()
        )

    async def _load_case_for(
        self, uow: UnitOfWork, staff: Staff, case_id: str, purpose: str
    ) -> tuple[Case, bool]:
        """Load a case the staff member may view; audit and refuse otherwise.

        A case the caller may not see is reported as not found, so that ids cannot be
        probed; the attempt is still audited.
        """
        case = await uow.cases.get(case_id)
        assigned = case is not None and await uow.cases.is_assigned(case_id, staff.id)
        if case is None or not can_view_case(staff, case, assigned=assigned):
            await self._audit_denied(staff, case_id if case else None, purpose)
            raise NotFound("No such case")
        return case, assigned

    async def _audit_denied(self, staff: Staff, case_id: str | None, purpose: str) -> None:
        await audit_denied(self._store, self._audit, Actor.staff(staff.id), case_id, purpose)

    async def require_member(self, staff: Staff, case_id: str, purpose: str) -> Case:
        """The case, if ``staff`` is assigned to it (a conversation member).

        Raises:
            NotFound: not a member (audited).
        """
        async with self._store.read() as uow:
            case = await uow.cases.get(case_id)
            assigned = case is not None and await uow.cases.is_assigned(case_id, staff.id)
        if case is None or not assigned or not staff.active:
            await self._audit_denied(staff, case_id if case else None, purpose)
            raise NotFound("No such case")
        return case

    async def view_case(self, staff: Staff, case_id: str, *, reason: str | None) -> CaseView:
        """Consult a case and its witness; an audited consultation.

        Raises:
            NotFound: no such case, or not visible to this staff member (audited).
            ReasonRequired: the viewer's agency requires a reason and none was given.
        """
        async with self._store.read() as uow:
            case, _assigned = await self._load_case_for(uow, staff, case_id, "view case")
            agency = await uow.agencies.get(staff.agency_id)
            if agency is not None and agency.requires_reason and not (reason and reason.strip()):
                raise ReasonRequired()
            witness = await uow.witnesses.get_by_case(case_id)
            team: list[TeamMember] = []
            for staff_id in await uow.cases.staff_ids(case_id):
                member = await uow.staff.get(staff_id)
                if member is not None:
                    team.append(
                        TeamMember(member.id, member.display_name, member.agency_id, member.role)
                    )
            devices = await uow.devices.list_for_case(case_id)
        async with self._store.write() as uow:
            await self._audit.append(
                uow.audit,
                Actor.staff(staff.id),
                "witness.consulted",
                subject=("witness", witness.id) if witness else ("case", case_id),
                case_id=case_id,
                reason=reason.strip() if reason else None,
                details={"what": "case, witness profile and devices"},
            )
        return CaseView(case, witness, team, devices)

    async def list_cases(self, staff: Staff) -> list[tuple[Case, Witness | None]]:
        """The caseload: cases this staff member is assigned to (or supervises)."""
        async with self._store.read() as uow:
            cases = await uow.cases.list_assigned(staff.id)
            if staff.role.value in {"supervisor", "admin"}:
                known = {case.id for case in cases}
                cases += [
                    c
                    for c in await uow.cases.list_for_agency(staff.agency_id)
                    if c.id not in known and can_view_case(staff, c, assigned=False)
                ]
            result = [(case, await uow.witnesses.get_by_case(case.id)) for case in cases]
        async with self._store.write() as uow:
            await self._audit.append(
                uow.audit,
                Actor.staff(staff.id),
                "caseload.listed",
                details={"cases": len(result)},
            )
        return result

    async def assign_staff(self, staff: Staff, case_id: str, target_staff_id: str) -> bool:
        """Add a staff member of one of the case's agencies to its team.

        Raises:
            NotFound: the case is not visible, or no such staff member.
            Forbidden: not allowed to assign this person.
        """
        now = self._clock.now()
        async with self._store.write() as uow:
            case = await uow.cases.get(case_id)
            assigned = case is not None and await uow.cases.is_assigned(case_id, staff.id)
            if case is None or not can_view_case(staff, case, assigned=assigned):
                raise NotFound("No such case")
            target = await uow.staff.get(target_staff_id)
            if target is None:
                raise NotFound("No such staff member")
            if not can_assign(staff, case, target, actor_assigned=assigned):
                raise Forbidden("You may not assign this staff member to this case")
            added = await uow.cases.add_staff(case_id, target.id, staff.id, now)
            if added:
                await self._audit.append(
                    uow.audit,
                    Actor.staff(staff.id),
                    "case.member_added",
                    subject=("staff", target.id),
                    case_id=case_id,
                )
        if added:
            await notify_keys_changed(self._store, self._events, [case_id])
        return added

    async def remove_staff(self, staff: Staff, case_id: str, target_staff_id: str) -> bool:
        """Take a staff member off a case's team.

        Raises:
            NotFound: the case is not visible.
            Forbidden: not allowed to manage the case.
        """
        async with self._store.write() as uow:
            case = await uow.cases.get(case_id)
            assigned = case is not None and await uow.cases.is_assigned(case_id, staff.id)
            if case is None or not can_view_case(staff, case, assigned=assigned):
                raise NotFound("No such case")
            if not can_manage_case(staff, case, assigned=assigned) and staff.id != target_staff_id:
                raise Forbidden("You may not change this case's team")
            removed = await uow.cases.remove_staff(case_id, target_staff_id)
            if removed:
                # What waits for them in this case is no longer theirs to receive.
                await uow.messages.delete_for_owner_in_case(case_id, "staff", target_staff_id)
                await self._audit.append(
                    uow.audit,
                    Actor.staff(staff.id),
                    "case.member_removed",
                    subject=("staff", target_staff_id),
                    case_id=case_id,
                )
        if removed:
            await notify_keys_changed(self._store, self._events, [case_id])
        return removed

    async def add_witness(
        self, staff: Staff, case_id: str, *, alias: str, language: str, timezone: str
    ) -> Witness:
        """Add the case's witness (pseudonymous); their phone is enrolled in person from
        the officer's client (``server.domain.enrolment``).

        Raises:
            NotFound: the case is not visible.
            Forbidden: not allowed to manage the case.
            InvalidInput: bad alias, language or timezone.
            Conflict: the case already has a witness.
        """
        alias = check_label(alias, "alias")
        check_language(language)
        check_timezone(timezone)
        now = self._clock.now()
        async with self._store.write() as uow:
            case = await self._manageable(uow, staff, case_id)
            if case.closed_at is not None:
                raise Conflict("The case is closed")
            witness = Witness(
                id=new_id("wit"),
                case_id=case.id,
                alias=alias,
                language=language,
                timezone=timezone,
                created_by=staff.id,
                created_at=now,
            )
            await uow.witnesses.insert(witness)
            await self._audit.append(
                uow.audit,
                Actor.staff(staff.id),
                "witness.added",
                subject=("witness", witness.id),
                case_id=case.id,
                details={"language": language, "timezone": timezone},
            )
        return witness

    async def _manageable(self, uow: UnitOfWork, staff: Staff, case_id: str) -> Case:
        case = await uow.cases.get(case_id)
        assigned = case is not None and await uow.cases.is_assigned(case_id, staff.id)
        if case is None or not can_view_case(staff, case, assigned=assigned):
            raise NotFound("No such case")
        if not can_manage_case(staff, case, assigned=assigned):
            raise Forbidden("Only the case's officers and supervisors can do this")
        return case
