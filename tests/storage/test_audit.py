"""The append-only, hash-chained audit log: appends, queries, verification, and what
verification says after someone with raw database access has tampered with it."""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from server.clock import ManualClock
from server.domain.audit import (
    GENESIS_HASH,
    Actor,
    AuditLog,
    canonical_entry,
    entry_hash,
    verify_chain,
)
from server.domain.models import AuditEntry
from server.storage.database import Connection, Database
from server.storage.store import SqlStore

REFUSED = (sqlite3.DatabaseError, asyncpg.PostgresError)

OFFICER = Actor.staff("staff_officer")
SUPERVISOR = Actor.staff("staff_supervisor")


async def _append_entries(store: SqlStore, clock: ManualClock, count: int) -> list[AuditEntry]:
    log = AuditLog(clock)
    entries = []
    for n in range(count):
        clock.advance(timedelta(minutes=1))
        async with store.write() as uow:
            entries.append(
                await log.append(
                    uow.audit,
                    OFFICER if n % 2 == 0 else SUPERVISOR,
                    "witness.viewed" if n % 3 else "message.sent",
                    subject=("witness", f"wit_{n}"),
                    case_id="case_a" if n < count // 2 else "case_b",
                    reason="court preparation" if n % 2 else None,
                    details={"n": n, "devices": 2},
                )
            )
    return entries


async def _all_entries(store: SqlStore) -> list[AuditEntry]:
    async with store.read() as uow:
        return await uow.audit.scan(0, 100_000)


# --- appending and reading ---------------------------------------------------------------


async def test_an_empty_log_verifies(store: SqlStore) -> None:
    report = await verify_chain(store)
    assert report.ok
    assert report.entries == 0
    async with store.write() as uow:
        assert await uow.audit.head() is None


async def test_appends_build_a_linked_chain(store: SqlStore, clock: ManualClock) -> None:
    entries = await _append_entries(store, clock, 6)

    stored = await _all_entries(store)
    assert stored == entries
    assert [e.seq for e in stored] == [1, 2, 3, 4, 5, 6]
    assert stored[0].prev_hash == GENESIS_HASH
    for prev, entry in itertools.pairwise(stored):
        assert entry.prev_hash == prev.entry_hash
    for entry in stored:
        canonical = canonical_entry(
            entry.seq,
            entry.at,
            entry.actor_kind,
            entry.actor_id,
            entry.action,
            entry.subject_kind,
            entry.subject_id,
            entry.case_id,
            entry.reason,
            entry.details,
        )
        assert entry.entry_hash == entry_hash(entry.prev_hash, canonical)
    assert stored[1].reason == "court preparation"
    assert stored[0].reason is None
    assert stored[0].details == '{"devices":2,"n":0}'

    async with store.write() as uow:
        assert await uow.audit.head() == (6, stored[-1].entry_hash)

    report = await verify_chain(store)
    assert report.ok
    assert report.entries == 6
    assert report.describe() == "audit chain intact: 6 entries verified"


async def test_verification_reads_the_chain_in_pages(store: SqlStore, clock: ManualClock) -> None:
    await _append_entries(store, clock, 7)
    for page in (1, 2, 3, 7, 100):
        report = await verify_chain(store, page=page)
        assert report.ok
        assert report.entries == 7


async def test_an_append_rolls_back_with_its_transaction(
    store: SqlStore, clock: ManualClock
) -> None:
    log = AuditLog(clock)
    await _append_entries(store, clock, 2)

    async def append_then_fail() -> None:
        async with store.write() as uow:
            await log.append(uow.audit, OFFICER, "case.closed", case_id="case_a")
            raise RuntimeError("the change this entry describes failed")

    with pytest.raises(RuntimeError):
        await append_then_fail()

    async with store.write() as uow:
        entry = await log.append(uow.audit, OFFICER, "case.reopened", case_id="case_a")
    assert entry.seq == 3
    assert [e.action for e in await _all_entries(store)][-1] == "case.reopened"
    assert (await verify_chain(store)).ok


