"""The vault header: a small fixed-size file beside the store, wrapped, written in place.

Private helpers for :mod:`client_sdk.vault` (blocking; called on the vault's thread).

The header holds what is needed to find the data key — the Argon2id salt and cost, the
key slots — and, for a witness phone, the *locator*: the server's address, the device
id, the one-purpose unlock credential and the OPRF public key the phone pinned. It also
carries the sealed outbox's public key, so that messages can be written while the store
is locked. None of it may be lying around: the plaintext exists only in memory, and the
file holds it only as wrapped by the app's :class:`~client_sdk.keywrap.KeyWrapper`.

Layout (``HEADER_FILE_BYTES`` = 2 halves of ``HALF_BYTES``)::

    half = u32 length || wrapped(u64 sequence || padded header) || random fill

Both halves carry the same header with consecutive sequence numbers. A write goes to the
older half first (fsync), then to the other (fsync): a crash at any point leaves at least
one complete half, and after a finished write no half holds an older header — so after a
PIN change, the old PIN's slot is gone from the file, not just superseded. The file is
never written through SQLite, so no copy of it ever lands in a ``-wal`` or journal.
"""

from __future__ import annotations

import os
import secrets
import struct
from pathlib import Path

import msgspec
import nacl.bindings

from client_sdk._vault_format import (
    FORMAT_VERSION,
    SALT_BYTES,
    SLOT_BLOB_BYTES,
    SLOT_CAPACITY,
    FormatError,
    check_kdf,
)
from client_sdk.keywrap import KeyWrapper, WrapperError, overwrite_and_unlink

HALF_BYTES = 4096
HEADER_FILE_BYTES = 2 * HALF_BYTES
#: The header is padded to exactly this before wrapping, whatever it holds.
PLAIN_BYTES = 2048
_SEQ = struct.Struct(">Q")
_LEN = struct.Struct(">I")
MAX_URL_CHARS = 512

#: Modes: a witness phone's store needs the server's OPRF; a staff store a passphrase.
MODE_SERVER = "server"
MODE_PASSPHRASE = "passphrase"  # noqa: S105 - a mode name, not a password


class Locator(msgspec.Struct, array_like=True, forbid_unknown_fields=True, frozen=True):
    """Where and how a witness phone asks for its PIN to be evaluated."""

    server_url: str
    device_id: str
    unlock_token: str
    oprf_public_key: bytes

    def __repr__(self) -> str:
        return f"Locator(server_url={self.server_url!r}, device_id={self.device_id!r})"


class Header(msgspec.Struct, array_like=True, forbid_unknown_fields=True, frozen=True):
    """The header's contents (its plaintext: it is only ever written wrapped)."""

    version: int
    mode: str
    opslimit: int
    memlimit: int
    salt: bytes
    slots: list[bytes]
    outbox_public_key: bytes
    locator: Locator | None = None

    def __repr__(self) -> str:
        return f"Header(version={self.version}, mode={self.mode!r})"


_decoder = msgspec.msgpack.Decoder(Header)


def header_path(store: Path) -> Path:
    return store.with_name(store.name + ".header")


def encode(header: Header) -> bytes:
    """The padded plaintext (always ``PLAIN_BYTES``).

    Raises:
        ValueError: the header would not fit (e.g. an absurdly long server address).
    """
    raw = msgspec.msgpack.encode(header)
    if len(raw) >= PLAIN_BYTES:
        raise ValueError("the vault header is too large")
    return bytes(nacl.bindings.sodium_pad(raw, PLAIN_BYTES))


def decode(plain: bytes) -> Header:
    """Raises: FormatError if the plaintext is not a header this SDK reads."""
    try:
        header = _decoder.decode(nacl.bindings.sodium_unpad(plain, PLAIN_BYTES))
    except (msgspec.DecodeError, ValueError) as exc:
        raise FormatError("the vault header is damaged") from exc
    if header.version != FORMAT_VERSION:
        hint = "; update the app" if header.version > FORMAT_VERSION else ""
        raise FormatError(
            f"vault format version {header.version} is not supported "
            f"(this SDK reads version {FORMAT_VERSION}){hint}"
        )
    _check(header)
    return header


