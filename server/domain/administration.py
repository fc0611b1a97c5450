"""Staff administration: an agency's supervisors and admins manage their own agency.

Within the agency (the boundary itself, and its audited refusals, are
:mod:`server.domain.agency_scope`'s):

* admins manage every account of their agency and alone grant the admin role;
  supervisors manage their agency's accounts but never an admin's account (putting one
  on or off duty excepted);
* nobody changes their own role or deactivates their own account, so the last admin
  can never lock everyone out;
* agencies and their first admins are the platform operator's (the command line,
  :meth:`~server.domain.accounts.AccountService.create_agency_with_admin`).
"""

from __future__ import annotations

from dataclasses import dataclass

import pyotp

from server.domain.access import SUPERVISING_ROLES
from server.domain.accounts import AccountService, NewStaff
from server.domain.agency_scope import refuse_outside_agency, require_manager, require_own_agency
from server.domain.audit import Actor, AuditLog
from server.domain.escalation import DEFAULT_POLICY, EscalationPolicy
from server.domain.models import Agency, OwnerKind, Role, Staff
from server.errors import Forbidden, NotFound
from server.security.sealing import Sealer
from server.storage.protocols import Store


@dataclass(frozen=True, slots=True)
class AccessChange:
    """An account whose access changed, and its devices (to evict cached credentials
    and drop live connections)."""

    staff: Staff
    device_ids: tuple[str, ...]


