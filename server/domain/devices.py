"""Witness phone enrolment, device listing and revocation.

A witness's phone enrols with the one-time code an officer handed over in person. The
server answers with the team identities that the code's fingerprint covers, so that the
phone can check them against the fingerprint it scanned and pin them: trust in the case
team is established face to face, not by the server. Revocation (by the owner, or
remotely by a case manager when a phone is taken) stops the token at once, drops what
is queued for the device and its unused keys, and is audited.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from server.clock import Clock
from server.domain.access import Principal, can_manage_case, can_view_case
from server.domain.audit import Actor, AuditLog
from server.domain.authentication import DeviceAuthenticator
from server.domain.denials import audit_denied
from server.domain.events import EventSink
from server.domain.models import Case, Device, OwnerKind, Staff, Witness
from server.domain.registration import DeviceRegistration, check_registration, insert_device
from server.domain.revocation import revoke_device_in
from server.domain.welfare.checkins import default_settings
from server.errors import EnrolmentCodeInvalid, Forbidden, NotFound
from server.ids import new_id
from server.security.ratelimit import RateLimiter
from server.storage.protocols import Store, UnitOfWork
from wire.protocol import TeamDevice, enrolment_context, enrolment_secret_hash


@dataclass(frozen=True, slots=True)
class EnrolmentResult:
    device: Device
    token: str
    witness: Witness
    pinned_team: list[TeamDevice]


class DeviceService:
    """Enrols witness phones, lists case devices, revokes devices."""

    def __init__(
        self,
        store: Store,
        audit: AuditLog,
        clock: Clock,
        authenticator: DeviceAuthenticator,
        events: EventSink,
        enrol_by_address: RateLimiter,
    ) -> None:
        self._store = store
        self._audit = audit
        self._clock = clock
        self._authenticator = authenticator
        self._events = events
        self._enrol_by_address = enrol_by_address

    async def enroll_witness(
        self, secret: str, registration: DeviceRegistration, address: str
    ) -> EnrolmentResult:
        """Consume an enrolment code and register the phone as the witness's device.

        Raises:
            RateLimited: too many enrolment attempts from this address.
            SignatureInvalid, InvalidInput: bad device registration material.
            EnrolmentCodeInvalid: the code is wrong, used or expired (audited).
        """
        self._enrol_by_address.take(address)
        check_registration(registration, enrolment_context(secret))
        now = self._clock.now()
        device_id = new_id("dev")
        async with self._store.write() as uow:
            code = await uow.enrolments.consume(enrolment_secret_hash(secret), now, device_id)
            witness = None if code is None else await uow.witnesses.get(code.witness_id)
            if code is None or witness is None:
                refused = True
            else:
                refused = False
                device, token = await insert_device(
                    uow, registration, OwnerKind.WITNESS, witness.id, now, device_id
                )
                settings = await uow.case_settings.get(witness.case_id)
                silent_after = timedelta(
                    seconds=(settings or default_settings(witness.case_id)).silent_after_s
                )
                await uow.contact.record(
                    witness.id,
                    witness.case_id,
                    now,
                    now + silent_after,
                    heartbeat=False,
                    battery=None,
                )
                await self._audit.append(
                    uow.audit,
                    Actor.witness(witness.id),
                    "device.enrolled",
                    subject=("device", device.id),
                    case_id=witness.case_id,
                    details={"one_time_keys": len(registration.one_time_keys)},
                )
        if refused or code is None or witness is None:
            async with self._store.write() as uow:
                await self._audit.append(
                    uow.audit, Actor.anonymous(), "enrolment.refused", details={"why": "code"}
                )
            raise EnrolmentCodeInvalid()
        pinned = [TeamDevice(d[0], d[1], d[2]) for d in json.loads(code.team_devices)]
        return EnrolmentResult(device, token, witness, pinned)

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
        except (NotFound, Forbidden):
            await audit_denied(self._store, self._audit, actor, None, "revoke device")
            raise
        assert revoked is not None
        self._authenticator.forget_devices({device.id})
        await self._events.devices_revoked([device.id])
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
