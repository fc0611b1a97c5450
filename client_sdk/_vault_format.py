"""On-disk format of the vault (format version 1): schema, key slots, records, destruction.

Private helpers for :mod:`client_sdk.vault`. Everything here is synchronous and
blocking; the vault calls it from its worker thread. Nothing here logs or keeps keys
beyond the objects it returns.

Layout of one vault file (SQLite, WAL)::

    header  (one row)  version, salt, opslimit, memlimit, failed_unlocks,
                       max_failed_unlocks, slots, directory
    records (n rows)   tag, kind_tag, box

``slots`` is always ``SLOT_CAPACITY`` blobs of ``SLOT_BLOB_BYTES`` each, concatenated.
A used blob is ``SecretBox(slot_key).encrypt(data_key || len(name) || name || zeros)``;
an unused one is random bytes of the same length. XSalsa20-Poly1305 output with a
random nonce is indistinguishable from random bytes, so the file shows neither which
blobs are used nor how many (a duress slot cannot be spotted). ``directory`` maps slot
names to blob positions, encrypted under the data key and padded to a fixed size, so
that slots can be replaced or removed by name without knowing their secrets.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sqlite3
import unicodedata
from dataclasses import dataclass
from hmac import compare_digest
from pathlib import Path

import msgspec
import nacl.bindings
import nacl.encoding
import nacl.exceptions
import nacl.hash
import nacl.pwhash.argon2id
import nacl.secret
import nacl.utils

FORMAT_VERSION = 1

KEY_BYTES = nacl.secret.SecretBox.KEY_SIZE
SALT_BYTES = nacl.pwhash.argon2id.SALTBYTES

#: Number of slot positions in every vault; unused positions hold random bytes.
SLOT_CAPACITY = 8
#: Longest slot name, in UTF-8 bytes (the length must fit in one byte of the blob).
NAME_MAX_BYTES = 63
_SLOT_PLAIN_BYTES = KEY_BYTES + 1 + NAME_MAX_BYTES
SLOT_BLOB_BYTES = (
    nacl.secret.SecretBox.NONCE_SIZE + nacl.secret.SecretBox.MACBYTES + _SLOT_PLAIN_BYTES
)

#: Record plaintexts are padded to a multiple of this (ISO/IEC 7816-4 padding).
RECORD_BLOCK = 64
#: The slot directory is padded to exactly this size (it fits SLOT_CAPACITY long names).
_DIRECTORY_BLOCK = 1024

_PERSON_INDEX = b"wl.vault.index"
_PERSON_TAG = b"wl.vault.tag"
_PERSON_KIND = b"wl.vault.kind"

SIDECAR_SUFFIXES = ("-wal", "-shm", "-journal")

SCHEMA = """
CREATE TABLE header (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL,
    salt BLOB NOT NULL,
    opslimit INTEGER NOT NULL,
    memlimit INTEGER NOT NULL,
    failed_unlocks INTEGER NOT NULL,
    max_failed_unlocks INTEGER NOT NULL,
    slots BLOB NOT NULL,
    directory BLOB NOT NULL
);
CREATE TABLE records (
    tag BLOB PRIMARY KEY,
    kind_tag BLOB NOT NULL,
    box BLOB NOT NULL
) WITHOUT ROWID;
CREATE INDEX records_by_kind ON records (kind_tag);
"""


class FormatError(Exception):
    """The file's contents do not follow the format (the caller maps it to VaultError)."""


# --- secrets and key slots ---------------------------------------------------------


def encode_secret(secret: str) -> bytes:
    """UTF-8 of the NFC-normalised secret, so the same passphrase typed on another
    keyboard (composed vs. decomposed accents) still opens the vault."""
    if not isinstance(secret, str) or not secret:
        raise ValueError("a secret must be a non-empty string")
    return unicodedata.normalize("NFC", secret).encode()


def check_slot_name(name: str) -> bytes:
    """Return the slot name's UTF-8 bytes, or raise ValueError if it cannot be stored."""
    if not isinstance(name, str) or not name:
        raise ValueError("a slot name must be a non-empty string")
    raw = name.encode()
    if len(raw) > NAME_MAX_BYTES:
        raise ValueError(f"a slot name may have at most {NAME_MAX_BYTES} UTF-8 bytes")
    return raw


def check_kdf(opslimit: int, memlimit: int) -> None:
    """Raise ValueError unless libsodium accepts these Argon2id limits."""
    a = nacl.pwhash.argon2id
    if not a.OPSLIMIT_MIN <= opslimit <= a.OPSLIMIT_MAX:
        raise ValueError(f"opslimit must be in [{a.OPSLIMIT_MIN}, {a.OPSLIMIT_MAX}]")
    if not a.MEMLIMIT_MIN <= memlimit <= a.MEMLIMIT_MAX:
        raise ValueError(f"memlimit must be in [{a.MEMLIMIT_MIN}, {a.MEMLIMIT_MAX}]")


