"""The encrypted local store: everything the SDK keeps on a device goes through here.

Olm pickles, pinned keys, messages and the outbox are records ``(kind, key) -> bytes``
in one SQLite file (WAL, ``synchronous=FULL``: a write is on disk when the call
returns). The phone may be taken by the people the witness escaped, so the files must
say nothing — and must not even let anyone *test* a PIN — without the server.

Files (beside each other)::

    <store>          SQLite: records sealed under the data key; the sealed outbox
    <store>.header   the header, wrapped by the KeyWrapper (fixed size, in place)
    <store>.key      the SoftwareKeyWrapper's key, unless the app supplies a wrapper

Key hierarchy::

    witness PIN --Argon2id(salt)--> stretched --VOPRF(server's per-device key)--> oprf
        HKDF(stretched || oprf) --> slot key (and the confirmation key, see unlock.py)
    staff passphrase --Argon2id(salt)--> stretched --HKDF--> slot key
    slot key --SecretBox--> data key                                  one per key slot
    data key --SecretBox--> every record {kind, key, value}, padded to 64 bytes
    data key --BLAKE2b----> index key --keyed BLAKE2b--> row tags; outbox key pair

A witness store's slots can only be opened with the server's OPRF evaluation
(:mod:`client_sdk.unlock`), which the server limits and can erase; the file holds no
verifier of any kind. Slots are symmetric — each is just the data key sealed under
one slot key, the unused ones random — so nothing tells the PIN's slot from the
duress PIN's. A staff store is passphrase-only: whoever copies it can guess offline at
one Argon2id derivation per guess, which is why its passphrase must be long.

What someone holding the files but no wrapping key learns: that they are SQLite, how
many records there are, their sizes rounded up to 64 bytes, which records share a kind,
and how many entries are in the sealed outbox. With the wrapping key (or a software
wrapper's key file) they also learn the header: the salt and cost, the server's address,
the device id and unlock credential (which can ask for evaluations — each one counted).

All blocking work (SQLite, Argon2id, header and file destruction) runs on one
single-thread executor per open vault, so the event loop never blocks and each SQLite
connection is only used from the thread that created it.
"""

from __future__ import annotations

import asyncio
import enum
import secrets
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TypeVar

import msgspec

from client_sdk import _vault_format as fmt
from client_sdk import _vault_header as hdr
from client_sdk.keywrap import KeyWrapper, SoftwareKeyWrapper, WrapperError
from client_sdk.pin_policy import check_passphrase

__all__ = [
    "DEFAULT_KDF",
    "KdfParams",
    "Vault",
    "VaultError",
    "VaultExists",
    "VaultFormatError",
    "VaultNotFound",
    "VaultUnavailable",
    "VaultWiped",
    "WrongSecret",
    "default_wrapper",
]

_T = TypeVar("_T")

PASSPHRASE_SLOT_INFO = b"witnesslink/vault/v2/passphrase-slot"


@dataclass(frozen=True)
class KdfParams:
    """Argon2id cost: ``opslimit`` passes over ``memlimit`` bytes of memory."""

    opslimit: int
    memlimit: int


#: Cost for real stores: 256 MiB, 3 passes — about 0.5 s on one desktop core and a few
#: seconds on a low-end phone, paid once per unlock; see the README for measurements.
DEFAULT_KDF = KdfParams(opslimit=3, memlimit=256 * 1024 * 1024)


class VaultError(Exception):
    """Base class of vault errors; also raised on storage failures and closed vaults."""


class WrongSecret(VaultError):
    """The PIN or passphrase opens no key slot."""

    def __init__(self, attempts_left: int | None = None) -> None:
        super().__init__(attempts_left)
        self.attempts_left = attempts_left

    def __str__(self) -> str:
        if self.attempts_left is None:
            return "wrong secret"
        return f"wrong secret; {self.attempts_left} attempt(s) left before the store is erased"


class VaultWiped(VaultError):
    """The store has been destroyed (its server key erased, or wipe() was called)."""


class VaultExists(VaultError):
    """A create call was asked to overwrite an existing store."""


class VaultNotFound(VaultError):
    """There is no store at this path."""