def _check(header: Header) -> None:
    if header.mode not in (MODE_SERVER, MODE_PASSPHRASE):
        raise FormatError("unknown vault mode")
    if len(header.salt) != SALT_BYTES or len(header.outbox_public_key) != 32:
        raise FormatError("malformed vault header")
    if len(header.slots) != SLOT_CAPACITY or any(len(s) != SLOT_BLOB_BYTES for s in header.slots):
        raise FormatError("malformed key slot table")
    try:
        check_kdf(header.opslimit, header.memlimit)
    except ValueError as exc:
        raise FormatError(f"malformed vault header: {exc}") from exc


def _half(wrapper: KeyWrapper, header: Header, seq: int) -> bytes:
    wrapped = wrapper.wrap(_SEQ.pack(seq) + encode(header))
    room = HALF_BYTES - _LEN.size - len(wrapped)
    if room < 0:
        raise ValueError("the key wrapper's output does not fit the header file")
    return _LEN.pack(len(wrapped)) + wrapped + secrets.token_bytes(room)


def _read_half(wrapper: KeyWrapper, half: bytes) -> tuple[int, Header] | None:
    (size,) = _LEN.unpack_from(half)
    if not 0 < size <= HALF_BYTES - _LEN.size:
        return None
    try:
        plain = wrapper.unwrap(half[_LEN.size : _LEN.size + size])
    except WrapperError:
        return None
    if len(plain) != _SEQ.size + PLAIN_BYTES:
        return None
    return _SEQ.unpack_from(plain)[0], decode(plain[_SEQ.size :])


def read(store: Path, wrapper: KeyWrapper) -> tuple[Header, int]:
    """The newest complete header and its sequence number.

    Raises:
        FileNotFoundError: there is no header file.
        WrapperError: no half unwraps (the wrapping key is gone, or the file was
            destroyed, replaced or altered).
        FormatError: a half unwraps but is not a header this SDK reads.
    """
    data = header_path(store).read_bytes()
    if len(data) != HEADER_FILE_BYTES:
        raise WrapperError("the vault header file is damaged")
    halves = [_read_half(wrapper, data[i * HALF_BYTES : (i + 1) * HALF_BYTES]) for i in (0, 1)]
    valid = [h for h in halves if h is not None]
    if not valid:
        raise WrapperError("the vault header cannot be unwrapped")
    seq, header = max(valid, key=lambda h: h[0])
    return header, seq


def create(store: Path, wrapper: KeyWrapper, header: Header) -> int:
    """Write a new header file (mode 0600); returns its sequence number.

    Raises:
        FileExistsError: a header file is already there.
        WrapperError: the wrapper has no key.
    """
    content = _half(wrapper, header, 1) + _half(wrapper, header, 2)
    fd = os.open(header_path(store), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, content)
        os.fsync(fd)
    finally:
        os.close(fd)
    return 2


def write(store: Path, wrapper: KeyWrapper, header: Header, seq: int) -> int:
    """Replace the header in place, crash-safely (see the module docstring); ``seq`` is
    the sequence number read last. Returns the new one.

    Raises:
        OSError: the file cannot be written.
        WrapperError: the wrapper has no key.
    """
    # Sequence s lives in half (s - 1) % 2 (create() wrote 1 to half 0, 2 to half 1),
    # so the half holding s - 1, or a torn write, is s % 2.
    older, newer = seq % 2, (seq + 1) % 2
    fd = os.open(header_path(store), os.O_RDWR)
    try:
        for index, new_seq in ((older, seq + 1), (newer, seq + 2)):
            os.pwrite(fd, _half(wrapper, header, new_seq), index * HALF_BYTES)
            os.fsync(fd)
    finally:
        os.close(fd)
    return seq + 2


def destroy(store: Path) -> None:
    """Overwrite the header file with random bytes and delete it (idempotent)."""
    overwrite_and_unlink(header_path(store))


def fresh_salt() -> bytes:
    return secrets.token_bytes(SALT_BYTES)
