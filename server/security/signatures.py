"""Ed25519 signature checks on device-supplied material (PyNaCl)."""

from __future__ import annotations

import nacl.exceptions
import nacl.signing

from server.ids import unb64


def verify_ed25519(public_key_b64: str, payload: bytes, signature_b64: str) -> bool:
    """Whether ``signature_b64`` is a valid signature of ``payload`` by the key.

    Keys and signatures are unpadded base64, as vodozemac emits them. Malformed input
    is simply not a valid signature.
    """
    try:
        key = nacl.signing.VerifyKey(unb64(public_key_b64))
        key.verify(payload, unb64(signature_b64))
    except (ValueError, TypeError, nacl.exceptions.BadSignatureError, nacl.exceptions.CryptoError):
        return False
    return True


def is_curve25519_key(public_key_b64: str) -> bool:
    """Whether the value decodes to a 32-byte public key."""
    try:
        return len(unb64(public_key_b64)) == 32
    except ValueError:
        return False
