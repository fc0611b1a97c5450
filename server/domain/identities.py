"""People's keys as their own devices sign them, kept and handed out unchanged.

Each device uploads its **device object** (its Olm keys, signed by its own Ed25519
key); each person uploads a **device list** signed by their identity key; staff may keep
their identity key with the server *sealed under a recovery key only they hold*. The
server checks every signature and that each object fits the caller (refusing garbage
early), but nothing rests on those checks: clients verify everything themselves and
trust nothing the server says about a key (see ``wire.keys``). A case's members fetch
everything about the case's keys in one **key bundle**.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from server.clock import Clock
from server.domain.access import Principal
from server.domain.audit import AuditLog
from server.domain.denials import audit_denied
from server.domain.events import EventSink
from server.domain.membership import is_case_member, member_owners
from server.domain.models import Device, Identity, OwnerKind
from server.errors import Forbidden, InvalidKeyObject, NotFound, VersionConflict
from server.storage.protocols import Store, UnitOfWork
from wire.encoding import canonical_json
from wire.keys import InvalidObject, check_device_list, check_device_object, is_key

MAX_SEALED_BACKUP_CHARS = 512


def stored_json(obj: Any) -> str:
    """How a signed object is kept: its canonical JSON (signature included)."""
    return canonical_json(obj).decode("utf-8")


@dataclass(frozen=True, slots=True)
class MemberKeys:
    """One member of a case and the key material the server holds for them."""

    owner: str
    name: str
    role: str
    identity: Identity | None
    devices: list[Device]


@dataclass(frozen=True, slots=True)
class CaseKeys:
    """Everything a member needs to decide whom to encrypt to (all of it unverified)."""

    case_id: str
    roster: str | None
    members: list[MemberKeys]


class IdentityService:
    """Keeps device objects, identities with their device lists, and recovery backups."""

    def __init__(self, store: Store, audit: AuditLog, clock: Clock, events: EventSink) -> None:
        self._store = store
        self._audit = audit
        self._clock = clock
        self._events = events

    async def publish_device(self, principal: Principal, obj: Any) -> None:
        """Keep the caller's signed device object.

        Raises:
            InvalidKeyObject: malformed, badly signed, or not describing this device.
        """
        device = principal.device
        try:
            keys = check_device_object(obj)
        except InvalidObject as exc:
            raise InvalidKeyObject(str(exc)) from exc
        if (keys.device_id, keys.owner, keys.curve25519, keys.ed25519) != (
            device.id,
            device.owner,
            device.curve25519,
            device.ed25519,
        ):
            raise InvalidKeyObject("the object does not describe this device")
        async with self._store.write() as uow:
            await uow.devices.set_key_object(device.id, stored_json(obj))
            case_ids = await self._cases_of(uow, principal)
        await self._keys_changed(case_ids)

    async def publish_identity(self, principal: Principal, obj: Any) -> int:
        """Keep the caller's identity key and the device list it signed.

        A list for the same identity key must carry a higher version than the one kept;
        a new identity key (a replaced staff identity, a witness's new phone) replaces
        the old and is audited.

        Raises:
            InvalidKeyObject: malformed, badly signed, someone else's, or listing devices
                that are not the caller's.
            VersionConflict: the version is not higher than the one kept.
        """
        device = principal.device
        try:
            listed = check_device_list(obj)
        except InvalidObject as exc:
            raise InvalidKeyObject(str(exc)) from exc
        if listed.owner != device.owner:
            raise InvalidKeyObject("a device list names its owner: this is someone else's")
        now = self._clock.now()
        async with self._store.write() as uow:
            own = {
                d.id: d
                for d in await uow.devices.list_for_owner(device.owner_kind, device.owner_id)
                if d.active
            }
            if any(device_id not in own for device_id in listed.devices):
                raise InvalidKeyObject("the list names a device that is not one of yours")
            current = await uow.identities.get(device.owner)
            same_key = current is not None and current.identity_key == listed.identity_key
            if current is not None and same_key and listed.version <= current.version:
                raise VersionConflict(current_version=current.version)
            stored = Identity(
                device.owner, listed.identity_key, listed.version, stored_json(obj), now
            )
            if not await uow.identities.put(stored, current):
                raise VersionConflict()
            action = "identity.published" if current is None or same_key else "identity.replaced"
            await self._audit.append(
                uow.audit,
                principal.actor,
                action,
                subject=(device.owner_kind.value, device.owner_id),
                details={"version": listed.version, "devices": len(listed.devices)},
            )
            case_ids = await self._cases_of(uow, principal)
        await self._keys_changed(case_ids)
        return listed.version

    async def put_backup(self, principal: Principal, identity_key: str, sealed: str) -> None:
        """Keep a staff member's identity key sealed under their recovery key.

        Raises:
            Forbidden: a witness's identity never leaves the phone.
            InvalidKeyObject: the identity key is malformed or the blob too large.
        """
        if principal.staff is None:
            raise Forbidden("Only staff identities are backed up")
        if not is_key(identity_key) or not 0 < len(sealed) <= MAX_SEALED_BACKUP_CHARS:
            raise InvalidKeyObject("a backup is an identity key and a sealed blob")
        async with self._store.write() as uow:
            await uow.identities.put_backup(
                principal.device.owner, identity_key, sealed, self._clock.now()
            )
            await self._audit.append(
                uow.audit,
                principal.actor,
                "identity.backup_stored",
                subject=("staff", principal.staff.id),
            )

    async def backup(self, principal: Principal) -> tuple[str, str]:
        """The caller's sealed identity backup.

        Raises:
            NotFound: there is none (or the caller is not staff).
        """
        if principal.staff is None:
            raise NotFound("No backup")
        async with self._store.read() as uow:
            found = await uow.identities.backup(principal.device.owner)
        if found is None:
            raise NotFound("No backup")
        return found

    async def identity(self, principal: Principal) -> Identity | None:
        """The caller's own identity as the server holds it."""
        async with self._store.read() as uow:
            return await uow.identities.get(principal.device.owner)

    async def staff_identity(self, principal: Principal, staff_id: str) -> Identity:
        """A colleague's identity and device list, so staff can compare safety numbers
        before they share a case (public keys only; for staff callers).

        Raises:
            Forbidden: the caller is a witness's phone.
            NotFound: no such active staff member, or they have no identity yet.
        """
        if principal.staff is None:
            raise Forbidden("This is for case staff")
        async with self._store.read() as uow:
            colleague = await uow.staff.get(staff_id)
            identity = (
                None
                if colleague is None or not colleague.active
                else await uow.identities.get(f"staff:{staff_id}")
            )
        if identity is None:
            raise NotFound("No identity for this staff member")
        return identity

    async def case_keys(self, principal: Principal, case_id: str) -> CaseKeys:
        """The case's roster and every member's identity, device list and devices.

        Raises:
            NotFound: the caller is not a member of the case (audited).
        """
        async with self._store.read() as uow:
            if not await is_case_member(uow, principal, case_id):
                allowed = False
            else:
                allowed = True
                bundle = await self._bundle(uow, case_id)
        if not allowed:
            await audit_denied(self._store, self._audit, principal.actor, case_id, "case keys")
            raise NotFound("No such case")
        return bundle

    async def _bundle(self, uow: UnitOfWork, case_id: str) -> CaseKeys:
        roster = await uow.rosters.get(case_id)
        owners = await member_owners(uow, case_id)
        identities = await uow.identities.get_many(owners)
        devices = await uow.devices.list_for_case(case_id)
        staff = {
            s.id: s for s in (await uow.cases.assigned_staff_for_cases([case_id])).get(case_id, [])
        }
        witness = await uow.witnesses.get_by_case(case_id)
        members = []
        for owner in owners:
            kind, _, owner_id = owner.partition(":")
            if kind == OwnerKind.STAFF.value:
                member = staff.get(owner_id)
                name, role = (member.display_name, member.role.value) if member else (owner_id, "")
            else:
                name, role = (witness.alias if witness else owner_id), "witness"
            members.append(
                MemberKeys(
                    owner,
                    name,
                    role,
                    identities.get(owner),
                    [d for d in devices if d.owner == owner],
                )
            )
        return CaseKeys(case_id, None if roster is None else roster.body, members)

    async def _cases_of(self, uow: UnitOfWork, principal: Principal) -> list[str]:
        if principal.witness is not None:
            return [principal.witness.case_id]
        if principal.staff is not None:
            return [c.id for c in await uow.cases.list_assigned(principal.staff.id)]
        return []

    async def _keys_changed(self, case_ids: list[str]) -> None:
        await notify_keys_changed(self._store, self._events, case_ids)


async def notify_keys_changed(store: Store, events: EventSink, case_ids: list[str]) -> None:
    """Tell the members' devices that a case's keys changed, so they look again before
    they next encrypt (a hint only: clients verify what they fetch)."""
    for case_id in case_ids:
        async with store.read() as uow:
            device_ids = [d.id for d in await uow.devices.list_for_case(case_id)]
        await events.device_event(device_ids, {"type": "keys_changed", "case_id": case_id})


def parsed(body: str) -> dict[str, Any]:
    """A kept signed object, back as JSON."""
    value: dict[str, Any] = json.loads(body)
    return value
