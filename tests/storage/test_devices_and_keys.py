"""Devices (identity keys, tokens, revocation, last seen) and their one-time and
fallback keys, including concurrent claims from one and from two server instances."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta

import pytest

from server.clock import ManualClock
from server.domain.models import AgencyKind, Device, OwnerKind, SignedKey
from server.errors import Conflict
from server.storage.protocols import DeviceRepository
from server.storage.store import SqlStore
from tests.storage.factories import (
    device_row,
    make_agency,
    make_case,
    make_case_team,
    make_case_team_in,
    make_device,
    make_staff,
    make_witness,
    signed_key,
    token_hash_for,
)
from tests.storage.locks import backend_pid, until_blocked

# --- devices ---------------------------------------------------------------------------


async def test_a_device_is_found_by_id_and_by_token_hash(
    store: SqlStore, clock: ManualClock
) -> None:
    async with store.write() as uow:
        device = await make_device(uow, OwnerKind.WITNESS, "wit_1", clock.now())

    async with store.read() as uow:
        assert await uow.devices.get(device.id) == device
        assert await uow.devices.get_by_token_hash(token_hash_for(device.id)) == device
        assert await uow.devices.get_by_token_hash(b"\x00" * 32) is None
        assert await uow.devices.get("dev_missing") is None
    assert device.active


@pytest.mark.parametrize("shared", ["curve25519", "ed25519", "token"])
async def test_identity_keys_and_tokens_are_registered_once(
    store: SqlStore, clock: ManualClock, shared: str
) -> None:
    async with store.write() as uow:
        first = await make_device(uow, OwnerKind.STAFF, "staff_1", clock.now())

    fresh = device_row(OwnerKind.STAFF, "staff_2", clock.now())
    token = b"\x01" * 32
    if shared == "curve25519":
        fresh = dataclasses.replace(fresh, curve25519=first.curve25519)
    elif shared == "ed25519":
        fresh = dataclasses.replace(fresh, ed25519=first.ed25519)
    else:
        token = token_hash_for(first.id)

    with pytest.raises(Conflict):
        async with store.write() as uow:
            await uow.devices.insert(fresh, token)

    async with store.read() as uow:
        assert await uow.devices.get(fresh.id) is None
        assert await uow.devices.get_by_token_hash(token_hash_for(first.id)) == first


async def test_list_for_owner_hides_revoked_devices_unless_asked(
    store: SqlStore, clock: ManualClock
) -> None:
    async with store.write() as uow:
        old = await make_device(uow, OwnerKind.STAFF, "staff_1", clock.now())
        clock.advance(timedelta(minutes=1))
        new = await make_device(uow, OwnerKind.STAFF, "staff_1", clock.now())
        await make_device(uow, OwnerKind.STAFF, "staff_2", clock.now())
        await make_device(uow, OwnerKind.WITNESS, "staff_1", clock.now())  # same id, other kind
        assert await uow.devices.revoke(old.id, "staff_admin", clock.now())

    async with store.read() as uow:
        assert await uow.devices.list_for_owner(OwnerKind.STAFF, "staff_1") == [new]
        everything = await uow.devices.list_for_owner(
            OwnerKind.STAFF, "staff_1", include_revoked=True
        )
        assert [d.id for d in everything] == [old.id, new.id]
        assert everything[0].revoked_at == clock.now()
        assert await uow.devices.list_for_owner(OwnerKind.STAFF, "staff_nobody") == []


async def test_revoke_is_a_one_time_transition(store: SqlStore, clock: ManualClock) -> None:
    async with store.write() as uow:
        device = await make_device(uow, OwnerKind.WITNESS, "wit_1", clock.now())

    clock.advance(timedelta(hours=1))
    revoked_at = clock.now()
    async with store.write() as uow:
        assert await uow.devices.revoke(device.id, "staff_admin", revoked_at) is True

    clock.advance(timedelta(hours=1))
    async with store.write() as uow:
        assert await uow.devices.revoke(device.id, "staff_other", clock.now()) is False
        assert await uow.devices.revoke("dev_missing", "staff_other", clock.now()) is False

    async with store.read() as uow:
        stored = await uow.devices.get(device.id)
        by_token = await uow.devices.get_by_token_hash(token_hash_for(device.id))
    assert stored is not None
    assert stored.revoked_at == revoked_at  # the second revocation changed nothing
    assert not stored.active
    # Authentication must still find a revoked device, to tell it that it was revoked.
    assert by_token == stored


async def test_touch_many_only_moves_last_seen_forward(store: SqlStore, clock: ManualClock) -> None:
    start = clock.now()
    async with store.write() as uow:
        a = await make_device(uow, OwnerKind.STAFF, "staff_1", start)
        b = await make_device(uow, OwnerKind.STAFF, "staff_1", start)
        c = await make_device(uow, OwnerKind.STAFF, "staff_1", start)

    later = start + timedelta(minutes=5)
    earlier = start - timedelta(minutes=5)
    async with store.write() as uow:
        await uow.devices.touch_many([(a.id, later), (b.id, earlier), ("dev_missing", later)])
        await uow.devices.touch_many([])

    async with store.read() as uow:
        assert (await _get(uow.devices, a.id)).last_seen_at == later
        assert (await _get(uow.devices, b.id)).last_seen_at == start
        assert (await _get(uow.devices, c.id)).last_seen_at == start

    # An out-of-order batch (a late flush of an older sighting) never moves time back.
    async with store.write() as uow:
        await uow.devices.touch_many([(a.id, start + timedelta(minutes=1)), (a.id, later)])
        await uow.devices.touch_many([(a.id, later + timedelta(seconds=1)), (a.id, start)])
    async with store.read() as uow:
        stored = await _get(uow.devices, a.id)
    assert stored.last_seen_at == later + timedelta(seconds=1)


async def _get(repo: DeviceRepository, device_id: str) -> Device:
    device = await repo.get(device_id)
    assert device is not None
    return device


# --- list_for_case ---------------------------------------------------------------------


@pytest.mark.parametrize("lock", [False, True])
async def test_list_for_case_returns_active_devices_of_the_witness_and_assigned_staff(
    store: SqlStore, clock: ManualClock, lock: bool
) -> None:
    async with store.write() as uow:
        team = await make_case_team_in(uow, clock.now())
        # A second device of the officer, and a revoked one.
        clock.advance(timedelta(seconds=1))
        officer_tablet = await make_device(uow, OwnerKind.STAFF, team.officer.id, clock.now())
        revoked = await make_device(uow, OwnerKind.STAFF, team.officer.id, clock.now())
        await uow.devices.revoke(revoked.id, team.officer.id, clock.now())
        # A colleague of the same agency, not assigned to the case.
        colleague = await make_staff(uow, team.police.id, clock.now())
        await make_device(uow, OwnerKind.STAFF, colleague.id, clock.now())
        # Another case of the same agencies with its own witness and staff.
        other_case = await make_case(
            uow, team.police.id, team.support.id, colleague.id, clock.now()
        )
        await uow.cases.add_staff(other_case.id, colleague.id, colleague.id, clock.now())
        other_witness = await make_witness(uow, other_case.id, colleague.id, clock.now())
        await make_device(uow, OwnerKind.WITNESS, other_witness.id, clock.now())
        # A staff member whose id is used as a witness-owned device: kinds must not mix.
        await make_device(uow, OwnerKind.WITNESS, team.officer.id, clock.now())

    async with store.write() as uow:
        devices = await uow.devices.list_for_case(team.case.id, lock=lock)

    expected = {
        team.witness_device.id,
        team.officer_device.id,
        team.support_device.id,
        officer_tablet.id,
    }
    assert {d.id for d in devices} == expected
    assert len(devices) == len(expected)
    assert all(d.active for d in devices)
    # Oldest first, so every sender lists recipients in the same order.
    assert [d.created_at for d in devices] == sorted(d.created_at for d in devices)
    assert devices[-1].id == officer_tablet.id


async def test_list_for_case_follows_assignment_and_revocation(
    store: SqlStore, clock: ManualClock
) -> None:
    team = await make_case_team(store, clock.now())

    async with store.write() as uow:
        await uow.cases.remove_staff(team.case.id, team.support_worker.id)
        await uow.devices.revoke(team.witness_device.id, team.officer.id, clock.now())

    async with store.read() as uow:
        devices = await uow.devices.list_for_case(team.case.id)
        assert [d.id for d in devices] == [team.officer_device.id]
        assert await uow.devices.list_for_case("case_missing") == []


# --- one-time and fallback keys ----------------------------------------------------------


async def test_one_time_keys_are_added_once_per_key_id(store: SqlStore, clock: ManualClock) -> None:
    async with store.write() as uow:
        device = await make_device(uow, OwnerKind.WITNESS, "wit_1", clock.now())
        other = await make_device(uow, OwnerKind.WITNESS, "wit_2", clock.now())

    async with store.write() as uow:
        assert await uow.keys.add_one_time_keys(device.id, [signed_key(n) for n in range(5)]) == 5
        # Re-uploads (a retried request) and duplicates within one batch are ignored.
        batch = [signed_key(3), signed_key(4), signed_key(5), signed_key(5), signed_key(6)]
        assert await uow.keys.add_one_time_keys(device.id, batch) == 2
        assert await uow.keys.add_one_time_keys(device.id, []) == 0
        # The same key id on another device is a different key.
        assert await uow.keys.add_one_time_keys(other.id, [signed_key(0)]) == 1

    async with store.read() as uow:
        assert await uow.keys.count_one_time_keys(device.id) == 7
        assert await uow.keys.count_one_time_keys(other.id) == 1
        assert await uow.keys.count_one_time_keys("dev_missing") == 0


async def test_a_duplicate_key_id_keeps_the_first_upload(
    store: SqlStore, clock: ManualClock
) -> None:
    async with store.write() as uow:
        device = await make_device(uow, OwnerKind.WITNESS, "wit_1", clock.now())
        await uow.keys.add_one_time_keys(device.id, [signed_key(1)])
        replacement = SignedKey(key_id=signed_key(1).key_id, public_key="evil", signature="x")
        assert await uow.keys.add_one_time_keys(device.id, [replacement]) == 0

    async with store.write() as uow:
        assert await uow.keys.claim_one_time_key(device.id) == signed_key(1)


async def test_claim_hands_out_each_key_once_oldest_first_then_none(
    store: SqlStore, clock: ManualClock
) -> None:
    async with store.write() as uow:
        device = await make_device(uow, OwnerKind.WITNESS, "wit_1", clock.now())
        other = await make_device(uow, OwnerKind.WITNESS, "wit_2", clock.now())
        await uow.keys.add_one_time_keys(device.id, [signed_key(n) for n in range(3)])
        await uow.keys.add_one_time_keys(other.id, [signed_key(99)])

    claimed = []
    for _ in range(4):
        async with store.write() as uow:
            claimed.append(await uow.keys.claim_one_time_key(device.id))
    assert claimed == [signed_key(0), signed_key(1), signed_key(2), None]

    async with store.read() as uow:
        assert await uow.keys.count_one_time_keys(device.id) == 0
        assert await uow.keys.count_one_time_keys(other.id) == 1


async def test_a_claim_in_a_rolled_back_transaction_returns_the_key(
    store: SqlStore, clock: ManualClock
) -> None:
    async with store.write() as uow:
        device = await make_device(uow, OwnerKind.WITNESS, "wit_1", clock.now())
        await uow.keys.add_one_time_keys(device.id, [signed_key(1)])

    async def claim_then_fail() -> None:
        async with store.write() as uow:
            assert await uow.keys.claim_one_time_key(device.id) == signed_key(1)
            raise RuntimeError("the request failed after claiming")

    with pytest.raises(RuntimeError):
        await claim_then_fail()

    async with store.write() as uow:
        assert await uow.keys.claim_one_time_key(device.id) == signed_key(1)


async def test_the_fallback_key_is_set_replaced_and_read(
    store: SqlStore, clock: ManualClock
) -> None:
    async with store.write() as uow:
        device = await make_device(uow, OwnerKind.WITNESS, "wit_1", clock.now())
        other = await make_device(uow, OwnerKind.WITNESS, "wit_2", clock.now())
        assert await uow.keys.get_fallback_key(device.id) is None
        await uow.keys.set_fallback_key(device.id, signed_key(1, prefix="fb"), clock.now())
        await uow.keys.set_fallback_key(other.id, signed_key(7, prefix="fb"), clock.now())

    async with store.read() as uow:
        assert await uow.keys.get_fallback_key(device.id) == signed_key(1, prefix="fb")

    clock.advance(timedelta(days=7))
    async with store.write() as uow:
        await uow.keys.set_fallback_key(device.id, signed_key(2, prefix="fb"), clock.now())

    async with store.read() as uow:
        assert await uow.keys.get_fallback_key(device.id) == signed_key(2, prefix="fb")
        assert await uow.keys.get_fallback_key(other.id) == signed_key(7, prefix="fb")
        # Claiming a one-time key never consumes the fallback key.
        assert await uow.keys.count_one_time_keys(device.id) == 0


async def test_delete_for_device_removes_its_keys_only(store: SqlStore, clock: ManualClock) -> None:
    async with store.write() as uow:
        device = await make_device(uow, OwnerKind.WITNESS, "wit_1", clock.now())
        other = await make_device(uow, OwnerKind.WITNESS, "wit_2", clock.now())
        for d in (device, other):
            await uow.keys.add_one_time_keys(d.id, [signed_key(n) for n in range(3)])
            await uow.keys.set_fallback_key(d.id, signed_key(0, prefix="fb"), clock.now())

    async with store.write() as uow:
        await uow.keys.delete_for_device(device.id)

    async with store.read() as uow:
        assert await uow.keys.count_one_time_keys(device.id) == 0
        assert await uow.keys.get_fallback_key(device.id) is None
        assert await uow.keys.count_one_time_keys(other.id) == 3
        assert await uow.keys.get_fallback_key(other.id) == signed_key(0, prefix="fb")


async def _stock_keys(store: SqlStore, clock: ManualClock, count: int) -> str:
    async with store.write() as uow:
        police = await make_agency(uow, clock.now(), kind=AgencyKind.POLICE)
        officer = await make_staff(uow, police.id, clock.now())
        device = await make_device(uow, OwnerKind.STAFF, officer.id, clock.now())
        added = await uow.keys.add_one_time_keys(device.id, [signed_key(n) for n in range(count)])
    assert added == count
    return device.id


class _Overlap:
    """Counts how many claim transactions were open at the same time."""

    def __init__(self) -> None:
        self.open = 0
        self.peak = 0

    async def claim(self, store: SqlStore, device_id: str) -> SignedKey | None:
        async with store.write() as uow:
            self.open += 1
            self.peak = max(self.peak, self.open)
            try:
                return await uow.keys.claim_one_time_key(device_id)
            finally:
                self.open -= 1


def _assert_claims(results: list[SignedKey | None], stocked: int, attempts: int) -> None:
    handed_out = [r.key_id for r in results if r is not None]
    assert len(handed_out) == len(set(handed_out)), "a one-time key was handed out twice"
    assert len(handed_out) == stocked
    assert set(handed_out) == {signed_key(n).key_id for n in range(stocked)}
    assert results.count(None) == attempts - stocked


async def test_concurrent_claims_never_hand_out_a_key_twice(
    store: SqlStore, clock: ManualClock
) -> None:
    device_id = await _stock_keys(store, clock, 50)

    overlap = _Overlap()
    results = await asyncio.gather(*(overlap.claim(store, device_id) for _ in range(80)))

    _assert_claims(list(results), stocked=50, attempts=80)
    if store.db.dialect.is_postgres:
        assert overlap.peak > 1, "the claims did not actually run concurrently"
    async with store.read() as uow:
        assert await uow.keys.count_one_time_keys(device_id) == 0


async def test_two_server_instances_never_hand_out_a_key_twice(
    store: SqlStore, second_store: SqlStore, clock: ManualClock
) -> None:
    device_id = await _stock_keys(store, clock, 50)

    overlap = _Overlap()
    claims = [overlap.claim(store if n % 2 else second_store, device_id) for n in range(80)]
    results = await asyncio.gather(*claims)

    _assert_claims(list(results), stocked=50, attempts=80)
    if store.db.dialect.is_postgres:
        assert overlap.peak > 1, "the two instances' claims did not overlap"
    async with second_store.read() as uow:
        assert await uow.keys.count_one_time_keys(device_id) == 0


async def test_a_revocation_waits_for_a_transaction_that_locked_the_case_devices(
    store: SqlStore, second_store: SqlStore, clock: ManualClock
) -> None:
    """Queueing messages locks the recipient list, so a device cannot be revoked between
    the list being read and the copies being stored."""
    team = await make_case_team(store, clock.now())

    async def revoke() -> bool:
        async with second_store.write() as uow:
            return await uow.devices.revoke(team.support_device.id, "staff_admin", clock.now())

    async with store.write() as uow:
        devices = await uow.devices.list_for_case(team.case.id, lock=True)
        assert team.support_device.id in {d.id for d in devices}
        task = asyncio.create_task(revoke())
        await until_blocked(second_store, store, await backend_pid(uow.conn))
        for _ in range(20):
            await asyncio.sleep(0)
        assert not task.done(), "the revocation did not wait for the lock"

    assert await task is True
    async with store.read() as uow:
        assert team.support_device.id not in {
            d.id for d in await uow.devices.list_for_case(team.case.id)
        }
