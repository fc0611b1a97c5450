"""Whom this device encrypts to, and what it makes of the devices that write to it.

Nothing the server says about a key is trusted. A device is encrypted to only when,
by signatures this device checked itself (``wire.keys``):

1. its device object is signed by its own Ed25519 key (so its Curve25519 key is
   bound to it), and it never presented other keys under the same id;
2. its owner's newest device list, signed by the owner's identity key, vouches for
   exactly that device object; and
3. the owner's identity is trusted for the case: it is this device's own person, or
   a person this device verified directly (face to face at enrolment, or by safety
   number), or a member with that identity key in the case's accepted roster.

A roster is accepted only if it is newer than the one held and signed by someone with
a managing role in the roster held (for a phone, the first is the roster the officer's
client vouched for at enrolment; for staff, the first must be signed by someone they
verified directly). The server can take away — a device or member it no longer lists
is not encrypted to — but never add: anything else it presents is shown as unverified,
never used, and anything forged, replayed or rolled back is reported.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from client_sdk.context import DeviceContext
from client_sdk.errors import WitnesslinkError
from client_sdk.events import (
    Event,
    IdentityChangeWarning,
    KeyChangeWarning,
    NewDevice,
    TrustWarning,
)
from client_sdk.identity import PersonalIdentity
from client_sdk.localstore import (
    AcceptedRoster,
    KnownDevice,
    KnownPerson,
    LocalStore,
    Put,
    SelfPerson,
)
from client_sdk.own_keys import own_device_object
from wire.encoding import canonical_json
from wire.keys import (
    MANAGING_ROLES,
    InvalidObject,
    Roster,
    check_device_list,
    check_device_object,
    check_roster,
    parse_owner,
)
from wire.safety import safety_number, same_safety_number

KEYS_MAX_AGE = timedelta(seconds=30)


@dataclass(frozen=True, slots=True)
class Recipients:
    """The devices of a case a message is encrypted to, and those held back."""

    usable: list[KnownDevice]
    withheld: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class CaseMember:
    """A case member as the server lists them: its word only, for display and for the
    entry a manager's client puts in the next roster after verifying them."""

    owner: str
    name: str
    role: str


@dataclass
class TrustState:
    """What this device knows about other people's keys (kept in the encrypted store)."""

    me: SelfPerson
    devices: dict[str, KnownDevice]
    people: dict[str, KnownPerson]
    rosters: dict[str, AcceptedRoster]

    @classmethod
    async def load(cls, store: LocalStore, me: SelfPerson) -> TrustState:
        return cls(me, await store.devices(), await store.people(), await store.rosters())


