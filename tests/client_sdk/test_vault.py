"""The encrypted local store: what it keeps, what it reveals, and how it dies."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import stat
import sys
import textwrap
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from client_sdk.vault import (
    FAST_KDF_FOR_TESTS,
    KdfParams,
    Vault,
    VaultError,
    VaultExists,
    VaultFormatError,
    VaultNotFound,
    VaultWiped,
    WrongSecret,
)

PIN = "482916"
DURESS_PIN = "135790"
REPO_ROOT = Path(__file__).resolve().parents[2]


def side_files(path: Path) -> list[Path]:
    return [path, *(path.with_name(path.name + s) for s in ("-wal", "-shm", "-journal"))]


@contextlib.contextmanager
def raw_db(path: Path) -> Iterator[sqlite3.Connection]:
    """The file as an attacker without the PIN sees it: plain SQLite."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        yield conn
    finally:
        conn.close()


def leftovers(path: Path) -> list[Path]:
    return [f for f in side_files(path) if f.exists()]


def raw_bytes(path: Path) -> bytes:
    """The database file and its side files, concatenated (tmp_path I/O, instant)."""
    return b"".join(f.read_bytes() for f in leftovers(path))


def read_file(path: Path) -> bytes:
    return path.read_bytes()


def write_file(path: Path, data: bytes) -> None:
    path.write_bytes(data)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "witness.vault"


@pytest.fixture
async def vault(path: Path) -> AsyncIterator[Vault]:
    v = await Vault.create(path, PIN, kdf=FAST_KDF_FOR_TESTS)
    yield v
    await v.close()


async def make_closed(path: Path, max_failed_unlocks: int = 10) -> None:
    v = await Vault.create(path, PIN, kdf=FAST_KDF_FOR_TESTS, max_failed_unlocks=max_failed_unlocks)
    await v.close()


# --- records --------------------------------------------------------------------------


async def test_put_get_replace_and_missing(vault: Vault) -> None:
    assert await vault.get("message", "m1") is None
    await vault.put("message", "m1", b"hello")
    assert await vault.get("message", "m1") == b"hello"
    await vault.put("message", "m1", b"")
    assert await vault.get("message", "m1") == b""
    # The same key under another kind is another record.
    assert await vault.get("outbox", "m1") is None


async def test_items_lists_one_kind_sorted_by_key(vault: Vault) -> None:
    await vault.put("message", "b", b"2")
    await vault.put("message", "a", b"1")
    await vault.put("pinned_key", "a", b"key")
    assert await vault.items("message") == [("a", b"1"), ("b", b"2")]
    assert await vault.items("pinned_key") == [("a", b"key")]
    assert await vault.items("nothing") == []


async def test_delete_removes_and_tolerates_missing(vault: Vault) -> None:
    await vault.put("message", "m1", b"x")
    await vault.delete("message", "m1")
    await vault.delete("message", "never-there")
    assert await vault.get("message", "m1") is None
    assert await vault.items("message") == []


async def test_write_applies_puts_and_deletes_together(vault: Vault) -> None:
    await vault.put("outbox", "o1", b"queued")
    await vault.write(
        puts=[("message", "m1", b"sent"), ("message", "m2", b"also")],
        deletes=[("outbox", "o1")],
    )
    assert await vault.items("message") == [("m1", b"sent"), ("m2", b"also")]
    assert await vault.get("outbox", "o1") is None


async def test_write_with_a_bad_put_writes_nothing(vault: Vault) -> None:
    await vault.put("outbox", "o1", b"queued")
    with pytest.raises(TypeError):
        await vault.write(
            puts=[("message", "m1", b"ok"), ("message", "m2", "not bytes")],  # type: ignore[list-item]
            deletes=[("outbox", "o1")],
        )
    assert await vault.get("message", "m1") is None
    assert await vault.get("outbox", "o1") == b"queued"


async def test_write_with_a_bad_delete_rolls_back_earlier_work(vault: Vault) -> None:
    await vault.put("outbox", "o1", b"queued")
    with pytest.raises(ValueError, match="NUL"):
        await vault.write(
            puts=[("message", "m1", b"ok")],
            deletes=[("outbox", "o1"), ("bad\0kind", "x")],
        )
    # The put and the first delete had already run inside the transaction.
    assert await vault.get("message", "m1") is None
    assert await vault.get("outbox", "o1") == b"queued"


async def test_kind_and_key_are_not_confusable(vault: Vault) -> None:
    await vault.put("a", "b\0c", b"v")
    assert await vault.get("a", "b\0c") == b"v"
    with pytest.raises(ValueError, match="NUL"):
        await vault.get("a\0b", "c")


async def test_concurrent_writes_all_land(vault: Vault) -> None:
    await asyncio.gather(*(vault.put("message", f"m{i:02}", bytes([i])) for i in range(30)))
    assert await vault.items("message") == [(f"m{i:02}", bytes([i])) for i in range(30)]


