"""The visit rows on both databases: an overdue visit is claimed once however many
sweepers race, and the retention erasure removes every visit row of the case (and no
other case's)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from server.domain.models import Staff
from server.domain.visit_models import VisitOutcome
from server.domain.visits import VisitRecord
from server.storage.repos.visits import erase_case
from tests.support.world import World, open_conversation
from tests.welfare.helpers import open_second_case

START = datetime(2026, 5, 4, 7, 0, tzinfo=UTC)


async def test_racing_sweepers_claim_an_overdue_visit_once(world: World) -> None:
    world.clock.set(START)
    talk = await open_conversation(world)
    officer = await _staff(world, "officer")
    visit = await world.services.visits.schedule(
        officer,
        talk.case_id,
        visitor_staff_id=talk.worker.staff_id,
        window_start=START + timedelta(hours=1),
        window_end=START + timedelta(hours=2),
    )
    world.clock.set(START + timedelta(hours=26))
    claimed = await asyncio.gather(*(world.services.visits.overdue_due() for _ in range(4)))
    assert sum(claimed) >= 1
    async with world.services.store.read() as uow:
        alerts = await uow.alerts.list_for_cases(
            [talk.case_id], statuses=["open", "acknowledged"], limit=100
        )
    assert [a.source for a in alerts if a.kind.value == "visit_overdue"] == [f"visit:{visit.id}"]
    assert await world.services.visits.overdue_due() == 0


async def test_erasing_a_case_removes_its_visit_rows_only(world: World) -> None:
    world.clock.set(START)
    talk = await open_conversation(world)
    other = await open_second_case(world, talk)
    officer = await _staff(world, "officer")
    for case_id in (talk.case_id, other.case_id):
        visit = await world.services.visits.schedule(
            officer,
            case_id,
            visitor_staff_id=talk.worker.staff_id,
            window_start=START - timedelta(minutes=30),
            window_end=START + timedelta(hours=1),
        )
        await world.services.visits.record(
            officer, visit.id, VisitRecord(VisitOutcome.HELD, True, "NOTE-FOR-ERASURE")
        )
        await world.services.visits.set_plan(officer, visit.witness_id, every_days=9)
    async with world.services.db.transaction() as conn:
        erased = await erase_case(conn, talk.case_id)
    assert erased == 2  # the recorded visit and the plan
    async with world.services.store.read() as uow:
        assert await uow.visits.for_case(talk.case_id) == []
        assert await uow.visits.plan(talk.witness_id) is None
        assert len(await uow.visits.for_case(other.case_id)) == 1
        assert await uow.visits.plan(other.witness_id) is not None


async def _staff(world: World, username: str) -> Staff:
    async with world.services.store.read() as uow:
        staff = await uow.staff.get(world.staff[username])
    assert staff is not None
    return staff
