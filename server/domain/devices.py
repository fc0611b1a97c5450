"""Device listing and revocation.

Revocation (by the owner, or remotely by a case manager when a phone is taken) stops
the token at once, drops what is queued for the device and its unused keys, and is
audited. (Phones enrol through ``server.domain.enrolment``.)
"""

from __future__ import annotations

from datetime import datetime

from server.clock import Clock
from server.domain.access import Principal, can_manage_case, can_view_case
from server.domain.audit import Actor, AuditLog
from server.domain.authentication import DeviceAuthenticator
from server.domain.denials import audit_denied
from server.domain.events import EventSink
from server.domain.identities import notify_keys_changed
from server.domain.models import Case, Device, OwnerKind, Staff
from server.domain.revocation import revoke_device_in
from server.errors import Forbidden, NotFound
from server.storage.protocols import Store, UnitOfWork


class DeviceService:
    """Lists case devices and revokes devices."""

    def __init__(
        self,
        store: Store,
        audit: AuditLog,
        clock: Clock,
        authenticator: DeviceAuthenticator,
        events: EventSink,
    ) -> None:
        self._store = store
        self._audit = audit
        self._clock = clock
        self._authenticator = authenticator
        self._events = events

    async def case_devices(self, principal: Principal, case_id: str) -> list[Device]:
        """Active devices of a case's members, for fan-out; only for members.

        Raises:
            NotFound: the principal is not a member of the case (audited).
        """
        async with self._store.read() as uow:
            allowed = await self._is_member(uow, principal, case_id)
            devices = await uow.devices.list_for_case(case_id) if allowed else []
        if not allowed:
            await self._denied(principal, case_id, "list case devices")
            raise NotFound("No such case")
        return devices

    async def own_devices(self, principal: Principal) -> list[Device]:
        async with self._store.read() as uow:
            return await uow.devices.list_for_owner(
                principal.device.owner_kind, principal.device.owner_id
            )

    async def _is_member(self, uow: UnitOfWork, principal: Principal, case_id: str) -> bool:
        if principal.witness is not None:
            return principal.witness.case_id == case_id
        if principal.staff is not None and principal.staff.active:
            return await uow.cases.is_assigned(case_id, principal.staff.id)
        return False

    async def _denied(self, principal: Principal, case_id: str, attempted: str) -> None:
        await audit_denied(self._store, self._audit, principal.actor, case_id, attempted)

    async def revoke(self, principal: Principal, device_id: str) -> Device:
        """Revoke a device: the owner's own, or a case member's as a case manager.

        Raises:
            NotFound: no such device visible to the caller.
            Forbidden: not allowed to revoke it.
        """
        return await self._revoke(
            principal.actor, principal.device.owner_id, principal.staff, device_id
        )

    async def revoke_as_staff(self, staff: Staff, device_id: str) -> Device:
        """Revoke a device from the staff console, where the caller has no device of
        their own in play: the same rules and effects as :meth:`revoke` (their own
        devices, or a witness phone of a case they manage).

        Raises:
            NotFound: no such device visible to the caller.
            Forbidden: not allowed to revoke it.
        """
        return await self._revoke(Actor.staff(staff.id), staff.id, staff, device_id)

    async def _revoke(
        self, actor: Actor, owner_id: str, staff: Staff | None, device_id: str
    ) -> Device:
        now = self._clock.now()
        try:
            async with self._store.write() as uow:
                device = await uow.devices.get(device_id)
                if device is None:
                    raise NotFound("No such device")
                case = await self._authorise_revoke(uow, owner_id, staff, device)
                await self._revoke_in(uow, actor, owner_id, device, case, now)
                revoked = await uow.devices.get(device.id)
                if device.owner_kind is OwnerKind.STAFF:
                    cases = [c.id for c in await uow.cases.list_assigned(device.owner_id)]
                else:
                    cases = [] if case is None else [case.id]
        except (NotFound, Forbidden):
            await audit_denied(self._store, self._audit, actor, None, "revoke device")
            raise
        assert revoked is not None
        self._authenticator.forget_devices({device.id})
        await self._events.devices_revoked([device.id])
        await notify_keys_changed(self._store, self._events, cases)
        return revoked

    async def _revoke_in(
        self,
        uow: UnitOfWork,
        actor: Actor,
        owner_id: str,
        device: Device,
        case: Case | None,
        now: datetime,
    ) -> None:
        """Revoke and forget what was held for the device (pending copies, keys,
        attachments waiting for it, its store's OPRF key); a second revocation changes
        nothing.

        ``owner_id`` is who revokes (the owner of the caller's device, or the staff
        member at the console)."""
        await revoke_device_in(uow, self._audit, actor, owner_id, device, case, now)

    async def _authorise_revoke(
        self, uow: UnitOfWork, owner_id: str, staff: Staff | None, device: Device
    ) -> Case | None:
        if device.owner_id == owner_id:
            if device.owner_kind is OwnerKind.WITNESS:
                witness = await uow.witnesses.get(device.owner_id)
                return None if witness is None else await uow.cases.get(witness.case_id)
            return None
        if staff is None or device.owner_kind is not OwnerKind.WITNESS:
            raise NotFound("No such device")
        witness = await uow.witnesses.get(device.owner_id)
        case = None if witness is None else await uow.cases.get(witness.case_id)
        if case is None:
            raise NotFound("No such device")
        assigned = await uow.cases.is_assigned(case.id, staff.id)
        if not can_view_case(staff, case, assigned=assigned):
            raise NotFound("No such device")
        if not can_manage_case(staff, case, assigned=assigned):
            raise Forbidden("Only the case's officers and supervisors can revoke its phones")
        return case
