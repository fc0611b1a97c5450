"""Encryption at rest for the personal data the server must hold.

Phone numbers, TOTP secrets and alert outcome notes are sealed with a server key
(PyNaCl SecretBox, XSalsa20-Poly1305) before they reach the database. The key lives
outside the database — an environment variable or a 0600 file in the data folder — so
a stolen database dump alone reveals none of it.
"""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

import nacl.exceptions
import nacl.secret

_VERSION = b"\x01"


class SealError(Exception):
    """A sealed value could not be opened (wrong key or tampered)."""


class Sealer:
    """Seals and opens small values with the server key."""

    def __init__(self, key: bytes) -> None:
        if len(key) != nacl.secret.SecretBox.KEY_SIZE:
            raise ValueError("server key must be 32 bytes")
        self._box = nacl.secret.SecretBox(key)

    def __repr__(self) -> str:
        return "Sealer(<key hidden>)"

    def seal(self, plaintext: str) -> bytes:
        return _VERSION + bytes(self._box.encrypt(plaintext.encode("utf-8")))

    def open(self, sealed: bytes) -> str:
        """Raises: SealError if the value was not sealed with this key or was altered."""
        if not sealed.startswith(_VERSION):
            raise SealError("unknown sealed-value version")
        try:
            return self._box.decrypt(sealed[1:]).decode("utf-8")
        except nacl.exceptions.CryptoError as exc:
            raise SealError("sealed value does not open with this key") from exc


def load_or_create_key(path: Path, env_value: str | None) -> bytes:
    """The server key from ``env_value`` (base64) or ``path``; created at first run.

    Raises:
        ValueError: if the configured key is not 32 bytes of base64.
    """
    if env_value:
        key = base64.b64decode(env_value)
        if len(key) != 32:
            raise ValueError("WITNESSLINK_SECRET_KEY must be 32 bytes, base64-encoded")
        return key
    if path.exists():
        key = base64.b64decode(path.read_text().strip())
        if len(key) != 32:
            raise ValueError(f"{path.name} does not hold a 32-byte key")
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(base64.b64encode(key).decode("ascii") + "\n")
    return key
