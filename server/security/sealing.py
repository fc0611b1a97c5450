"""Encryption at rest for the personal data the server must hold, under a key ring.

Phone numbers, TOTP secrets, alert outcome notes and vault seeds are sealed with a
server key (PyNaCl SecretBox, XSalsa20-Poly1305) before they reach the database. The
keys live outside the database — environment variables or a 0600 file in the data
folder — so a stolen database dump alone reveals none of it.

Keys rotate without downtime: the server holds a *ring* of keys, one current (every new
value is sealed under it) and any number of previous ones (still readable). A sealed
value names the key it was sealed under by a short key id, so opening never has to try
keys; the re-seal job (:mod:`server.domain.resealing`) moves every value to the current
key, after which the previous keys can be dropped.

Formats (the first byte is the format version):

- ``0x01 || secretbox`` — written before rotation existed; carries no key id, so it is
  opened by trying each key of the ring (there are only a few). The re-seal job
  rewrites it in the current format.
- ``0x02 || key id (8 bytes) || secretbox`` — the key id is a BLAKE2b digest of the key
  under its own personalisation: it identifies a key without revealing it.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from collections.abc import Sequence
from pathlib import Path

import nacl.encoding
import nacl.exceptions
import nacl.hash
import nacl.secret

_LEGACY = b"\x01"
_KEYED = b"\x02"
KEY_ID_BYTES = 8


class SealError(Exception):
    """A sealed value could not be opened (wrong key or tampered)."""


class UnknownSealingKey(SealError):
    """A sealed value names a key that is not in the ring.

    The message carries the key id (a digest, not the key) so the operator can tell
    which previous key must be put back into ``WITNESSLINK_PREVIOUS_SECRET_KEYS``.
    """


class KeyConfigError(ValueError):
    """A configured key is not 32 bytes of base64; the message names the setting, never
    the value."""


def key_id(key: bytes) -> bytes:
    """The id a sealed value carries for ``key``: a keyed-hash fingerprint, not the key."""
    return nacl.hash.blake2b(
        key, digest_size=KEY_ID_BYTES, person=b"wl-seal-key-id", encoder=nacl.encoding.RawEncoder
    )


def _check_key(key: bytes) -> bytes:
    if len(key) != nacl.secret.SecretBox.KEY_SIZE:
        raise ValueError("server key must be 32 bytes")
    return key


class Sealer:
    """Seals under the ring's current key; opens under any key of the ring."""

    def __init__(self, current: bytes, previous: Sequence[bytes] = ()) -> None:
        """Raises: ValueError if a key is not 32 bytes."""
        self._current_id = key_id(_check_key(current))
        self._current = nacl.secret.SecretBox(current)
        self._boxes: dict[bytes, nacl.secret.SecretBox] = {self._current_id: self._current}
        for key in previous:
            self._boxes.setdefault(key_id(_check_key(key)), nacl.secret.SecretBox(key))

    def __repr__(self) -> str:
        return f"Sealer(<{len(self._boxes)} key(s) hidden>)"

    @property
    def current_prefix(self) -> bytes:
        """The leading bytes of every value sealed under the current key (format and key
        id), so storage can find values that still need re-sealing without opening them."""
        return _KEYED + self._current_id

    @property
    def has_previous_keys(self) -> bool:
        return len(self._boxes) > 1

    def seal(self, plaintext: str) -> bytes:
        return self.current_prefix + bytes(self._current.encrypt(plaintext.encode("utf-8")))

    def is_current(self, sealed: bytes) -> bool:
        """Whether ``sealed`` is already in the current format under the current key."""
        return sealed.startswith(self.current_prefix)

    def open(self, sealed: bytes) -> str:
        """Raises:
        UnknownSealingKey: the value was sealed under a key that is not in the ring.
        SealError: the value is of an unknown format, or was altered.
        """
        if sealed.startswith(_KEYED):
            kid = sealed[1 : 1 + KEY_ID_BYTES]
            box = self._boxes.get(kid)
            if box is None:
                raise UnknownSealingKey(
                    f"sealed under key id {kid.hex()}, which is not in the key ring"
                    " (add that key to WITNESSLINK_PREVIOUS_SECRET_KEYS)"
                )
            return _decrypt(box, sealed[1 + KEY_ID_BYTES :])
        if sealed.startswith(_LEGACY):
            for box in self._boxes.values():
                try:
                    return _decrypt(box, sealed[1:])
                except SealError:
                    continue
            raise UnknownSealingKey("sealed before key ids existed, under no key of the ring")
        raise SealError("unknown sealed-value version")

    def reseal(self, sealed: bytes) -> bytes:
        """``sealed`` under the current key (unchanged if it already is).

        Raises: as :meth:`open`.
        """
        return sealed if self.is_current(sealed) else self.seal(self.open(sealed))


def _decrypt(box: nacl.secret.SecretBox, ciphertext: bytes) -> str:
    try:
        return box.decrypt(ciphertext).decode("utf-8")
    except nacl.exceptions.CryptoError as exc:
        raise SealError("sealed value does not open with this key") from exc


def decode_key(value: str, name: str) -> bytes:
    """A 32-byte key from base64 text; ``name`` says where it came from in the error.

    Raises:
        KeyConfigError: not 32 bytes of base64 (the message never contains the value).
    """
    try:
        key = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != 32:
        raise KeyConfigError(f"{name} must be 32 bytes, base64-encoded")
    return key


def new_key_b64() -> str:
    """A fresh random server key, base64-encoded, for ``WITNESSLINK_SECRET_KEY``."""
    return base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def load_or_create_key(path: Path, env_value: str | None) -> bytes:
    """The server key from ``env_value`` (base64) or ``path``; created at first run.

    Raises:
        ValueError: if the configured key is not 32 bytes of base64.
    """
    if env_value:
        return decode_key(env_value, "WITNESSLINK_SECRET_KEY")
    if path.exists():
        return decode_key(path.read_text(), path.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(base64.b64encode(key).decode("ascii") + "\n")
    return key


def load_key_ring(
    path: Path, current_b64: str | None, previous_b64: Sequence[str]
) -> tuple[bytes, list[bytes]]:
    """The ring the settings describe: the current key (environment, else the key file,
    created at first run) and the previous keys still readable (for :class:`Sealer`).

    When the current key comes from the environment and the key file also exists, the
    file's key is readable too: a server that started on the file default can move to
    an environment key without losing what it sealed.

    Raises:
        ValueError: if a configured key is not 32 bytes of base64.
    """
    current = load_or_create_key(path, current_b64)
    previous = [
        decode_key(value, "WITNESSLINK_PREVIOUS_SECRET_KEYS entry") for value in previous_b64
    ]
    if current_b64 and path.exists():
        previous.append(decode_key(path.read_text(), path.name))
    return current, [key for key in previous if key != current]
