"""Registering a device: the checks shared by witness enrolment and staff login.

A new device brings its Olm identity keys, a proof that it holds the Ed25519 key (a
signature over both identity keys and the enrolment/login context), and an initial
batch of signed one-time keys plus a fallback key. Every signature is checked here;
the keys never leave the device's control unverified.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from server.domain.models import Device, OwnerKind, SignedKey
from server.domain.validation import check_label
from server.errors import InvalidInput, SignatureInvalid
from server.ids import new_id, new_token, token_hash
from server.storage.protocols import UnitOfWork
from wire.keys import (
    device_proof_payload,
    fallback_key_payload,
    is_key,
    one_time_key_payload,
    verify_ed25519,
)

MAX_KEYS_PER_UPLOAD = 100
MAX_STORED_ONE_TIME_KEYS = 200


@dataclass(frozen=True, slots=True)
class DeviceRegistration:
    """What a new device sends about itself."""

    name: str
    curve25519: str
    ed25519: str
    proof: str
    one_time_keys: Sequence[SignedKey]
    fallback_key: SignedKey | None


def check_keys(
    ed25519: str, curve25519: str, one_time_keys: Sequence[SignedKey], fallback: SignedKey | None
) -> None:
    """Verify every key signature against the device's identity.

    Raises:
        InvalidInput: too many keys, or a key that is not a Curve25519 public key.
        SignatureInvalid: a signature that does not verify.
    """
    if len(one_time_keys) > MAX_KEYS_PER_UPLOAD:
        raise InvalidInput(f"at most {MAX_KEYS_PER_UPLOAD} one-time keys per upload")
    for key in one_time_keys:
        if not is_key(key.public_key):
            raise InvalidInput("a one-time key is not a Curve25519 public key")
        payload = one_time_key_payload(curve25519, key.key_id, key.public_key)
        if not verify_ed25519(ed25519, payload, key.signature):
            raise SignatureInvalid("a one-time key signature does not verify")
    if fallback is not None:
        if not is_key(fallback.public_key):
            raise InvalidInput("the fallback key is not a Curve25519 public key")
        payload = fallback_key_payload(curve25519, fallback.key_id, fallback.public_key)
        if not verify_ed25519(ed25519, payload, fallback.signature):
            raise SignatureInvalid("the fallback key signature does not verify")


def check_registration(registration: DeviceRegistration, context: str) -> None:
    """Verify the possession proof and all key signatures.

    Raises:
        InvalidInput: malformed identity keys.
        SignatureInvalid: the proof or a key signature does not verify.
    """
    check_label(registration.name, "device name")
    if not is_key(registration.curve25519) or not is_key(registration.ed25519):
        raise InvalidInput("identity keys must be 32-byte public keys in base64")
    proof_payload = device_proof_payload(registration.curve25519, registration.ed25519, context)
    if not verify_ed25519(registration.ed25519, proof_payload, registration.proof):
        raise SignatureInvalid("the device's proof of key possession does not verify")
    check_keys(
        registration.ed25519,
        registration.curve25519,
        registration.one_time_keys,
        registration.fallback_key,
    )


async def insert_device(
    uow: UnitOfWork,
    registration: DeviceRegistration,
    owner_kind: OwnerKind,
    owner_id: str,
    now: datetime,
    device_id: str | None = None,
) -> tuple[Device, str]:
    """Store a checked registration; return the device and its new bearer token.

    Raises:
        Conflict: if the identity keys are already registered.
    """
    token = new_token()
    device = Device(
        id=device_id or new_id("dev"),
        owner_kind=owner_kind,
        owner_id=owner_id,
        name=registration.name,
        curve25519=registration.curve25519,
        ed25519=registration.ed25519,
        created_at=now,
        last_seen_at=now,
        revoked_at=None,
    )
    await uow.devices.insert(device, token_hash(token))
    await uow.keys.add_one_time_keys(device.id, registration.one_time_keys)
    if registration.fallback_key is not None:
        await uow.keys.set_fallback_key(device.id, registration.fallback_key, now)
    return device, token