async def test_record_moved_to_another_row_is_detected(vault: Vault, path: Path) -> None:
    await vault.put("message", "m1", b"first")
    await vault.put("message", "m2", b"second")
    await vault.close()
    with raw_db(path) as db:
        (tag1, box1), (tag2, box2) = db.execute("SELECT tag, box FROM records").fetchall()
        db.execute("UPDATE records SET box = ? WHERE tag = ?", (box2, tag1))
        db.execute("UPDATE records SET box = ? WHERE tag = ?", (box1, tag2))
    reopened = await Vault.open(path, PIN)
    try:
        with pytest.raises(VaultFormatError):
            await reopened.get("message", "m1")
        with pytest.raises(VaultFormatError):
            await reopened.items("message")
    finally:
        await reopened.close()


async def test_record_sizes_are_padded_to_64_bytes(vault: Vault, path: Path) -> None:
    await vault.put("message", "m1", b"x")
    await vault.put("message", "m2", b"x" * 30)
    with raw_db(path) as db:
        sizes = [len(box) for (box,) in db.execute("SELECT box FROM records")]
    nonce_and_mac = 24 + 16
    assert sizes[0] == sizes[1]
    assert all((size - nonce_and_mac) % 64 == 0 for size in sizes)


# --- durability ------------------------------------------------------------------------


async def test_reopen_with_the_right_secret_sees_the_data(vault: Vault, path: Path) -> None:
    await vault.put("message", "m1", b"kept")
    await vault.close()
    reopened = await Vault.open(path, PIN)
    try:
        assert reopened.slot_name == "primary"
        assert await reopened.get("message", "m1") == b"kept"
    finally:
        await reopened.close()


async def test_a_record_survives_the_process_being_killed(path: Path) -> None:
    script = textwrap.dedent(
        """
        import asyncio, os, signal, sys
        from pathlib import Path
        from client_sdk.vault import FAST_KDF_FOR_TESTS, Vault

        async def main() -> None:
            vault = await Vault.create(Path(sys.argv[1]), sys.argv[2], kdf=FAST_KDF_FOR_TESTS)
            await vault.put("message", "m1", b"written before the crash")
            os.kill(os.getpid(), signal.SIGKILL)

        asyncio.run(main())
        """
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, str(path), PIN, cwd=REPO_ROOT
    )
    assert await asyncio.wait_for(proc.wait(), timeout=60) == -signal.SIGKILL
    reopened = await Vault.open(path, PIN)
    try:
        assert await reopened.get("message", "m1") == b"written before the crash"
    finally:
        await reopened.close()


# --- wrong secrets ---------------------------------------------------------------------


async def test_wrong_secrets_count_down_across_vault_objects(path: Path) -> None:
    await make_closed(path, max_failed_unlocks=3)
    assert await Vault.failed_unlocks(path) == 0

    with pytest.raises(WrongSecret) as first:
        await Vault.open(path, "000000")
    assert first.value.attempts_left == 2
    assert await Vault.failed_unlocks(path) == 1

    with pytest.raises(WrongSecret) as second:
        await Vault.open(path, "111111")
    assert second.value.attempts_left == 1
    assert await Vault.failed_unlocks(path) == 2

    vault = await Vault.open(path, PIN)
    await vault.close()
    assert await Vault.failed_unlocks(path) == 0

    with pytest.raises(WrongSecret) as after_reset:
        await Vault.open(path, "000000")
    assert after_reset.value.attempts_left == 2


async def test_reaching_the_limit_wipes_the_vault(path: Path) -> None:
    await make_closed(path, max_failed_unlocks=2)
    with pytest.raises(WrongSecret):
        await Vault.open(path, "000000")
    assert Vault.exists(path)
    with pytest.raises(VaultWiped):
        await Vault.open(path, "111111")
    assert leftovers(path) == []
    assert not Vault.exists(path)
    with pytest.raises(VaultNotFound):
        await Vault.open(path, PIN)


async def test_an_unfinished_last_attempt_still_counts(path: Path) -> None:
    # The counter goes up before the derivation, so a process killed during the last
    # allowed attempt leaves it at the limit; the next open wipes, even with the PIN.
    await make_closed(path, max_failed_unlocks=3)
    with raw_db(path) as db:
        db.execute("UPDATE header SET failed_unlocks = 3")
    with pytest.raises(VaultWiped):
        await Vault.open(path, PIN)
    assert leftovers(path) == []


# --- key slots -------------------------------------------------------------------------


