"""What the witness page's welfare-visit section shows (``_witness_visits.html``)."""

from __future__ import annotations

from typing import Any

from server.domain.cases import TeamMember
from server.domain.models import Case, Staff, Witness
from server.services import Services


async def visits_context(
    svc: Services, staff: Staff, case: Case, witness: Witness | None, team: list[TeamMember]
) -> dict[str, Any]:
    """The plan (or its default), the case's visits and who may visit: the members of
    the support organisation on the case."""
    if witness is None:
        return {"visit_plan": None, "visits": [], "visitors": {}}
    return {
        "visit_plan": await svc.visits.plan(staff, witness.id),
        "visits": await svc.visits.for_case(staff, case.id),
        "visitors": {
            m.staff_id: m.display_name for m in team if m.agency_id == case.support_agency_id
        },
    }