class DeviceTrust:
    """Decides, from signatures it checked, which devices are trusted for which case."""

    def __init__(self, ctx: DeviceContext, state: TrustState) -> None:
        self._ctx = ctx
        self._state = state
        self._refreshed: dict[str, datetime] = {}
        self._parsed: dict[str, Roster] = {}
        self._members: dict[str, dict[str, CaseMember]] = {}
        #: The server was seen presenting other keys for this device or this person:
        #: someone is tampering with the server. Vouching for anyone is refused.
        self.own_keys_tampered = False

    # ----------------------------------------------------------------- who am I

    @property
    def me(self) -> SelfPerson:
        return self._state.me

    @property
    def personal_identity(self) -> PersonalIdentity | None:
        """This person's identity key, when this device holds it."""
        seed = self._state.me.identity_seed
        return None if seed is None else PersonalIdentity.from_seed(seed)

    def set_me(self, me: SelfPerson) -> None:
        self._state.me = me

    # ----------------------------------------------------------------- lookups

    def get(self, device_id: str) -> KnownDevice | None:
        return self._state.devices.get(device_id)

    def known_devices(self, case_id: str | None = None) -> list[KnownDevice]:
        devices = list(self._state.devices.values())
        if case_id is not None:
            devices = [d for d in devices if case_id in d.case_ids]
        return sorted(devices, key=lambda d: d.device_id)

    def person(self, owner: str) -> KnownPerson | None:
        return self._state.people.get(owner)

    def roster(self, case_id: str) -> Roster | None:
        """The case's accepted roster, if any."""
        accepted = self._state.rosters.get(case_id)
        if accepted is None:
            return None
        parsed = self._parsed.get(case_id)
        if parsed is None or parsed.version != accepted.version:
            parsed = check_roster(json.loads(accepted.body))
            self._parsed[case_id] = parsed
        return parsed

    def members(self, case_id: str) -> dict[str, CaseMember]:
        """The case's members as the server listed them at the last refresh."""
        return dict(self._members.get(case_id, {}))

    def name_of(self, owner: str, case_id: str | None = None) -> str:
        """The name a trusted roster gives this person ("" if none does)."""
        rosters = [case_id] if case_id else list(self._state.rosters)
        for cid in rosters:
            roster = self.roster(cid)
            member = None if roster is None else roster.member(owner)
            if member is not None:
                return member.name
        return ""

    # ----------------------------------------------------------------- decisions

    def person_trusted(self, owner: str, case_id: str | None) -> bool:
        """Whether ``owner``'s current identity key is trusted for ``case_id``: this
        device's own person; a member the case's accepted roster lists with that key;
        or someone this device verified directly for this case. (With no case: whether
        they were verified directly at all.)

        A colleague verified by safety number is not trusted for every case the server
        puts them on: for a case, the roster decides."""
        person = self._state.people.get(owner)
        if person is None or person.identity_key in person.retired_keys:
            return False
        key = person.identity_key
        if owner == self.me.owner:
            identity = self.personal_identity
            return identity is not None and identity.public_key == key
        if case_id is None:
            return person.verified_key == key
        roster = self.roster(case_id)
        member = None if roster is None else roster.member(owner)
        if member is not None and member.identity_key == key:
            return True
        return person.verified_key == key and case_id in person.verified_cases

    def vouchable(self, owner: str, case_id: str) -> bool:
        """Whether this device may put ``owner``'s current identity in the case's
        roster: verified directly, or already trusted for the case."""
        person = self._state.people.get(owner)
        if person is None or person.identity_key in person.retired_keys:
            return False
        return person.verified_key == person.identity_key or self.person_trusted(owner, case_id)

    def device_trusted(self, device: KnownDevice, case_id: str | None) -> bool:
        """Whether ``device`` chains, by checked signatures, to a person trusted for the
        case (see the module docstring)."""
        if device.conflict:
            return False
        person = self._state.people.get(device.owner)
        if person is None or person.devices.get(device.device_id) != device.object_hash:
            return False
        return self.person_trusted(device.owner, case_id)

    async def recipients(self, case_id: str, *, offline: bool = False) -> Recipients:
        """The devices a message for ``case_id`` is encrypted to (``offline``: from what
        is known, without asking the server)."""
        if not offline:
            await self.fresh(case_id)
        devices = [
            d
            for d in self.known_devices(case_id)
            if d.device_id != self._ctx.device_id and not d.conflict
        ]
        usable = [d for d in devices if self.device_trusted(d, case_id)]
        return Recipients(usable, [d.device_id for d in devices if d not in usable])

    # ----------------------------------------------------------------- refreshing

    def mark_stale(self, case_id: str) -> None:
        """The server says the case's keys changed: look again before the next send."""
        self._refreshed.pop(case_id, None)

    async def fresh(self, case_id: str) -> list[KnownDevice]:
        """The case's devices, fetched again if the last look is older than a moment."""
        refreshed = self._refreshed.get(case_id)
        if refreshed is None or self._ctx.clock.now() - refreshed > KEYS_MAX_AGE:
            return await self.refresh(case_id)
        return self.known_devices(case_id)

    async def refresh(self, case_id: str) -> list[KnownDevice]:
        """Fetch the case's key bundle and take from it only what verifies.

        Raises:
            ApiError, TransportError: the bundle could not be fetched.
        """
        ctx = self._ctx
        bundle = await ctx.transport.request("GET", f"/v1/cases/{case_id}/keys")
        review = _Review(self, case_id)
        async with ctx.lock:
            if bundle.get("roster") is not None:
                review.roster(bundle["roster"])
            listed: set[str] = set()
            members: dict[str, CaseMember] = {}
            for member in bundle.get("members", []):
                owner = member.get("owner")
                try:
                    parse_owner(owner)
                except InvalidObject:
                    review.warn("invalid-object", None, "a member is malformed")
                    continue
                members[owner] = CaseMember(owner, str(member.get("name")), str(member.get("role")))
                if member.get("device_list") is not None:
                    review.device_list(owner, member["device_list"])
                for entry in member.get("devices", []):
                    device = review.device(owner, entry)
                    if device is not None:
                        listed.add(device.device_id)
            for device in self._state.devices.values():
                if case_id in device.case_ids and device.device_id not in listed:
                    device.case_ids.remove(case_id)  # the server took it away
                    review.puts.append(LocalStore.device_put(device))
            await ctx.store.write(review.puts)
            self._members[case_id] = members
            self._refreshed[case_id] = ctx.clock.now()
        for event in review.events(self):
            ctx.emit(event)
        return self.known_devices(case_id)

    # ----------------------------------------------------------------- rosters

    async def pin_roster(self, case_id: str, obj: Any) -> Roster:
        """Accept a roster as the case's root of trust, without a signer check: for the
        roster a phone's enrolment vouched for by MAC.

        Raises:
            InvalidObject: it does not verify or is for another case.
        """
        roster = check_roster(obj)
        if roster.case_id != case_id:
            raise InvalidObject("the roster is for another case")
        accepted = AcceptedRoster(
            case_id=case_id,
            version=roster.version,
            body=canonical_json(obj).decode(),
            object_hash=roster.object_hash,
        )
        review = _Review(self, case_id)
        async with self._ctx.lock:
            review.retire_replaced(self.roster(case_id), roster)
            self._state.rosters[case_id] = accepted
            await self._ctx.store.write([*review.puts, LocalStore.roster_put(accepted)])
        self.mark_stale(case_id)
        return roster

    def may_sign_next(self, roster: Roster, current: Roster | None) -> bool:
        """Whether this device accepts ``roster``'s signer for the case's next version."""
        identity = self.personal_identity
        if identity is not None and roster.signer == identity.public_key:
            return True
        if current is not None:
            member = current.member_by_key(roster.signer)
            return member is not None and member.role in MANAGING_ROLES
        # No roster yet: only someone this device verified directly may start one.
        signer = roster.member_by_key(roster.signer)
        person = None if signer is None else self._state.people.get(signer.owner)
        return (
            signer is not None
            and signer.role in MANAGING_ROLES
            and person is not None
            and person.verified_key == roster.signer
        )

    # ----------------------------------------------------------------- verification

    def safety_number(self, owner: str) -> str:
        """The safety number to compare with ``owner`` (by call or in person).

        Raises:
            KeyError: nothing is known of this person.
            WitnesslinkError: this device does not hold its person's identity key.
        """
        person = self._state.people[owner]
        identity = self.personal_identity
        if identity is None:
            raise WitnesslinkError("this device has no identity key yet")
        return safety_number((self.me.owner, identity.public_key), (owner, person.identity_key))

    async def verify_person(
        self, owner: str, compared_number: str, *, case_id: str | None = None
    ) -> None:
        """Record ``owner``'s current identity as verified after comparing safety
        numbers (for ``case_id``, trusted there for encryption too).

        Raises:
            KeyError: nothing is known of this person.
            ValueError: the numbers differ (do not trust them).
        """
        if not same_safety_number(self.safety_number(owner), compared_number):
            raise ValueError("the safety numbers differ: this person cannot be trusted")
        await self.vouch_directly(owner, self._state.people[owner].identity_key, case_id)

    async def learn_person(self, owner: str, device_list: Any) -> KnownPerson | None:
        """Take in a person's device list fetched outside any case (to compare safety
        numbers with a colleague before they share a case). Nothing becomes trusted;
        the same checks and warnings apply as in :meth:`refresh`."""
        review = _Review(self, None)
        async with self._ctx.lock:
            review.device_list(owner, device_list)
            await self._ctx.store.write(review.puts)
        for event in review.events(self):
            self._ctx.emit(event)
        return self._state.people.get(owner)

    async def vouch_directly(
        self, owner: str, identity_key: str, case_id: str | None = None
    ) -> None:
        """Record that ``owner``'s identity key ``identity_key`` was verified directly
        (and, with ``case_id``, that it is trusted for that case)."""
        async with self._ctx.lock:
            person = self._state.people.get(owner)
            if person is None:
                person = KnownPerson(owner=owner, identity_key=identity_key)
                self._state.people[owner] = person
            if person.verified_key != identity_key:
                person.verified_cases = []
                if person.verified_key is not None:
                    # They were verified before under another key: it is retired.
                    person.retired_keys.append(person.verified_key)
            person.verified_key = identity_key
            if case_id is not None and case_id not in person.verified_cases:
                person.verified_cases.append(case_id)
            await self._ctx.store.write([LocalStore.known_person_put(person)])


