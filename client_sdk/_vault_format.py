"""On-disk format of the vault (format version 2): keys, slots, records, the SQLite file.

Private helpers for :mod:`client_sdk.vault`. Everything here is synchronous and
blocking; the vault calls it from its worker thread. Nothing here logs or keeps keys
beyond the objects it returns.

The store file (SQLite, WAL) holds only ciphertext::

    records        (n rows)  tag, kind_tag, box      sealed under the data key
    sealed_outbox  (n rows)  id, box                 sealed to the outbox public key

The key slots and everything else needed to find the data key live in the header file
(:mod:`client_sdk._vault_header`), never in SQLite, so no copy of them can land in a
``-wal`` or journal page.

A key slot is ``SecretBox(slot_key).encrypt(data_key)`` — nothing else: no name, no
role. Unused slot positions hold random bytes of the same length (XSalsa20-Poly1305
output is indistinguishable from random), so the header says neither how many PINs
open the store nor which is which, even to someone who knows one of them.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import sqlite3
import unicodedata
from hmac import compare_digest
from pathlib import Path

import msgspec
import nacl.bindings
import nacl.encoding
import nacl.exceptions
import nacl.hash
import nacl.public
import nacl.pwhash.argon2id
import nacl.secret
import nacl.utils

from client_sdk.keywrap import overwrite_and_unlink

FORMAT_VERSION = 2

KEY_BYTES = nacl.secret.SecretBox.KEY_SIZE
SALT_BYTES = nacl.pwhash.argon2id.SALTBYTES

#: Number of slot positions in every vault; unused positions hold random bytes.
SLOT_CAPACITY = 8
SLOT_BLOB_BYTES = nacl.secret.SecretBox.NONCE_SIZE + nacl.secret.SecretBox.MACBYTES + KEY_BYTES

#: Record plaintexts are padded to a multiple of this (ISO/IEC 7816-4 padding).
RECORD_BLOCK = 64
#: Sealed-outbox entries are padded to a multiple of this before sealing.
SEALED_BLOCK = 256

_PERSON_INDEX = b"wl.vault.index"
_PERSON_TAG = b"wl.vault.tag"
_PERSON_KIND = b"wl.vault.kind"
_PERSON_OUTBOX = b"wl.vault.outbox"

SIDECAR_SUFFIXES = ("-wal", "-shm", "-journal")

SCHEMA = """
CREATE TABLE records (
    tag BLOB PRIMARY KEY,
    kind_tag BLOB NOT NULL,
    box BLOB NOT NULL
) WITHOUT ROWID;
CREATE INDEX records_by_kind ON records (kind_tag);
CREATE TABLE sealed_outbox (
    id INTEGER PRIMARY KEY,
    box BLOB NOT NULL
);
"""


class FormatError(Exception):
    """The file's contents do not follow the format (the caller maps it to VaultError)."""


# --- secrets, derivations, key slots ---------------------------------------------------


def encode_secret(secret: str) -> bytes:
    """UTF-8 of the NFC-normalised secret, so the same passphrase typed on another
    keyboard (composed vs. decomposed accents) still opens the vault."""
    if not isinstance(secret, str) or not secret:
        raise ValueError("a secret must be a non-empty string")
    return unicodedata.normalize("NFC", secret).encode()


def check_kdf(opslimit: int, memlimit: int) -> None:
    """Raise ValueError unless libsodium accepts these Argon2id limits."""
    a = nacl.pwhash.argon2id
    if not a.OPSLIMIT_MIN <= opslimit <= a.OPSLIMIT_MAX:
        raise ValueError(f"opslimit must be in [{a.OPSLIMIT_MIN}, {a.OPSLIMIT_MAX}]")
    if not a.MEMLIMIT_MIN <= memlimit <= a.MEMLIMIT_MAX:
        raise ValueError(f"memlimit must be in [{a.MEMLIMIT_MIN}, {a.MEMLIMIT_MAX}]")


