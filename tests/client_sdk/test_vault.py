"""The encrypted local store: what it keeps, what it reveals, and how it dies.

These specifications use a passphrase store (a staff client's), which opens without a
server; a witness phone's store differs only in how its slot key is found, specified
with a running server in ``tests/vault``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import stat
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest

from client_sdk import _vault_header as hdr
from client_sdk.vault import (
    KdfParams,
    Vault,
    VaultError,
    VaultExists,
    VaultFormatError,
    VaultNotFound,
    VaultUnavailable,
    VaultWiped,
    WrongSecret,
    default_wrapper,
)
from tests.support.kdf import FAST_KDF

PASSPHRASE = "a long staff passphrase"
REPO_ROOT = Path(__file__).resolve().parents[2]


def store_files(path: Path) -> list[Path]:
    """Everything a store may leave beside it."""
    return [
        path,
        *(path.with_name(path.name + s) for s in ("-wal", "-shm", "-journal", ".header", ".key")),
    ]


def leftovers(path: Path) -> list[Path]:
    return [f for f in store_files(path) if f.exists()]


def raw_bytes(path: Path) -> bytes:
    """Every file of the store, concatenated (tmp_path I/O, instant)."""
    return b"".join(f.read_bytes() for f in leftovers(path))


def read_file(path: Path) -> bytes:
    return path.read_bytes()


def write_file(path: Path, data: bytes | None) -> None:
    """Write ``data`` to the file, or delete it (None)."""
    if data is None:
        path.unlink()
    else:
        path.write_bytes(data)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "staff.store"


@pytest.fixture
async def vault(path: Path) -> AsyncIterator[Vault]:
    v = await Vault.create_with_passphrase(path, PASSPHRASE, kdf=FAST_KDF)
    yield v
    await v.close()


async def make_closed(path: Path) -> None:
    await (await Vault.create_with_passphrase(path, PASSPHRASE, kdf=FAST_KDF)).close()


async def reopen(path: Path) -> Vault:
    return await Vault.open_with_passphrase(path, PASSPHRASE)


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


async def test_write_applies_puts_and_deletes_together(vault: Vault) -> None:
    await vault.put("outbox", "o1", b"queued")
    await vault.write(
        puts=[("message", "m1", b"sent"), ("message", "m2", b"also")],
        deletes=[("outbox", "o1")],
    )
    assert await vault.items("message") == [("m1", b"sent"), ("m2", b"also")]
    assert await vault.get("outbox", "o1") is None


async def test_write_with_a_bad_element_writes_nothing(vault: Vault) -> None:
    await vault.put("outbox", "o1", b"queued")
    with pytest.raises(TypeError):
        await vault.write(
            puts=[("message", "m1", b"ok"), ("message", "m2", "not bytes")],  # type: ignore[list-item]
            deletes=[("outbox", "o1")],
        )
    with pytest.raises(ValueError, match="NUL"):
        await vault.write(puts=[("message", "m1", b"ok")], deletes=[("bad\0kind", "x")])
    assert await vault.get("message", "m1") is None
    assert await vault.get("outbox", "o1") == b"queued"


async def test_concurrent_writes_all_land(vault: Vault) -> None:
    await asyncio.gather(*(vault.put("message", f"m{i:02}", bytes([i])) for i in range(30)))
    assert await vault.items("message") == [(f"m{i:02}", bytes([i])) for i in range(30)]


async def test_record_moved_to_another_row_is_detected(vault: Vault, path: Path) -> None:
    await vault.put("message", "m1", b"first")
    await vault.put("message", "m2", b"second")
    await vault.close()
    with sqlite3.connect(path, isolation_level=None) as db:
        (tag1, box1), (tag2, box2) = db.execute("SELECT tag, box FROM records").fetchall()
        db.execute("UPDATE records SET box = ? WHERE tag = ?", (box2, tag1))
        db.execute("UPDATE records SET box = ? WHERE tag = ?", (box1, tag2))
    db.close()
    reopened = await reopen(path)
    try:
        with pytest.raises(VaultFormatError):
            await reopened.get("message", "m1")
    finally:
        await reopened.close()


# --- durability ------------------------------------------------------------------------


async def test_reopen_with_the_passphrase_sees_the_data(vault: Vault, path: Path) -> None:
    await vault.put("message", "m1", b"kept")
    await vault.close()
    reopened = await reopen(path)
    try:
        assert await reopened.get("message", "m1") == b"kept"
    finally:
        await reopened.close()


async def test_a_record_survives_the_process_being_killed(path: Path) -> None:
    script = textwrap.dedent(
        """
        import asyncio, os, signal, sys
        from pathlib import Path
        from client_sdk.vault import Vault
        from tests.support.kdf import FAST_KDF

        async def main() -> None:
            vault = await Vault.create_with_passphrase(Path(sys.argv[1]), sys.argv[2], kdf=FAST_KDF)
            await vault.put("message", "m1", b"written before the crash")
            os.kill(os.getpid(), signal.SIGKILL)

        asyncio.run(main())
        """
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, str(path), PASSPHRASE, cwd=REPO_ROOT
    )
    assert await asyncio.wait_for(proc.wait(), timeout=60) == -signal.SIGKILL
    reopened = await reopen(path)
    try:
        assert await reopened.get("message", "m1") == b"written before the crash"
    finally:
        await reopened.close()


# --- the passphrase --------------------------------------------------------------------


async def test_a_wrong_passphrase_opens_nothing_and_changes_nothing(path: Path) -> None:
    await make_closed(path)
    before = raw_bytes(path)
    for _ in range(3):
        with pytest.raises(WrongSecret) as wrong:
            await Vault.open_with_passphrase(path, "not the passphrase at all")
        assert wrong.value.attempts_left is None  # no counter: nothing here could hold one
    assert raw_bytes(path) == before
    await (await reopen(path)).close()


async def test_a_short_passphrase_is_refused_before_anything_is_created(path: Path) -> None:
    with pytest.raises(ValueError, match="12 characters"):
        await Vault.create_with_passphrase(path, "short pass", kdf=FAST_KDF)
    assert leftovers(path) == []


async def test_a_witness_store_does_not_open_with_a_passphrase(path: Path) -> None:
    await (await Vault.create_for_server(path, kdf=FAST_KDF)).close()
    with pytest.raises(VaultFormatError, match="PIN"):
        await Vault.open_with_passphrase(path, PASSPHRASE)


# --- the header file ---------------------------------------------------------------------


async def test_the_header_lives_in_its_own_fixed_size_file_written_in_place(
    vault: Vault, path: Path
) -> None:
    header_file = hdr.header_path(path)
    inode = header_file.stat().st_ino
    assert header_file.stat().st_size == hdr.HEADER_FILE_BYTES
    slots = list(vault.header.slots)
    slots.reverse()
    await vault.set_slots(slots)
    assert header_file.stat().st_size == hdr.HEADER_FILE_BYTES
    assert header_file.stat().st_ino == inode  # rewritten in place, never replaced
    with sqlite3.connect(path) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    db.close()
    assert "header" not in tables  # nothing of it goes through SQLite


async def test_after_a_header_write_no_half_holds_the_old_header(vault: Vault, path: Path) -> None:
    """A PIN change must leave no copy of the old slot behind in the file."""
    old_slots = list(vault.header.slots)
    await vault.set_slots(list(reversed(old_slots)))
    wrapper = default_wrapper(path)
    data = hdr.header_path(path).read_bytes()
    for i in (0, 1):
        half = data[i * hdr.HALF_BYTES : (i + 1) * hdr.HALF_BYTES]
        size = int.from_bytes(half[:4], "big")
        header = hdr.decode(wrapper.unwrap(half[4 : 4 + size])[8:])
        assert header.slots == list(reversed(old_slots))


async def test_a_torn_header_write_leaves_the_other_half(vault: Vault, path: Path) -> None:
    await vault.put("message", "m1", b"kept")
    await vault.close()
    header_file = hdr.header_path(path)
    for torn in (0, 1):
        data = bytearray(header_file.read_bytes())
        # What a crash half-way through writing one half can leave: garbage in it.
        data[torn * hdr.HALF_BYTES + 100 : torn * hdr.HALF_BYTES + 600] = os.urandom(500)
        header_file.write_bytes(bytes(data))
        reopened = await reopen(path)
        try:
            assert await reopened.get("message", "m1") == b"kept"
            await reopened.set_slots(reopened.header.slots)  # heals the torn half
        finally:
            await reopened.close()


async def test_an_unknown_format_version_is_refused_clearly(path: Path) -> None:
    await make_closed(path)
    wrapper = default_wrapper(path)
    header, seq = hdr.read(path, wrapper)
    hdr.write(path, wrapper, msgspec.structs.replace(header, version=3), seq)
    with pytest.raises(VaultFormatError, match="version 3 is not supported"):
        await reopen(path)


# --- the sealed outbox -----------------------------------------------------------------


async def test_the_sealed_outbox_takes_entries_without_a_key(vault: Vault, path: Path) -> None:
    await vault.close()
    await Vault.write_sealed(path, b"written while locked")
    await Vault.write_sealed(path, b"and again")
    assert b"written while locked" not in raw_bytes(path)
    reopened = await reopen(path)
    try:
        entries = await reopened.sealed_entries()
        assert [entry for _id, entry in entries] == [b"written while locked", b"and again"]
        # Moving one entry into the store and deleting its sealed row is one write.
        first_id = entries[0][0]
        await reopened.write([("outbox", "m1", b"moved")], sealed_done=[first_id])
        assert [entry for _id, entry in await reopened.sealed_entries()] == [b"and again"]
        assert await reopened.get("outbox", "m1") == b"moved"
    finally:
        await reopened.close()


async def test_sealed_entries_are_padded(vault: Vault, path: Path) -> None:
    await vault.close()
    await Vault.write_sealed(path, b"x")
    await Vault.write_sealed(path, b"x" * 200)
    with sqlite3.connect(path) as db:
        sizes = {len(box) for (box,) in db.execute("SELECT box FROM sealed_outbox")}
    db.close()
    assert len(sizes) == 1


# --- what the files reveal ------------------------------------------------------------------


async def test_the_files_contain_no_kind_key_value_or_salt(vault: Vault, path: Path) -> None:
    needles = [b"MEET-AT-RIVERSIDE-7PM", b"message", b"msg-123", b"olm_session", vault.header.salt]
    await vault.put("message", "msg-123", b"MEET-AT-RIVERSIDE-7PM")
    await vault.write(puts=[("olm_session", "alice-device", b"MEET-AT-RIVERSIDE-7PM" * 50)])
    assert path.with_name(path.name + "-wal").exists()
    while_open = raw_bytes(path)
    for needle in needles:
        assert needle not in while_open, needle
    await vault.close()
    for needle in needles:
        assert needle not in raw_bytes(path), needle


async def test_the_files_are_private_to_their_owner(vault: Vault, path: Path) -> None:
    for file in (path, hdr.header_path(path), default_wrapper(path).path):
        assert stat.S_IMODE(file.stat().st_mode) & 0o077 == 0, file


def test_repr_shows_only_the_path(path: Path) -> None:
    async def check() -> str:
        v = await Vault.create_with_passphrase(path, PASSPHRASE, kdf=FAST_KDF)
        await v.close()
        return repr(v) + repr(v.header)

    shown = asyncio.run(check())
    assert shown == f"Vault(path={str(path)!r})Header(version=2, mode='passphrase')"


# --- destruction -----------------------------------------------------------------------


async def test_wipe_removes_every_file_and_ends_the_vault(vault: Vault, path: Path) -> None:
    await vault.put("message", "m1", b"MEET-AT-RIVERSIDE-7PM")
    await vault.wipe()
    assert leftovers(path) == []
    assert not Vault.exists(path)
    for call in (
        vault.get("message", "m1"),
        vault.put("message", "m2", b"x"),
        vault.items("message"),
        vault.write(),
        vault.set_slots(vault.header.slots),
        vault.wipe(),
    ):
        with pytest.raises(VaultWiped):
            await call
    await vault.close()  # harmless, so cleanup code need not special-case a wipe


async def test_wipe_overwrites_before_deleting(vault: Vault, path: Path) -> None:
    await vault.put("message", "m1", b"MEET-AT-RIVERSIDE-7PM")
    survivors = {}
    for file in (path, hdr.header_path(path), default_wrapper(path).path):
        survivors[file] = (file.read_bytes(), file.with_name(file.name + ".link"))
        os.link(file, survivors[file][1])  # the same inode stays readable after unlink
    await vault.wipe()
    for before, link in survivors.values():
        after = link.read_bytes()
        # (The main file grew first: the WAL was folded into it before closing.)
        assert len(after) >= len(before) > 0
        assert before not in after
        assert not after.startswith(b"SQLite format 3")


async def test_destroy_works_without_the_passphrase(path: Path) -> None:
    await make_closed(path)
    await Vault.destroy(path)
    assert leftovers(path) == []
    await Vault.destroy(path)  # nothing left to do is not an error
    with pytest.raises(VaultNotFound):
        await reopen(path)


async def test_closed_vault_refuses_work(vault: Vault) -> None:
    await vault.close()
    await vault.close()
    with pytest.raises(VaultError, match="closed") as raised:
        await vault.get("message", "m1")
    assert not isinstance(raised.value, VaultWiped)


# --- opening and format ------------------------------------------------------------------


async def test_create_refuses_existing_files(path: Path) -> None:
    write_file(path, b"someone else's file")
    with pytest.raises(VaultExists):
        await Vault.create_with_passphrase(path, PASSPHRASE, kdf=FAST_KDF)
    assert read_file(path) == b"someone else's file"
    write_file(path, None)
    await make_closed(path)
    with pytest.raises(VaultExists):
        await Vault.create_for_server(path, kdf=FAST_KDF)


async def test_missing_store_and_missing_header(path: Path) -> None:
    assert not Vault.exists(path)
    with pytest.raises(VaultNotFound):
        await reopen(path)
    await make_closed(path)
    hdr.header_path(path).unlink()
    with pytest.raises(VaultUnavailable):
        await reopen(path)


async def test_a_file_that_is_not_a_store_is_refused_and_left_alone(path: Path) -> None:
    await make_closed(path)
    junk = os.urandom(8192)
    write_file(path, junk)
    with pytest.raises(VaultFormatError):
        await reopen(path)
    assert read_file(path) == junk


async def test_bad_arguments_are_rejected_before_touching_disk(path: Path) -> None:
    with pytest.raises(ValueError, match="opslimit"):
        await Vault.create_with_passphrase(
            path, PASSPHRASE, kdf=KdfParams(opslimit=0, memlimit=1 << 20)
        )
    with pytest.raises(ValueError, match="opslimit"):
        await Vault.create_for_server(path, kdf=KdfParams(opslimit=0, memlimit=1 << 20))
    with pytest.raises(ValueError, match="secret"):
        await Vault.open_with_passphrase(path, "")
    assert leftovers(path) == []


# --- the event loop ------------------------------------------------------------------------


async def test_unlocking_does_not_block_the_event_loop(path: Path) -> None:
    # Argon2id at 32 MiB takes tens of milliseconds; a ticker yielding with sleep(0)
    # runs thousands of times meanwhile if, and only if, the derivation is off-loop.
    kdf = KdfParams(opslimit=2, memlimit=32 * 1024 * 1024)
    await (await Vault.create_with_passphrase(path, PASSPHRASE, kdf=kdf)).close()
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
    vault = await reopen(path)
    stop.set()
    await task
    await vault.close()
    assert ticks - ticks_before > 100