class AgencyAdministration:
    """Accounts, roles, TOTP, duty and the default policy of the manager's own agency."""

    def __init__(
        self, store: Store, audit: AuditLog, sealer: Sealer, accounts: AccountService
    ) -> None:
        self._store = store
        self._audit = audit
        self._sealer = sealer
        self._accounts = accounts

    async def _check_agency_access(self, manager: Staff, agency_id: str, attempted: str) -> None:
        """Raises: Forbidden (not a manager, or another agency: audited)."""
        require_manager(manager)
        await require_own_agency(
            self._store,
            self._audit,
            manager,
            agency_id,
            attempted,
            roles=SUPERVISING_ROLES,
            refusal="You manage your own agency only",
        )

    @staticmethod
    def _check_grantable(manager: Staff, role: Role) -> None:
        if role is Role.ADMIN and manager.role is not Role.ADMIN:
            raise Forbidden("Only admins can grant the admin role")

    async def _managed_staff(
        self, manager: Staff, staff_id: str, attempted: str, *, admins_too: bool = False
    ) -> Staff:
        """An account of the manager's own agency.

        Raises:
            Forbidden: not a manager; an admin's account, for a supervisor (unless
                ``admins_too``).
            NotFound: no such account, or one of another agency (audited: the
                refusal names the account, which exists).
        """
        require_manager(manager)
        async with self._store.read() as uow:
            target = await uow.staff.get(staff_id)
        if target is None:
            raise NotFound("No such staff member")
        if target.agency_id != manager.agency_id:
            await refuse_outside_agency(
                self._store,
                self._audit,
                manager.id,
                attempted,
                NotFound("No such staff member"),
                subject=("staff", target.id),
            )
        if target.role is Role.ADMIN and manager.role is not Role.ADMIN and not admins_too:
            raise Forbidden("Only admins can change an admin's account")
        return target

    @staticmethod
    def _unchanged_rights(manager: Staff, current: Staff | None) -> Staff:
        """The target re-read in the writing transaction: it may have become an admin
        since it was checked (an account's agency never changes).

        Raises:
            Forbidden: now an admin's account, for a supervisor.
        """
        assert current is not None
        if current.role is Role.ADMIN and manager.role is not Role.ADMIN:
            raise Forbidden("Only admins can change an admin's account")
        return current

    async def agencies_for(self, manager: Staff) -> list[Agency]:
        """The agency ``manager`` administers: their own, whatever their role.

        Raises:
            Forbidden: not a supervisor or admin.
        """
        require_manager(manager)
        async with self._store.read() as uow:
            own = await uow.agencies.get(manager.agency_id)
        return [] if own is None else [own]

    async def managed_agency(
        self, manager: Staff, agency_id: str, *, attempted: str = "agency.view"
    ) -> Agency:
        """Raises: Forbidden (not a manager, or another agency: audited); NotFound."""
        await self._check_agency_access(manager, agency_id, attempted)
        async with self._store.read() as uow:
            agency = await uow.agencies.get(agency_id)
        if agency is None:
            raise NotFound("No such agency")
        return agency

    async def list_staff(self, manager: Staff, agency_id: str) -> list[Staff]:
        """Every account of the manager's agency, active or not, by username.

        Raises:
            Forbidden, NotFound: see :meth:`managed_agency`.
        """
        await self.managed_agency(manager, agency_id, attempted="staff.list")
        async with self._store.read() as uow:
            return await uow.staff.list_by_agency(agency_id)

    async def staff_member(self, manager: Staff, staff_id: str) -> Staff:
        """One account of the manager's agency.

        Raises:
            Forbidden: an admin's account (for supervisors).
            NotFound: no such staff member, or another agency's (audited).
        """
        return await self._managed_staff(manager, staff_id, "staff.view")

    async def add_staff(
        self,
        manager: Staff,
        *,
        agency_id: str,
        username: str,
        display_name: str,
        role: Role,
        password: str,
        with_totp: bool = False,
    ) -> NewStaff:
        """Create an account in the manager's own agency.

        Raises:
            Forbidden: another agency (audited), or the admin role granted by a
                supervisor.
            InvalidInput, NotFound, Conflict: see :meth:`AccountService.create_staff`.
        """
        await self._check_agency_access(manager, agency_id, "staff.create")
        self._check_grantable(manager, role)
        return await self._accounts.create_staff(
            Actor.staff(manager.id),
            agency_id=agency_id,
            username=username.strip().lower(),
            display_name=display_name,
            role=role,
            password=password,
            with_totp=with_totp,
        )

    async def set_role(self, manager: Staff, staff_id: str, role: Role) -> AccessChange:
        """Change an account's role.

        Raises:
            Forbidden: one's own account, an admin's account or the admin role (for
                supervisors).
            NotFound: no such staff member, or another agency's (audited).
        """
        target = await self._managed_staff(manager, staff_id, "staff.role_change")
        if target.id == manager.id:
            raise Forbidden("You cannot change your own role")
        self._check_grantable(manager, role)
        async with self._store.write() as uow:
            current = self._unchanged_rights(manager, await uow.staff.get(target.id))
            if current.role is not role:
                await uow.staff.set_role(target.id, role.value)
                await self._audit.append(
                    uow.audit,
                    Actor.staff(manager.id),
                    "staff.role_changed",
                    subject=("staff", target.id),
                    details={"from": current.role.value, "to": role.value},
                )
            devices = await uow.devices.list_for_owner(OwnerKind.STAFF, target.id)
            changed = await uow.staff.get(target.id)
        assert changed is not None
        return AccessChange(changed, tuple(d.id for d in devices))

    async def set_active(self, manager: Staff, staff_id: str, active: bool) -> AccessChange:
        """Deactivate or reactivate an account. Deactivating ends its console sessions in
        the same transaction; the caller evicts cached device credentials.

        Raises:
            Forbidden: one's own account, or an admin's account (for supervisors).
            NotFound: no such staff member, or another agency's (audited).
        """
        target = await self._managed_staff(manager, staff_id, "staff.active_change")
        if target.id == manager.id:
            raise Forbidden("You cannot deactivate or reactivate your own account")
        async with self._store.write() as uow:
            current = self._unchanged_rights(manager, await uow.staff.get(target.id))
            ended = 0
            if current.active is not active:
                await uow.staff.set_active(target.id, active)
                if not active:
                    ended = await uow.console_sessions.delete_for_staff(target.id)
                await self._audit.append(
                    uow.audit,
                    Actor.staff(manager.id),
                    "staff.reactivated" if active else "staff.deactivated",
                    subject=("staff", target.id),
                    details={} if active else {"console_sessions_ended": ended},
                )
            devices = await uow.devices.list_for_owner(OwnerKind.STAFF, target.id)
            changed = await uow.staff.get(target.id)
        assert changed is not None
        return AccessChange(changed, tuple(d.id for d in devices))

    async def reset_totp(self, manager: Staff, staff_id: str, *, enabled: bool) -> NewStaff:
        """Give an account a fresh TOTP secret (returned once, never again) or turn TOTP
        off; the old secret stops working at once.

        Raises:
            Forbidden: an admin's account (for supervisors).
            NotFound: no such staff member, or another agency's (audited).
        """
        target = await self._managed_staff(manager, staff_id, "staff.totp_reset")
        secret = pyotp.random_base32() if enabled else None
        async with self._store.write() as uow:
            self._unchanged_rights(manager, await uow.staff.get(target.id))
            await uow.staff.set_totp(
                target.id, None if secret is None else self._sealer.seal(secret)
            )
            await self._audit.append(
                uow.audit,
                Actor.staff(manager.id),
                "staff.totp_reset",
                subject=("staff", target.id),
                details={"enabled": enabled},
            )
            changed = await uow.staff.get(target.id)
        assert changed is not None
        return NewStaff(changed, secret)

    async def set_staff_on_duty(self, manager: Staff, staff_id: str, on_duty: bool) -> Staff:
        """Put an account of the manager's own agency on or off duty (escalation levels
        that reach "on duty only" skip those off duty).

        Raises:
            Forbidden: not a manager.
            NotFound: no such staff member, or another agency's (audited).
        """
        target = await self._managed_staff(manager, staff_id, "staff.duty_change", admins_too=True)
        async with self._store.write() as uow:
            await uow.staff.set_on_duty(target.id, on_duty)
            await self._audit.append(
                uow.audit,
                Actor.staff(manager.id),
                "staff.duty_changed",
                subject=("staff", target.id),
                details={"on_duty": on_duty},
            )
            changed = await uow.staff.get(target.id)
        assert changed is not None
        return changed

    async def agency_policy(self, manager: Staff, agency_id: str) -> tuple[EscalationPolicy, str]:
        """The manager's agency's default escalation policy and where it comes from
        (``agency:<id>``, or ``default`` for the built-in one).

        Raises:
            Forbidden, NotFound: see :meth:`managed_agency`.
        """
        await self.managed_agency(manager, agency_id, attempted="agency.policy_view")
        scope = f"agency:{agency_id}"
        async with self._store.read() as uow:
            spec = await uow.policies.get(scope)
        if spec is None:
            return DEFAULT_POLICY, "default"
        return EscalationPolicy.from_json(spec), scope