def stretch(secret: bytes, salt: bytes, opslimit: int, memlimit: int) -> bytes:
    """Argon2id(secret, salt) -> 32 bytes. Slow and memory-hard by design."""
    return nacl.pwhash.argon2id.kdf(KEY_BYTES, secret, salt, opslimit=opslimit, memlimit=memlimit)


def hkdf_sha256(ikm: bytes, info: bytes, length: int = KEY_BYTES, salt: bytes = b"") -> bytes:
    """HKDF-SHA256 (RFC 5869): extract with ``salt``, expand with ``info``."""
    prk = hmac.new(salt or bytes(32), ikm, hashlib.sha256).digest()
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        out += block
        counter += 1
    return out[:length]


def wrap_slot(slot_key: bytes, data_key: bytes) -> bytes:
    """Seal the data key under ``slot_key`` (fixed-length output)."""
    blob = bytes(nacl.secret.SecretBox(slot_key).encrypt(data_key))
    assert len(blob) == SLOT_BLOB_BYTES
    return blob


def open_slots(slot_key: bytes, slots: list[bytes]) -> tuple[int, bytes] | None:
    """``(position, data key)`` of the slot that ``slot_key`` opens, or None.

    Every slot is tried, whichever opens: the work does not depend on the position.
    """
    box = nacl.secret.SecretBox(slot_key)
    found: tuple[int, bytes] | None = None
    for index, blob in enumerate(slots):
        try:
            data_key = bytes(box.decrypt(blob))
        except nacl.exceptions.CryptoError:
            continue
        if len(data_key) != KEY_BYTES:
            raise FormatError("malformed key slot")
        if found is None:
            found = (index, data_key)
    return found


def decoy_slot() -> bytes:
    """Random bytes that look exactly like a used slot."""
    return nacl.utils.random(SLOT_BLOB_BYTES)


def outbox_key(data_key: bytes) -> nacl.public.PrivateKey:
    """The sealed outbox's private key: derived from the data key, so it is stored
    nowhere and dies with the slots."""
    return nacl.public.PrivateKey(_blake2b(b"", key=data_key, person=_PERSON_OUTBOX))


def seal_entry(public_key: bytes, entry: bytes) -> bytes:
    """Seal an offline entry so that only the data key's holder can read it."""
    padded = nacl.bindings.sodium_pad(entry, SEALED_BLOCK)
    return bytes(nacl.public.SealedBox(nacl.public.PublicKey(public_key)).encrypt(padded))


def open_entry(private_key: nacl.public.PrivateKey, box: bytes) -> bytes:
    """Raises: FormatError if the entry was altered or sealed to another key."""
    try:
        padded = nacl.public.SealedBox(private_key).decrypt(box)
        return nacl.bindings.sodium_unpad(padded, SEALED_BLOCK)
    except (nacl.exceptions.CryptoError, ValueError) as exc:
        raise FormatError("a sealed outbox entry is damaged") from exc


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


def create_schema(conn: sqlite3.Connection) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        for statement in SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute("COMMIT")
    except BaseException:
        rollback_quietly(conn)
        raise


def checkpoint(conn: sqlite3.Connection) -> None:
    """Copy the WAL into the main file (where ``secure_delete`` has zeroed what was
    deleted) and truncate the WAL to nothing, so no old page lingers in it."""
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()


def rollback_quietly(conn: sqlite3.Connection) -> None:
    """Roll back the open transaction, if any (used on error paths)."""
    if conn.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")


def vault_files(path: Path) -> list[Path]:
    """The database file and every SQLite side file that may hold its pages."""
    return [path, *(path.with_name(path.name + s) for s in SIDECAR_SUFFIXES)]


def destroy_files(path: Path) -> None:
    """Overwrite the store's SQLite files with random bytes, fsync, unlink.

    Idempotent: missing files are skipped.
    """
    for file in vault_files(path):
        overwrite_and_unlink(file)


def new_data_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


def create_file(path: Path) -> None:
    """Create the empty store file (mode 0600); leftovers of an interrupted wipe
    beside it must not be replayed into the new database.

    Raises:
        FileExistsError: a file is already there.
    """
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    for side in vault_files(path)[1:]:
        side.unlink(missing_ok=True)
