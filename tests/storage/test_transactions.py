"""Units of work: a write is all or nothing; a read is a consistent, read-only snapshot."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from datetime import timedelta

import asyncpg
import pytest

from server.clock import ManualClock
from server.domain.audit import Actor, AuditLog, verify_chain
from server.domain.models import OwnerKind
from server.errors import Conflict
from server.storage.store import SqlStore
from tests.storage.factories import (
    CaseTeam,
    agency_row,
    make_agency,
    make_case_team_in,
    make_device,
    make_staff,
    send,
    signed_key,
)
from tests.storage.locks import backend_pid, until_blocked


async def test_an_exception_rolls_back_every_write_of_the_unit(
    store: SqlStore, clock: ManualClock
) -> None:
    log = AuditLog(clock)
    written: list[CaseTeam] = []

    async def write_everything_then_fail() -> None:
        async with store.write() as uow:
            team = await make_case_team_in(uow, clock.now())
            written.append(team)
            await uow.keys.add_one_time_keys(team.witness_device.id, [signed_key(1)])
            await uow.keys.set_fallback_key(team.witness_device.id, signed_key(2), clock.now())
            await uow.messages.insert_sends(
                [send(team.witness_device.id, team.case.id, [team.officer_device.id], clock.now())]
            )
            await log.append(uow.audit, Actor.staff(team.officer.id), "case.created")
            # Everything is visible inside the unit itself.
            assert await uow.cases.get(team.case.id) == team.case
            assert await uow.messages.count_pending(team.officer_device.id) == 1
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await write_everything_then_fail()
    [team] = written

    async with store.read() as uow:
        assert await uow.agencies.list() == []
        assert await uow.staff.get(team.officer.id) is None
        assert await uow.cases.get(team.case.id) is None
        assert await uow.cases.staff_ids(team.case.id) == []
        assert await uow.witnesses.get(team.witness.id) is None
        assert await uow.devices.get(team.witness_device.id) is None
        assert await uow.keys.count_one_time_keys(team.witness_device.id) == 0
        assert await uow.keys.get_fallback_key(team.witness_device.id) is None
        assert await uow.messages.count_pending(team.officer_device.id) == 0
        assert await uow.audit.scan(0, 10) == []
    assert (await verify_chain(store)).entries == 0


async def test_a_conflict_that_escapes_rolls_back_the_earlier_writes(
    store: SqlStore, clock: ManualClock
) -> None:
    async with store.write() as uow:
        await make_agency(uow, clock.now(), name="Existing")

    fresh = agency_row(clock.now(), name="Fresh")

    async def insert_fresh_then_duplicate() -> None:
        async with store.write() as uow:
            await uow.agencies.insert(fresh)
            await make_agency(uow, clock.now(), name="Existing")

    with pytest.raises(Conflict):
        await insert_fresh_then_duplicate()

    async with store.read() as uow:
        assert await uow.agencies.get(fresh.id) is None
        assert [a.name for a in await uow.agencies.list()] == ["Existing"]


async def test_a_cancelled_unit_of_work_rolls_back_and_the_store_stays_usable(
    store: SqlStore, clock: ManualClock
) -> None:
    inside = asyncio.Event()
    agency = agency_row(clock.now(), name="Cancelled")

    async def interrupted() -> None:
        async with store.write() as uow:
            await uow.agencies.insert(agency)
            inside.set()
            await asyncio.Event().wait()  # the request is cancelled here

    task = asyncio.create_task(interrupted())
    await inside.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    async with store.write() as uow:
        survivor = await make_agency(uow, clock.now(), name="After")
    async with store.read() as uow:
        assert await uow.agencies.list() == [survivor]


async def test_a_read_does_not_see_uncommitted_writes(store: SqlStore, clock: ManualClock) -> None:
    agency = agency_row(clock.now())
    async with store.write() as uow:
        await uow.agencies.insert(agency)
        async with store.read() as reader:
            assert await reader.agencies.get(agency.id) is None
            assert await reader.agencies.list() == []

    async with store.read() as reader:
        assert await reader.agencies.get(agency.id) == agency


async def test_a_read_keeps_one_consistent_view_while_others_commit(
    store: SqlStore, clock: ManualClock
) -> None:
    async with store.write() as uow:
        first = await make_agency(uow, clock.now(), name="First")

    async with store.read() as reader:
        assert await reader.agencies.list() == [first]
        async with store.write() as uow:
            await make_agency(uow, clock.now(), name="Second")
        # Still the world as it was when the snapshot began.
        assert await reader.agencies.list() == [first]
        assert await reader.agencies.get_by_name("Second") is None

    async with store.read() as reader:
        assert [a.name for a in await reader.agencies.list()] == ["First", "Second"]


async def test_a_read_unit_cannot_write(store: SqlStore, clock: ManualClock) -> None:
    with pytest.raises((sqlite3.DatabaseError, asyncpg.PostgresError)):
        async with store.read() as uow:
            await uow.agencies.insert(agency_row(clock.now()))
    async with store.read() as uow:
        assert await uow.agencies.list() == []


async def test_compare_and_swap_updates_succeed_once_under_concurrency(
    store: SqlStore, clock: ManualClock
) -> None:
    """Conditional updates (revoke, TOTP step) are the building block for "exactly
    once" transitions; concurrent attempts must agree on a single winner."""
    async with store.write() as uow:
        device = await make_device(uow, OwnerKind.STAFF, "staff_1", clock.now())
        agency = await make_agency(uow, clock.now())
        staff = await make_staff(uow, agency.id, clock.now())
        await uow.staff.set_totp(staff.id, b"sealed")

    async def revoke(n: int) -> bool:
        async with store.write() as uow:
            return await uow.devices.revoke(device.id, f"staff_{n}", clock.now())

    async def use_step() -> bool:
        async with store.write() as uow:
            return await uow.staff.use_totp_step(staff.id, 4242)

    revoked = await asyncio.gather(*(revoke(n) for n in range(20)))
    steps = await asyncio.gather(*(use_step() for _ in range(20)))

    assert revoked.count(True) == 1
    assert steps.count(True) == 1
    clock.advance(timedelta(seconds=30))
    async with store.write() as uow:
        assert await uow.staff.use_totp_step(staff.id, 4243)