class VaultUnavailable(VaultError):
    """The header cannot be unwrapped: the wrapping key is gone (or the header was
    destroyed or replaced). The store can no longer be opened on this device."""


class VaultFormatError(VaultError):
    """The files are not a store this SDK can read: not a store, an unknown format
    version, or damaged or tampered contents."""


class _State(enum.Enum):
    OPEN = "open"
    CLOSED = "closed"
    WIPED = "wiped"


def default_wrapper(path: Path) -> SoftwareKeyWrapper:
    """The software wrapper with its key beside the store (``<store>.key``)."""
    return SoftwareKeyWrapper(path.with_name(path.name + ".key"))


@dataclass(repr=False)  # no repr: it holds the data key
class _Opened:
    conn: sqlite3.Connection
    data_key: bytes
    header: hdr.Header
    seq: int


class Vault:
    """An open store. Obtain one from a ``create_*`` or ``open_*`` method.

    Methods may be called concurrently; they run one at a time on the vault's thread.
    """

    def __init__(
        self, path: Path, wrapper: KeyWrapper, executor: ThreadPoolExecutor, opened: _Opened
    ) -> None:
        self._path = path
        self._wrapper = wrapper
        self._executor = executor
        self._state = _State.OPEN
        # Only touched from the executor's thread from here on.
        self._conn: sqlite3.Connection | None = opened.conn
        self._data_key: bytes | None = opened.data_key
        self._codec: fmt.RecordCodec | None = fmt.RecordCodec(opened.data_key)
        self._header = opened.header
        self._seq = opened.seq

    def __repr__(self) -> str:
        return f"Vault(path={str(self._path)!r})"

    async def __aenter__(self) -> Vault:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # --- creating and opening ---------------------------------------------------------

    @classmethod
    async def create_for_server(
        cls, path: Path, *, kdf: KdfParams = DEFAULT_KDF, wrapper: KeyWrapper | None = None
    ) -> Vault:
        """Create a witness phone's store with no usable key slot yet, and open it.

        The device's keys can be written into it at once; the PINs are installed once
        the server knows the device (:func:`client_sdk.unlock.install_pins`). Until
        then nothing can open it again: an enrolment that stops half-way starts afresh.

        Raises:
            VaultExists: a store (or its header or wrapping key) already exists.
            ValueError: KDF limits libsodium rejects.
            OSError: the files cannot be created (e.g. missing directory).
            VaultError: SQLite failed.
        """
        fmt.check_kdf(kdf.opslimit, kdf.memlimit)
        wrap = wrapper or default_wrapper(path)
        return await cls._start(
            path, wrap, lambda: _create_sync(path, wrap, kdf, hdr.MODE_SERVER, None)
        )

    @classmethod
    async def create_with_passphrase(
        cls,
        path: Path,
        passphrase: str,
        *,
        kdf: KdfParams = DEFAULT_KDF,
        wrapper: KeyWrapper | None = None,
    ) -> Vault:
        """Create a staff client's store, opened by a passphrase alone, and open it.

        Raises:
            ValueError: a passphrase under twelve characters, or bad KDF limits.
            VaultExists, OSError, VaultError: as for :meth:`create_for_server`.
        """
        check_passphrase(passphrase)
        fmt.check_kdf(kdf.opslimit, kdf.memlimit)
        secret = fmt.encode_secret(passphrase)
        wrap = wrapper or default_wrapper(path)
        return await cls._start(
            path, wrap, lambda: _create_sync(path, wrap, kdf, hdr.MODE_PASSPHRASE, secret)
        )

    @classmethod
    async def open_with_passphrase(
        cls, path: Path, passphrase: str, *, wrapper: KeyWrapper | None = None
    ) -> Vault:
        """Open a staff store with its passphrase.

        Raises:
            VaultNotFound: no store at ``path``.
            VaultUnavailable: the header cannot be unwrapped.
            WrongSecret: the passphrase opens no slot (no counter: see the module doc).
            VaultFormatError: not a passphrase store, or damaged.
            ValueError: empty passphrase.
        """
        secret = fmt.encode_secret(passphrase)
        wrap = wrapper or default_wrapper(path)
        return await cls._start(path, wrap, lambda: _open_passphrase_sync(path, wrap, secret))

    @classmethod
    async def open_with_data_key(
        cls, path: Path, data_key: bytes, *, wrapper: KeyWrapper | None = None
    ) -> Vault:
        """Open a store whose data key was recovered from a slot (see unlock.py).

        Raises:
            VaultNotFound, VaultUnavailable, VaultFormatError, VaultError.
        """
        wrap = wrapper or default_wrapper(path)
        return await cls._start(path, wrap, lambda: _open_data_key_sync(path, wrap, data_key))

    @classmethod
    async def _start(cls, path: Path, wrapper: KeyWrapper, open_: Callable[[], _Opened]) -> Vault:
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="witnesslink-vault")
        job = executor.submit(_translating(open_))
        try:
            opened = await asyncio.wrap_future(job)
        except BaseException:
            # If we were cancelled while the job ran, close what it opened, on its thread.
            executor.submit(_close_abandoned, job)
            executor.shutdown(wait=False)
            raise
        return cls(path, wrapper, executor, opened)

    @staticmethod
    def exists(path: Path) -> bool:
        """Whether a store exists at ``path`` (no secret needed, does not block)."""
        return path.is_file() and hdr.header_path(path).is_file()

    @staticmethod
    async def read_header(path: Path, wrapper: KeyWrapper | None = None) -> hdr.Header:
        """Unwrap the header (no secret needed; the wrapper must be available).

        Raises:
            VaultNotFound, VaultUnavailable, VaultFormatError.
        """
        wrap = wrapper or default_wrapper(path)
        return await asyncio.to_thread(_translating(lambda: _read_header_sync(path, wrap)[0]))

    @staticmethod
    async def write_sealed(path: Path, entry: bytes, *, wrapper: KeyWrapper | None = None) -> None:
        """Add an entry to the sealed outbox without any key: it is sealed to the
        outbox public key in the header, and only an unlocked vault reads it.

        Raises:
            VaultNotFound, VaultUnavailable, VaultFormatError, VaultError.
        """
        wrap = wrapper or default_wrapper(path)
        await asyncio.to_thread(_translating(lambda: _write_sealed_sync(path, wrap, entry)))

    @staticmethod
    async def destroy(path: Path, *, wrapper: KeyWrapper | None = None) -> None:
        """Destroy a store without opening it: header, wrapping key, SQLite files.

        Idempotent: what is missing is skipped.

        Raises:
            OSError: a file could not be overwritten or deleted.
        """
        wrap = wrapper or default_wrapper(path)
        await asyncio.to_thread(_destroy_all, path, wrap)

    @property
    def path(self) -> Path:
        """The store's database file."""
        return self._path

    @property
    def header(self) -> hdr.Header:
        """The header as last read or written (the locator, the slots)."""
        return self._header

    # --- key slots ------------------------------------------------------------------

    async def seal_data_key(self, slot_key: bytes) -> bytes:
        """A slot blob: this store's data key sealed under ``slot_key``.

        Raises:
            VaultWiped, VaultError: the vault is wiped or closed.
        """
        return await self._run(lambda: fmt.wrap_slot(slot_key, self._live()[2]))

    async def slot_of(self, slot_key: bytes) -> int | None:
        """The position of the slot ``slot_key`` opens (to this store's data key)."""

        def find() -> int | None:
            found = fmt.open_slots(slot_key, self._header.slots)
            return None if found is None or found[1] != self._live()[2] else found[0]

        return await self._run(find)

    async def set_slots(
        self, slots: Sequence[bytes], *, locator: hdr.Locator | None = None
    ) -> None:
        """Replace the header's slot table (and locator, if given); durable, in place.

        Raises:
            ValueError: not ``SLOT_CAPACITY`` blobs of the right size.
            VaultWiped, VaultError, OSError: the vault is wiped or closed, or writing
                the header failed.
        """
        table = list(slots)
        if len(table) != fmt.SLOT_CAPACITY or any(len(s) != fmt.SLOT_BLOB_BYTES for s in table):
            raise ValueError(f"a slot table is {fmt.SLOT_CAPACITY} blobs")

        def store() -> None:
            self._live()
            header = msgspec.structs.replace(
                self._header, slots=table, locator=locator or self._header.locator
            )
            self._seq = hdr.write(self._path, self._wrapper, header, self._seq)
            self._header = header

        await self._run(store)

    # --- records ----------------------------------------------------------------------

    async def get(self, kind: str, key: str) -> bytes | None:
        """The value stored under ``(kind, key)``, or None.

        Raises:
            TypeError, ValueError: ``kind``/``key`` not strings, or NUL in ``kind``.
            VaultFormatError: the record was damaged or tampered with.
            VaultWiped, VaultError: the vault is wiped or closed, or SQLite failed.
        """
        return await self._run(lambda: self._get_sync(kind, key))

    async def items(self, kind: str) -> list[tuple[str, bytes]]:
        """All ``(key, value)`` records of ``kind``, sorted by key.

        Raises:
            TypeError, ValueError: ``kind`` not a string or containing NUL.
            VaultFormatError: a record was damaged or tampered with.
            VaultWiped, VaultError: the vault is wiped or closed, or SQLite failed.
        """
        return await self._run(lambda: self._items_sync(kind))

    async def put(self, kind: str, key: str, value: bytes) -> None:
        """Store ``value`` under ``(kind, key)``, replacing any previous value; durable.

        Raises:
            TypeError, ValueError: wrong types, or NUL in ``kind``.
            VaultWiped, VaultError: the vault is wiped or closed, or SQLite failed.
        """
        await self.write(puts=[(kind, key, value)])

    async def delete(self, kind: str, key: str) -> None:
        """Delete ``(kind, key)`` if present; durable.

        Raises:
            TypeError, ValueError: wrong types, or NUL in ``kind``.
            VaultWiped, VaultError: the vault is wiped or closed, or SQLite failed.
        """
        await self.write(deletes=[(kind, key)])

    async def write(
        self,
        puts: Sequence[tuple[str, str, bytes]] = (),
        deletes: Sequence[tuple[str, str]] = (),
        *,
        sealed_done: Sequence[int] = (),
    ) -> None:
        """Apply ``puts``, ``deletes`` and remove the sealed-outbox rows ``sealed_done``
        in one transaction: all of them or none; durable.

        A key both put and deleted ends up deleted.

        Raises:
            TypeError, ValueError: a malformed element (nothing is written).
            VaultWiped, VaultError: the vault is wiped or closed, or SQLite failed.
        """
        puts, deletes, done = tuple(puts), tuple(deletes), tuple(sealed_done)
        await self._run(lambda: self._write_sync(puts, deletes, done))

    async def sealed_entries(self) -> list[tuple[int, bytes]]:
        """The sealed outbox, opened: ``(row id, entry)``, oldest first.

        Raises:
            VaultFormatError: an entry was damaged or not sealed to this store.
            VaultWiped, VaultError: the vault is wiped or closed, or SQLite failed.
        """
        return await self._run(self._sealed_sync)

    async def checkpoint(self) -> None:
        """Fold the WAL into the main file and truncate it (after deletions: together
        with ``secure_delete`` this leaves no copy of the deleted pages in the files).

        Raises:
            VaultWiped, VaultError: the vault is wiped or closed, or SQLite failed.
        """
        await self._run(lambda: fmt.checkpoint(self._live()[0]))

    # --- ending -----------------------------------------------------------------------

    async def wipe(self) -> None:
        """Destroy the store: the header, the wrapping key, then the SQLite files
        (checkpointed and truncated first), each overwritten with random bytes, fsynced
        and deleted.

        Afterwards every method except :meth:`close` raises :class:`VaultWiped`.

        Raises:
            VaultWiped: already wiped.
            VaultError: the vault is closed (use :meth:`destroy`).
            OSError: a file could not be overwritten or deleted (the object is wiped
                regardless; retry with :meth:`destroy`).
        """
        try:
            await self._run(self._wipe_sync)
        finally:
            if self._state is _State.WIPED:
                self._executor.shutdown(wait=False)

    async def close(self) -> None:
        """Close the vault and drop its keys. Idempotent; a no-op after :meth:`wipe`.

        Raises:
            VaultError: SQLite failed while closing.
        """
        if self._state is not _State.OPEN:
            return
        try:
            await self._run(self._close_sync)
        finally:
            self._executor.shutdown(wait=False)

    # --- worker-thread side -------------------------------------------------------------

    async def _run(self, fn: Callable[[], _T]) -> _T:
        self._check_state()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, _translating(fn))

    def _check_state(self) -> None:
        if self._state is _State.WIPED:
            raise VaultWiped("the store has been wiped")
        if self._state is _State.CLOSED:
            raise VaultError("the store is closed")

    def _live(self) -> tuple[sqlite3.Connection, fmt.RecordCodec, bytes]:
        self._check_state()
        conn, codec, data_key = self._conn, self._codec, self._data_key
        if conn is None or codec is None or data_key is None:
            raise VaultError("the store is closed")
        return conn, codec, data_key

    def _get_sync(self, kind: str, key: str) -> bytes | None:
        conn, codec, _ = self._live()
        tag = codec.tag(kind, key)
        row = conn.execute("SELECT box FROM records WHERE tag = ?", (tag,)).fetchone()
        return None if row is None else codec.open(tag, row[0])[2]

    def _items_sync(self, kind: str) -> list[tuple[str, bytes]]:
        conn, codec, _ = self._live()
        rows = conn.execute(
            "SELECT tag, box FROM records WHERE kind_tag = ?", (codec.kind_tag(kind),)
        ).fetchall()
        found = []
        for tag, box in rows:
            record_kind, key, value = codec.open(tag, box)
            if record_kind != kind:
                raise fmt.FormatError("a record is stored under the wrong kind")
            found.append((key, value))
        found.sort(key=lambda item: item[0])
        return found

    def _write_sync(
        self,
        puts: tuple[tuple[str, str, bytes], ...],
        deletes: tuple[tuple[str, str], ...],
        sealed_done: tuple[int, ...],
    ) -> None:
        conn, codec, _ = self._live()
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Sealing happens inside the transaction: any bad element rolls back all.
            for kind, key, value in puts:
                conn.execute(
                    "INSERT OR REPLACE INTO records (tag, kind_tag, box) VALUES (?, ?, ?)",
                    codec.seal(kind, key, value),
                )
            for kind, key in deletes:
                conn.execute("DELETE FROM records WHERE tag = ?", (codec.tag(kind, key),))
            for row_id in sealed_done:
                conn.execute("DELETE FROM sealed_outbox WHERE id = ?", (int(row_id),))
            conn.execute("COMMIT")
        except BaseException:
            fmt.rollback_quietly(conn)
            raise

    def _sealed_sync(self) -> list[tuple[int, bytes]]:
        conn, _, data_key = self._live()
        private = fmt.outbox_key(data_key)
        rows = conn.execute("SELECT id, box FROM sealed_outbox ORDER BY id").fetchall()
        return [(int(row_id), fmt.open_entry(private, box)) for row_id, box in rows]

    def _forget(self) -> sqlite3.Connection | None:
        conn, self._conn, self._codec, self._data_key = self._conn, None, None, None
        return conn

    def _close_sync(self) -> None:
        if self._state is not _State.OPEN:
            return
        self._state = _State.CLOSED
        conn = self._forget()
        if conn is not None:
            try:
                # SQLite would checkpoint on close and then unlink the WAL without
                # overwriting it; truncating it first leaves no pages behind.
                fmt.checkpoint(conn)
            finally:
                conn.close()

    def _wipe_sync(self) -> None:
        self._check_state()
        self._state = _State.WIPED
        conn = self._forget()
        try:
            # The keys first: once the header and the wrapping key are gone, whatever
            # survives of the other files (on flash, in a backup) can never be opened.
            hdr.destroy(self._path)
            self._wrapper.destroy()
            if conn is not None:
                # Empty the WAL before closing, so closing does not write pages back
                # after the main file has been overwritten.
                fmt.checkpoint(conn)
                conn.close()
        finally:
            fmt.destroy_files(self._path)


