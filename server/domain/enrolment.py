"""Enrolling a witness's phone in person, relayed by a server that can forge none of it.

The protocol is in ``wire.enrolment``; here the server only relays and enforces order:

1. A case manager's client registers an enrolment: the hash of the server token, the
   roster it hands over, its MAC over that roster, and its SAS commitment
   (``issue``). Only the newest code of a witness works; codes expire. A phone that
   claimed a code but was never confirmed is revoked when a newer code is issued or
   when its code expires (``purge_expired``): only a confirmed phone stays.
2. The phone presents the server token with its new device and its identity key and
   MAC (``claim``): the code is used up, the device is created, and the phone learns
   the roster, MAC and commitment. It then sends its SAS nonce (``submit_nonce``).
3. The officer's client (only the device that issued the code) fetches the phone's
   identity and nonce, and reveals its own nonce (``reveal``); the phone fetches it
   (``phone_view``). Both show the SAS; the officer confirms (``complete``) or either
   side refuses (``abort``, which revokes the phone's device).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from server.clock import Clock
from server.domain.access import Principal, can_manage_case, can_view_case
from server.domain.audit import Actor, AuditLog
from server.domain.authentication import DeviceAuthenticator
from server.domain.events import EventSink
from server.domain.identities import notify_keys_changed, stored_json
from server.domain.models import Device, Enrolment, EnrolmentState, OwnerKind, Witness
from server.domain.registration import DeviceRegistration, check_registration, insert_device
from server.domain.revocation import revoke_device_in
from server.domain.welfare.checkins import default_settings
from server.errors import (
    Conflict,
    EnrolmentCodeInvalid,
    Forbidden,
    InvalidInput,
    InvalidKeyObject,
    NotFound,
)
from server.ids import new_id
from server.security.ratelimit import Limiter
from server.storage.protocols import Store, UnitOfWork
from wire.encoding import unb64
from wire.enrolment import NONCE_BYTES, code_hash_of, commitment, enrolment_context
from wire.keys import InvalidObject, check_roster, is_key

_HASH_BYTES = 32


_EXPIRY = Actor.system("enrolment expiry")


@dataclass(frozen=True, slots=True)
class _Aborted:
    """An enrolment just aborted: the phone revoked with it (if any) and its case."""

    device_id: str | None
    case_id: str | None


@dataclass(frozen=True, slots=True)
class ClaimedEnrolment:
    """What the phone learns when its code is accepted."""

    device: Device
    token: str
    witness: Witness
    enrolment: Enrolment


class EnrolmentService:
    """Relays the enrolment of witness phones and keeps its steps in order."""

    def __init__(
        self,
        store: Store,
        audit: AuditLog,
        clock: Clock,
        authenticator: DeviceAuthenticator,
        events: EventSink,
        claims_by_address: Limiter,
        *,
        ttl: timedelta = timedelta(hours=24),
    ) -> None:
        self._store = store
        self._audit = audit
        self._clock = clock
        self._authenticator = authenticator
        self._events = events
        self._claims_by_address = claims_by_address
        self._ttl = ttl

    # ------------------------------------------------------------------ officer's side

    async def issue(
        self,
        principal: Principal,
        witness_id: str,
        *,
        code_hash: str,
        roster: Any,
        team_mac: str,
        commitment_b64: str,
    ) -> Enrolment:
        """Register an enrolment made by the caller's client; older codes die, unused
        or claimed by a phone that was never confirmed (that phone is revoked).

        Raises:
            NotFound: no such witness visible to the caller.
            Forbidden: not a manager of the case, or a witness's device.
            InvalidInput: malformed hash, MAC or commitment.
            InvalidKeyObject: the roster is not the case's current roster.
            Conflict: the code hash is already on record (the code was made before).
        """
        staff = principal.staff
        if staff is None:
            raise Forbidden("Only staff enrol phones")
        digest = _fixed_b64(code_hash, "code_hash")
        _fixed_b64(team_mac, "team_mac")
        _fixed_b64(commitment_b64, "commitment")
        now = self._clock.now()
        async with self._store.write() as uow:
            witness = await uow.witnesses.get(witness_id)
            case = None if witness is None else await uow.cases.get(witness.case_id)
            assigned = case is not None and await uow.cases.is_assigned(case.id, staff.id)
            if witness is None or case is None or not can_view_case(staff, case, assigned=assigned):
                raise NotFound("No such witness")
            if not can_manage_case(staff, case, assigned=assigned):
                raise Forbidden("Only the case's officers and supervisors enrol its phones")
            try:
                checked = check_roster(roster)
            except InvalidObject as exc:
                raise InvalidKeyObject(str(exc)) from exc
            current = await uow.rosters.get(case.id)
            if current is None or checked.case_id != case.id or stored_json(roster) != current.body:
                raise InvalidKeyObject("hand over the case's current roster")
            await uow.enrolments.withdraw_issued(witness.id, now)
            # A phone that claimed an older code but was never confirmed goes too:
            # only the newest code's phone may become the witness's.
            superseded = [
                await self._abort_in(
                    uow, unfinished, principal.actor, staff.id, now, why="superseded"
                )
                for unfinished in await uow.enrolments.unfinished(witness_id=witness.id)
            ]
            enrolment = Enrolment(
                id=new_id("enr"),
                code_hash=digest,
                witness_id=witness.id,
                created_by=staff.id,
                created_by_device=principal.device.id,
                created_at=now,
                expires_at=now + self._ttl,
                roster=current.body,
                team_mac=team_mac,
                commitment=commitment_b64,
                state=EnrolmentState.ISSUED,
            )
            if not await uow.enrolments.insert(enrolment):
                # Only a client that reuses a code gets here (codes are 160 random bits).
                raise Conflict("This code is already on record: make a fresh one")
            await self._audit.append(
                uow.audit,
                principal.actor,
                "enrolment.issued",
                subject=("witness", witness.id),
                case_id=case.id,
                details={"roster_version": current.version},
            )
        await self._phones_revoked(superseded)
        return enrolment

    async def officer_view(self, principal: Principal, enrolment_id: str) -> Enrolment:
        """The enrolment as its issuing device sees it (the phone's identity and nonce).

        Raises:
            NotFound: no such enrolment issued by this device.
        """
        async with self._store.read() as uow:
            return await self._issued_by(uow, principal, enrolment_id)

    async def reveal(self, principal: Principal, enrolment_id: str, nonce: str) -> Enrolment:
        """The issuing device reveals its SAS nonce, once the phone has sent its own.

        Raises:
            NotFound: no such enrolment issued by this device.
            InvalidInput: the nonce does not match the commitment.
            Conflict: not waiting for a reveal (no phone nonce yet, or already revealed).
        """
        raw = _nonce(nonce)
        now = self._clock.now()
        async with self._store.write() as uow:
            enrolment = await self._issued_by(uow, principal, enrolment_id)
            if commitment(raw) != enrolment.commitment:
                raise InvalidInput("the nonce does not match the commitment")
            if not await uow.enrolments.reveal(enrolment.id, nonce, now):
                raise Conflict("This enrolment is not waiting for the officer's nonce")
            found = await uow.enrolments.get(enrolment.id)
        assert found is not None
        return found

    async def complete(self, principal: Principal, enrolment_id: str) -> None:
        """The officer compared the SAS and it matched.

        Raises:
            NotFound: no such enrolment issued by this device.
            Conflict: not at the SAS step.
        """
        now = self._clock.now()
        async with self._store.write() as uow:
            enrolment = await self._issued_by(uow, principal, enrolment_id)
            if not await uow.enrolments.move(
                enrolment.id, [EnrolmentState.REVEALED], EnrolmentState.COMPLETED, now
            ):
                raise Conflict("This enrolment is not at the comparison step")
            witness = await uow.witnesses.get(enrolment.witness_id)
            await self._audit.append(
                uow.audit,
                principal.actor,
                "enrolment.completed",
                subject=("device", enrolment.device_id or ""),
                case_id=None if witness is None else witness.case_id,
            )

    async def abort(self, principal: Principal, enrolment_id: str | None) -> None:
        """Refuse an enrolment (the issuing officer's device, or the phone itself): the
        phone's device is revoked.

        Raises:
            NotFound: no such enrolment for this caller.
            Conflict: already completed or aborted.
        """
        now = self._clock.now()
        async with self._store.write() as uow:
            if principal.witness is not None:
                enrolment = await uow.enrolments.for_device(principal.device.id)
                if enrolment is None:
                    raise NotFound("No enrolment")
            else:
                enrolment = await self._issued_by(uow, principal, enrolment_id or "")
            aborted = await self._abort_in(
                uow, enrolment, principal.actor, principal.device.owner_id, now
            )
            if aborted is None:
                raise Conflict("This enrolment is already finished")
        await self._phones_revoked([aborted])

    async def purge_expired(self) -> int:
        """Forget expired enrolments; one whose phone claimed the code but never got to
        the end in time is aborted first, and the phone revoked (it was never verified).

        Returns how many enrolments were forgotten.
        """
        now = self._clock.now()
        async with self._store.write() as uow:
            aborted = [
                await self._abort_in(uow, enrolment, _EXPIRY, "system", now, why="expired")
                for enrolment in await uow.enrolments.unfinished(expired_by=now)
            ]
            purged = await uow.enrolments.purge_expired(now)
        await self._phones_revoked(aborted)
        return purged

    async def _abort_in(
        self,
        uow: UnitOfWork,
        enrolment: Enrolment,
        actor: Actor,
        revoked_by: str,
        now: datetime,
        *,
        why: str | None = None,
    ) -> _Aborted | None:
        """Abort an enrolment not yet finished and revoke the phone that claimed it, if
        any (audited); None if it was finished already."""
        moved = await uow.enrolments.move(
            enrolment.id,
            [EnrolmentState.ISSUED, EnrolmentState.CLAIMED, EnrolmentState.REVEALED],
            EnrolmentState.ABORTED,
            now,
        )
        if not moved:
            return None
        witness = await uow.witnesses.get(enrolment.witness_id)
        case = None if witness is None else await uow.cases.get(witness.case_id)
        phone = None if enrolment.device_id is None else await uow.devices.get(enrolment.device_id)
        revoked = phone is not None and await revoke_device_in(
            uow, self._audit, actor, revoked_by, phone, case, now, why="enrolment-aborted"
        )
        await self._audit.append(
            uow.audit,
            actor,
            "enrolment.aborted",
            subject=("witness", enrolment.witness_id),
            case_id=None if witness is None else witness.case_id,
            details={} if why is None else {"why": why},
        )
        return _Aborted(
            phone.id if revoked and phone is not None else None,
            None if witness is None else witness.case_id,
        )

    async def _phones_revoked(self, aborted: Sequence[_Aborted | None]) -> None:
        """After the commit: the revoked phones lose their connections and cached
        credentials, and their cases' devices hear that the keys changed."""
        devices = {a.device_id for a in aborted if a is not None and a.device_id is not None}
        if not devices:
            return
        self._authenticator.forget_devices(devices)
        await self._events.devices_revoked(sorted(devices))
        # The phones were devices of their cases: the teams look again.
        cases = {a.case_id for a in aborted if a is not None and a.device_id and a.case_id}
        await notify_keys_changed(self._store, self._events, sorted(cases))

    async def _issued_by(
        self, uow: UnitOfWork, principal: Principal, enrolment_id: str
    ) -> Enrolment:
        enrolment = await uow.enrolments.get(enrolment_id)
        if enrolment is None or enrolment.created_by_device != principal.device.id:
            raise NotFound("No such enrolment")
        return enrolment

    # ------------------------------------------------------------------ phone's side

    async def claim(
        self,
        server_token: str,
        registration: DeviceRegistration,
        *,
        identity_key: str,
        identity_mac: str,
        address: str,
    ) -> ClaimedEnrolment:
        """Use a code: register the phone's device for the witness, keep its identity key
        and MAC for the officer's client, and hand back what the officer's client sent.

        Raises:
            RateLimited: too many attempts from this address.
            InvalidInput: a malformed token, identity key or MAC.
            SignatureInvalid: bad device registration material.
            EnrolmentCodeInvalid: the code is wrong, used, withdrawn or expired (audited).
        """
        await self._claims_by_address.take(address)
        token = _fixed_b64(server_token, "code")
        if not is_key(identity_key):
            raise InvalidInput("identity_key must be a 32-byte public key in base64")
        _fixed_b64(identity_mac, "identity_mac")
        check_registration(registration, enrolment_context(token))
        now = self._clock.now()
        device_id = new_id("dev")
        async with self._store.write() as uow:
            enrolment = await uow.enrolments.claim(
                code_hash_of(token), now, device_id, identity_key, identity_mac
            )
            witness = None if enrolment is None else await uow.witnesses.get(enrolment.witness_id)
            if enrolment is not None and witness is not None:
                device, device_token = await insert_device(
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
        if enrolment is None or witness is None:
            async with self._store.write() as uow:
                await self._audit.append(
                    uow.audit, Actor.anonymous(), "enrolment.refused", details={"why": "code"}
                )
            raise EnrolmentCodeInvalid()
        return ClaimedEnrolment(device, device_token, witness, enrolment)

    async def submit_nonce(self, principal: Principal, nonce: str) -> None:
        """The phone's SAS nonce, sent after it has seen the officer's commitment.

        Raises:
            Forbidden: not a witness's phone.
            InvalidInput: a malformed nonce.
            Conflict: not waiting for the phone's nonce (sent already, or aborted).
        """
        if principal.witness is None:
            raise Forbidden("Only the enrolling phone sends its nonce")
        _nonce(nonce)
        async with self._store.write() as uow:
            if not await uow.enrolments.set_phone_nonce(
                principal.device.id, nonce, self._clock.now()
            ):
                raise Conflict("This phone's enrolment is not waiting for its nonce")

    async def phone_view(self, principal: Principal) -> Enrolment:
        """The enrolment this phone came from (with the officer's nonce once revealed).

        Raises:
            NotFound: this device did not come from an enrolment still on record.
        """
        async with self._store.read() as uow:
            enrolment = await uow.enrolments.for_device(principal.device.id)
        if enrolment is None or principal.witness is None:
            raise NotFound("No enrolment")
        return enrolment


def _fixed_b64(value: str, what: str) -> bytes:
    try:
        raw = unb64(value)
    except ValueError:
        raw = b""
    if len(raw) != _HASH_BYTES:
        raise InvalidInput(f"{what} must be 32 bytes in base64")
    return raw


def _nonce(value: str) -> bytes:
    try:
        raw = unb64(value)
    except ValueError:
        raw = b""
    if len(raw) != NONCE_BYTES:
        raise InvalidInput(f"a nonce is {NONCE_BYTES} bytes in base64")
    return raw
