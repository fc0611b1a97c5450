"""Unlocking a witness phone's store: the server's OPRF, guess counting and duress.

The phone's store key needs the PIN *and* an RFC 9497 OPRF evaluation by a key the
server holds for that device alone (:mod:`server.domain.unlock.oprf`). So a store copied
off the phone cannot be tested against PIN guesses offline; every guess is an
evaluation here, and this service counts them:

* **Evaluate** (with the device's one-purpose *unlock credential*, since the device
  token is inside the locked store) counts an unconfirmed evaluation and opens an
  *attempt* with a fresh challenge.
* **Confirm**: the phone signs the challenge with a confirmation key derived from the
  unlocked result; a registered key's signature resets the count. Its *role* says which
  PIN was used: a ``duress`` key puts the device in duress, raises the duress alarm in
  the same transaction and, with ``wipe_on_duress``, erases the OPRF key. The answer is
  the same bytes for both roles, and the phone itself never learns which PIN it was.
* Once ``max_unconfirmed`` evaluations have gone unconfirmed (the phone reports a wrong
  PIN at once; an attacker's code that does not is stopped at its next evaluation) the
  OPRF key is **erased**: the store is dead for ever, the team is alerted
  (``store_wiped``) and the device is revoked. While the device is in duress a second
  count, cleared only by the primary PIN, keeps the duress PIN from being used to reset
  the guesses against the real one.

Setting up, registering the confirmation keys and changing a PIN are in
:mod:`server.domain.unlock.pins`. The owner's own wipe uses the device token. Nothing
here logs or audits a secret.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from hmac import compare_digest
from typing import TypeVar

from server.clock import Clock
from server.domain.access import Principal
from server.domain.audit import Actor, AuditLog
from server.domain.authentication import DeviceAuthenticator
from server.domain.effects import Effects
from server.domain.events import EventSink
from server.domain.revocation import revoke_device_in
from server.domain.unlock import oprf
from server.domain.unlock.models import Attempt, AttemptKind, UnlockState
from server.domain.unlock.rules import (
    audit_phone,
    confirmed,
    new_attempt,
    open_attempt,
    signing_key,
    unseal_seed,
    witness_device,
)
from server.domain.welfare.alerts import AlertEngine, AlertSpec
from server.domain.welfare_models import AlertKind
from server.errors import (
    SignatureInvalid,
    StoreErased,
    Unauthenticated,
)
from server.ids import token_hash
from server.security.ratelimit import Limiter
from server.security.sealing import Sealer
from server.storage.protocols import Store, UnitOfWork
from wire.vault import (
    KeyRole,
    confirm_payload,
)

DEFAULT_MAX_UNCONFIRMED = 10
DEFAULT_ATTEMPT_TTL = timedelta(minutes=5)
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Evaluated:
    """An evaluation and the attempt to confirm."""

    evaluation: oprf.Evaluation
    attempt: Attempt
    attempts_left: int


class UnlockService:
    """The server's side of unlocking every witness phone: evaluations, confirmations,
    guess counting, duress, erasure."""

    def __init__(
        self,
        store: Store,
        audit: AuditLog,
        clock: Clock,
        sealer: Sealer,
        alerts: AlertEngine,
        events: EventSink,
        authenticator: DeviceAuthenticator,
        *,
        evaluations_by_device: Limiter,
        max_unconfirmed: int = DEFAULT_MAX_UNCONFIRMED,
        attempt_ttl: timedelta = DEFAULT_ATTEMPT_TTL,
        wake_dispatcher: Callable[[], None] | None = None,
    ) -> None:
        if max_unconfirmed < 1:
            raise ValueError("max_unconfirmed must be at least 1")
        self._store = store
        self._audit = audit
        self._clock = clock
        self._sealer = sealer
        self._alerts = alerts
        self._events = events
        self._authenticator = authenticator
        self._evaluations = evaluations_by_device
        self.max_unconfirmed = max_unconfirmed
        self._attempt_ttl = attempt_ttl
        self._wake = wake_dispatcher

    # ------------------------------------------------------------------ setting up

    # ------------------------------------------------------------------ unlocking

    async def evaluate(self, device_id: str, token: str, blinded: bytes) -> Evaluated:
        """Evaluate the OPRF on a blinded, stretched PIN: one guess, until confirmed.

        Raises:
            Unauthenticated: unknown device or unlock credential.
            RateLimited: too many attempts for this device just now.
            InvalidInput: a malformed blinded element (not counted).
            StoreErased: the OPRF key is erased — now, because too many evaluations
                went unconfirmed (alerted, the device revoked), or earlier.
        """
        oprf.check_blinded(blinded)
        await self._authenticate(device_id, token)
        await self._evaluations.take(device_id)
        now = self._clock.now()
        effects = Effects()
        result: Evaluated | None = None
        revoked: str | None = None
        async with self._store.write() as uow:
            state = await self._unlockable(uow, device_id, token)
            if not self._exhausted(state):
                in_duress = state.duress_since is not None
                attempt = self._new_attempt(
                    AttemptKind.EVALUATE_IN_DURESS if in_duress else AttemptKind.EVALUATE, now
                )
                state = replace(
                    state,
                    unconfirmed=state.unconfirmed + 1,
                    duress_unconfirmed=state.duress_unconfirmed + in_duress,
                    attempt=attempt,
                )
                await uow.unlock.save(state)
                evaluation = oprf.evaluate(unseal_seed(self._sealer, state), device_id, blinded)
                result = Evaluated(evaluation, attempt, self._attempts_left(state))
            else:
                revoked = await self._erase_for_wrong_pins(uow, state, now, effects)
        return await self._finish(result, revoked, effects)

    async def challenge(self, device_id: str, token: str) -> Attempt:
        """A fresh challenge without an evaluation: for a confirmation that did not get
        through (the phone holds the confirmation key of the session it opened).

        Raises:
            Unauthenticated, RateLimited, StoreErased: as for :meth:`evaluate`.
        """
        await self._authenticate(device_id, token)
        await self._evaluations.take(device_id)
        now = self._clock.now()
        async with self._store.write() as uow:
            state = await self._unlockable(uow, device_id, token)
            attempt = self._new_attempt(AttemptKind.CHALLENGE, now)
            await uow.unlock.save(replace(state, attempt=attempt))
        return attempt

    async def confirm(self, device_id: str, token: str, attempt_id: str, signature: str) -> None:
        """Accept the proof of an unlock; what it does depends on the key's role, what
        the phone is told does not.

        Raises:
            Unauthenticated: unknown device or unlock credential.
            StoreErased: the OPRF key is erased.
            UnlockAttemptExpired: not the open attempt, or it expired.
            SignatureInvalid: no registered confirmation key made this signature.
        """
        now = self._clock.now()
        effects = Effects()
        async with self._store.write() as uow:
            state = await self._unlockable(uow, device_id, token)
            attempt = open_attempt(state, attempt_id, now)
            payload = confirm_payload(device_id, attempt.id, attempt.challenge)
            key = await signing_key(uow, device_id, payload, signature)
            if key is None:
                raise SignatureInvalid("The confirmation does not verify")
            state = confirmed(state, key.role, now, undo_duress_guess=True)
            if key.role is KeyRole.DURESS:
                state = await self._duress_unlock(uow, state, attempt, now, effects)
            await uow.unlock.save(state)
        await effects.run(self._events, self._wake)

    async def failed(self, device_id: str, token: str, attempt_id: str) -> int:
        """The phone says the PIN of this attempt opened nothing: returns how many
        attempts are left, or erases at once when none are.

        Raises:
            Unauthenticated: unknown device or unlock credential.
            StoreErased: the OPRF key is erased (now, or earlier).
        """
        now = self._clock.now()
        effects = Effects()
        left: int | None = None
        revoked: str | None = None
        async with self._store.write() as uow:
            state = await self._unlockable(uow, device_id, token)
            if state.attempt is not None and state.attempt.id == attempt_id:
                state = replace(state, attempt=None)
                await uow.unlock.save(state)
            if self._exhausted(state):
                revoked = await self._erase_for_wrong_pins(uow, state, now, effects)
            else:
                left = self._attempts_left(state)
        return await self._finish(left, revoked, effects)

    # ------------------------------------------------------------------ changing a PIN

    # ------------------------------------------------------------------ erasing

    async def erase_by_owner(self, principal: Principal) -> None:
        """The phone is being wiped on purpose: erase its OPRF key first (so whatever
        survives on flash can never be opened) and revoke the device.

        Raises:
            Forbidden: not a witness's phone.
        """
        device = witness_device(principal)
        now = self._clock.now()
        async with self._store.write() as uow:
            await uow.unlock.erase(device.id, "wiped", now)
            case = None
            if principal.witness is not None:
                case = await uow.cases.get(principal.witness.case_id)
            await revoke_device_in(
                uow, self._audit, principal.actor, device.owner_id, device, case, now, why="wiped"
            )
            await audit_phone(self._audit, uow, principal, "device.wiped_by_owner")
        self._authenticator.forget_devices({device.id})
        await self._events.devices_revoked([device.id])

    # ------------------------------------------------------------------ inside

    async def _authenticate(self, device_id: str, token: str) -> None:
        """Check the credential before spending the device's rate-limit budget, so that
        someone without it cannot lock the witness out."""
        async with self._store.read() as uow:
            state = await uow.unlock.get(device_id)
        if state is None or not compare_digest(state.token_hash, token_hash(token)):
            raise Unauthenticated("Unknown unlock credential")

    async def _unlockable(self, uow: UnitOfWork, device_id: str, token: str) -> UnlockState:
        state = await uow.unlock.get(device_id, lock=True)
        if state is None or not compare_digest(state.token_hash, token_hash(token)):
            raise Unauthenticated("Unknown unlock credential")
        if state.erased:
            raise StoreErased()
        return state

    def _exhausted(self, state: UnlockState) -> bool:
        return max(state.unconfirmed, state.duress_unconfirmed) >= self.max_unconfirmed

    def _attempts_left(self, state: UnlockState) -> int:
        return max(0, self.max_unconfirmed - state.unconfirmed)

    def _new_attempt(self, kind: AttemptKind, now: datetime) -> Attempt:
        return new_attempt(kind, now, self._attempt_ttl)

    async def _duress_unlock(
        self,
        uow: UnitOfWork,
        state: UnlockState,
        attempt: Attempt,
        now: datetime,
        effects: Effects,
    ) -> UnlockState:
        """The duress PIN opened the phone: the alarm goes out with this commit, and with
        ``wipe_on_duress`` the store can never be opened again (the open session goes on
        looking as usual)."""
        device = await uow.devices.get(state.device_id)
        witness = None if device is None else await uow.witnesses.get(device.owner_id)
        if witness is not None:
            spec = AlertSpec(
                witness.case_id,
                witness.id,
                AlertKind.DURESS,
                f"duress:{state.device_id}:{attempt.id}",
            )
            await self._alerts.raise_alerts(uow, [spec], now, effects)
        actor = Actor.system("vault")
        case_id = None if witness is None else witness.case_id
        subject = ("device", state.device_id)
        await self._audit.append(
            uow.audit, actor, "device.unlocked_under_duress", subject=subject, case_id=case_id
        )
        if not state.wipe_on_duress:
            return state
        await uow.unlock.erase(state.device_id, "duress", now)
        await self._audit.append(
            uow.audit, actor, "device.wiped_on_duress", subject=subject, case_id=case_id
        )
        return replace(state, seed_sealed=None, erased_at=now, erased_reason="duress")

    async def _erase_for_wrong_pins(
        self, uow: UnitOfWork, state: UnlockState, now: datetime, effects: Effects
    ) -> str | None:
        """Too many unconfirmed evaluations: erase the OPRF key, alert the team, revoke.
        Returns the revoked device's id."""
        await uow.unlock.erase(state.device_id, "wrong-pins", now)
        device = await uow.devices.get(state.device_id)
        if device is None:
            return None
        witness = await uow.witnesses.get(device.owner_id)
        case = None if witness is None else await uow.cases.get(witness.case_id)
        if witness is not None:
            spec = AlertSpec(
                witness.case_id, witness.id, AlertKind.STORE_WIPED, f"wiped:{device.id}"
            )
            await self._alerts.raise_alerts(uow, [spec], now, effects)
        actor = Actor.system("vault")
        await revoke_device_in(
            uow, self._audit, actor, "system", device, case, now, why="wrong-pins"
        )
        await self._audit.append(
            uow.audit,
            actor,
            "device.wiped_after_wrong_pins",
            subject=("device", device.id),
            case_id=None if case is None else case.id,
        )
        return device.id

    async def _finish(self, result: _T | None, revoked: str | None, effects: Effects) -> _T:
        """After the commit: pushes and alerts go out, a revocation takes effect, and an
        erasure that happened in the transaction is reported as the error it is."""
        await effects.run(self._events, self._wake)
        if revoked is not None:
            self._authenticator.forget_devices({revoked})
            await self._events.devices_revoked([revoked])
        if result is None:
            raise StoreErased()
        return result
