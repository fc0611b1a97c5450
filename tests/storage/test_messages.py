"""Message copies and send records: storing a batch of sends, idempotency lookups,
delivery queues per device, acknowledgements and retention."""

from __future__ import annotations

from datetime import timedelta

import pytest

from server.clock import ManualClock
from server.domain.models import MessageCopy, OwnerKind
from server.storage.database import Database
from server.storage.protocols import NewCopy, NewSend
from server.storage.store import SqlStore
from tests.storage.factories import CaseTeam, make_case, make_case_team, make_device, send


@pytest.fixture
async def team(store: SqlStore, clock: ManualClock) -> CaseTeam:
    return await make_case_team(store, clock.now())


async def _pending(store: SqlStore, device_id: str) -> list[MessageCopy]:
    async with store.read() as uow:
        return await uow.messages.pending_for_device(device_id, limit=100_000)


async def test_insert_sends_stores_one_copy_per_recipient_and_returns_them_with_ids(
    store: SqlStore, clock: ManualClock, team: CaseTeam
) -> None:
    sender = team.witness_device.id
    staff_devices = [team.officer_device.id, team.support_device.id]
    first = send(sender, team.case.id, staff_devices, clock.now(), message_id="m-1")
    clock.advance(timedelta(seconds=1))
    second = NewSend(
        sender_device_id=sender,
        message_id="m-2",
        case_id=team.case.id,
        digest="digest-2",
        created_at=clock.now(),
        copies=[
            NewCopy(team.officer_device.id, 0, "prekey message for officer"),
            NewCopy(team.support_device.id, 1, "normal message for support"),
        ],
    )

    async with store.write() as uow:
        stored = await uow.messages.insert_sends([first, second])

    assert len(stored) == 4
    ids = [c.id for c in stored]
    assert ids == sorted(ids)
    assert len(set(ids)) == 4
    by_key = {(c.message_id, c.recipient_device_id): c for c in stored}
    officer_m2 = by_key[("m-2", team.officer_device.id)]
    assert officer_m2.olm_type == 0
    assert officer_m2.body == "prekey message for officer"
    assert officer_m2.sender_device_id == sender
    assert officer_m2.case_id == team.case.id
    assert officer_m2.created_at == second.created_at
    assert by_key[("m-2", team.support_device.id)].olm_type == 1
    assert by_key[("m-1", team.support_device.id)].created_at == first.created_at

    # What insert_sends returned is exactly what the recipients will be handed.
    officer_queue = await _pending(store, team.officer_device.id)
    support_queue = await _pending(store, team.support_device.id)
    assert officer_queue == [c for c in stored if c.recipient_device_id == team.officer_device.id]
    assert support_queue == [c for c in stored if c.recipient_device_id == team.support_device.id]
    assert [c.message_id for c in officer_queue] == ["m-1", "m-2"]
    assert await _pending(store, sender) == []


async def test_insert_sends_with_nothing_to_store(store: SqlStore, team: CaseTeam) -> None:
    async with store.write() as uow:
        assert await uow.messages.insert_sends([]) == []


async def test_existing_digests_finds_earlier_sends_only(
    store: SqlStore, clock: ManualClock, team: CaseTeam
) -> None:
    sender = team.officer_device.id
    sent_at = clock.now()
    async with store.write() as uow:
        await uow.messages.insert_sends(
            [
                send(
                    sender,
                    team.case.id,
                    [team.witness_device.id],
                    sent_at,
                    message_id="a",
                    digest="digest-a",
                ),
                send(
                    sender,
                    team.case.id,
                    [team.witness_device.id],
                    sent_at,
                    message_id="b",
                    digest="digest-b",
                ),
            ]
        )

    async with store.read() as uow:
        found = await uow.messages.existing_digests(
            [
                (sender, "a"),
                (sender, "never-sent"),
                (team.support_device.id, "b"),  # same message id, other sender
                (sender, "b"),
            ]
        )
        assert await uow.messages.existing_digests([]) == {}
    assert found == {
        (sender, "a"): ("digest-a", sent_at),
        (sender, "b"): ("digest-b", sent_at),
    }


async def test_a_send_with_no_copies_is_still_recorded_for_idempotency(
    store: SqlStore, clock: ManualClock, team: CaseTeam
) -> None:
    lonely = send(team.officer_device.id, team.case.id, [], clock.now(), digest="d")
    async with store.write() as uow:
        assert await uow.messages.insert_sends([lonely]) == []
    async with store.read() as uow:
        found = await uow.messages.existing_digests([(lonely.sender_device_id, lonely.message_id)])
    assert found == {(lonely.sender_device_id, lonely.message_id): ("d", clock.now())}


