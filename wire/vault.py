"""The vault unlock protocol: what the phone and the server sign, bind and encode.

A witness's phone can only open its store with the server's help: it stretches the PIN
with Argon2id, the server evaluates an RFC 9497 VOPRF (ristretto255-SHA512) on that
value, blinded, with a key held per device, and the phone proves a successful unlock
by signing a fresh challenge with a *confirmation key* derived from the result. The
server counts evaluations that no confirmation followed and erases the device's OPRF
key after too many. ``docs/protocol.md`` (§16) specifies the exchange; this module holds the
byte-exact parts that both sides must agree on.

Binary values travel as standard base64 without padding (as vodozemac encodes keys).
"""

from __future__ import annotations

import base64
import enum

#: Sizes on the wire (ristretto255): an element, a scalar pair proof (c || s).
ELEMENT_BYTES = 32
PROOF_BYTES = 64
OPRF_PUBLIC_KEY_BYTES = 32
#: Ed25519 public keys and signatures (the confirmation keys).
CONFIRM_KEY_BYTES = 32
SIGNATURE_BYTES = 64
#: The server's challenge: 32 random bytes.
CHALLENGE_BYTES = 32


class KeyRole(enum.StrEnum):
    """What a confirmation key means to the server when it signs."""

    PRIMARY = "primary"  # the witness's PIN
    DURESS = "duress"  # the duress PIN: the same screens, and a silent alarm


def oprf_key_info(device_id: str) -> bytes:
    """RFC 9497 ``DeriveKeyPair`` info for a device's OPRF key: one key per device,
    bound to its id, so that a seed copied to another device row evaluates differently."""
    return b"witnesslink/vault-oprf/v1\n" + device_id.encode()


def confirm_payload(device_id: str, attempt_id: str, challenge: str) -> bytes:
    """What a confirmation key signs to prove an unlock: bound to the device and to one
    fresh challenge, so a signature can neither be replayed nor moved."""
    return f"witnesslink/vault-confirm/v1\n{device_id}\n{attempt_id}\n{challenge}".encode()


def endorse_payload(device_id: str, attempt_id: str, challenge: str, new_key: str) -> bytes:
    """What the current PIN's confirmation key signs to hand its role to a new key
    (a PIN change): bound to the device, one fresh challenge and the new key."""
    return (
        f"witnesslink/vault-endorse/v1\n{device_id}\n{attempt_id}\n{challenge}\n{new_key}"
    ).encode()


def retire_payload(device_id: str, old_key: str) -> bytes:
    """What the new PIN's confirmation key signs to retire the key it replaced."""
    return f"witnesslink/vault-retire/v1\n{device_id}\n{old_key}".encode()


def encode(data: bytes) -> str:
    """Standard base64 without padding."""
    return base64.b64encode(data).decode("ascii").rstrip("=")


def decode(text: str, size: int | None = None) -> bytes:
    """Decode base64 (padding optional); with ``size``, the exact length required.

    Raises:
        ValueError: not base64, or not ``size`` bytes.
    """
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (ValueError, TypeError) as exc:
        raise ValueError("not base64") from exc
    if size is not None and len(raw) != size:
        raise ValueError(f"expected {size} bytes, got {len(raw)}")
    return raw
