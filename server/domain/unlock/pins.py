"""Setting up and changing a witness phone's PINs on the server (device token).

* **Setup**, right after enrolment: a fresh OPRF seed (sealed at rest with the server
  key) and one-purpose unlock credential for the device, and the evaluations of the
  PIN and the duress PIN, blinded. Repeatable until keys are registered.
* **Register keys**: one ``primary`` confirmation key and at most one ``duress`` one,
  with the ``wipe_on_duress`` choice. Once.
* **Endorse** (a PIN change): a new key, proven over a fresh challenge, takes the role
  of the registered key that endorses it. **Retire**: the key it replaced goes, on the
  word of another key of the same role. In that order, so that a crash between them
  leaves both PINs working, never neither (the phone finishes or undoes the change).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from server.clock import Clock
from server.domain.access import Principal
from server.domain.audit import AuditLog
from server.domain.unlock import oprf
from server.domain.unlock.models import ConfirmKey, UnlockState
from server.domain.unlock.rules import (
    audit_phone,
    check_public_key,
    confirmed,
    live_state,
    open_attempt,
    seal_seed,
    signing_key,
    witness_device,
)
from server.errors import Conflict, InvalidInput, SignatureInvalid, StoreErased
from server.ids import new_token, token_hash
from server.security.sealing import Sealer
from server.storage.protocols import Store
from wire.keys import verify_ed25519
from wire.vault import KeyRole, confirm_payload, encode, endorse_payload, retire_payload

SETUP_MAX_INPUTS = 2  # the PIN and the duress PIN


@dataclass(frozen=True, slots=True)
class SetupResult:
    """What the phone needs to unlock later: its unlock credential and the OPRF public
    key to pin, and the evaluations of the PINs it set up."""

    device_id: str
    unlock_token: str
    oprf_public_key: str
    evaluations: list[oprf.Evaluation]


class PinService:
    """A witness phone's PINs, as the server knows them: keys and roles, never PINs."""

    def __init__(self, store: Store, audit: AuditLog, clock: Clock, sealer: Sealer) -> None:
        self._store = store
        self._audit = audit
        self._clock = clock
        self._sealer = sealer

    async def setup(self, principal: Principal, blinded: Sequence[bytes]) -> SetupResult:
        """Give the phone its OPRF key and unlock credential, evaluating its PINs.

        Repeatable until confirmation keys are registered (an enrolment that crashed
        half-way starts again with a new key and credential).

        Raises:
            Forbidden: not a witness's phone.
            InvalidInput: no, too many or malformed blinded elements (nothing stored).
            Conflict: the PINs are already set up.
            StoreErased: this device's store was erased.
        """
        device = witness_device(principal)
        if not 1 <= len(blinded) <= SETUP_MAX_INPUTS:
            raise InvalidInput(f"send 1 to {SETUP_MAX_INPUTS} blinded elements")
        seed, token, now = oprf.new_seed(), new_token(), self._clock.now()
        evaluations = [oprf.evaluate(seed, device.id, b) for b in blinded]
        public_key = encode(oprf.public_key(seed, device.id))
        async with self._store.write() as uow:
            current = await uow.unlock.get(device.id, lock=True)
            if current is not None and current.erased:
                raise StoreErased()
            if current is not None and current.keys_registered:
                raise Conflict("This phone's PINs are already set up")
            await uow.unlock.put(
                UnlockState(
                    device_id=device.id,
                    token_hash=token_hash(token),
                    seed_sealed=seal_seed(self._sealer, seed),
                    oprf_public_key=public_key,
                    unconfirmed=0,
                    duress_unconfirmed=0,
                    wipe_on_duress=False,
                    duress_since=None,
                    attempt=None,
                    keys_registered=False,
                    erased_at=None,
                    erased_reason=None,
                    created_at=now,
                )
            )
        return SetupResult(device.id, token, public_key, evaluations)

    async def register_keys(
        self,
        principal: Principal,
        keys: Sequence[tuple[str, KeyRole]],
        *,
        wipe_on_duress: bool,
    ) -> None:
        """Register the confirmation keys of the PIN and (optionally) the duress PIN.

        Raises:
            Forbidden: not a witness's phone.
            InvalidInput: not exactly one primary key, more than one duress key, a
                repeated or malformed key, or ``wipe_on_duress`` without a duress key.
            Conflict: not set up yet, or keys already registered.
            StoreErased: this device's store was erased.
        """
        device = witness_device(principal)
        roles = [role for _key, role in keys]
        if roles.count(KeyRole.PRIMARY) != 1 or roles.count(KeyRole.DURESS) > 1:
            raise InvalidInput("register one primary key and at most one duress key")
        if len({key for key, _role in keys}) != len(keys):
            raise InvalidInput("the keys must differ")
        for key, _role in keys:
            check_public_key(key)
        if wipe_on_duress and KeyRole.DURESS not in roles:
            raise InvalidInput("wipe_on_duress needs a duress key")
        now = self._clock.now()
        async with self._store.write() as uow:
            state = await uow.unlock.get(device.id, lock=True)
            if state is None:
                raise Conflict("Set up the PINs first")
            if state.erased:
                raise StoreErased()
            if state.keys_registered:
                raise Conflict("This phone's PINs are already set up")
            for key, role in keys:
                await uow.unlock.add_key(ConfirmKey(device.id, key, role, now))
            await uow.unlock.save(replace(state, wipe_on_duress=wipe_on_duress))
            await audit_phone(self._audit, uow, principal, "device.pins_set_up")

    async def endorse(
        self, principal: Principal, attempt_id: str, new_key: str, signature: str, endorsement: str
    ) -> None:
        """Register a new PIN's confirmation key with the role of the key that endorses
        it (the current PIN's), proving both over the open attempt's challenge.

        Raises:
            Forbidden: not a witness's phone.
            InvalidInput: a malformed key.
            StoreErased: the OPRF key is erased.
            UnlockAttemptExpired: not the open attempt, or it expired.
            SignatureInvalid: the endorsement is by no registered key, or the new key
                did not sign the challenge.
            Conflict: the new key is already registered with another role.
        """
        device = witness_device(principal)
        check_public_key(new_key)
        now = self._clock.now()
        async with self._store.write() as uow:
            state = await live_state(uow, device.id)
            attempt = open_attempt(state, attempt_id, now)
            endorsed = endorse_payload(device.id, attempt.id, attempt.challenge, new_key)
            endorser = await signing_key(uow, device.id, endorsed, endorsement)
            if endorser is None:
                raise SignatureInvalid("The endorsement does not verify")
            proof = confirm_payload(device.id, attempt.id, attempt.challenge)
            if not verify_ed25519(new_key, proof, signature):
                raise SignatureInvalid("The new key did not sign the challenge")
            known = {k.public_key: k.role for k in await uow.unlock.keys(device.id)}
            if known.get(new_key, endorser.role) is not endorser.role:
                raise Conflict("This key is already registered for the other PIN")
            await uow.unlock.add_key(ConfirmKey(device.id, new_key, endorser.role, now))
            # Proof of the current PIN, as good as a confirmation — except that it does
            # not undo a guess made in duress (else changing the duress PIN to each
            # candidate would test the real PIN for free).
            await uow.unlock.save(confirmed(state, endorser.role, now, undo_duress_guess=False))
            await audit_phone(self._audit, uow, principal, "device.pin_changed")

    async def retire(self, principal: Principal, old_key: str, signature: str) -> bool:
        """Drop the confirmation key a PIN change replaced, on the word of a registered
        key of the same role; False if it was already gone.

        Raises:
            Forbidden: not a witness's phone.
            StoreErased: the OPRF key is erased.
            SignatureInvalid: no other registered key of the same role signed this.
        """
        device = witness_device(principal)
        async with self._store.write() as uow:
            await live_state(uow, device.id)
            keys = await uow.unlock.keys(device.id)
            old = next((k for k in keys if k.public_key == old_key), None)
            if old is None:
                return False
            payload = retire_payload(device.id, old_key)
            if not any(
                k.role is old.role
                and k.public_key != old_key
                and verify_ed25519(k.public_key, payload, signature)
                for k in keys
            ):
                raise SignatureInvalid("The retirement does not verify")
            return await uow.unlock.remove_key(device.id, old_key)
