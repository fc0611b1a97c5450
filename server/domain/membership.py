"""Who belongs to a case's conversation: its witness and its assigned, active staff."""

from __future__ import annotations

from server.domain.access import Principal
from server.storage.protocols import UnitOfWork


async def is_case_member(uow: UnitOfWork, principal: Principal, case_id: str) -> bool:
    """Whether the caller is the case's witness or an active staff member assigned to it."""
    if principal.witness is not None:
        return principal.witness.case_id == case_id
    if principal.staff is not None and principal.staff.active:
        return await uow.cases.is_assigned(case_id, principal.staff.id)
    return False


async def member_owners(uow: UnitOfWork, case_id: str) -> list[str]:
    """The case's members as key objects name them (``staff:…``, ``witness:…``): its
    active assigned staff, then its witness."""
    staff = (await uow.cases.assigned_staff_for_cases([case_id])).get(case_id, [])
    owners = [f"staff:{member.id}" for member in staff]
    witness = await uow.witnesses.get_by_case(case_id)
    if witness is not None:
        owners.append(f"witness:{witness.id}")
    return owners