async def test_scan_pages_in_sequence_order(store: SqlStore, clock: ManualClock) -> None:
    entries = await _append_entries(store, clock, 5)
    async with store.read() as uow:
        assert await uow.audit.scan(0, 2) == entries[0:2]
        assert await uow.audit.scan(2, 2) == entries[2:4]
        assert await uow.audit.scan(4, 2) == entries[4:5]
        assert await uow.audit.scan(5, 2) == []


async def test_query_filters_newest_first(store: SqlStore, clock: ManualClock) -> None:
    entries = await _append_entries(store, clock, 10)  # one minute apart

    def seqs(found: list[AuditEntry]) -> list[int]:
        return [e.seq for e in found]

    async with store.read() as uow:
        assert seqs(await uow.audit.query()) == list(range(10, 0, -1))
        assert seqs(await uow.audit.query(case_id="case_a")) == [5, 4, 3, 2, 1]
        assert seqs(await uow.audit.query(actor_id="staff_supervisor")) == [10, 8, 6, 4, 2]
        assert seqs(await uow.audit.query(action="message.sent")) == [10, 7, 4, 1]
        assert seqs(await uow.audit.query(case_id="case_b", actor_id="staff_officer")) == [9, 7]
        # since is inclusive, until exclusive.
        assert seqs(await uow.audit.query(since=entries[2].at, until=entries[5].at)) == [5, 4, 3]
        assert seqs(await uow.audit.query(limit=3)) == [10, 9, 8]
        assert seqs(await uow.audit.query(limit=3, before_seq=8)) == [7, 6, 5]
        assert await uow.audit.query(case_id="case_none") == []


@pytest.mark.parametrize(
    "start",
    [
        datetime(2026, 3, 1, 9, 0, tzinfo=UTC),
        datetime(2038, 6, 1, 12, 0, tzinfo=UTC),
    ],
    ids=["2026", "2038"],
)
async def test_an_honest_log_verifies_at_any_millisecond(store: SqlStore, start: datetime) -> None:
    """Entries are hashed over their time in milliseconds and stored as milliseconds;
    converting back and forth must give the same number, or an untouched log would be
    reported as tampered with."""
    clock = ManualClock(start)
    log = AuditLog(clock)
    for _ in range(50):
        async with store.write() as uow:
            await log.append(uow.audit, OFFICER, "witness.viewed")
        clock.advance(timedelta(milliseconds=1))

    report = await verify_chain(store)
    assert report.describe() == "audit chain intact: 50 entries verified"


# --- the database refuses changes ----------------------------------------------------------


async def test_the_database_refuses_to_update_audit_entries(
    store: SqlStore, database: Database, clock: ManualClock
) -> None:
    await _append_entries(store, clock, 3)
    with pytest.raises(REFUSED, match="append-only"):
        async with database.transaction() as conn:
            await conn.execute("UPDATE audit_log SET details = '{}' WHERE seq = 2")
    with pytest.raises(REFUSED, match="append-only"):
        async with database.transaction() as conn:
            await conn.execute("UPDATE audit_log SET actor_id = 'someone_else'")
    assert (await verify_chain(store)).entries == 3


async def test_the_database_refuses_to_delete_audit_entries(
    store: SqlStore, database: Database, clock: ManualClock
) -> None:
    await _append_entries(store, clock, 3)
    with pytest.raises(REFUSED, match="append-only"):
        async with database.transaction() as conn:
            await conn.execute("DELETE FROM audit_log WHERE seq = 2")
    with pytest.raises(REFUSED, match="append-only"):
        async with database.transaction() as conn:
            await conn.execute("DELETE FROM audit_log")
    report = await verify_chain(store)
    assert report.ok
    assert report.entries == 3


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_postgres_refuses_to_truncate_the_audit_log(
    store: SqlStore, database: Database, clock: ManualClock
) -> None:
    """Row triggers do not fire for TRUNCATE, which empties the table in one statement:
    the append-only guarantee needs a statement-level BEFORE TRUNCATE trigger too."""
    await _append_entries(store, clock, 3)
    with pytest.raises(REFUSED, match="append-only"):
        async with database.transaction() as conn:
            await conn.execute("TRUNCATE audit_log")
    assert (await verify_chain(store)).entries == 3


