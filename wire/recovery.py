"""A staff member's identity key, sealed under a recovery key only they hold.

The recovery key is 160 random bits shown once as 32 base32 characters (in groups of
four); the identity key's 32-byte seed is sealed with XSalsa20-Poly1305 (NaCl
``SecretBox``) under ``HKDF-SHA256(recovery key, salt "witnesslink recovery v1",
info "identity seal")``. The server keeps the sealed blob so that a new client of the
same person can take on their identity; with 160 random bits there is nothing to guess.
"""

from __future__ import annotations

import base64
import re
import secrets

import nacl.exceptions
import nacl.secret

from wire.encoding import b64, hkdf_sha256, unb64

RECOVERY_KEY_BYTES = 20


class WrongRecoveryKey(ValueError):
    """The recovery key does not open the sealed identity (or is malformed)."""


def new_recovery_key() -> str:
    body = base64.b32encode(secrets.token_bytes(RECOVERY_KEY_BYTES)).decode("ascii")
    return "-".join(body[i : i + 4] for i in range(0, len(body), 4))


def _box(recovery_key: str) -> nacl.secret.SecretBox:
    cleaned = re.sub(r"[^A-Z2-7]", "", recovery_key.upper())
    if len(cleaned) != RECOVERY_KEY_BYTES * 8 // 5:
        raise WrongRecoveryKey("a recovery key has 32 letters and digits")
    key = hkdf_sha256(
        base64.b32decode(cleaned), salt=b"witnesslink recovery v1", info=b"identity seal"
    )
    return nacl.secret.SecretBox(key)


def seal_identity_seed(seed: bytes, recovery_key: str) -> str:
    """The sealed blob (base64) of an identity key's seed."""
    return b64(bytes(_box(recovery_key).encrypt(seed)))


def open_identity_seed(sealed: str, recovery_key: str) -> bytes:
    """Raises: WrongRecoveryKey if the key does not open the blob."""
    try:
        return bytes(_box(recovery_key).decrypt(unb64(sealed)))
    except (ValueError, nacl.exceptions.CryptoError) as exc:
        raise WrongRecoveryKey("this recovery key does not open the identity") from exc