class _Review:
    """One refresh's worth of checks: what changes, and what to tell the app."""

    def __init__(self, trust: DeviceTrust, case_id: str | None) -> None:
        self.trust = trust
        self.state = trust._state
        self.case_id = case_id
        self.puts: list[Put] = []
        self.warnings: list[Event] = []
        self.new_devices: list[KnownDevice] = []
        self.identity_changes: list[str] = []

    def warn(self, reason: str, owner: str | None, detail: str) -> None:
        self.warnings.append(TrustWarning(reason, self.case_id, owner, detail))
        if reason.startswith("own-"):
            self.trust.own_keys_tampered = True

    def roster(self, obj: Any) -> None:
        try:
            roster = check_roster(obj)
        except InvalidObject as exc:
            self.warn("invalid-roster", None, str(exc))
            return
        if roster.case_id != self.case_id:
            self.warn("invalid-roster", None, "a roster for another case")
            return
        current = self.trust.roster(self.case_id)
        if current is not None and roster.version <= current.version:
            if roster.object_hash != current.object_hash and roster.version == current.version:
                self.warn("roster-conflict", None, "two different rosters of one version")
            elif roster.version < current.version:
                self.warn("roster-rollback", None, "an older roster was presented")
            return
        if not self.trust.may_sign_next(roster, current):
            self.warn("roster-refused", None, "a roster not signed by anyone trusted")
            return
        mine = roster.member(self.state.me.owner)
        identity = self.trust.personal_identity
        if mine is not None and identity is not None and mine.identity_key != identity.public_key:
            self.warn(
                "own-identity-substituted",
                self.state.me.owner,
                "the roster lists another key for you",
            )
            return
        accepted = AcceptedRoster(
            case_id=self.case_id,
            version=roster.version,
            body=canonical_json(obj).decode(),
            object_hash=roster.object_hash,
        )
        self.retire_replaced(current, roster)
        self.state.rosters[self.case_id] = accepted
        self.puts.append(LocalStore.roster_put(accepted))

    def retire_replaced(self, current: Roster | None, roster: Roster) -> None:
        """Retire the keys ``roster`` replaces with others for the same people."""
        if current is None:
            return
        for member in roster.members:
            before = current.member(member.owner)
            if before is not None and before.identity_key != member.identity_key:
                self.retire(member.owner, before.identity_key)

    def retire(self, owner: str, identity_key: str) -> None:
        """Someone trusted vouched for another identity of ``owner``: the old one is
        never trusted again."""
        person = self.state.people.get(owner)
        if person is not None and identity_key not in person.retired_keys:
            person.retired_keys.append(identity_key)
            self.puts.append(LocalStore.known_person_put(person))

    def device_list(self, owner: str, obj: Any) -> None:
        try:
            listed = check_device_list(obj)
        except InvalidObject as exc:
            self.warn("invalid-object", owner, str(exc))
            return
        if listed.owner != owner:
            self.warn("invalid-object", owner, "a device list for someone else")
            return
        identity = self.trust.personal_identity
        mine = owner == self.state.me.owner and identity is not None
        if mine and identity is not None and listed.identity_key != identity.public_key:
            self.warn("own-identity-substituted", owner, "the server shows another key for you")
            return
        person = self.state.people.get(owner)
        if person is not None and listed.identity_key in person.retired_keys:
            self.warn("retired-identity", owner, "an identity this person moved away from")
            return
        if person is not None and listed.version < person.newest_versions.get(
            listed.identity_key, 0
        ):
            self.warn("device-list-rollback", owner, "an older device list was presented")
            return
        if person is None:
            person = KnownPerson(
                owner=owner,
                identity_key=listed.identity_key,
                list_version=listed.version,
                list_hash=listed.object_hash,
                devices=dict(listed.devices),
            )
        elif person.identity_key == listed.identity_key:
            if listed.version < person.list_version:
                self.warn("device-list-rollback", owner, "an older device list was presented")
                return
            if listed.version == person.list_version:
                if listed.object_hash != person.list_hash:
                    self.warn("device-list-conflict", owner, "two device lists of one version")
                return
            person.list_version = listed.version
            person.list_hash = listed.object_hash
            person.devices = dict(listed.devices)
        else:
            trusted_before = self.trust.person_trusted(owner, self.case_id)
            old_key = person.identity_key
            person.identity_key = listed.identity_key
            person.list_version = listed.version
            person.list_hash = listed.object_hash
            person.devices = dict(listed.devices)
            self.state.people[owner] = person
            if self.trust.person_trusted(owner, self.case_id):
                self.retire(owner, old_key)  # the move was vouched for: no way back
            elif trusted_before and listed.identity_key not in person.warned_keys:
                person.warned_keys.append(listed.identity_key)
                self.identity_changes.append(owner)
        person.newest_versions[listed.identity_key] = listed.version
        self.state.people[owner] = person
        self.puts.append(LocalStore.known_person_put(person))

    def device(self, owner: str, entry: Any) -> KnownDevice | None:
        case_id = self.case_id
        assert case_id is not None, "devices are reviewed for a case"
        if not isinstance(entry, dict) or not isinstance(entry.get("device_id"), str):
            self.warn("invalid-object", owner, "a device entry is malformed")
            return None
        device_id: str = entry["device_id"]
        obj = entry.get("key_object")
        ctx = self.trust._ctx
        if device_id == ctx.device_id:
            if obj is not None and obj != own_device_object(ctx):
                self.warn(
                    "own-keys-substituted", owner, "the server shows other keys for this device"
                )
            return None
        if obj is None:
            return None  # no signed keys: nothing can be encrypted to it
        try:
            keys = check_device_object(obj)
        except InvalidObject as exc:
            self.warn("invalid-object", owner, str(exc))
            return None
        if keys.device_id != device_id or keys.owner != owner:
            self.warn("invalid-object", owner, "a device object for another device")
            return None
        known = self.state.devices.get(device_id)
        if known is None:
            known = KnownDevice(
                device_id=device_id,
                owner=owner,
                name=str(entry.get("name", "")),
                curve25519=keys.curve25519,
                ed25519=keys.ed25519,
                object_hash=keys.object_hash,
                case_ids=[case_id],
            )
            self.state.devices[device_id] = known
            self.new_devices.append(known)
        elif known.conflict:
            return None
        elif (known.owner, known.curve25519, known.ed25519) != (
            owner,
            keys.curve25519,
            keys.ed25519,
        ) and not self._vouched(known):
            # The keys seen before were never vouched for by the owner's identity: they
            # were never used. Take the new ones (which still need vouching).
            known.owner, known.curve25519, known.ed25519 = owner, keys.curve25519, keys.ed25519
            known.object_hash = keys.object_hash
            known.case_ids = sorted({*known.case_ids, case_id})
        elif (known.owner, known.curve25519, known.ed25519) != (
            owner,
            keys.curve25519,
            keys.ed25519,
        ):
            known.conflict = True
            self.puts.append(LocalStore.device_put(known))
            self.warnings.append(
                KeyChangeWarning(device_id, known.owner_kind, known.owner_id, known.name)
            )
            return None
        else:
            known.name = str(entry.get("name", known.name))
            if case_id not in known.case_ids:
                known.case_ids.append(case_id)
        self.puts.append(LocalStore.device_put(known))
        return known

    def _vouched(self, device: KnownDevice) -> bool:
        """Whether the owner's newest list vouched for the keys known for ``device``."""
        person = self.state.people.get(device.owner)
        return person is not None and person.devices.get(device.device_id) == device.object_hash

    def events(self, trust: DeviceTrust) -> list[Event]:
        out: list[Event] = list(self.warnings)
        for owner in self.identity_changes:
            out.append(IdentityChangeWarning(owner, trust.name_of(owner, self.case_id)))
        for device in self.new_devices:
            out.append(
                NewDevice(
                    device.device_id,
                    device.owner_kind,
                    device.owner_id,
                    device.name,
                    trust.device_trusted(device, self.case_id),
                )
            )
        return out