# --- outside any Vault object ----------------------------------------------------------


def _translating(fn: Callable[[], _T]) -> Callable[[], _T]:
    """Wrap ``fn`` so format, wrapper and SQLite errors surface as vault errors."""

    def run() -> _T:
        try:
            return fn()
        except fmt.FormatError as exc:
            raise VaultFormatError(str(exc)) from exc
        except WrapperError as exc:
            raise VaultUnavailable(str(exc)) from exc
        except sqlite3.Error as exc:
            raise VaultError(f"storage error: {exc}") from exc

    return run


def _close_abandoned(job: Future[_Opened]) -> None:
    if not job.cancelled() and job.exception() is None:
        job.result().conn.close()


def _destroy_all(path: Path, wrapper: KeyWrapper) -> None:
    hdr.destroy(path)
    wrapper.destroy()
    fmt.destroy_files(path)


def _read_header_sync(path: Path, wrapper: KeyWrapper) -> tuple[hdr.Header, int]:
    if not path.is_file():
        raise VaultNotFound(f"no store at {path}")
    try:
        return hdr.read(path, wrapper)
    except FileNotFoundError as exc:
        raise VaultUnavailable("the store's header is gone") from exc


def _connect_store(path: Path) -> sqlite3.Connection:
    conn = fmt.connect(path)
    try:
        conn.execute("SELECT 1 FROM records LIMIT 1").fetchall()
        conn.execute("SELECT 1 FROM sealed_outbox LIMIT 1").fetchall()
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise fmt.FormatError("the file is not a store") from exc
    return conn