def derive_slot_key(secret: bytes, salt: bytes, opslimit: int, memlimit: int) -> bytes:
    """Argon2id(secret, salt) -> 32-byte key that wraps the data key. Slow by design."""
    return nacl.pwhash.argon2id.kdf(KEY_BYTES, secret, salt, opslimit=opslimit, memlimit=memlimit)


def wrap_slot(slot_key: bytes, data_key: bytes, name: bytes) -> bytes:
    """Seal the data key and the slot's name under ``slot_key`` (fixed-length output)."""
    plain = data_key + bytes([len(name)]) + name.ljust(NAME_MAX_BYTES, b"\0")
    blob = bytes(nacl.secret.SecretBox(slot_key).encrypt(plain))
    assert len(blob) == SLOT_BLOB_BYTES
    return blob


def unwrap_slot(slot_key: bytes, blob: bytes) -> tuple[bytes, str] | None:
    """Return ``(data_key, name)`` if ``slot_key`` opens ``blob``, else None."""
    try:
        plain = nacl.secret.SecretBox(slot_key).decrypt(blob)
    except nacl.exceptions.CryptoError:
        return None
    if len(plain) != _SLOT_PLAIN_BYTES or plain[KEY_BYTES] > NAME_MAX_BYTES:
        raise FormatError("malformed key slot")
    data_key, size = plain[:KEY_BYTES], plain[KEY_BYTES]
    return data_key, plain[KEY_BYTES + 1 : KEY_BYTES + 1 + size].decode()


def decoy_slot() -> bytes:
    """Random bytes that look exactly like a used slot."""
    return nacl.utils.random(SLOT_BLOB_BYTES)


def split_slots(blob: bytes) -> list[bytes]:
    """Cut the header's ``slots`` column into its fixed-size blobs."""
    if len(blob) != SLOT_CAPACITY * SLOT_BLOB_BYTES:
        raise FormatError("malformed key slot table")
    n = SLOT_BLOB_BYTES
    return [blob[i * n : (i + 1) * n] for i in range(SLOT_CAPACITY)]


def seal_directory(data_key: bytes, directory: dict[str, int]) -> bytes:
    """Encrypt the slot-name -> position map, padded so its size says nothing."""
    plain = nacl.bindings.sodium_pad(msgspec.msgpack.encode(directory), _DIRECTORY_BLOCK)
    return bytes(nacl.secret.SecretBox(data_key).encrypt(plain))


def open_directory(data_key: bytes, blob: bytes) -> dict[str, int]:
    """Decrypt the slot directory. Raises FormatError if it was altered."""
    try:
        plain = nacl.secret.SecretBox(data_key).decrypt(blob)
        return msgspec.msgpack.decode(
            nacl.bindings.sodium_unpad(plain, _DIRECTORY_BLOCK), type=dict[str, int]
        )
    except (nacl.exceptions.CryptoError, msgspec.DecodeError, ValueError) as exc:
        raise FormatError("the key slot directory is damaged") from exc


# --- records -------------------------------------------------------------------------


class _Record(msgspec.Struct, array_like=True, forbid_unknown_fields=True):
    kind: str
    key: str
    value: bytes


_record_encoder = msgspec.msgpack.Encoder()
_record_decoder = msgspec.msgpack.Decoder(_Record)


class RecordCodec:
    """Turns (kind, key, value) into an on-disk row and back, under one data key.

    Deliberately no ``__repr__`` fields: the default repr shows no key material.
    """

    __slots__ = ("_box", "_index_key")

    def __init__(self, data_key: bytes) -> None:
        self._box = nacl.secret.SecretBox(data_key)
        self._index_key = _blake2b(b"", key=data_key, person=_PERSON_INDEX)

    def tag(self, kind: str, key: str) -> bytes:
        """Row address of (kind, key); reveals neither without the index key."""
        _check_address(kind, key)
        return _blake2b(
            kind.encode() + b"\0" + key.encode(), key=self._index_key, person=_PERSON_TAG
        )

    def kind_tag(self, kind: str) -> bytes:
        """Tag shared by all rows of one kind, so a kind can be listed."""
        _check_address(kind, "")
        return _blake2b(kind.encode(), key=self._index_key, person=_PERSON_KIND)

    def seal(self, kind: str, key: str, value: bytes) -> tuple[bytes, bytes, bytes]:
        """Return ``(tag, kind_tag, box)`` for one record. Raises TypeError/ValueError."""
        if not isinstance(value, bytes):
            raise TypeError(f"a record value must be bytes, not {type(value).__name__}")
        tag, kind_tag = self.tag(kind, key), self.kind_tag(kind)
        plain = nacl.bindings.sodium_pad(
            _record_encoder.encode(_Record(kind, key, value)), RECORD_BLOCK
        )
        return tag, kind_tag, bytes(self._box.encrypt(plain))

    def open(self, tag: bytes, box: bytes) -> tuple[str, str, bytes]:
        """Decrypt a row and check it sits under its own tag (rows cannot be swapped).

        Raises:
            FormatError: the box was altered or moved to another row.
        """
        try:
            plain = nacl.bindings.sodium_unpad(self._box.decrypt(box), RECORD_BLOCK)
            record = _record_decoder.decode(plain)
        except (nacl.exceptions.CryptoError, msgspec.DecodeError, ValueError) as exc:
            raise FormatError("a record is damaged") from exc
        if not compare_digest(tag, self.tag(record.kind, record.key)):
            raise FormatError("a record is stored under the wrong address")
        return record.kind, record.key, record.value


