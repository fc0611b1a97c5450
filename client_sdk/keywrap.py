"""The key-wrapping seam: how a phone app adds hardware protection to the vault header.

The vault's header (salt, key slots, where the server is and the unlock credential) is
small, and everything else in the store is useless without it. The SDK never writes it
to disk as it is: it passes it through a :class:`KeyWrapper`, and only the wrapped bytes
reach the header file. A phone app implements the protocol with the platform's key
store, so the header can only be unwrapped on that phone:

* **Android**: an AES-256-GCM key in the Android Keystore, ``setIsStrongBoxBacked(true)``
  where the phone has StrongBox, ``setUnlockedDeviceRequired(true)``; ``wrap`` is an
  encryption with a fresh IV, ``unwrap`` the decryption, ``destroy``
  ``KeyStore.deleteEntry``.
* **iOS**: a Secure Enclave P-256 key (``kSecAttrTokenIDSecureEnclave``,
  ``kSecAttrAccessibleWhenUnlockedThisDeviceOnly``) used with
  ``SecKeyCreateEncryptedData`` (ECIES), or a Keychain item of the same accessibility;
  ``destroy`` deletes it.

Then a store folder copied off the phone cannot even be *tried* elsewhere, not even by
someone who also holds the server's database. The wrapped form must authenticate its
contents (AES-GCM, ECIES and SecretBox all do). ``destroy`` is what makes a wipe final on
flash storage, where overwriting a file may leave its old blocks behind.

The SDK ships :class:`SoftwareKeyWrapper`: a random key in a file the app chooses. On
its own it adds no protection against whoever copies that file too — it keeps the
header's contents (the server's address, the unlock credential) out of plain sight, and
it is the reference for the seam's contract, which ``tests/vault/test_key_wrapper.py``
checks.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import Protocol, runtime_checkable

import nacl.exceptions
import nacl.secret


class WrapperError(Exception):
    """The wrapper cannot do what was asked: its key is missing or destroyed, already
    exists, or the wrapped bytes were not made by it (or were altered)."""


@runtime_checkable
class KeyWrapper(Protocol):
    """Wraps the vault header with a key the SDK never sees.

    Methods are called from the vault's worker thread (they may block, e.g. on a
    hardware key store). Implementations must not keep or log what they wrap.
    """

    def create(self) -> None:
        """Make a fresh key for a new vault.

        Raises:
            WrapperError: a key already exists (a vault would be orphaned).
        """
        ...

    def wrap(self, plaintext: bytes) -> bytes:
        """Encrypt and authenticate ``plaintext`` (at most a few KiB; the output may be
        up to 1 KiB longer than the input).

        Raises:
            WrapperError: there is no key.
        """
        ...

    def unwrap(self, wrapped: bytes) -> bytes:
        """Return what :meth:`wrap` was given.

        Raises:
            WrapperError: there is no key, or ``wrapped`` was not made with it.
        """
        ...

    def destroy(self) -> None:
        """Destroy the key for ever (idempotent): every header it wrapped is dead."""
        ...


class SoftwareKeyWrapper:
    """A 32-byte random key in a file (mode 0600), used with SecretBox.

    The file should live where the app's private files live; by default the vault puts
    it beside the store (``<store>.key``).
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def __repr__(self) -> str:
        return f"SoftwareKeyWrapper({str(self.path)!r})"

    def create(self) -> None:
        key = secrets.token_bytes(nacl.secret.SecretBox.KEY_SIZE)
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError as exc:
            raise WrapperError("a wrapping key already exists here") from exc
        try:
            os.write(fd, key)
            os.fsync(fd)
        finally:
            os.close(fd)
        _fsync_directory(self.path.parent)

    def wrap(self, plaintext: bytes) -> bytes:
        return bytes(nacl.secret.SecretBox(self._key()).encrypt(plaintext))

    def unwrap(self, wrapped: bytes) -> bytes:
        try:
            return bytes(nacl.secret.SecretBox(self._key()).decrypt(wrapped))
        except nacl.exceptions.CryptoError as exc:
            raise WrapperError("these bytes were not wrapped with this key") from exc

    def destroy(self) -> None:
        overwrite_and_unlink(self.path)

    def _key(self) -> bytes:
        try:
            key = self.path.read_bytes()
        except FileNotFoundError as exc:
            raise WrapperError("the wrapping key is gone") from exc
        if len(key) != nacl.secret.SecretBox.KEY_SIZE:
            raise WrapperError("the wrapping key file is damaged")
        return key


def overwrite_and_unlink(path: Path) -> None:
    """Overwrite a file with random bytes, fsync, unlink it and fsync its folder.

    Missing files are skipped. On flash storage the old blocks may survive in the
    controller; what makes them useless is that the keys they need are gone too.
    """
    try:
        fd = os.open(path, os.O_WRONLY)
    except FileNotFoundError:
        return
    try:
        remaining = os.fstat(fd).st_size
        while remaining > 0:
            remaining -= os.write(fd, secrets.token_bytes(min(remaining, 1 << 16)))
        os.fsync(fd)
    finally:
        os.close(fd)
    path.unlink(missing_ok=True)
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    # Makes creations and unlinks durable; not every platform opens directories.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