def _open_data_key_sync(path: Path, wrapper: KeyWrapper, data_key: bytes) -> _Opened:
    header, seq = _read_header_sync(path, wrapper)
    return _Opened(_connect_store(path), data_key, header, seq)


def _open_passphrase_sync(path: Path, wrapper: KeyWrapper, secret: bytes) -> _Opened:
    header, seq = _read_header_sync(path, wrapper)
    if header.mode != hdr.MODE_PASSPHRASE:
        raise fmt.FormatError("this store is opened with a PIN and the server's help")
    stretched = fmt.stretch(secret, header.salt, header.opslimit, header.memlimit)
    found = fmt.open_slots(fmt.hkdf_sha256(stretched, PASSPHRASE_SLOT_INFO), header.slots)
    if found is None:
        raise WrongSecret()
    return _Opened(_connect_store(path), found[1], header, seq)


def _write_sealed_sync(path: Path, wrapper: KeyWrapper, entry: bytes) -> None:
    header, _seq = _read_header_sync(path, wrapper)
    box = fmt.seal_entry(header.outbox_public_key, entry)
    conn = _connect_store(path)
    try:
        conn.execute("INSERT INTO sealed_outbox (box) VALUES (?)", (box,))
    finally:
        conn.close()


def _create_sync(
    path: Path, wrapper: KeyWrapper, kdf: KdfParams, mode: str, secret: bytes | None
) -> _Opened:
    if path.exists() or hdr.header_path(path).exists():
        raise VaultExists(f"a store already exists at {path}")
    salt, data_key = hdr.fresh_salt(), fmt.new_data_key()
    slots = [fmt.decoy_slot() for _ in range(fmt.SLOT_CAPACITY)]
    if secret is not None:
        stretched = fmt.stretch(secret, salt, kdf.opslimit, kdf.memlimit)
        slot_key = fmt.hkdf_sha256(stretched, PASSPHRASE_SLOT_INFO)
        slots[secrets.randbelow(fmt.SLOT_CAPACITY)] = fmt.wrap_slot(slot_key, data_key)
    header = hdr.Header(
        version=fmt.FORMAT_VERSION,
        mode=mode,
        opslimit=kdf.opslimit,
        memlimit=kdf.memlimit,
        salt=salt,
        slots=slots,
        outbox_public_key=bytes(fmt.outbox_key(data_key).public_key),
    )
    try:
        fmt.create_file(path)
    except FileExistsError as exc:
        raise VaultExists(f"a store already exists at {path}") from exc
    try:
        try:
            wrapper.create()
        except WrapperError as exc:
            raise VaultExists("a wrapping key already exists for this store") from exc
        seq = hdr.create(path, wrapper, header)
        conn = fmt.connect(path)
        try:
            fmt.create_schema(conn)
        except BaseException:
            conn.close()
            raise
    except VaultExists:
        fmt.destroy_files(path)
        hdr.destroy(path)
        raise
    except BaseException:
        _destroy_all(path, wrapper)
        raise
    return _Opened(conn, data_key, header, seq)