def _check_address(kind: str, key: str) -> None:
    if not isinstance(kind, str) or not isinstance(key, str):
        raise TypeError("record kind and key must be strings")
    if "\0" in kind:
        # The NUL separates kind from key inside the tag; one in the kind would make
        # ("a\0b", "c") and ("a", "b\0c") the same record.
        raise ValueError("a record kind may not contain NUL characters")


def _blake2b(data: bytes, *, key: bytes, person: bytes) -> bytes:
    return nacl.hash.blake2b(
        data, digest_size=32, key=key, person=person, encoder=nacl.encoding.RawEncoder
    )


# --- the SQLite file -------------------------------------------------------------------


@dataclass(frozen=True)
class Header:
    """The header row, as stored (the slot blobs already split)."""

    salt: bytes
    opslimit: int
    memlimit: int
    failed_unlocks: int
    max_failed_unlocks: int
    slots: list[bytes]
    directory: bytes


def connect(path: Path) -> sqlite3.Connection:
    """Open an existing (possibly empty) file as SQLite with the vault's pragmas.

    ``mode=rw`` so that a missing file is an error rather than silently created.

    Raises:
        FormatError: the file is not an SQLite database.
        sqlite3.OperationalError: the file cannot be opened.
    """
    conn = sqlite3.connect(
        path.resolve().as_uri() + "?mode=rw", uri=True, isolation_level=None, timeout=10.0
    )
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        # FULL: a write is on disk when the call returns, even across power loss.
        conn.execute("PRAGMA synchronous=FULL")
        # Zero freed pages, so deleted records do not linger for whoever gets the PIN.
        conn.execute("PRAGMA secure_delete=ON")
        conn.execute("PRAGMA temp_store=MEMORY")
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise FormatError("the file is not a vault") from exc
    return conn


def read_version(conn: sqlite3.Connection) -> int:
    """Return the header's format version without assuming the rest of the layout.

    Raises:
        FormatError: the file has no vault header.
    """
    try:
        row = conn.execute("SELECT version FROM header WHERE id = 1").fetchone()
    except sqlite3.DatabaseError as exc:
        raise FormatError("the file is not a vault") from exc
    if row is None or not isinstance(row[0], int):
        raise FormatError("the file is not a vault")
    return int(row[0])


def read_header(conn: sqlite3.Connection) -> Header:
    """Read the version-1 header row (the caller has checked the version).

    Raises:
        FormatError: the header is malformed.
    """
    row = conn.execute(
        "SELECT salt, opslimit, memlimit, failed_unlocks, max_failed_unlocks, slots,"
        " directory FROM header WHERE id = 1"
    ).fetchone()
    if row is None:
        raise FormatError("the file is not a vault")
    salt, opslimit, memlimit, failed, max_failed, slots, directory = row
    if not (isinstance(salt, bytes) and len(salt) == SALT_BYTES):
        raise FormatError("malformed vault header")
    if not all(isinstance(v, int) for v in (opslimit, memlimit, failed, max_failed)):
        raise FormatError("malformed vault header")
    if not (isinstance(slots, bytes) and isinstance(directory, bytes)):
        raise FormatError("malformed vault header")
    try:
        check_kdf(opslimit, memlimit)
    except ValueError as exc:
        raise FormatError(f"malformed vault header: {exc}") from exc
    return Header(salt, opslimit, memlimit, failed, max_failed, split_slots(slots), directory)


def rollback_quietly(conn: sqlite3.Connection) -> None:
    """Roll back the open transaction, if any (used on error paths)."""
    if conn.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")


def vault_files(path: Path) -> list[Path]:
    """The database file and every SQLite side file that may hold its pages."""
    return [path, *(path.with_name(path.name + s) for s in SIDECAR_SUFFIXES)]


def destroy_files(path: Path) -> None:
    """Overwrite the vault's files with random bytes, fsync, unlink, fsync the directory.

    Overwriting the header destroys every wrapped copy of the data key, so even a copy
    of the records that survives elsewhere (flash wear-levelling, an old backup) can no
    longer be opened with the PIN. Missing files are skipped: destruction is idempotent.
    """
    for file in vault_files(path):
        try:
            fd = os.open(file, os.O_WRONLY)
        except FileNotFoundError:
            continue
        try:
            remaining = os.fstat(fd).st_size
            while remaining > 0:
                chunk = secrets.token_bytes(min(remaining, 1 << 16))
                remaining -= os.write(fd, chunk)
            os.fsync(fd)
        finally:
            os.close(fd)
        file.unlink(missing_ok=True)
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    # Makes the unlinks durable; not every platform can open a directory, hence suppress.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