# --- tampering by someone with raw database access -------------------------------------------


async def _drop_append_only_triggers(conn: Connection) -> None:
    if conn.dialect.is_postgres:
        await conn.execute("DROP TRIGGER audit_log_append_only ON audit_log")
    else:
        await conn.execute("DROP TRIGGER audit_log_no_update")
        await conn.execute("DROP TRIGGER audit_log_no_delete")


async def _tampered_log(store: SqlStore, database: Database, clock: ManualClock) -> None:
    """Five good entries, then the triggers are gone."""
    await _append_entries(store, clock, 5)
    assert (await verify_chain(store)).ok
    async with database.transaction() as conn:
        await _drop_append_only_triggers(conn)


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("details", '{"devices":0,"n":2}'),
        ("actor_id", "staff_somebody_else"),
        ("actor_kind", "system"),
        ("action", "witness.erased"),
        ("case_id", "case_other"),
        ("reason", "a better excuse"),
        ("subject_id", "wit_other"),
    ],
)
async def test_a_changed_field_breaks_the_chain_at_that_entry(
    store: SqlStore, database: Database, clock: ManualClock, column: str, value: str
) -> None:
    await _tampered_log(store, database, clock)
    async with database.transaction() as conn:
        assert await conn.execute(f"UPDATE audit_log SET {column} = $1 WHERE seq = 3", value) == 1

    for page in (1000, 2):
        report = await verify_chain(store, page=page)
        assert not report.ok
        assert report.first_broken_seq == 3
        assert report.problem == "content does not match its hash"
        assert report.entries == 2
        assert report.describe().startswith("audit chain broken at entry 3")


async def test_a_changed_timestamp_breaks_the_chain(
    store: SqlStore, database: Database, clock: ManualClock
) -> None:
    await _tampered_log(store, database, clock)
    async with database.transaction() as conn:
        await conn.execute("UPDATE audit_log SET at = at - 3600000 WHERE seq = 4")
    report = await verify_chain(store)
    assert report.first_broken_seq == 4


async def test_a_rehashed_forgery_breaks_the_chain_at_the_next_entry(
    store: SqlStore, database: Database, clock: ManualClock
) -> None:
    """An attacker who rewrites an entry and recomputes its own hash still cannot make
    the following entry link to it."""
    await _tampered_log(store, database, clock)
    [victim] = [e for e in await _all_entries(store) if e.seq == 2]
    forged_details = '{"devices":0,"n":1}'
    canonical = canonical_entry(
        victim.seq,
        victim.at,
        victim.actor_kind,
        victim.actor_id,
        victim.action,
        victim.subject_kind,
        victim.subject_id,
        victim.case_id,
        victim.reason,
        forged_details,
    )
    async with database.transaction() as conn:
        await conn.execute(
            "UPDATE audit_log SET details = $1, entry_hash = $2 WHERE seq = 2",
            forged_details,
            entry_hash(victim.prev_hash, canonical),
        )

    report = await verify_chain(store)
    assert report.first_broken_seq == 3
    assert report.problem == "does not link to the previous entry"
    assert report.entries == 2


async def test_a_deleted_middle_entry_is_named(
    store: SqlStore, database: Database, clock: ManualClock
) -> None:
    await _tampered_log(store, database, clock)
    async with database.transaction() as conn:
        assert await conn.execute("DELETE FROM audit_log WHERE seq = 3") == 1

    for page in (1000, 2):
        report = await verify_chain(store, page=page)
        assert report.first_broken_seq == 3
        assert report.problem == "entry 3 is missing (next is 4)"
        assert report.entries == 2


async def test_a_deleted_first_entry_is_named(
    store: SqlStore, database: Database, clock: ManualClock
) -> None:
    await _tampered_log(store, database, clock)
    async with database.transaction() as conn:
        await conn.execute("DELETE FROM audit_log WHERE seq = 1")
    report = await verify_chain(store)
    assert report.first_broken_seq == 1
    assert report.entries == 0


