"""The encrypted local store: everything the SDK keeps on the phone goes through here.

Olm pickles, pinned keys, messages and the outbox are records ``(kind, key) -> bytes``
in one SQLite file (WAL, ``synchronous=FULL``: a write is on disk when the call
returns). The phone may be taken by the people the witness escaped, so the file must
say nothing without the PIN.

Key hierarchy::

    PIN / staff passphrase --Argon2id(shared salt)--> slot key
    slot key --SecretBox--> wrapped (data key, slot name)        one per key slot
    data key --SecretBox--> every record {kind, key, value}, padded to 64 bytes
    data key --BLAKE2b----> index key --keyed BLAKE2b--> row tags (kind+key, kind)

All slots share one salt, so opening runs Argon2id once and then tries every slot
blob, which is cheap. A slot's name ("primary", "duress", ...) is inside its blob and
is learnt only when it opens; the header always holds a fixed number of slot
positions and fills unused ones with random bytes, so nobody can tell from the file
whether a duress PIN exists. Changing a PIN re-wraps the same data key: no record is
rewritten.

Wrong secrets: the failed-unlock counter is incremented durably *before* the
derivation starts (killing the app mid-attempt does not save a guess) and reset on
success; when it reaches the limit the files are overwritten and deleted.

What someone holding the file (but not a secret) learns: that it is a witnesslink
vault, its format version, the Argon2id salt and cost, the failed-unlock counter and
limit, how many records there are, their sizes rounded up to 64 bytes, and which
records share a kind (equal ``kind_tag``) -- plus, by comparing two copies taken at
different times, which rows changed. They do not learn any kind name, record key,
value, slot name or how many slots are in use.

Limits, stated plainly: the counter only stops guessing *through this code*. Whoever
copies the file can guess offline at the cost of one Argon2id derivation per guess.
With :data:`DEFAULT_KDF` that is about 0.08 s on one desktop core, so every 4-digit
PIN can be tried in about a quarter of an hour and every 6-digit PIN in about a day
per core (hours on a many-core machine); only longer PINs or passphrases help against
that. Someone who can write the file can also roll it back to an older copy or reset
the counter. Python cannot reliably erase keys from memory; the vault drops its
references on close and wipe. Overwriting files on flash storage may leave old blocks
in the controller; destroying every wrapped copy of the data key (the header) is
what makes them useless.

All blocking work (SQLite, Argon2id, file destruction) runs on one single-thread
executor per open vault, so the event loop never blocks and each SQLite connection is
only ever used from the thread that created it. The static helpers that work without
an open vault (:meth:`Vault.failed_unlocks`, :meth:`Vault.wipe_file`) run in
``asyncio.to_thread`` and open and close their own connection within that one call.
"""

from __future__ import annotations

import asyncio
import enum
import os
import secrets
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TypeVar

import nacl.pwhash.argon2id
import nacl.utils

from client_sdk import _vault_format as fmt

__all__ = [
    "DEFAULT_KDF",
    "FAST_KDF_FOR_TESTS",
    "KdfParams",
    "Vault",
    "VaultError",
    "VaultExists",
    "VaultFormatError",
    "VaultNotFound",
    "VaultWiped",
    "WrongSecret",
]

_T = TypeVar("_T")


@dataclass(frozen=True)
class KdfParams:
    """Argon2id cost: ``opslimit`` passes over ``memlimit`` bytes of memory."""

    opslimit: int
    memlimit: int


#: Cost for real vaults: 64 MiB and about 0.08 s on a desktop core (several times
#: that on a cheap phone), paid once per unlock.
DEFAULT_KDF = KdfParams(opslimit=3, memlimit=64 * 1024 * 1024)

#: libsodium's minimum Argon2id cost. For tests only: a vault made with it can be
#: brute-forced quickly by anyone who copies the file.
FAST_KDF_FOR_TESTS = KdfParams(
    opslimit=nacl.pwhash.argon2id.OPSLIMIT_MIN, memlimit=nacl.pwhash.argon2id.MEMLIMIT_MIN
)


