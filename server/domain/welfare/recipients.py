"""Who an escalation level reaches, worked out for many alerts at once.

Roles such as support worker and officer are taken from the staff assigned to the case;
supervisors and admins from the whole agency. The data is loaded once per batch, so a
wave of ten thousand alerts costs a handful of queries, not thousands.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from server.domain.access import SUPERVISING_ROLES, held_back_by_handover
from server.domain.escalation import Level
from server.domain.models import Case, Role, Staff
from server.storage.protocols import UnitOfWork


class RecipientDirectory:
    """Staff data for a batch of cases, and target resolution over it."""

    def __init__(
        self,
        cases: dict[str, Case],
        assigned: dict[str, list[Staff]],
        by_agency_role: dict[tuple[str, Role], list[Staff]],
        named: dict[str, Staff],
    ) -> None:
        self.cases = cases
        self._assigned = assigned
        self._by_agency_role = by_agency_role
        self._named = named

    @classmethod
    async def load(
        cls,
        uow: UnitOfWork,
        case_ids: Iterable[str],
        levels: Iterable[Level],
        cases: dict[str, Case] | None = None,
    ) -> RecipientDirectory:
        """Load what the levels need for these cases (``cases`` if already loaded)."""
        ids = sorted(set(case_ids))
        if cases is None:
            cases = await uow.cases.get_many(ids)
        assigned = await uow.cases.assigned_staff_for_cases(ids)
        supervising: set[Role] = set()
        named_ids: set[str] = set()
        for level in levels:
            for target in level.targets:
                supervising.update(r for r in target.roles if r in SUPERVISING_ROLES)
                named_ids.update(target.staff_ids)
        by_agency_role: dict[tuple[str, Role], list[Staff]] = {}
        agencies = {a for case in cases.values() for a in case.agency_ids()}
        for agency_id in sorted(agencies):
            for role in sorted(supervising):
                by_agency_role[(agency_id, role)] = await uow.staff.list_by_roles(
                    agency_id, [role.value]
                )
        named = {}
        for staff_id in sorted(named_ids):
            staff = await uow.staff.get(staff_id)
            if staff is not None and staff.active:
                named[staff_id] = staff
        return cls(cases, assigned, by_agency_role, named)

    def assigned_ids(self, case_id: str) -> list[str]:
        """The staff assigned to a case (everyone who sees its alerts appear)."""
        return [s.id for s in self._assigned.get(case_id, [])]

    def staff_for(self, case_id: str, levels: Sequence[Level]) -> list[Staff]:
        """Everyone the given levels reach for a case, each once."""
        case = self.cases[case_id]
        team = set(self.assigned_ids(case_id))
        chosen: dict[str, Staff] = {}
        for level in levels:
            for target in level.targets:
                agency_id = None
                if target.agency == "support":
                    agency_id = case.support_agency_id
                elif target.agency == "police":
                    agency_id = case.police_agency_id
                matched: list[Staff] = []
                for role in target.roles:
                    if role in SUPERVISING_ROLES and agency_id is not None:
                        # Not an agency still asked to take the case over: its
                        # supervisors see only the handover request until it accepts.
                        matched += [
                            s
                            for s in self._by_agency_role.get((agency_id, role), [])
                            if not held_back_by_handover(s, case, assigned=s.id in team)
                        ]
                    else:
                        matched += [
                            s
                            for s in self._assigned.get(case_id, [])
                            if s.role is role and s.agency_id == agency_id
                        ]
                for staff_id in target.staff_ids:
                    member = self._named.get(staff_id)
                    if (
                        member is not None
                        and member.agency_id in case.agency_ids()
                        and not held_back_by_handover(member, case, assigned=member.id in team)
                    ):
                        matched.append(member)
                if target.on_duty_only:
                    # Nobody on duty must not mean nobody told.
                    matched = [s for s in matched if s.on_duty] or matched
                for member in matched:
                    chosen[member.id] = member
        return list(chosen.values())
