"""Loading a case (and its witness) for a staff member, with the access rules applied.

One place for what every case service does first: a case the caller may not see is
"not found" (ids cannot be probed, and a case held back by a pending handover looks
like a stranger's), a change needs the case team or a manager, and a closed case takes
no new plans, dates or visits.
"""

from __future__ import annotations

from server.domain.access import can_manage_case, can_view_case
from server.domain.models import Case, Staff, Witness
from server.errors import Conflict, Forbidden, NotFound
from server.storage.protocols import UnitOfWork


async def case_for_staff(
    uow: UnitOfWork, staff: Staff, case_id: str, *, change: bool, refusal: str
) -> Case:
    """The case, if ``staff`` may see it (and, with ``change``, change it).

    Raises:
        NotFound: no such case, or not one the caller may see.
        Forbidden: ``change`` by someone who may see but not change it (``refusal``
            says what they may not do).
        Conflict: ``change`` on a closed case.
    """
    case = await uow.cases.get(case_id)
    assigned = case is not None and await uow.cases.is_assigned(case_id, staff.id)
    if case is None or not can_view_case(staff, case, assigned=assigned):
        raise NotFound("No such case")
    if change and not (assigned or can_manage_case(staff, case, assigned=assigned)):
        raise Forbidden(refusal)
    if change and case.closed_at is not None:
        raise Conflict("The case is closed")
    return case


async def witness_of_case(uow: UnitOfWork, case_id: str) -> Witness:
    """The case's witness.

    Raises:
        Conflict: the case has no witness yet.
    """
    witness = await uow.witnesses.get_by_case(case_id)
    if witness is None:
        raise Conflict("Add the witness to the case first")
    return witness
