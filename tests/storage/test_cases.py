"""Cases, staff assignments, witnesses and single-use enrolment codes."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from server.clock import ManualClock
from server.domain.models import AgencyKind, Enrolment, EnrolmentState, Role
from server.errors import Conflict
from server.storage.protocols import UnitOfWork
from server.storage.store import SqlStore
from tests.storage.factories import (
    case_row,
    enrolment_code,
    make_agency,
    make_case,
    make_case_team,
    make_staff,
    witness_row,
)


async def test_a_case_is_stored_and_read_back(store: SqlStore, clock: ManualClock) -> None:
    async with store.write() as uow:
        police = await make_agency(uow, clock.now())
        support = await make_agency(uow, clock.now(), kind=AgencyKind.SUPPORT)
        officer = await make_staff(uow, police.id, clock.now())
        open_case = case_row(police.id, support.id, officer.id, clock.now(), reference="NL-1")
        closed_case = case_row(
            police.id,
            support.id,
            officer.id,
            clock.now(),
            reference="NL-2",
            closed_at=clock.now() + timedelta(days=30),
        )
        await uow.cases.insert(open_case)
        await uow.cases.insert(closed_case)

    async with store.read() as uow:
        assert await uow.cases.get(open_case.id) == open_case
        assert await uow.cases.get(closed_case.id) == closed_case
        assert await uow.cases.get("case_missing") is None
    assert open_case.agency_ids() == (police.id, support.id)


async def test_a_reference_is_unique_per_police_agency_only(
    store: SqlStore, clock: ManualClock
) -> None:
    async with store.write() as uow:
        police_a = await make_agency(uow, clock.now())
        police_b = await make_agency(uow, clock.now())
        support = await make_agency(uow, clock.now(), kind=AgencyKind.SUPPORT)
        officer = await make_staff(uow, police_a.id, clock.now())
        first = await make_case(
            uow, police_a.id, support.id, officer.id, clock.now(), reference="R"
        )

    with pytest.raises(Conflict):
        async with store.write() as uow:
            await make_case(uow, police_a.id, support.id, officer.id, clock.now(), reference="R")

    # Another police force may use the same reference.
    async with store.write() as uow:
        other = await make_case(
            uow, police_b.id, support.id, officer.id, clock.now(), reference="R"
        )

    async with store.read() as uow:
        assert await uow.cases.list_for_agency(police_a.id) == [first]
        assert await uow.cases.list_for_agency(police_b.id) == [other]


async def test_staff_are_assigned_once_and_can_be_removed(
    store: SqlStore, clock: ManualClock
) -> None:
    async with store.write() as uow:
        police = await make_agency(uow, clock.now())
        support = await make_agency(uow, clock.now(), kind=AgencyKind.SUPPORT)
        officer = await make_staff(uow, police.id, clock.now())
        worker = await make_staff(uow, support.id, clock.now(), role=Role.SUPPORT_WORKER)
        case = await make_case(uow, police.id, support.id, officer.id, clock.now())

    async with store.write() as uow:
        assert await uow.cases.add_staff(case.id, worker.id, officer.id, clock.now()) is True
        assert await uow.cases.add_staff(case.id, worker.id, officer.id, clock.now()) is False
        clock.advance(timedelta(minutes=1))
        assert await uow.cases.add_staff(case.id, officer.id, officer.id, clock.now()) is True

    async with store.read() as uow:
        # In order of assignment, not of id.
        assert await uow.cases.staff_ids(case.id) == [worker.id, officer.id]
        assert await uow.cases.is_assigned(case.id, worker.id)
        assert await uow.cases.is_assigned(case.id, officer.id)

    async with store.write() as uow:
        assert await uow.cases.remove_staff(case.id, worker.id) is True
        assert await uow.cases.remove_staff(case.id, worker.id) is False
        assert await uow.cases.remove_staff(case.id, "staff_never_assigned") is False

    async with store.read() as uow:
        assert await uow.cases.staff_ids(case.id) == [officer.id]
        assert not await uow.cases.is_assigned(case.id, worker.id)
        assert await uow.cases.staff_ids("case_missing") == []


async def test_list_assigned_returns_only_the_cases_a_staff_member_is_on(
    store: SqlStore, clock: ManualClock
) -> None:
    async with store.write() as uow:
        police = await make_agency(uow, clock.now())
        support = await make_agency(uow, clock.now(), kind=AgencyKind.SUPPORT)
        officer = await make_staff(uow, police.id, clock.now())
        colleague = await make_staff(uow, police.id, clock.now())
        first = await make_case(uow, police.id, support.id, officer.id, clock.now())
        clock.advance(timedelta(seconds=1))
        second = await make_case(uow, police.id, support.id, officer.id, clock.now())
        clock.advance(timedelta(seconds=1))
        not_mine = await make_case(uow, police.id, support.id, colleague.id, clock.now())
        await uow.cases.add_staff(second.id, officer.id, officer.id, clock.now())
        await uow.cases.add_staff(first.id, officer.id, officer.id, clock.now())
        await uow.cases.add_staff(not_mine.id, colleague.id, colleague.id, clock.now())

    async with store.read() as uow:
        assert await uow.cases.list_assigned(officer.id) == [first, second]
        assert await uow.cases.list_assigned(colleague.id) == [not_mine]
        assert await uow.cases.list_assigned("staff_nobody") == []


async def test_list_for_agency_covers_police_and_support_side_in_creation_order(
    store: SqlStore, clock: ManualClock
) -> None:
    async with store.write() as uow:
        police = await make_agency(uow, clock.now())
        support = await make_agency(uow, clock.now(), kind=AgencyKind.SUPPORT)
        other_support = await make_agency(uow, clock.now(), kind=AgencyKind.SUPPORT)
        officer = await make_staff(uow, police.id, clock.now())
        first = await make_case(uow, police.id, support.id, officer.id, clock.now())
        clock.advance(timedelta(seconds=1))
        second = await make_case(uow, police.id, other_support.id, officer.id, clock.now())

    async with store.read() as uow:
        assert await uow.cases.list_for_agency(police.id) == [first, second]
        assert await uow.cases.list_for_agency(support.id) == [first]
        assert await uow.cases.list_for_agency(other_support.id) == [second]


async def test_a_case_has_at_most_one_witness(store: SqlStore, clock: ManualClock) -> None:
    team = await make_case_team(store, clock.now())

    async with store.read() as uow:
        assert await uow.witnesses.get(team.witness.id) == team.witness
        assert await uow.witnesses.get_by_case(team.case.id) == team.witness
        assert await uow.witnesses.get("wit_missing") is None

    with pytest.raises(Conflict):
        async with store.write() as uow:
            await uow.witnesses.insert(witness_row(team.case.id, team.officer.id, clock.now()))

    async with store.read() as uow:
        assert await uow.witnesses.get_by_case(team.case.id) == team.witness


async def test_a_case_without_a_witness_has_none(store: SqlStore, clock: ManualClock) -> None:
    async with store.write() as uow:
        police = await make_agency(uow, clock.now())
        support = await make_agency(uow, clock.now(), kind=AgencyKind.SUPPORT)
        officer = await make_staff(uow, police.id, clock.now())
        case = await make_case(uow, police.id, support.id, officer.id, clock.now())
    async with store.read() as uow:
        assert await uow.witnesses.get_by_case(case.id) is None


async def claim(uow: UnitOfWork, code: Enrolment, now: datetime, device_id: str) -> bool:
    claimed = await uow.enrolments.claim(code.code_hash, now, device_id, "identity", "mac")
    return claimed is not None


async def test_an_enrolment_code_is_claimed_once(store: SqlStore, clock: ManualClock) -> None:
    team = await make_case_team(store, clock.now())
    code = enrolment_code(
        team.witness.id, team.officer.id, clock.now(), valid_for=timedelta(hours=1)
    )
    async with store.write() as uow:
        await uow.enrolments.insert(code)

    clock.advance(timedelta(minutes=10))
    async with store.write() as uow:
        used = await uow.enrolments.claim(
            code.code_hash, clock.now(), "dev_new_phone", "phone-identity", "phone-mac"
        )
    assert used is not None
    assert (used.id, used.code_hash, used.witness_id) == (code.id, code.code_hash, team.witness.id)
    assert (used.roster, used.team_mac, used.commitment) == (
        code.roster,
        code.team_mac,
        code.commitment,
    )
    assert (used.state, used.device_id) == (EnrolmentState.CLAIMED, "dev_new_phone")
    assert (used.phone_identity, used.phone_mac) == ("phone-identity", "phone-mac")
    assert used.expires_at == code.expires_at

    async with store.write() as uow:
        assert not await claim(uow, code, clock.now(), "dev_other")


async def test_a_code_hash_already_on_record_is_not_stored_again(
    store: SqlStore, clock: ManualClock
) -> None:
    team = await make_case_team(store, clock.now())
    code = enrolment_code(team.witness.id, team.officer.id, clock.now(), valid_for=timedelta(1))
    again = replace(
        enrolment_code(team.witness.id, team.officer.id, clock.now(), valid_for=timedelta(1)),
        code_hash=code.code_hash,
    )
    async with store.write() as uow:
        assert await uow.enrolments.insert(code)
        assert not await uow.enrolments.insert(again)
        assert await uow.enrolments.get(again.id) is None
        assert await uow.enrolments.get(code.id) == code


async def test_unfinished_enrolments_are_those_claimed_but_not_completed_nor_aborted(
    store: SqlStore, clock: ManualClock
) -> None:
    team = await make_case_team(store, clock.now())
    other = await make_case_team(store, clock.now())
    now = clock.now()
    codes = {
        name: enrolment_code(witness.id, team.officer.id, now, valid_for=timedelta(hours=hours))
        for name, witness, hours in [
            ("unused", team.witness, 1),
            ("claimed", team.witness, 1),
            ("revealed", team.witness, 3),
            ("completed", team.witness, 1),
            ("aborted", team.witness, 1),
            ("elsewhere", other.witness, 2),
        ]
    }
    async with store.write() as uow:
        for name, code in codes.items():
            assert await uow.enrolments.insert(code)
            if name != "unused":
                assert await claim(uow, code, now, f"dev_{name}")
        for name in ("revealed", "completed"):
            assert await uow.enrolments.set_phone_nonce(f"dev_{name}", "n", now)
            assert await uow.enrolments.reveal(codes[name].id, "o", now)
        done = [EnrolmentState.REVEALED]
        assert await uow.enrolments.move(codes["completed"].id, done, EnrolmentState.COMPLETED, now)
        claimed = [EnrolmentState.CLAIMED]
        assert await uow.enrolments.move(codes["aborted"].id, claimed, EnrolmentState.ABORTED, now)
    async with store.read() as uow:
        mine = await uow.enrolments.unfinished(witness_id=team.witness.id)
        everyone = await uow.enrolments.unfinished()
        expired = await uow.enrolments.unfinished(expired_by=now + timedelta(hours=2))
        nothing_yet = await uow.enrolments.unfinished(expired_by=now + timedelta(minutes=59))
    assert {e.id for e in mine} == {codes["claimed"].id, codes["revealed"].id}
    assert {e.id for e in everyone} == {e.id for e in mine} | {codes["elsewhere"].id}
    assert {e.id for e in expired} == {codes["claimed"].id, codes["elsewhere"].id}
    assert nothing_yet == []


async def test_an_enrolment_moves_through_its_steps_once_each(
    store: SqlStore, clock: ManualClock
) -> None:
    team = await make_case_team(store, clock.now())
    code = enrolment_code(team.witness.id, team.officer.id, clock.now(), valid_for=timedelta(1))
    async with store.write() as uow:
        await uow.enrolments.insert(code)
        assert not await uow.enrolments.set_phone_nonce("dev_phone", "n", clock.now())
        assert not await uow.enrolments.reveal(code.id, "o", clock.now())  # no phone yet
        assert await claim(uow, code, clock.now(), "dev_phone")
        assert not await uow.enrolments.reveal(code.id, "o", clock.now())  # no phone nonce
        assert await uow.enrolments.set_phone_nonce("dev_phone", "n", clock.now())
        assert not await uow.enrolments.set_phone_nonce("dev_phone", "m", clock.now())
        assert await uow.enrolments.reveal(code.id, "o", clock.now())
        assert not await uow.enrolments.reveal(code.id, "p", clock.now())
        done = await uow.enrolments.move(
            code.id, [EnrolmentState.REVEALED], EnrolmentState.COMPLETED, clock.now()
        )
        assert done
        found = await uow.enrolments.for_device("dev_phone")
    assert found is not None
    assert (found.state, found.phone_nonce, found.reveal) == (EnrolmentState.COMPLETED, "n", "o")


async def test_a_newer_code_withdraws_the_unused_ones(store: SqlStore, clock: ManualClock) -> None:
    team = await make_case_team(store, clock.now())
    first = enrolment_code(team.witness.id, team.officer.id, clock.now(), valid_for=timedelta(1))
    async with store.write() as uow:
        await uow.enrolments.insert(first)
        assert await uow.enrolments.withdraw_issued(team.witness.id, clock.now()) == 1
        assert not await claim(uow, first, clock.now(), "dev_phone")


async def test_an_unknown_code_is_refused(store: SqlStore, clock: ManualClock) -> None:
    async with store.write() as uow:
        found = await uow.enrolments.claim(secrets.token_bytes(32), clock.now(), "dev", "i", "m")
        assert found is None


async def test_an_expired_enrolment_code_is_refused(store: SqlStore, clock: ManualClock) -> None:
    team = await make_case_team(store, clock.now())
    code = enrolment_code(
        team.witness.id, team.officer.id, clock.now(), valid_for=timedelta(hours=1)
    )
    async with store.write() as uow:
        await uow.enrolments.insert(code)

    clock.advance(timedelta(hours=1))  # exactly at expiry: no longer valid
    async with store.write() as uow:
        assert not await claim(uow, code, clock.now(), "dev_late")

    clock.advance(timedelta(days=1))
    async with store.write() as uow:
        assert not await claim(uow, code, clock.now(), "dev_late")


async def test_a_code_is_usable_until_just_before_it_expires(
    store: SqlStore, clock: ManualClock
) -> None:
    team = await make_case_team(store, clock.now())
    code = enrolment_code(
        team.witness.id, team.officer.id, clock.now(), valid_for=timedelta(hours=1)
    )
    async with store.write() as uow:
        await uow.enrolments.insert(code)
    clock.advance(timedelta(hours=1) - timedelta(milliseconds=1))
    async with store.write() as uow:
        assert await claim(uow, code, clock.now(), "dev_x")


async def test_concurrent_consumers_of_one_code_get_it_once(
    store: SqlStore, clock: ManualClock
) -> None:
    team = await make_case_team(store, clock.now())
    code = enrolment_code(
        team.witness.id, team.officer.id, clock.now(), valid_for=timedelta(hours=1)
    )
    async with store.write() as uow:
        await uow.enrolments.insert(code)

    async def consume(n: int) -> bool:
        async with store.write() as uow:
            return await claim(uow, code, clock.now(), f"dev_{n}")

    results = await asyncio.gather(*(consume(n) for n in range(10)))
    assert results.count(True) == 1


async def test_purge_expired_removes_expired_codes_used_or_not(
    store: SqlStore, clock: ManualClock
) -> None:
    team = await make_case_team(store, clock.now())
    start = clock.now()
    short_unused = enrolment_code(
        team.witness.id, team.officer.id, start, valid_for=timedelta(hours=1)
    )
    short_used = enrolment_code(
        team.witness.id, team.officer.id, start, valid_for=timedelta(hours=1)
    )
    long_lived = enrolment_code(
        team.witness.id, team.officer.id, start, valid_for=timedelta(days=2)
    )
    async with store.write() as uow:
        for code in (short_unused, short_used, long_lived):
            await uow.enrolments.insert(code)
        assert await claim(uow, short_used, start, "dev_a")

    async with store.write() as uow:
        assert await uow.enrolments.purge_expired(clock.now()) == 0

    clock.advance(timedelta(hours=2))
    async with store.write() as uow:
        assert await uow.enrolments.purge_expired(clock.now()) == 2
        assert await uow.enrolments.purge_expired(clock.now()) == 0

    # The long-lived code survived and still works.
    async with store.write() as uow:
        assert await claim(uow, long_lived, clock.now(), "dev_b")
