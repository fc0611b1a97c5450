"""Waves of lapses: many deadlines passing at once are swept batch after batch, the next
batch worked out from a snapshot while the previous one is written. Every missed
check-in becomes exactly one alert; a witness who answers while a batch is being worked
out is not called missed; two sweeps racing over the same rows move each row once."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

from scheduler.jobs import WelfareSweeps
from scheduler.runner import BackgroundJobs
from server.domain.welfare.checkins import SCHEDULE_AFTER_MISS, URGENT_STEPS
from server.domain.welfare.waves import DEFAULT_MIN_WAVE, WaveArming
from server.domain.welfare_models import CheckInState, CheckInStep
from server.notify.dispatcher import Dispatcher
from tests.support.welfare import advance_to
from tests.support.world import Conversation, World, open_conversation
from tests.welfare.helpers import alerts_of, checkin_row, iso, utc

WEEK = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
# The world's clock starts on Monday 2026-01-05 09:00 UTC: the first prompt is Tuesday
# 10:00 in Bucharest (08:00 UTC); the window closes at 09:00 and grace ends at 09:30.
DUE = utc("2026-01-06 08:00")
REMIND = utc("2026-01-06 08:45")
DEADLINE = utc("2026-01-06 09:30")


async def _more_witnesses(world: World, talk: Conversation, count: int) -> list[str]:
    """``count`` more cases of the same team, each with a witness on the daily plan
    (no phone enrolled: they can only miss)."""
    witness_ids = []
    for n in range(count):
        case = await talk.officer.create_case(f"DE-2026-{n + 100:04d}", world.agencies["support"])
        await talk.officer.assign(case["case_id"], world.staff["worker"])
        enrolment = await talk.officer.add_witness(
            case["case_id"], alias=f"Wren{n}", language="ro", timezone="Europe/Bucharest"
        )
        await talk.officer.set_checkin_plan(enrolment.witness_id, weekdays=WEEK, times=["10:00"])
        witness_ids.append(enrolment.witness_id)
    return witness_ids


async def _three_witnesses_reminded(world: World) -> Conversation:
    """Three witnesses on the same plan, prompted and reminded, none answering."""
    talk = await open_conversation(world)
    await talk.officer.set_checkin_plan(talk.witness_id, weekdays=WEEK, times=["10:00"])
    await _more_witnesses(world, talk, 2)
    await advance_to(world, DUE)
    await advance_to(world, REMIND)
    return talk


async def _three_witnesses_at_the_deadline(world: World) -> Conversation:
    """As above, with the clock at the deadline, not yet swept."""
    talk = await _three_witnesses_reminded(world)
    world.clock.set(DEADLINE)
    return talk


async def _current_checkin_id(talk: Conversation, witness_id: str) -> str:
    plan = await talk.officer.checkin_plan(witness_id)
    checkin_id: str = plan["current"]["checkin_id"]
    return checkin_id


async def test_a_wave_larger_than_a_batch_raises_one_alert_per_missed_checkin(
    world: World,
) -> None:
    talk = await open_conversation(world)
    await talk.officer.set_checkin_plan(talk.witness_id, weekdays=WEEK, times=["10:00"])
    witnesses = [talk.witness_id, *await _more_witnesses(world, talk, 6)]
    checkins = {w: await _current_checkin_id(talk, w) for w in witnesses}
    service = world.services.checkins

    # Seven prompts, in batches of two: four batches, every prompt sent once.
    world.clock.set(DUE)
    assert await service.sweep(2, 100, URGENT_STEPS) == 7
    assert await service.sweep(2, 100, URGENT_STEPS) == 0
    for checkin_id in checkins.values():
        row = await checkin_row(world, checkin_id)
        assert (row.state, row.prompted_at) == (CheckInState.OPEN, DUE)

    # The reminders, then all seven deadlines at once.
    world.clock.set(REMIND)
    assert await service.sweep(2, 100, URGENT_STEPS) == 7
    world.clock.set(DEADLINE)
    assert await service.sweep(3, 100, URGENT_STEPS) == 7
    assert await service.sweep(3, 100, URGENT_STEPS) == 0

    missed = await alerts_of(talk.worker, "missed_checkin")
    assert sorted(a["witness_id"] for a in missed) == sorted(witnesses)
    for checkin_id in checkins.values():
        row = await checkin_row(world, checkin_id)
        assert (row.state, row.step) == (CheckInState.MISSED, CheckInStep.SCHEDULE)

    # Scheduling the next occurrences is its own pass, a few seconds later (the wave's
    # SMS go first), also in batches.
    assert await service.sweep(2, 100, [CheckInStep.SCHEDULE]) == 0
    world.clock.set(DEADLINE + SCHEDULE_AFTER_MISS)
    assert await service.sweep(2, 100, [CheckInStep.SCHEDULE]) == 7
    for witness_id in witnesses:
        current = (await talk.officer.checkin_plan(witness_id))["current"]
        assert (current["state"], current["due_at"]) == ("scheduled", "2026-01-07T08:00:00.000Z")
    assert len(await alerts_of(talk.worker, "missed_checkin")) == 7


async def test_max_batches_bounds_one_sweep_and_the_next_sweep_carries_on(world: World) -> None:
    talk = await open_conversation(world)
    await talk.officer.set_checkin_plan(talk.witness_id, weekdays=WEEK, times=["10:00"])
    await _more_witnesses(world, talk, 4)
    service = world.services.checkins
    world.clock.set(DUE)
    assert await service.sweep(2, 2, URGENT_STEPS) == 4
    assert await service.sweep(2, 2, URGENT_STEPS) == 1
    assert await service.sweep(2, 2, URGENT_STEPS) == 0


async def test_an_answer_that_lands_while_a_batch_is_worked_out_is_not_called_missed(
    world: World,
) -> None:
    """The sweep reads a batch at the deadline; the witness's answer, sent just before
    it, commits before the batch is written. The batch must not overrule it."""
    talk = await open_conversation(world)
    await talk.officer.set_checkin_plan(talk.witness_id, weekdays=WEEK, times=["10:00"])
    checkin_id = await _current_checkin_id(talk, talk.witness_id)
    await advance_to(world, DUE)
    await advance_to(world, REMIND)
    service = world.services.checkins

    async with world.services.store.read() as uow:
        batch = await service._prepare(uow, DEADLINE, 10, frozenset(), URGENT_STEPS)
    assert batch is not None
    assert [c.id for c in batch.missed] == [checkin_id]

    world.clock.set(DEADLINE - timedelta(seconds=1))
    assert (await talk.witness.check_in("ok")).recorded

    assert await service.write(batch) == 0
    assert await alerts_of(talk.worker, "missed_checkin") == []
    assert (await checkin_row(world, checkin_id)).state is CheckInState.ANSWERED


async def test_two_sweeps_over_the_same_rows_move_each_row_once(world: World) -> None:
    """Two instances (or an overlapping tick) read the same due rows: the first write
    wins, the second moves nothing and raises no second alert."""
    talk = await _three_witnesses_at_the_deadline(world)
    service = world.services.checkins

    async with world.services.store.read() as uow:
        first = await service._prepare(uow, DEADLINE, 10, frozenset(), URGENT_STEPS)
    async with world.services.store.read() as uow:
        second = await service._prepare(uow, DEADLINE, 10, frozenset(), URGENT_STEPS)
    assert first is not None
    assert second is not None
    assert len(first.missed) == len(second.missed) == 3

    assert await service.write(first) == 3
    assert await service.write(second) == 0
    assert len(await alerts_of(talk.worker, "missed_checkin")) == 3


async def test_dispatch_waits_for_a_sweep_raising_a_wave_but_not_forever(world: World) -> None:
    dispatcher: Dispatcher = world.services.dispatcher
    # Nothing sweeping: no wait at all.
    await dispatcher.after_sweeps(0)

    with dispatcher.sweeping():
        waiting = asyncio.ensure_future(dispatcher.after_sweeps(60))
        for _ in range(5):
            await asyncio.sleep(0)
        assert not waiting.done()
        # A bounded wait gives up while the sweep is still running.
        await dispatcher.after_sweeps(0)
        with dispatcher.sweeping():  # nested sweeps: the outer one still holds dispatch
            pass
        for _ in range(5):
            await asyncio.sleep(0)
        assert not waiting.done()
    await asyncio.wait_for(waiting, 5)


async def test_the_scheduler_raises_the_whole_wave_and_schedules_the_next_occurrences_after(
    world: World,
) -> None:
    talk = await _three_witnesses_at_the_deadline(world)
    await WelfareSweeps(world.services).checkins()
    assert len(await alerts_of(talk.worker, "missed_checkin")) == 3
    current = (await talk.officer.checkin_plan(talk.witness_id))["current"]
    assert current is None  # missed, and the next one not yet scheduled

    world.clock.set(DEADLINE + SCHEDULE_AFTER_MISS)
    await WelfareSweeps(world.services).checkins()
    current = (await talk.officer.checkin_plan(talk.witness_id))["current"]
    assert (current["state"], current["due_at"]) == ("scheduled", "2026-01-07T08:00:00.000Z")


# ---------------------------------------------------------------- waves worked out ahead


def _arming(world: World, min_wave: int = 3) -> WaveArming:
    services = world.services
    return WaveArming(
        services.store, services.clock, services.checkins, horizon=HORIZON, min_wave=min_wave
    )


HORIZON = timedelta(seconds=3)


async def test_a_wave_is_worked_out_ahead_and_written_only_once_the_deadline_passes(
    world: World,
) -> None:
    talk = await _three_witnesses_reminded(world)
    waves = _arming(world)
    world.clock.set(DEADLINE - HORIZON - timedelta(seconds=1))
    assert await waves.arm(2, 10) == 0  # not yet within the horizon
    world.clock.set(DEADLINE - timedelta(seconds=2))
    assert await waves.arm(2, 10) == 3
    assert await waves.arm(2, 10) == 0  # armed once
    assert waves.armed == 3

    # Before the deadline, firing writes nothing: nobody is missed early.
    assert await waves.fire() == 0
    assert await alerts_of(talk.worker, "missed_checkin") == []

    written_at = DEADLINE + timedelta(milliseconds=700)
    world.clock.set(written_at)
    # An ordinary sweep running meanwhile leaves the armed occurrences to the wave.
    sweep = world.services.checkins.sweep
    assert await sweep(10, 10, URGENT_STEPS, waves.armed_ids()) == 0
    assert await waves.fire() == 3
    assert waves.armed == 0
    missed = await alerts_of(talk.worker, "missed_checkin")
    assert len(missed) == 3
    # Stamped when written, not when worked out; escalation counts from then.
    assert {a["created_at"] for a in missed} == {iso(written_at)}
    level_two_at = iso(written_at + timedelta(minutes=15))
    assert {a["next_escalation_at"] for a in missed} == {level_two_at}
    # The ordinary sweep finds nothing left; a second fire writes nothing again.
    assert await world.services.checkins.sweep(10, 10, URGENT_STEPS) == 0
    assert await waves.fire() == 0
    assert len(await alerts_of(talk.worker, "missed_checkin")) == 3


async def test_a_witness_who_answers_after_the_wave_was_armed_is_not_called_missed(
    world: World,
) -> None:
    talk = await _three_witnesses_reminded(world)
    waves = _arming(world)
    world.clock.set(DEADLINE - timedelta(seconds=2))
    assert await waves.arm(10, 10) == 3
    assert (await talk.witness.check_in("ok")).recorded

    world.clock.set(DEADLINE)
    assert await waves.fire() == 2
    missed = await alerts_of(talk.worker, "missed_checkin")
    assert talk.witness_id not in {a["witness_id"] for a in missed}
    assert len(missed) == 2


async def test_small_groups_are_left_to_the_ordinary_sweep(world: World) -> None:
    talk = await _three_witnesses_reminded(world)
    waves = _arming(world, min_wave=4)
    world.clock.set(DEADLINE - timedelta(seconds=2))
    assert await waves.arm(10, 10) == 0
    world.clock.set(DEADLINE)
    assert await waves.fire() == 0
    assert await world.services.checkins.sweep(10, 10, URGENT_STEPS) == 3
    assert len(await alerts_of(talk.worker, "missed_checkin")) == 3


async def test_the_scheduler_arms_an_approaching_wave_and_fires_it_at_the_deadline(
    world: World,
) -> None:
    """Through the scheduler's own tick, with the service's arming (waves of 100 and
    more): a hundred witnesses whose deadlines share one instant."""
    talk = await open_conversation(world)
    await talk.officer.set_checkin_plan(talk.witness_id, weekdays=WEEK, times=["10:00"])
    await _more_witnesses(world, talk, DEFAULT_MIN_WAVE - 1)
    await advance_to(world, DUE)
    await advance_to(world, REMIND)

    sweeps = WelfareSweeps(world.services)
    world.clock.set(DEADLINE - timedelta(seconds=1))
    await sweeps.checkins()
    assert world.services.waves.armed == DEFAULT_MIN_WAVE
    assert await alerts_of(talk.worker, "missed_checkin") == []

    world.clock.set(DEADLINE)
    assert await sweeps.checkins() == DEFAULT_MIN_WAVE
    assert world.services.waves.armed == 0
    assert len(await alerts_of(talk.worker, "missed_checkin")) == DEFAULT_MIN_WAVE


async def test_the_on_time_loop_writes_an_armed_wave_once_its_deadline_has_passed(
    world: World,
) -> None:
    talk = await _three_witnesses_reminded(world)
    services = world.services
    waves = WaveArming(services.store, services.clock, services.checkins, min_wave=3)
    services.waves = waves
    loop = asyncio.ensure_future(BackgroundJobs(services)._fire_waves_on_time())
    try:
        world.clock.set(DEADLINE)
        assert await waves.arm(10, 10) == 3
        async with asyncio.timeout(10):
            while waves.armed:  # noqa: ASYNC110 - yields to the loop under test
                await asyncio.sleep(0)
        assert len(await alerts_of(talk.worker, "missed_checkin")) == 3
    finally:
        loop.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await loop
