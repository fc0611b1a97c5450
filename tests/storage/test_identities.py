"""Identities, identity backups and case rosters: kept exactly as uploaded, replaced only
by compare-and-swap, so that of two concurrent uploads (in one instance or in two)
exactly one wins and the other is told."""

from __future__ import annotations

import asyncio
import secrets
from datetime import timedelta

import pytest

from server.clock import ManualClock
from server.domain.models import Identity, RosterRecord
from server.storage.store import SqlStore
from tests.storage.factories import CaseTeam, make_case_team


def identity(owner: str, version: int, *, key: str | None = None, clock: ManualClock) -> Identity:
    key = key or secrets.token_urlsafe(32)
    return Identity(
        owner=owner,
        identity_key=key,
        version=version,
        device_list=f'{{"identity_key":"{key}","version":{version},"n":"{secrets.token_hex(4)}"}}',
        updated_at=clock.now(),
    )


def roster(case_id: str, version: int, clock: ManualClock) -> RosterRecord:
    signer = secrets.token_urlsafe(32)
    return RosterRecord(
        case_id=case_id,
        version=version,
        signer_key=signer,
        body=f'{{"case_id":"{case_id}","version":{version},"signer":"{signer}"}}',
        updated_at=clock.now(),
    )


async def stored_identity(store: SqlStore, owner: str) -> Identity | None:
    async with store.read() as uow:
        return await uow.identities.get(owner)


async def put_identity(store: SqlStore, new: Identity, expected: Identity | None) -> bool:
    async with store.write() as uow:
        return await uow.identities.put(new, expected)


@pytest.fixture
async def team(store: SqlStore, clock: ManualClock) -> CaseTeam:
    return await make_case_team(store, clock.now())


# --------------------------------------------------------------------------- identities


async def test_a_first_identity_is_stored_exactly_and_only_once(
    store: SqlStore, clock: ManualClock
) -> None:
    first = identity("staff:s1", 1, clock=clock)
    assert await stored_identity(store, "staff:s1") is None
    assert await put_identity(store, first, None)
    assert await stored_identity(store, "staff:s1") == first
    # Someone else who also thought there was none yet loses, whatever their key.
    assert not await put_identity(store, identity("staff:s1", 1, clock=clock), None)
    assert not await put_identity(
        store, identity("staff:s1", 5, key=first.identity_key, clock=clock), None
    )
    assert await stored_identity(store, "staff:s1") == first


async def test_an_identity_is_replaced_only_over_the_version_and_key_expected(
    store: SqlStore, clock: ManualClock
) -> None:
    first = identity("staff:s1", 1, clock=clock)
    assert await put_identity(store, first, None)
    clock.advance(timedelta(minutes=1))
    second = identity("staff:s1", 2, key=first.identity_key, clock=clock)
    assert await put_identity(store, second, first)
    assert await stored_identity(store, "staff:s1") == second
    # Over the version before: stale, refused.
    stale = identity("staff:s1", 3, key=first.identity_key, clock=clock)
    assert not await put_identity(store, stale, first)
    # Over the right version but another key: not what is stored, refused.
    wrong_key = Identity("staff:s1", "another-key", 2, "{}", clock.now())
    assert not await put_identity(store, identity("staff:s1", 3, clock=clock), wrong_key)
    assert await stored_identity(store, "staff:s1") == second
    # A new key over the stored one replaces it.
    replacement = identity("staff:s1", 1, clock=clock)
    assert await put_identity(store, replacement, second)
    assert await stored_identity(store, "staff:s1") == replacement


async def test_identities_are_kept_per_owner(store: SqlStore, clock: ManualClock) -> None:
    people = {f"staff:s{n}": identity(f"staff:s{n}", n, clock=clock) for n in range(1, 4)}
    witness = identity("witness:s1", 1, clock=clock)  # same id, other kind of person
    for one in [*people.values(), witness]:
        assert await put_identity(store, one, None)
    async with store.read() as uow:
        assert await uow.identities.get_many([]) == {}
        found = await uow.identities.get_many(["staff:s1", "staff:s3", "staff:nobody"])
        assert found == {"staff:s1": people["staff:s1"], "staff:s3": people["staff:s3"]}
        assert await uow.identities.get("witness:s1") == witness


