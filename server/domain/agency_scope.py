"""Each agency governs itself: what an agency's admins and supervisors may reach.

The rules (a security boundary, decided here once for every route):

* an agency's managers (supervisors and admins) manage only their own agency: its staff
  accounts (create, role, activate/deactivate, TOTP reset, on duty), its default
  escalation policy and its playbooks. Admin is the top role *within* an agency; no
  role spans agencies. Creating agencies and their first admins is the platform
  operator's task, done with the command line (``witnesslink admin create-agency``),
  which has no HTTP surface;
* every refusal of a manager reaching into another agency is audited
  (``access.denied`` with what was attempted and, when it exists, the staff account or
  agency it was aimed at), once per burst like every other refusal
  (:func:`~server.domain.denials.audit_denied`);
* an agency's managers read the audit entries :meth:`AgencyScope.sees` allows, nothing
  else — see there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn

from server.domain.access import SUPERVISING_ROLES
from server.domain.audit import Actor, AuditLog
from server.domain.denials import audit_denied
from server.domain.models import AuditEntry, Role, Staff
from server.errors import DomainError, Forbidden
from server.storage.protocols import Store, UnitOfWork


@dataclass(frozen=True, slots=True)
class AgencyScope:
    """An agency, its cases (as police or support agency) and its staff accounts."""

    agency_id: str
    case_ids: frozenset[str]
    staff_ids: frozenset[str]

    @classmethod
    async def load(cls, uow: UnitOfWork, agency_id: str) -> AgencyScope:
        cases = await uow.cases.list_for_agency(agency_id)
        staff = await uow.staff.list_by_agency(agency_id)
        return cls(agency_id, frozenset(c.id for c in cases), frozenset(s.id for s in staff))

    def sees(self, entry: AuditEntry) -> bool:
        """Whether the agency's managers may read this audit entry.

        * An entry about a case (its ``case_id``, or a case as its subject) is visible
          exactly when the agency is on that case, as police or support agency —
          whoever acted. An entry about a case the agency is not on is never visible,
          not even when one of the agency's own staff acted (a refused attempt on
          another agency's case is that agency's to read).
        * Any other entry is visible when its actor is one of the agency's staff, its
          subject is one of them, or its subject is the agency itself. So a refused
          attempt by another agency's admin on one of this agency's accounts is seen by
          both agencies: by this one as the subject, by the other as the actor.
        * Everything else (other agencies' staff and agencies, anonymous sign-in
          failures, the system's own housekeeping) is the operator's, read with
          ``witnesslink admin`` on the database, never in the console.
        """
        subject = (entry.subject_kind, entry.subject_id)
        if entry.case_id is not None:
            return entry.case_id in self.case_ids
        if subject[0] == "case":
            return subject[1] in self.case_ids
        if entry.actor_kind == "staff" and entry.actor_id in self.staff_ids:
            return True
        return (subject[0] == "staff" and subject[1] in self.staff_ids) or subject == (
            "agency",
            self.agency_id,
        )


async def refuse_outside_agency(
    store: Store,
    audit: AuditLog,
    manager_id: str,
    attempted: str,
    error: DomainError,
    *,
    subject: tuple[str, str] | None = None,
) -> NoReturn:
    """Audit a manager's refused attempt on another agency, then raise ``error``.

    ``subject`` is the account or agency aimed at (existing ones only).
    """
    await audit_denied(
        store,
        audit,
        Actor.staff(manager_id),
        None,
        attempted,
        target=None if subject is None else f"{subject[0]}={subject[1]}",
        subject=subject,
    )
    raise error


def require_manager(manager: Staff) -> None:
    """Raises: Forbidden unless ``manager`` is an active supervisor or admin."""
    if not manager.active or manager.role not in SUPERVISING_ROLES:
        raise Forbidden("Only supervisors and admins can use the administration pages")


async def require_own_agency(
    store: Store,
    audit: AuditLog,
    staff: Staff,
    agency_id: str,
    attempted: str,
    *,
    roles: frozenset[Role],
    refusal: str,
) -> None:
    """Let ``staff`` act on ``agency_id`` only as an active holder of one of ``roles`` in
    that very agency.

    Raises:
        Forbidden: another role (not audited: nothing of another agency was reached), or
            another agency (audited, naming the agency when it exists).
    """
    if not staff.active or staff.role not in roles:
        raise Forbidden(refusal)
    if staff.agency_id != agency_id:
        async with store.read() as uow:
            exists = await uow.agencies.get(agency_id) is not None
        await refuse_outside_agency(
            store,
            audit,
            staff.id,
            attempted,
            Forbidden(refusal),
            subject=("agency", agency_id) if exists else None,
        )


#: Administration actions whose subject is a staff account or an agency.
ADMIN_ACTIONS = frozenset(
    {
        "staff.created",
        "staff.role_changed",
        "staff.deactivated",
        "staff.reactivated",
        "staff.totp_reset",
        "staff.duty_changed",
        "agency.escalation_policy_changed",
        "playbook.changed",
    }
)


@dataclass(frozen=True, slots=True)
class CrossAgencyChange:
    """A past administration action by a staff member of one agency on another agency's
    account or settings — allowed before agencies governed themselves, and exactly what
    the review's attack left behind (a supervisor planted in a police agency)."""

    seq: int
    action: str
    actor_id: str
    actor_agency_id: str
    subject: tuple[str, str]
    subject_agency_id: str


@dataclass(frozen=True, slots=True)
class GovernanceReview:
    """What the platform operator reviews once after the upgrade (and at will)."""

    changes: list[CrossAgencyChange]
    #: Agencies with no active admin of their own: only the operator can give them one.
    without_admin: list[str]


async def review_governance(store: Store, *, page: int = 1000) -> GovernanceReview:
    """Find every cross-agency administration action in the audit log, and every agency
    without an active admin. Reads ids and action names only; nothing of any case."""
    changes: list[CrossAgencyChange] = []
    async with store.read() as uow:
        agencies = await uow.agencies.list()
        agency_of: dict[str, str] = {}
        admins: dict[str, int] = {a.id: 0 for a in agencies}
        for agency in agencies:
            for member in await uow.staff.list_by_agency(agency.id):
                agency_of[member.id] = agency.id
                if member.active and member.role is Role.ADMIN:
                    admins[agency.id] += 1
    after = 0
    while True:
        async with store.read() as uow:
            batch = await uow.audit.scan(after, page)
        if not batch:
            break
        for entry in batch:
            after = entry.seq
            if entry.action not in ADMIN_ACTIONS or entry.actor_kind != "staff":
                continue
            if entry.actor_id is None or entry.subject_kind is None or entry.subject_id is None:
                continue
            actor_agency = agency_of.get(entry.actor_id)
            subject_agency = (
                entry.subject_id
                if entry.subject_kind == "agency"
                else agency_of.get(entry.subject_id)
            )
            if actor_agency is None or subject_agency is None or actor_agency == subject_agency:
                continue
            changes.append(
                CrossAgencyChange(
                    entry.seq,
                    entry.action,
                    entry.actor_id,
                    actor_agency,
                    (entry.subject_kind, entry.subject_id),
                    subject_agency,
                )
            )
    return GovernanceReview(changes, sorted(a for a, n in admins.items() if n == 0))