async def test_pending_for_device_pages_in_id_order(
    store: SqlStore, clock: ManualClock, team: CaseTeam
) -> None:
    witness = team.witness_device.id
    async with store.write() as uow:
        stored = await uow.messages.insert_sends(
            [
                send(
                    team.officer_device.id,
                    team.case.id,
                    [witness, team.support_device.id],
                    clock.now(),
                )
                for _ in range(7)
            ]
        )
    mine = [c for c in stored if c.recipient_device_id == witness]

    async with store.read() as uow:
        page1 = await uow.messages.pending_for_device(witness, limit=3)
        page2 = await uow.messages.pending_for_device(witness, after_id=page1[-1].id, limit=3)
        page3 = await uow.messages.pending_for_device(witness, after_id=page2[-1].id, limit=3)
        page4 = await uow.messages.pending_for_device(witness, after_id=page3[-1].id, limit=3)
        everything = await uow.messages.pending_for_device(witness)
        nobody = await uow.messages.pending_for_device("dev_missing")
    assert page1 == mine[0:3]
    assert page2 == mine[3:6]
    assert page3 == mine[6:7]
    assert page4 == []
    assert everything == mine
    assert nobody == []


async def test_delete_copies_deletes_exactly_the_acknowledged_pairs(
    store: SqlStore, clock: ManualClock, team: CaseTeam
) -> None:
    witness, officer, support = team.device_ids
    async with store.write() as uow:
        stored = await uow.messages.insert_sends(
            [send(witness, team.case.id, [officer, support], clock.now()) for _ in range(4)]
        )
    officer_copies = [c for c in stored if c.recipient_device_id == officer]
    support_copies = [c for c in stored if c.recipient_device_id == support]

    acks = [(officer, officer_copies[0].id), (officer, officer_copies[2].id)]
    async with store.write() as uow:
        assert await uow.messages.delete_copies(acks) == 2

    assert await _pending(store, officer) == [officer_copies[1], officer_copies[3]]
    assert await _pending(store, support) == support_copies


async def test_a_device_cannot_acknowledge_another_devices_copy(
    store: SqlStore, clock: ManualClock, team: CaseTeam
) -> None:
    witness, officer, support = team.device_ids
    async with store.write() as uow:
        stored = await uow.messages.insert_sends(
            [send(witness, team.case.id, [officer, support], clock.now())]
        )
    officer_copy, support_copy = sorted(stored, key=lambda c: c.recipient_device_id != officer)

    async with store.write() as uow:
        # The officer's device names the support worker's copy: nothing happens.
        assert await uow.messages.delete_copies([(officer, support_copy.id)]) == 0
        # Mixed: one legitimate pair, one foreign one, one unknown id.
        mixed = [(officer, officer_copy.id), (witness, support_copy.id), (officer, 10**12)]
        assert await uow.messages.delete_copies(mixed) == 1
        assert await uow.messages.delete_copies([]) == 0

    assert await _pending(store, support) == [support_copy]
    assert await _pending(store, officer) == []


@pytest.mark.parametrize("analyzed", [False, True], ids=["fresh-stats", "analyzed"])
async def test_delete_copies_is_never_a_silent_no_op(
    store: SqlStore, database: Database, clock: ManualClock, team: CaseTeam, analyzed: bool
) -> None:
    """Regression: SQLite 3.40 matched nothing for a row-value ``IN`` over the columns of
    the (recipient_device_id, id) index, so acknowledged copies silently stayed queued
    and were redelivered forever. Use a queue big enough for the planner to pick that
    index, with and without statistics."""
    witness, officer, support = team.device_ids
    async with store.write() as uow:
        stored = await uow.messages.insert_sends(
            [send(witness, team.case.id, [officer, support], clock.now()) for _ in range(300)]
        )
    if analyzed:
        async with database.transaction() as conn:
            await conn.execute("ANALYZE")
    officer_copies = [c for c in stored if c.recipient_device_id == officer]
    support_copies = [c for c in stored if c.recipient_device_id == support]
    acked = officer_copies[::2]

    async with store.write() as uow:
        deleted = await uow.messages.delete_copies([(officer, c.id) for c in acked])
        single = await uow.messages.delete_copies([(support, support_copies[-1].id)])

    assert deleted == len(acked) == 150
    assert single == 1
    assert await _pending(store, officer) == officer_copies[1::2]
    assert await _pending(store, support) == support_copies[:-1]


async def test_delete_for_device_empties_one_queue(
    store: SqlStore, clock: ManualClock, team: CaseTeam
) -> None:
    witness, officer, support = team.device_ids
    async with store.write() as uow:
        await uow.messages.insert_sends(
            [send(witness, team.case.id, [officer, support], clock.now()) for _ in range(3)]
        )
        assert await uow.messages.delete_for_device(officer) == 3
        assert await uow.messages.delete_for_device(officer) == 0
        assert await uow.messages.delete_for_device("dev_missing") == 0

    async with store.read() as uow:
        assert await uow.messages.count_pending(officer) == 0
        assert await uow.messages.count_pending(support) == 3