class VaultError(Exception):
    """Base class of vault errors; also raised on storage failures and closed vaults."""


class WrongSecret(VaultError):
    """No key slot opens with this secret; the failed-unlock counter went up."""

    def __init__(self, attempts_left: int) -> None:
        super().__init__(attempts_left)
        self.attempts_left = attempts_left

    def __str__(self) -> str:
        return f"wrong secret; {self.attempts_left} attempt(s) left before the vault is wiped"


class VaultWiped(VaultError):
    """The vault has been destroyed (wrong-secret limit reached, or wipe() was called)."""


class VaultExists(VaultError):
    """create() was asked to overwrite an existing vault."""


class VaultNotFound(VaultError):
    """There is no vault file at this path."""


class VaultFormatError(VaultError):
    """The file is not a vault this SDK can read: not a vault, an unknown format
    version, or damaged or tampered contents."""


class _State(enum.Enum):
    OPEN = "open"
    CLOSED = "closed"
    WIPED = "wiped"


@dataclass(repr=False)  # no repr: it holds the data key
class _Unlocked:
    conn: sqlite3.Connection
    data_key: bytes
    slot_name: str


class Vault:
    """An open vault. Obtain one with :meth:`create` or :meth:`open`, never directly.

    Methods may be called concurrently; they run one at a time on the vault's thread.
    """

    def __init__(self, path: Path, executor: ThreadPoolExecutor, unlocked: _Unlocked) -> None:
        self._path = path
        self._executor = executor
        self._state = _State.OPEN
        # Only touched from the executor's thread from here on.
        self._conn: sqlite3.Connection | None = unlocked.conn
        self._data_key: bytes | None = unlocked.data_key
        self._codec: fmt.RecordCodec | None = fmt.RecordCodec(unlocked.data_key)
        self._slot_name = unlocked.slot_name

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

    # --- opening --------------------------------------------------------------------

    @classmethod
    async def create(
        cls,
        path: Path,
        secret: str,
        *,
        kdf: KdfParams = DEFAULT_KDF,
        max_failed_unlocks: int = 10,
        slot_name: str = "primary",
    ) -> Vault:
        """Create a new vault at ``path`` (mode 0600) with one key slot, and open it.

        Raises:
            VaultExists: a file already exists at ``path``.
            ValueError: empty secret, bad slot name, KDF limits libsodium rejects, or
                ``max_failed_unlocks`` below 1.
            OSError: the file cannot be created (e.g. missing directory).
            VaultError: SQLite failed.
        """
        secret_bytes = fmt.encode_secret(secret)
        name_bytes = fmt.check_slot_name(slot_name)
        fmt.check_kdf(kdf.opslimit, kdf.memlimit)
        if max_failed_unlocks < 1:
            raise ValueError("max_failed_unlocks must be at least 1")

        def run() -> _Unlocked:
            return _create_sync(path, secret_bytes, kdf, max_failed_unlocks, name_bytes)

        return await cls._start(path, run)

    @classmethod
    async def open(cls, path: Path, secret: str) -> Vault:
        """Open the vault with any slot's secret (see :attr:`slot_name` for which).

        Raises:
            VaultNotFound: no file at ``path``.
            WrongSecret: no slot opens; the counter has been incremented on disk.
            VaultWiped: the wrong-secret limit was reached and the files were destroyed.
            VaultFormatError: not a vault, or an unsupported format version.
            ValueError: empty secret.
            VaultError: SQLite failed.
        """
        secret_bytes = fmt.encode_secret(secret)
        return await cls._start(path, lambda: _open_sync(path, secret_bytes))

    @classmethod
    async def _start(cls, path: Path, unlock: Callable[[], _Unlocked]) -> Vault:
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="witnesslink-vault")
        job = executor.submit(_translating(unlock))
        try:
            unlocked = await asyncio.wrap_future(job)
        except BaseException:
            # If we were cancelled while the job ran, close what it opened, on its thread.
            executor.submit(_close_abandoned, job)
            executor.shutdown(wait=False)
            raise
        return cls(path, executor, unlocked)

    @staticmethod
    def exists(path: Path) -> bool:
        """Whether a vault file exists at ``path`` (no secret needed, does not block)."""
        return path.is_file()

    @staticmethod
    async def failed_unlocks(path: Path) -> int:
        """Wrong-secret attempts since the last successful open (for the UI).

        Raises:
            VaultNotFound: no file at ``path``.
            VaultFormatError: not a vault, or an unsupported format version.
        """
        return await asyncio.to_thread(_translating(lambda: _read_failed_sync(path)))

    @staticmethod
    async def wipe_file(path: Path) -> None:
        """Destroy the vault at ``path`` without its secret, like :meth:`wipe`.

        Idempotent: missing files are skipped.

        Raises:
            OSError: a file could not be overwritten or deleted.
        """
        await asyncio.to_thread(fmt.destroy_files, path)

    @property
    def path(self) -> Path:
        """The vault's database file."""
        return self._path

    @property
    def slot_name(self) -> str:
        """Name of the key slot whose secret opened (or created) this vault."""
        return self._slot_name

    # --- key slots ------------------------------------------------------------------

    async def add_slot(self, name: str, secret: str) -> None:
        """Let ``secret`` open the vault as slot ``name``; replaces a slot of that name.

        Raises:
            ValueError: bad name or empty secret; ``secret`` already opens another
                slot (it would be ambiguous which one opened); no free slot position.
            VaultWiped, VaultError: the vault is wiped or closed, or SQLite failed.
        """
        name_bytes, secret_bytes = fmt.check_slot_name(name), fmt.encode_secret(secret)
        await self._run(lambda: self._set_slot_sync(name, name_bytes, secret_bytes, False))

    async def change_secret(self, name: str, new_secret: str) -> None:
        """Replace the secret of the existing slot ``name``.

        Raises:
            KeyError: there is no slot of that name.
            ValueError: empty secret, or ``new_secret`` already opens another slot.
            VaultWiped, VaultError: the vault is wiped or closed, or SQLite failed.
        """
        name_bytes, secret_bytes = fmt.check_slot_name(name), fmt.encode_secret(new_secret)
        await self._run(lambda: self._set_slot_sync(name, name_bytes, secret_bytes, True))

    async def remove_slot(self, name: str) -> None:
        """Remove slot ``name``; its position is refilled with random bytes.

        Raises:
            KeyError: there is no slot of that name.
            ValueError: it is the last slot (the vault could never be opened again).
            VaultWiped, VaultError: the vault is wiped or closed, or SQLite failed.
        """
        await self._run(lambda: self._remove_slot_sync(name))

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
    ) -> None:
        """Apply ``puts`` then ``deletes`` in one transaction: all of them or none; durable.

        A key both put and deleted ends up deleted.

        Raises:
            TypeError, ValueError: a malformed element (nothing is written).
            VaultWiped, VaultError: the vault is wiped or closed, or SQLite failed.
        """
        puts, deletes = tuple(puts), tuple(deletes)
        await self._run(lambda: self._write_sync(puts, deletes))

    # --- ending -----------------------------------------------------------------------

    async def wipe(self) -> None:
        """Destroy the vault: overwrite its files with random bytes, fsync, delete them.

        Afterwards every method except :meth:`close` raises :class:`VaultWiped`.

        Raises:
            VaultWiped: already wiped.
            VaultError: the vault is closed (use :meth:`wipe_file`).
            OSError: a file could not be overwritten or deleted (the object is wiped
                regardless; retry with :meth:`wipe_file`).
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
            raise VaultWiped("the vault has been wiped")
        if self._state is _State.CLOSED:
            raise VaultError("the vault is closed")

    def _live(self) -> tuple[sqlite3.Connection, fmt.RecordCodec, bytes]:
        self._check_state()
        conn, codec, data_key = self._conn, self._codec, self._data_key
        if conn is None or codec is None or data_key is None:
            raise VaultError("the vault is closed")
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
        self, puts: tuple[tuple[str, str, bytes], ...], deletes: tuple[tuple[str, str], ...]
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
            conn.execute("COMMIT")
        except BaseException:
            fmt.rollback_quietly(conn)
            raise

    def _set_slot_sync(self, name: str, name_bytes: bytes, secret: bytes, must_exist: bool) -> None:
        conn, _, data_key = self._live()
        conn.execute("BEGIN IMMEDIATE")
        try:
            header = fmt.read_header(conn)
            directory = fmt.open_directory(data_key, header.directory)
            index = directory.get(name)
            if index is None:
                if must_exist:
                    raise KeyError(f"no key slot named {name!r}")
                free = sorted(set(range(fmt.SLOT_CAPACITY)) - set(directory.values()))
                if not free:
                    raise ValueError(f"all {fmt.SLOT_CAPACITY} key slots are in use")
                index = free[secrets.randbelow(len(free))]
            slot_key = fmt.derive_slot_key(secret, header.salt, header.opslimit, header.memlimit)
            for i, blob in enumerate(header.slots):
                if i != index and fmt.unwrap_slot(slot_key, blob) is not None:
                    raise ValueError("this secret already opens another slot; choose another")
            slots = list(header.slots)
            slots[index] = fmt.wrap_slot(slot_key, data_key, name_bytes)
            directory[name] = index
            self._store_slots(conn, data_key, slots, directory)
        except BaseException:
            fmt.rollback_quietly(conn)
            raise

    def _remove_slot_sync(self, name: str) -> None:
        conn, _, data_key = self._live()
        conn.execute("BEGIN IMMEDIATE")
        try:
            header = fmt.read_header(conn)
            directory = fmt.open_directory(data_key, header.directory)
            if name not in directory:
                raise KeyError(f"no key slot named {name!r}")
            if len(directory) == 1:
                raise ValueError("cannot remove the last key slot")
            slots = list(header.slots)
            slots[directory.pop(name)] = fmt.decoy_slot()
            self._store_slots(conn, data_key, slots, directory)
        except BaseException:
            fmt.rollback_quietly(conn)
            raise

    @staticmethod
    def _store_slots(
        conn: sqlite3.Connection, data_key: bytes, slots: list[bytes], directory: dict[str, int]
    ) -> None:
        conn.execute(
            "UPDATE header SET slots = ?, directory = ? WHERE id = 1",
            (b"".join(slots), fmt.seal_directory(data_key, directory)),
        )
        conn.execute("COMMIT")

    def _forget(self) -> sqlite3.Connection | None:
        conn, self._conn, self._codec, self._data_key = self._conn, None, None, None
        return conn

    def _close_sync(self) -> None:
        if self._state is not _State.OPEN:
            return
        self._state = _State.CLOSED
        conn = self._forget()
        if conn is not None:
            conn.close()

    def _wipe_sync(self) -> None:
        self._check_state()
        self._state = _State.WIPED
        conn = self._forget()
        try:
            # Close first: closing checkpoints the WAL into the main file, and must not
            # write pages back after they have been overwritten.
            if conn is not None:
                conn.close()
        finally:
            fmt.destroy_files(self._path)


# --- unlocking, outside any Vault object --------------------------------------------------


def _translating(fn: Callable[[], _T]) -> Callable[[], _T]:
    """Wrap ``fn`` so format and SQLite errors surface as vault errors."""

    def run() -> _T:
        try:
            return fn()
        except fmt.FormatError as exc:
            raise VaultFormatError(str(exc)) from exc
        except sqlite3.Error as exc:
            raise VaultError(f"storage error: {exc}") from exc

    return run


def _close_abandoned(job: Future[_Unlocked]) -> None:
    if not job.cancelled() and job.exception() is None:
        job.result().conn.close()


def _connect_existing(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise VaultNotFound(f"no vault at {path}")
    conn = fmt.connect(path)
    try:
        version = fmt.read_version(conn)
        if version != fmt.FORMAT_VERSION:
            # A future format migrates older versions here, before anything else reads.
            hint = "; update the app" if version > fmt.FORMAT_VERSION else ""
            raise VaultFormatError(
                f"vault format version {version} is not supported "
                f"(this SDK reads version {fmt.FORMAT_VERSION}){hint}"
            )
    except BaseException:
        conn.close()
        raise
    return conn


def _read_failed_sync(path: Path) -> int:
    conn = _connect_existing(path)
    try:
        return fmt.read_header(conn).failed_unlocks
    finally:
        conn.close()


def _open_sync(path: Path, secret: bytes) -> _Unlocked:
    conn = _connect_existing(path)
    try:
        conn.execute("BEGIN IMMEDIATE")
        header = fmt.read_header(conn)
        failed = header.failed_unlocks
        if failed < header.max_failed_unlocks:
            # Counted before deriving: killing the app mid-attempt does not save a guess.
            failed += 1
            conn.execute("UPDATE header SET failed_unlocks = ? WHERE id = 1", (failed,))
            conn.execute("COMMIT")
            slot_key = fmt.derive_slot_key(secret, header.salt, header.opslimit, header.memlimit)
            for blob in header.slots:
                opened = fmt.unwrap_slot(slot_key, blob)
                if opened is not None:
                    conn.execute("UPDATE header SET failed_unlocks = 0 WHERE id = 1")
                    return _Unlocked(conn, *opened)
    except BaseException:
        fmt.rollback_quietly(conn)
        conn.close()
        raise
    fmt.rollback_quietly(conn)
    conn.close()
    if failed >= header.max_failed_unlocks:
        # Also reached when the last allowed attempt was interrupted: that one counts.
        fmt.destroy_files(path)
        raise VaultWiped("too many wrong secrets: the vault has been wiped")
    raise WrongSecret(header.max_failed_unlocks - failed)


def _create_sync(
    path: Path, secret: bytes, kdf: KdfParams, max_failed_unlocks: int, name: bytes
) -> _Unlocked:
    if path.exists():
        raise VaultExists(f"a file already exists at {path}")
    salt = nacl.utils.random(fmt.SALT_BYTES)
    data_key = nacl.utils.random(fmt.KEY_BYTES)
    slot_key = fmt.derive_slot_key(secret, salt, kdf.opslimit, kdf.memlimit)
    index = secrets.randbelow(fmt.SLOT_CAPACITY)
    slots = [fmt.decoy_slot() for _ in range(fmt.SLOT_CAPACITY)]
    slots[index] = fmt.wrap_slot(slot_key, data_key, name)
    slot_name = name.decode()
    directory = fmt.seal_directory(data_key, {slot_name: index})
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError as exc:
        raise VaultExists(f"a file already exists at {path}") from exc
    try:
        # Side files without a main file are leftovers (e.g. an interrupted wipe);
        # SQLite must not replay them into the new database.
        for side in fmt.vault_files(path)[1:]:
            side.unlink(missing_ok=True)
        conn = fmt.connect(path)
        try:
            conn.execute("BEGIN IMMEDIATE")
            for statement in fmt.SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(
                "INSERT INTO header (id, version, salt, opslimit, memlimit, failed_unlocks,"
                " max_failed_unlocks, slots, directory) VALUES (1, ?, ?, ?, ?, 0, ?, ?, ?)",
                (
                    fmt.FORMAT_VERSION,
                    salt,
                    kdf.opslimit,
                    kdf.memlimit,
                    max_failed_unlocks,
                    b"".join(slots),
                    directory,
                ),
            )
            conn.execute("COMMIT")
        except BaseException:
            fmt.rollback_quietly(conn)
            conn.close()
            raise
    except BaseException:
        fmt.destroy_files(path)
        raise
    return _Unlocked(conn, data_key, slot_name)