async def test_a_duress_slot_opens_the_same_data(vault: Vault, path: Path) -> None:
    await vault.put("message", "m1", b"shared")
    await vault.add_slot("duress", DURESS_PIN)
    await vault.close()

    duress = await Vault.open(path, DURESS_PIN)
    try:
        assert duress.slot_name == "duress"
        assert await duress.get("message", "m1") == b"shared"
    finally:
        await duress.close()
    primary = await Vault.open(path, PIN)
    assert primary.slot_name == "primary"
    await primary.close()


async def test_slots_cannot_be_told_apart_or_counted_on_disk(vault: Vault, path: Path) -> None:
    def slot_table() -> bytes:
        with raw_db(path) as db:
            (slots,) = db.execute("SELECT slots FROM header").fetchone()
        assert isinstance(slots, bytes)
        return slots

    one_slot = slot_table()
    await vault.add_slot("duress", DURESS_PIN)
    two_slots = slot_table()
    await vault.add_slot("staff", "a long staff passphrase")
    three_slots = slot_table()
    await vault.remove_slot("staff")
    # Same size whatever the number of slots in use: a duress PIN cannot be spotted.
    assert len(one_slot) == len(two_slots) == len(three_slots) == len(slot_table())
    # Exactly one position changed per slot added.
    assert sum(a != b for a, b in zip(_blobs(one_slot), _blobs(two_slots), strict=True)) == 1
    await vault.close()
    everything = raw_bytes(path)
    for name in (b"primary", b"duress", b"staff"):
        assert name not in everything


def _blobs(table: bytes) -> list[bytes]:
    from client_sdk._vault_format import SLOT_BLOB_BYTES

    return [table[i : i + SLOT_BLOB_BYTES] for i in range(0, len(table), SLOT_BLOB_BYTES)]


async def test_a_secret_already_used_by_another_slot_is_rejected(vault: Vault) -> None:
    with pytest.raises(ValueError, match="another slot"):
        await vault.add_slot("duress", PIN)
    await vault.add_slot("duress", DURESS_PIN)
    with pytest.raises(ValueError, match="another slot"):
        await vault.change_secret("primary", DURESS_PIN)
    # Re-setting a slot's own secret is not ambiguous.
    await vault.change_secret("duress", DURESS_PIN)


async def test_add_slot_replaces_a_slot_of_the_same_name(vault: Vault, path: Path) -> None:
    await vault.add_slot("duress", "111111")
    await vault.add_slot("duress", "222222")
    await vault.close()
    with pytest.raises(WrongSecret):
        await Vault.open(path, "111111")
    reopened = await Vault.open(path, "222222")
    assert reopened.slot_name == "duress"
    await reopened.close()


async def test_change_secret_retires_the_old_one(vault: Vault, path: Path) -> None:
    await vault.put("message", "m1", b"kept")
    await vault.change_secret("primary", "975310")
    with pytest.raises(KeyError):
        await vault.change_secret("nobody", "999999")
    await vault.close()
    with pytest.raises(WrongSecret):
        await Vault.open(path, PIN)
    reopened = await Vault.open(path, "975310")
    try:
        assert await reopened.get("message", "m1") == b"kept"
    finally:
        await reopened.close()


async def test_remove_slot(vault: Vault, path: Path) -> None:
    await vault.add_slot("duress", DURESS_PIN)
    await vault.remove_slot("duress")
    with pytest.raises(KeyError):
        await vault.remove_slot("duress")
    with pytest.raises(ValueError, match="last"):
        await vault.remove_slot("primary")
    await vault.close()
    with pytest.raises(WrongSecret):
        await Vault.open(path, DURESS_PIN)


# --- what the file reveals ----------------------------------------------------------------


async def test_the_file_contains_no_kind_key_or_value(vault: Vault, path: Path) -> None:
    needles = [b"MEET-AT-RIVERSIDE-7PM", b"message", b"msg-123", b"olm_session", b"duress"]
    await vault.put("message", "msg-123", b"MEET-AT-RIVERSIDE-7PM")
    await vault.write(puts=[("olm_session", "alice-device", b"MEET-AT-RIVERSIDE-7PM" * 50)])
    await vault.add_slot("duress", DURESS_PIN)
    wal = path.with_name(path.name + "-wal")
    assert wal.exists()
    while_open = raw_bytes(path)
    assert len(while_open) > 0
    for needle in needles:
        assert needle not in while_open, needle

    await vault.close()
    after_close = read_file(path)
    for needle in needles:
        assert needle not in after_close, needle


def file_mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_the_file_is_private_to_its_owner(vault: Vault, path: Path) -> None:
    assert file_mode(path) & 0o077 == 0


def test_repr_shows_only_the_path(path: Path) -> None:
    async def check() -> str:
        v = await Vault.create(path, PIN, kdf=FAST_KDF_FOR_TESTS)
        await v.close()
        return repr(v)

    assert asyncio.run(check()) == f"Vault(path={str(path)!r})"


# --- destruction -----------------------------------------------------------------------