async def test_a_write_cancelled_while_waiting_for_another_instance_leaves_the_store_usable(
    store: SqlStore, second_store: SqlStore, clock: ManualClock
) -> None:
    """A request can be cancelled (client gone, timeout) while its transaction waits for
    another process (a second instance, the admin command) to release the database.
    The cancelled unit must leave nothing behind: no half-open transaction on the
    connection, no lock held, so both instances keep working."""
    blocked_agency = agency_row(clock.now(), name="Contested")
    holder_agency = agency_row(clock.now(), name="Contested")

    async def blocked_write() -> None:
        async with store.write() as uow:
            await uow.agencies.insert(blocked_agency)

    async with second_store.write() as holder:
        await holder.agencies.insert(holder_agency)
        task = asyncio.create_task(blocked_write())
        await until_blocked(store, second_store, await backend_pid(holder.conn))
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    # This instance can still write...
    async with store.write() as uow:
        after = await make_agency(uow, clock.now(), name="After cancellation")
    # ...and so can the other one (no lock was left behind).
    async with second_store.write() as uow:
        other = await make_agency(uow, clock.now(), name="Other instance")

    async with store.read() as uow:
        assert await uow.agencies.list() == [after, holder_agency, other]


async def test_a_write_cancelled_as_it_begins_leaves_the_store_usable(
    store: SqlStore, clock: ManualClock
) -> None:
    """Cancellation can arrive at any await, including while the transaction is being
    opened. Afterwards every later unit of work must still succeed."""
    agency = agency_row(clock.now(), name="Never committed")

    async def write() -> None:
        async with store.write() as uow:
            await uow.agencies.insert(agency)

    task = asyncio.create_task(write())
    await asyncio.sleep(0)  # the unit is now opening its transaction
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task

    for n in range(3):
        async with store.write() as uow:
            await make_agency(uow, clock.now(), name=f"Later {n}")
    async with store.read() as uow:
        names = [a.name for a in await uow.agencies.list()]
    assert names in (
        ["Later 0", "Later 1", "Later 2"],
        ["Later 0", "Later 1", "Later 2", "Never committed"],  # it was past the commit
    )


async def test_a_read_cancelled_as_it_begins_leaves_the_store_usable(
    store: SqlStore, clock: ManualClock
) -> None:
    async with store.write() as uow:
        agency = await make_agency(uow, clock.now())

    async def read() -> None:
        async with store.read() as uow:
            await uow.agencies.list()

    task = asyncio.create_task(read())
    await asyncio.sleep(0)  # the unit is now opening its transaction
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task

    # Enough reads to go through every pooled reader connection more than once.
    for _ in range(6):
        async with store.read() as uow:
            assert await uow.agencies.list() == [agency]
    async with store.write() as uow:
        await make_agency(uow, clock.now())