@pytest.mark.parametrize("first", [True, False], ids=["first-identity", "next-version"])
async def test_of_concurrent_identity_updates_exactly_one_wins(
    store: SqlStore, second_store: SqlStore, clock: ManualClock, first: bool
) -> None:
    """Every writer read the same row (or none) and swaps over it, from this instance
    and from another one: one succeeds, the others find the row changed."""
    current = None if first else identity("staff:s1", 1, clock=clock)
    if current is not None:
        assert await put_identity(store, current, None)
    key = None if current is None else current.identity_key
    candidates = [identity("staff:s1", 1 if first else 2, key=key, clock=clock) for _ in range(10)]

    async def attempt(n: int) -> bool:
        async with (store if n % 2 else second_store).write() as uow:
            return await uow.identities.put(candidates[n], current)

    won = await asyncio.gather(*(attempt(n) for n in range(10)))
    assert won.count(True) == 1, won
    assert await stored_identity(store, "staff:s1") == candidates[won.index(True)]


async def test_a_backup_is_one_per_owner_and_the_latest_wins(
    store: SqlStore, clock: ManualClock
) -> None:
    async with store.write() as uow:
        assert await uow.identities.backup("staff:s1") is None
        await uow.identities.put_backup("staff:s1", "key-1", "sealed-1", clock.now())
        await uow.identities.put_backup("staff:s2", "key-2", "sealed-2", clock.now())
    clock.advance(timedelta(days=1))
    async with store.write() as uow:
        await uow.identities.put_backup("staff:s1", "key-3", "sealed-3", clock.now())
    async with store.read() as uow:
        assert await uow.identities.backup("staff:s1") == ("key-3", "sealed-3")
        assert await uow.identities.backup("staff:s2") == ("key-2", "sealed-2")
        assert await uow.identities.backup("staff:s3") is None


# --------------------------------------------------------------------------- rosters


async def stored_roster(store: SqlStore, case_id: str) -> RosterRecord | None:
    async with store.read() as uow:
        return await uow.rosters.get(case_id)


async def put_roster(store: SqlStore, record: RosterRecord) -> bool:
    async with store.write() as uow:
        return await uow.rosters.put(record)


async def test_a_roster_goes_up_one_version_at_a_time(
    store: SqlStore, clock: ManualClock, team: CaseTeam
) -> None:
    case_id = team.case.id
    assert await stored_roster(store, case_id) is None
    assert not await put_roster(store, roster(case_id, 2, clock))  # nothing to follow yet
    first = roster(case_id, 1, clock)
    assert await put_roster(store, first)
    assert await stored_roster(store, case_id) == first
    assert not await put_roster(store, roster(case_id, 1, clock))  # a second first
    assert not await put_roster(store, roster(case_id, 3, clock))  # skips one
    clock.advance(timedelta(minutes=5))
    second = roster(case_id, 2, clock)
    assert await put_roster(store, second)
    assert not await put_roster(store, roster(case_id, 2, clock))  # repeats one
    assert await stored_roster(store, case_id) == second


async def test_rosters_are_kept_per_case(
    store: SqlStore, clock: ManualClock, team: CaseTeam
) -> None:
    other = await make_case_team(store, clock.now())
    mine, theirs = roster(team.case.id, 1, clock), roster(other.case.id, 1, clock)
    assert await put_roster(store, mine)
    assert await put_roster(store, theirs)
    assert await put_roster(store, roster(team.case.id, 2, clock))
    assert await stored_roster(store, other.case.id) == theirs


@pytest.mark.parametrize("version", [1, 2], ids=["first-roster", "next-version"])
async def test_of_concurrent_rosters_of_one_version_exactly_one_is_kept(
    store: SqlStore, second_store: SqlStore, clock: ManualClock, team: CaseTeam, version: int
) -> None:
    case_id = team.case.id
    if version > 1:
        assert await put_roster(store, roster(case_id, version - 1, clock))
    candidates = [roster(case_id, version, clock) for _ in range(10)]

    async def attempt(n: int) -> bool:
        async with (store if n % 2 else second_store).write() as uow:
            return await uow.rosters.put(candidates[n])

    won = await asyncio.gather(*(attempt(n) for n in range(10)))
    assert won.count(True) == 1, won
    assert await stored_roster(store, case_id) == candidates[won.index(True)]