async def test_wipe_removes_the_files_and_ends_the_vault(vault: Vault, path: Path) -> None:
    await vault.put("message", "m1", b"MEET-AT-RIVERSIDE-7PM")
    await vault.wipe()
    assert leftovers(path) == []
    assert not Vault.exists(path)
    for call in (
        vault.get("message", "m1"),
        vault.put("message", "m2", b"x"),
        vault.items("message"),
        vault.delete("message", "m1"),
        vault.write(),
        vault.add_slot("duress", DURESS_PIN),
        vault.change_secret("primary", "000000"),
        vault.remove_slot("primary"),
        vault.wipe(),
    ):
        with pytest.raises(VaultWiped):
            await call
    await vault.close()  # harmless, so cleanup code need not special-case a wipe


async def test_wipe_overwrites_before_deleting(vault: Vault, path: Path) -> None:
    await vault.put("message", "m1", b"MEET-AT-RIVERSIDE-7PM")
    survivor = path.with_name("hard-link")
    os.link(path, survivor)  # the same inode stays readable after the unlink
    await vault.wipe()
    leftover = read_file(survivor)
    assert len(leftover) > 0
    assert not leftover.startswith(b"SQLite format 3")


async def test_wipe_file_destroys_without_the_secret(path: Path) -> None:
    await make_closed(path)
    survivor = path.with_name("hard-link")
    os.link(path, survivor)
    await Vault.wipe_file(path)
    assert leftovers(path) == []
    assert not read_file(survivor).startswith(b"SQLite format 3")
    await Vault.wipe_file(path)  # nothing left to do is not an error
    with pytest.raises(VaultNotFound):
        await Vault.open(path, PIN)


async def test_closed_vault_refuses_work(vault: Vault) -> None:
    await vault.close()
    await vault.close()
    with pytest.raises(VaultError, match="closed") as raised:
        await vault.get("message", "m1")
    assert not isinstance(raised.value, VaultWiped)


# --- opening and format ------------------------------------------------------------------


async def test_create_refuses_an_existing_file(path: Path) -> None:
    write_file(path, b"someone else's file")
    with pytest.raises(VaultExists):
        await Vault.create(path, PIN, kdf=FAST_KDF_FOR_TESTS)
    assert read_file(path) == b"someone else's file"


async def test_missing_vault(path: Path) -> None:
    assert not Vault.exists(path)
    with pytest.raises(VaultNotFound):
        await Vault.open(path, PIN)
    with pytest.raises(VaultNotFound):
        await Vault.failed_unlocks(path)
    assert leftovers(path) == []


async def test_an_unknown_format_version_is_refused_clearly(path: Path) -> None:
    await make_closed(path)
    with raw_db(path) as db:
        db.execute("UPDATE header SET version = 2")
    with pytest.raises(VaultFormatError, match="version 2 is not supported"):
        await Vault.open(path, PIN)
    with pytest.raises(VaultFormatError, match="version 2"):
        await Vault.failed_unlocks(path)
    with raw_db(path) as db:
        assert db.execute("SELECT failed_unlocks FROM header").fetchone() == (0,)


async def test_a_file_that_is_not_a_vault_is_refused_and_left_alone(path: Path) -> None:
    junk = os.urandom(8192)
    write_file(path, junk)
    with pytest.raises(VaultFormatError):
        await Vault.open(path, PIN)
    assert read_file(path) == junk


async def test_bad_arguments_are_rejected_before_touching_disk(path: Path) -> None:
    with pytest.raises(ValueError, match="secret"):
        await Vault.create(path, "", kdf=FAST_KDF_FOR_TESTS)
    with pytest.raises(ValueError, match="max_failed_unlocks"):
        await Vault.create(path, PIN, kdf=FAST_KDF_FOR_TESTS, max_failed_unlocks=0)
    with pytest.raises(ValueError, match="opslimit"):
        await Vault.create(path, PIN, kdf=KdfParams(opslimit=0, memlimit=1 << 20))
    with pytest.raises(ValueError, match="slot name"):
        await Vault.create(path, PIN, kdf=FAST_KDF_FOR_TESTS, slot_name="x" * 64)
    assert leftovers(path) == []


# --- the event loop ------------------------------------------------------------------------


async def test_unlocking_does_not_block_the_event_loop(path: Path) -> None:
    # Argon2id at 32 MiB takes tens of milliseconds; a ticker yielding with sleep(0)
    # runs thousands of times meanwhile if, and only if, the derivation is off-loop.
    kdf = KdfParams(opslimit=2, memlimit=32 * 1024 * 1024)
    await (await Vault.create(path, PIN, kdf=kdf)).close()
    ticks = 0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    ticks_before = ticks
    vault = await Vault.open(path, PIN)
    stop.set()
    await task
    await vault.close()
    assert ticks - ticks_before > 100
