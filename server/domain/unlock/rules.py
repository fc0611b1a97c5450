"""What every unlock operation shares: whose phone, which attempt, which key signed,
and what a proven unlock does to the counts. Pure functions over loaded records (and
two small reads), used by :mod:`~server.domain.unlock.service` and
:mod:`~server.domain.unlock.pins`."""

from __future__ import annotations

import base64
import secrets
from dataclasses import replace
from datetime import datetime, timedelta
from hmac import compare_digest

from server.domain.access import Principal
from server.domain.audit import AuditLog
from server.domain.models import Device, OwnerKind
from server.domain.unlock.models import Attempt, AttemptKind, ConfirmKey, UnlockState
from server.errors import Conflict, Forbidden, InvalidInput, StoreErased, UnlockAttemptExpired
from server.ids import new_id
from server.security.sealing import Sealer
from server.storage.protocols import UnitOfWork
from wire.keys import verify_ed25519
from wire.vault import CHALLENGE_BYTES, CONFIRM_KEY_BYTES, KeyRole, decode, encode


def witness_device(principal: Principal) -> Device:
    """Raises: Forbidden unless the caller is a witness's phone."""
    if principal.witness is None or principal.device.owner_kind is not OwnerKind.WITNESS:
        raise Forbidden("This is for a witness's phone")
    return principal.device


def case_of(principal: Principal) -> str | None:
    return None if principal.witness is None else principal.witness.case_id


async def audit_phone(audit: AuditLog, uow: UnitOfWork, principal: Principal, action: str) -> None:
    """An audit entry about the caller's own phone (ids only, never a key)."""
    await audit.append(
        uow.audit,
        principal.actor,
        action,
        subject=("device", principal.device.id),
        case_id=case_of(principal),
    )


def check_public_key(key: str) -> None:
    """Raises: InvalidInput unless ``key`` is 32 bytes of base64 (Ed25519)."""
    try:
        decode(key, CONFIRM_KEY_BYTES)
    except ValueError as exc:
        raise InvalidInput("a confirmation key is a 32-byte Ed25519 public key") from exc


async def live_state(uow: UnitOfWork, device_id: str) -> UnlockState:
    """The device's record, locked, for an operation of the open phone.

    Raises:
        Conflict: the PINs were never set up.
        StoreErased: the OPRF key is erased.
    """
    state = await uow.unlock.get(device_id, lock=True)
    if state is None:
        raise Conflict("Set up the PINs first")
    if state.erased:
        raise StoreErased()
    return state


def new_attempt(kind: AttemptKind, now: datetime, ttl: timedelta) -> Attempt:
    challenge = encode(secrets.token_bytes(CHALLENGE_BYTES))
    return Attempt(new_id("att"), challenge, kind, now + ttl)


def open_attempt(state: UnlockState, attempt_id: str, now: datetime) -> Attempt:
    """Raises: UnlockAttemptExpired unless ``attempt_id`` is the open, unexpired one."""
    attempt = state.attempt
    if attempt is None or not compare_digest(attempt.id, attempt_id) or attempt.expires_at <= now:
        raise UnlockAttemptExpired()
    return attempt


async def signing_key(
    uow: UnitOfWork, device_id: str, payload: bytes, signature: str
) -> ConfirmKey | None:
    """The registered key that made ``signature``; every key is tried, so the time taken
    does not say which one."""
    found = None
    for key in await uow.unlock.keys(device_id):
        if verify_ed25519(key.public_key, payload, signature) and found is None:
            found = key
    return found


def confirmed(
    state: UnlockState, role: KeyRole, now: datetime, *, undo_duress_guess: bool
) -> UnlockState:
    """The record after a proven unlock by ``role``: the guess count starts again; the
    primary PIN ends duress; the duress PIN starts (or continues) it, and — for an
    actual unlock, ``undo_duress_guess`` — takes back its own evaluation from the count
    kept against the real PIN."""
    if role is KeyRole.PRIMARY:
        return replace(state, unconfirmed=0, duress_unconfirmed=0, duress_since=None, attempt=None)
    counted = state.attempt is not None and state.attempt.kind is AttemptKind.EVALUATE_IN_DURESS
    duress_unconfirmed = state.duress_unconfirmed
    if undo_duress_guess and counted:
        duress_unconfirmed = max(0, duress_unconfirmed - 1)
    return replace(
        state,
        unconfirmed=0,
        duress_unconfirmed=duress_unconfirmed,
        duress_since=state.duress_since or now,
        attempt=None,
    )


def seal_seed(sealer: Sealer, seed: bytes) -> bytes:
    return sealer.seal(base64.b64encode(seed).decode("ascii"))


def unseal_seed(sealer: Sealer, state: UnlockState) -> bytes:
    assert state.seed_sealed is not None
    return base64.b64decode(sealer.open(state.seed_sealed))