async def test_a_deleted_and_renumbered_entry_is_named(
    store: SqlStore, database: Database, clock: ManualClock
) -> None:
    """Closing the gap by renumbering the later entries does not hide the deletion."""
    await _tampered_log(store, database, clock)
    async with database.transaction() as conn:
        await conn.execute("DELETE FROM audit_log WHERE seq = 3")
        await conn.execute("UPDATE audit_log SET seq = seq - 1 WHERE seq = 4")
        await conn.execute("UPDATE audit_log SET seq = seq - 1 WHERE seq = 5")

    report = await verify_chain(store)
    assert report.first_broken_seq == 3
    assert report.problem == "does not link to the previous entry"


async def test_reordered_entries_are_named(
    store: SqlStore, database: Database, clock: ManualClock
) -> None:
    await _tampered_log(store, database, clock)
    async with database.transaction() as conn:
        await conn.execute("UPDATE audit_log SET seq = -1 WHERE seq = 2")
        await conn.execute("UPDATE audit_log SET seq = 2 WHERE seq = 3")
        await conn.execute("UPDATE audit_log SET seq = 3 WHERE seq = -1")

    report = await verify_chain(store)
    assert report.first_broken_seq == 2
    assert report.problem == "does not link to the previous entry"


async def test_swapped_hashes_are_named(
    store: SqlStore, database: Database, clock: ManualClock
) -> None:
    await _tampered_log(store, database, clock)
    entries = {e.seq: e for e in await _all_entries(store)}
    async with database.transaction() as conn:
        # Swap the stored hashes (and links) of entries 3 and 4.
        for seq, source in ((3, entries[4]), (4, entries[3])):
            await conn.execute(
                "UPDATE audit_log SET prev_hash = $1, entry_hash = $2 WHERE seq = $3",
                source.prev_hash,
                source.entry_hash,
                seq,
            )

    report = await verify_chain(store)
    assert report.first_broken_seq == 3
    assert report.problem == "does not link to the previous entry"


async def test_an_inserted_entry_is_named(
    store: SqlStore, database: Database, clock: ManualClock
) -> None:
    """Slipping a made-up entry in at the end with a made-up link is caught."""
    await _tampered_log(store, database, clock)
    [last] = (await _all_entries(store))[-1:]
    fake = AuditEntry(
        seq=6,
        at=last.at,
        actor_kind="staff",
        actor_id="staff_x",
        action="case.viewed",
        subject_kind=None,
        subject_id=None,
        case_id=None,
        reason=None,
        details="{}",
        prev_hash=b"\x01" * 32,
        entry_hash=b"\x02" * 32,
    )
    async with store.write() as uow:
        await uow.audit.insert(fake)
    report = await verify_chain(store)
    assert report.first_broken_seq == 6
    assert report.entries == 5


# --- concurrency ------------------------------------------------------------------------


def _assert_gapless(entries: list[AuditEntry], appended: list[AuditEntry], count: int) -> None:
    assert [e.seq for e in entries] == list(range(1, count + 1))
    assert sorted(e.seq for e in appended) == list(range(1, count + 1))
    assert {e.entry_hash for e in entries} == {e.entry_hash for e in appended}


async def test_concurrent_appends_make_one_gapless_chain(
    store: SqlStore, clock: ManualClock
) -> None:
    log = AuditLog(clock)

    async def append(n: int) -> AuditEntry:
        async with store.write() as uow:
            return await log.append(uow.audit, OFFICER, "witness.viewed", details={"n": n})

    appended = await asyncio.gather(*(append(n) for n in range(60)))

    _assert_gapless(await _all_entries(store), list(appended), 60)
    report = await verify_chain(store)
    assert report.ok
    assert report.entries == 60


async def test_two_server_instances_append_to_one_gapless_chain(
    store: SqlStore, second_store: SqlStore, clock: ManualClock
) -> None:
    log = AuditLog(clock)

    async def append(n: int) -> AuditEntry:
        target = store if n % 2 else second_store
        async with target.write() as uow:
            return await log.append(uow.audit, OFFICER, "witness.viewed", details={"n": n})

    appended = await asyncio.gather(*(append(n) for n in range(60)))

    _assert_gapless(await _all_entries(store), list(appended), 60)
    for either in (store, second_store):
        report = await verify_chain(either)
        assert report.ok
        assert report.entries == 60
