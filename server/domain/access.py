"""Who may do what: the authorization rules, as pure functions over loaded records.

Staff see only cases their agency is assigned to, and within those only cases they are
assigned to — unless they supervise (supervisors and admins of one of the case's
agencies). A case's conversation members are its witness and its assigned staff.

One exception to supervising: while the case's latest handover request is open or
declined (``Case.handover_pending_for``), the receiving agency's staff who are not on
the case's team see only the request (alias, language, return date, risk level; see
``handovers``), not the case. Staff the police assigned keep access; acceptance lifts
the hold (and puts the named contacts on the team). A case without a handover is as
before.
"""

from __future__ import annotations

from dataclasses import dataclass

from server.domain.audit import Actor
from server.domain.models import Agency, AgencyKind, Case, Device, Role, Staff, Witness

SUPERVISING_ROLES = frozenset({Role.SUPERVISOR, Role.ADMIN})


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated device and the person behind it (staff or witness)."""

    device: Device
    staff: Staff | None = None
    witness: Witness | None = None

    @property
    def actor(self) -> Actor:
        if self.staff is not None:
            return Actor.staff(self.staff.id)
        if self.witness is not None:
            return Actor.witness(self.witness.id)
        return Actor.anonymous()


def in_case_agencies(staff: Staff, case: Case) -> bool:
    return staff.agency_id in case.agency_ids()


def held_back_by_handover(staff: Staff, case: Case, *, assigned: bool) -> bool:
    """Whether ``staff`` belongs to the agency a handover of ``case`` was asked of that
    has not accepted it, and is not on the case's team: such staff see only the request."""
    return (
        not assigned
        and case.handover_pending_for is not None
        and staff.agency_id == case.handover_pending_for
        and staff.agency_id != case.police_agency_id
    )


def can_view_case(staff: Staff, case: Case, *, assigned: bool) -> bool:
    """Assigned staff, and supervisors/admins of one of the case's agencies (not of an
    agency still asked to take the case over: ``held_back_by_handover``)."""
    if not staff.active or not in_case_agencies(staff, case):
        return False
    if held_back_by_handover(staff, case, assigned=assigned):
        return False
    return assigned or staff.role in SUPERVISING_ROLES


def can_manage_case(staff: Staff, case: Case, *, assigned: bool) -> bool:
    """Change the case: add the witness, issue enrolment codes, remote-revoke devices.

    Assigned officers and supervisors, and supervisors of either agency (not of an
    agency still asked to take the case over: ``held_back_by_handover``).
    """
    if not staff.active or not in_case_agencies(staff, case):
        return False
    if held_back_by_handover(staff, case, assigned=assigned):
        return False
    if staff.role in SUPERVISING_ROLES:
        return True
    return assigned and staff.role is Role.OFFICER


def can_assign(actor: Staff, case: Case, target: Staff, *, actor_assigned: bool) -> bool:
    """Assign ``target`` to ``case``: managers may assign staff of either agency; an
    assigned member may also bring in colleagues of their own agency. While a handover
    is pending, only the police side brings the receiving agency's staff onto the team
    (it is the police's choice to share; an assigned support worker cannot lift the
    hold for a colleague)."""
    if not target.active or not in_case_agencies(target, case):
        return False
    if (
        held_back_by_handover(target, case, assigned=False)
        and actor.agency_id != case.police_agency_id
    ):
        return False
    if can_manage_case(actor, case, assigned=actor_assigned):
        return True
    return actor_assigned and actor.agency_id == target.agency_id and actor.active


def can_create_case(staff: Staff, agency: Agency) -> bool:
    """Cases are opened by officers and supervisors of a police agency."""
    return (
        staff.active
        and agency.kind is AgencyKind.POLICE
        and staff.role in {Role.OFFICER, Role.SUPERVISOR, Role.ADMIN}
    )