async def test_delete_for_owner_in_case_empties_that_persons_queues_for_that_case_only(
    store: SqlStore, clock: ManualClock, team: CaseTeam
) -> None:
    """What waits for a member taken off a case goes, on every device of theirs; what
    waits for them in their other cases, and for everyone else, stays."""
    witness, officer, support = team.device_ids
    async with store.write() as uow:
        other_case = await make_case(
            uow, team.police.id, team.support.id, team.officer.id, clock.now()
        )
        assert await uow.cases.add_staff(
            other_case.id, team.officer.id, team.officer.id, clock.now()
        )
        laptop = await make_device(uow, OwnerKind.STAFF, team.officer.id, clock.now())
        # A witness whose id happens to be the officer's: another person altogether.
        namesake = await make_device(uow, OwnerKind.WITNESS, team.officer.id, clock.now())
        recipients = [officer, laptop.id, support, namesake.id]
        await uow.messages.insert_sends(
            [send(witness, team.case.id, recipients, clock.now()) for _ in range(3)]
            + [send(support, other_case.id, [officer, laptop.id], clock.now())]
        )
        deleted = await uow.messages.delete_for_owner_in_case(
            team.case.id, "staff", team.officer.id
        )
        assert deleted == 6
        assert (
            await uow.messages.delete_for_owner_in_case(team.case.id, "staff", team.officer.id) == 0
        )
    assert [c.case_id for c in await _pending(store, officer)] == [other_case.id]
    assert [c.case_id for c in await _pending(store, laptop.id)] == [other_case.id]
    assert len(await _pending(store, support)) == 3
    assert len(await _pending(store, namesake.id)) == 3


async def test_count_pending_counts_one_devices_queue(
    store: SqlStore, clock: ManualClock, team: CaseTeam
) -> None:
    witness, officer, support = team.device_ids
    async with store.write() as uow:
        assert await uow.messages.count_pending(officer) == 0
        await uow.messages.insert_sends(
            [send(witness, team.case.id, [officer], clock.now()) for _ in range(2)]
            + [send(witness, team.case.id, [officer, support], clock.now())]
        )
    async with store.read() as uow:
        assert await uow.messages.count_pending(officer) == 3
        assert await uow.messages.count_pending(support) == 1
        assert await uow.messages.count_pending(witness) == 0


async def test_purge_older_than_removes_old_copies_and_send_records(
    store: SqlStore, clock: ManualClock, team: CaseTeam
) -> None:
    witness, officer, support = team.device_ids
    old = send(witness, team.case.id, [officer, support], clock.now(), message_id="old")
    async with store.write() as uow:
        await uow.messages.insert_sends([old])
    clock.advance(timedelta(days=30))
    new = send(witness, team.case.id, [officer, support], clock.now(), message_id="new")
    async with store.write() as uow:
        [new_officer, new_support] = sorted(
            await uow.messages.insert_sends([new]), key=lambda c: c.recipient_device_id != officer
        )

    async with store.write() as uow:
        # The cutoff is exclusive: a copy created exactly at the cutoff is kept.
        assert await uow.messages.purge_older_than(old.created_at) == 0
        assert await uow.messages.purge_older_than(clock.now() - timedelta(days=1)) == 2
        assert await uow.messages.purge_older_than(clock.now() - timedelta(days=1)) == 0

    assert await _pending(store, officer) == [new_officer]
    assert await _pending(store, support) == [new_support]
    async with store.read() as uow:
        found = await uow.messages.existing_digests([(witness, "old"), (witness, "new")])
    assert set(found) == {(witness, "new")}


async def test_large_batches_of_sends(store: SqlStore, clock: ManualClock, team: CaseTeam) -> None:
    witness, officer, support = team.device_ids
    recipients = [officer, support, witness]
    sends = [
        send(officer, team.case.id, recipients, clock.now(), message_id=f"bulk-{n:04d}")
        for n in range(500)
    ]

    async with store.write() as uow:
        stored = await uow.messages.insert_sends(sends)

    assert len(stored) == 1500
    assert len({c.id for c in stored}) == 1500
    assert {(c.message_id, c.recipient_device_id) for c in stored} == {
        (s.message_id, r) for s in sends for r in recipients
    }
    for copy in stored:
        assert copy.body == f"ciphertext for {copy.recipient_device_id} of {copy.message_id}"

    async with store.read() as uow:
        for device in recipients:
            assert await uow.messages.count_pending(device) == 500
        digests = await uow.messages.existing_digests([(officer, s.message_id) for s in sends])
    assert len(digests) == 500
    assert digests[(officer, "bulk-0123")][0] == sends[123].digest

    async with store.write() as uow:
        assert (
            await uow.messages.delete_copies([(c.recipient_device_id, c.id) for c in stored])
            == 1500
        )
    async with store.read() as uow:
        for device in recipients:
            assert await uow.messages.count_pending(device) == 0
