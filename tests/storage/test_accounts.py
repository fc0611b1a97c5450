"""Agencies and staff accounts: what the account repositories promise."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from server.clock import ManualClock
from server.domain.models import AgencyKind, Role
from server.errors import Conflict
from server.storage.store import SqlStore
from tests.storage.factories import agency_row, make_agency, make_staff, staff_row


async def test_an_agency_is_stored_and_found_by_id_and_by_name(
    store: SqlStore, clock: ManualClock
) -> None:
    agency = agency_row(
        clock.now(), name="Politie Rotterdam", kind=AgencyKind.POLICE, requires_reason=True
    )
    async with store.write() as uow:
        await uow.agencies.insert(agency)

    async with store.read() as uow:
        assert await uow.agencies.get(agency.id) == agency
        assert await uow.agencies.get_by_name("Politie Rotterdam") == agency
        assert await uow.agencies.get("agency_missing") is None
        assert await uow.agencies.get_by_name("politie rotterdam") is None


async def test_agencies_are_listed_by_name(store: SqlStore, clock: ManualClock) -> None:
    async with store.write() as uow:
        charlie = await make_agency(uow, clock.now(), name="Charlie")
        alpha = await make_agency(uow, clock.now(), name="Alpha", kind=AgencyKind.SUPPORT)
        bravo = await make_agency(uow, clock.now(), name="Bravo")

    async with store.read() as uow:
        assert await uow.agencies.list() == [alpha, bravo, charlie]


async def test_an_empty_database_lists_no_agencies(store: SqlStore) -> None:
    async with store.read() as uow:
        assert await uow.agencies.list() == []


async def test_a_second_agency_with_the_same_name_is_a_conflict(
    store: SqlStore, clock: ManualClock
) -> None:
    async with store.write() as uow:
        first = await make_agency(uow, clock.now(), name="Same Name")

    with pytest.raises(Conflict):
        async with store.write() as uow:
            await make_agency(uow, clock.now(), name="Same Name", kind=AgencyKind.SUPPORT)

    async with store.read() as uow:
        assert await uow.agencies.list() == [first]


async def test_a_conflict_leaves_the_transaction_usable(
    store: SqlStore, clock: ManualClock
) -> None:
    """Repositories report duplicates without aborting the transaction (on PostgreSQL a
    failed statement would poison the whole transaction), so a caller may recover."""
    async with store.write() as uow:
        await make_agency(uow, clock.now(), name="Taken")
        with pytest.raises(Conflict):
            await make_agency(uow, clock.now(), name="Taken")
        other = await make_agency(uow, clock.now(), name="Other")

    async with store.read() as uow:
        assert [a.name for a in await uow.agencies.list()] == ["Other", "Taken"]
        assert await uow.agencies.get(other.id) == other


async def test_staff_are_stored_and_found_by_id_and_username(
    store: SqlStore, clock: ManualClock
) -> None:
    async with store.write() as uow:
        agency = await make_agency(uow, clock.now())
        staff = staff_row(agency.id, clock.now(), username="officer.jansen", role=Role.SUPERVISOR)
        await uow.staff.insert(staff)

    async with store.read() as uow:
        assert await uow.staff.get(staff.id) == staff
        assert await uow.staff.get_by_username("officer.jansen") == staff
        assert await uow.staff.get("staff_missing") is None
        assert await uow.staff.get_by_username("nobody") is None
    assert not staff.has_totp


async def test_usernames_are_unique_across_agencies(store: SqlStore, clock: ManualClock) -> None:
    async with store.write() as uow:
        police = await make_agency(uow, clock.now())
        support = await make_agency(uow, clock.now(), kind=AgencyKind.SUPPORT)
        original = await make_staff(uow, police.id, clock.now(), username="a.smith")

    with pytest.raises(Conflict):
        async with store.write() as uow:
            await make_staff(uow, support.id, clock.now(), username="a.smith")

    async with store.read() as uow:
        assert await uow.staff.get_by_username("a.smith") == original
        assert await uow.staff.list_by_agency(support.id) == []


async def test_staff_are_listed_per_agency_by_username(store: SqlStore, clock: ManualClock) -> None:
    async with store.write() as uow:
        police = await make_agency(uow, clock.now())
        support = await make_agency(uow, clock.now(), kind=AgencyKind.SUPPORT)
        zed = await make_staff(uow, police.id, clock.now(), username="zed")
        amy = await make_staff(uow, police.id, clock.now(), username="amy")
        await make_staff(uow, support.id, clock.now(), username="bob")

    async with store.read() as uow:
        assert await uow.staff.list_by_agency(police.id) == [amy, zed]
        assert [s.username for s in await uow.staff.list_by_agency(support.id)] == ["bob"]
        assert await uow.staff.list_by_agency("agency_other") == []


async def test_totp_secret_is_stored_sealed_and_resets_the_used_step(
    store: SqlStore, clock: ManualClock
) -> None:
    sealed = b"\x00sealed\xffsecret\x00"
    async with store.write() as uow:
        agency = await make_agency(uow, clock.now())
        staff = await make_staff(uow, agency.id, clock.now())
        await uow.staff.set_totp(staff.id, sealed)
        assert await uow.staff.use_totp_step(staff.id, 1000)

    async with store.read() as uow:
        stored = await uow.staff.get(staff.id)
    assert stored is not None
    assert stored.totp_secret_sealed == sealed
    assert stored.has_totp
    assert stored.totp_last_step == 1000

    # Enrolling a new secret starts the replay window afresh.
    async with store.write() as uow:
        await uow.staff.set_totp(staff.id, b"another")
        assert await uow.staff.use_totp_step(staff.id, 5)

    async with store.write() as uow:
        await uow.staff.set_totp(staff.id, None)
    async with store.read() as uow:
        cleared = await uow.staff.get(staff.id)
    assert cleared is not None
    assert cleared.totp_secret_sealed is None
    assert not cleared.has_totp
    assert cleared.totp_last_step == 0


async def test_a_totp_step_is_accepted_once_and_never_an_earlier_one(
    store: SqlStore, clock: ManualClock
) -> None:
    async with store.write() as uow:
        agency = await make_agency(uow, clock.now())
        staff = await make_staff(uow, agency.id, clock.now())
        await uow.staff.set_totp(staff.id, b"sealed")

    async with store.write() as uow:
        assert await uow.staff.use_totp_step(staff.id, 100) is True
        assert await uow.staff.use_totp_step(staff.id, 100) is False  # replay
        assert await uow.staff.use_totp_step(staff.id, 99) is False  # older code
        assert await uow.staff.use_totp_step(staff.id, 101) is True
        assert await uow.staff.use_totp_step("staff_missing", 500) is False

    async with store.read() as uow:
        stored = await uow.staff.get(staff.id)
    assert stored is not None
    assert stored.totp_last_step == 101


async def test_password_hash_and_active_flag_can_be_changed(
    store: SqlStore, clock: ManualClock
) -> None:
    async with store.write() as uow:
        agency = await make_agency(uow, clock.now())
        staff = await make_staff(uow, agency.id, clock.now())
        other = await make_staff(uow, agency.id, clock.now())

    async with store.write() as uow:
        await uow.staff.set_password_hash(staff.id, "$argon2id$new")
        await uow.staff.set_active(staff.id, False)

    async with store.read() as uow:
        changed = await uow.staff.get(staff.id)
        untouched = await uow.staff.get(other.id)
    assert changed is not None
    assert changed.password_hash == "$argon2id$new"
    assert changed.active is False
    assert untouched == other

    async with store.write() as uow:
        await uow.staff.set_active(staff.id, True)
    async with store.read() as uow:
        reactivated = await uow.staff.get(staff.id)
    assert reactivated is not None
    assert reactivated.active is True


@pytest.mark.parametrize(
    "start",
    [
        datetime(2026, 3, 1, 9, 0, tzinfo=UTC),
        datetime(2038, 6, 1, 12, 0, tzinfo=UTC),
    ],
    ids=["2026", "2038"],
)
async def test_timestamps_round_trip_to_the_millisecond(store: SqlStore, start: datetime) -> None:
    """Times are stored as integer milliseconds: a millisecond-precise time must come
    back unchanged, never a millisecond early."""
    written = [start + timedelta(milliseconds=n) for n in range(50)]
    async with store.write() as uow:
        for n, at in enumerate(written):
            await make_agency(uow, at, name=f"agency {n:02d}")

    async with store.read() as uow:
        read_back = [a.created_at for a in await uow.agencies.list()]
    assert read_back == written
