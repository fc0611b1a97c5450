"""Check-in plans: every N hours or calendar times, in the witness's own timezone and
across daylight-saving changes; response window and grace; pauses with a reason and an
automatic resume; every change audited; only the case's own team may see or set them."""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

import aiohttp
import pytest

from client_sdk.errors import ApiError, WitnesslinkError
from tests.support.welfare import advance, advance_to, catch_up
from tests.support.world import Conversation, World, open_conversation
from tests.welfare.helpers import (
    alerts_of,
    audit_entries,
    iso,
    open_case,
    parse,
    utc,
    walk_to,
)


async def _answer_when_due(world: World, talk: Conversation, due: datetime) -> datetime | None:
    """Move to ``due``: the prompt is not open a minute before and is open at ``due``;
    answer it and return the next due time the phone is told."""
    await advance_to(world, due - timedelta(minutes=1))
    assert await talk.witness.current_prompt() is None
    await advance_to(world, due)
    prompt = await talk.witness.current_prompt()
    assert prompt is not None
    assert prompt.due_at == due
    result = await talk.witness.check_in("ok")
    assert result.recorded
    return result.next_due_at


async def _drive(world: World, talk: Conversation, expected: list[datetime]) -> None:
    """Answer each occurrence in turn; each answer schedules exactly the next one."""
    plan = await talk.officer.checkin_plan(talk.witness_id)
    assert plan["current"]["due_at"] == iso(expected[0])
    assert plan["current"]["state"] == "scheduled"
    for due, following in pairwise(expected):
        assert await _answer_when_due(world, talk, due) == following
        current = (await talk.officer.checkin_plan(talk.witness_id))["current"]
        assert (current["state"], current["due_at"]) == ("scheduled", iso(following))


# ---------------------------------------------------------------- timezones and DST


async def test_a_calendar_plan_keeps_the_witnesss_wall_clock_across_the_spring_change(
    world: World,
) -> None:
    # Monday 2026-03-23, 08:00 in Bucharest (EET, UTC+2). Clocks go forward on Sunday
    # 2026-03-29; from then on 10:00 local is 07:00 UTC.
    world.clock.set(utc("2026-03-23 06:00"))
    talk = await open_conversation(world)
    plan = await talk.officer.set_checkin_plan(
        talk.witness_id, weekdays=["mon", "thu"], times=["10:00"]
    )
    assert plan["kind"] == "calendar"
    assert plan["timezone"] == "Europe/Bucharest"
    assert plan["description"] == "Mon, Thu at 10:00 (Europe/Bucharest)"
    await _drive(
        world,
        talk,
        [
            utc("2026-03-23 08:00"),  # Mon 10:00 EET
            utc("2026-03-26 08:00"),  # Thu 10:00 EET
            utc("2026-03-30 07:00"),  # Mon 10:00 EEST
            utc("2026-04-02 07:00"),  # Thu 10:00 EEST
            utc("2026-04-06 07:00"),
        ],
    )


async def test_a_calendar_plan_keeps_the_witnesss_wall_clock_across_the_autumn_change(
    world: World,
) -> None:
    # Bucharest goes back from EEST to EET on Sunday 2026-10-25.
    world.clock.set(utc("2026-10-19 05:00"))
    talk = await open_conversation(world)
    await talk.officer.set_checkin_plan(talk.witness_id, weekdays=["mon", "thu"], times=["10:00"])
    await _drive(
        world,
        talk,
        [
            utc("2026-10-19 07:00"),  # Mon 10:00 EEST
            utc("2026-10-22 07:00"),  # Thu 10:00 EEST
            utc("2026-10-26 08:00"),  # Mon 10:00 EET
            utc("2026-10-29 08:00"),
        ],
    )


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        pytest.param(
            "2026-03-28 04:00",  # Saturday 06:00 EET
            [
                "2026-03-28 06:00",  # 08:00 EET
                "2026-03-28 18:00",  # 20:00 EET
                "2026-03-29 05:00",  # 08:00 EEST: eleven hours later, same wall time
                "2026-03-29 17:00",  # 20:00 EEST
                "2026-03-30 05:00",
            ],
            id="spring",
        ),
        pytest.param(
            "2026-10-24 03:00",  # Saturday 06:00 EEST
            [
                "2026-10-24 05:00",  # 08:00 EEST
                "2026-10-24 17:00",  # 20:00 EEST
                "2026-10-25 06:00",  # 08:00 EET: thirteen hours later, same wall time
                "2026-10-25 18:00",  # 20:00 EET
            ],
            id="autumn",
        ),
    ],
)
async def test_an_interval_plan_keeps_local_times_across_a_dst_change(
    world: World, start: str, expected: list[str]
) -> None:
    world.clock.set(utc(start))
    talk = await open_conversation(world)
    plan = await talk.officer.set_checkin_plan(talk.witness_id, every_hours=12, start="08:00")
    assert plan["kind"] == "interval"
    assert plan["description"] == "every 12 hours from 08:00 (Europe/Bucharest)"
    await _drive(world, talk, [utc(t) for t in expected])


async def test_a_witness_in_new_york_is_planned_on_new_york_time_not_the_officers(
    world: World,
) -> None:
    # The officer works in Germany, the witness lives in New York. The US moves its
    # clocks on 2026-03-08, three weeks before Europe: 09:00 in New York is 14:00 UTC
    # before and 13:00 UTC after, while Berlin is still on winter time.
    world.clock.set(utc("2026-03-02 12:00"))  # Monday 07:00 EST
    talk, _store = await open_case(world, timezone="America/New_York", language="en")
    plan = await talk.officer.set_checkin_plan(
        talk.witness_id, weekdays=["monday", "Thursday"], times=["09:00"]
    )
    assert plan["timezone"] == "America/New_York"
    await _drive(
        world,
        talk,
        [
            utc("2026-03-02 14:00"),  # Mon 09:00 EST
            utc("2026-03-05 14:00"),  # Thu 09:00 EST
            utc("2026-03-09 13:00"),  # Mon 09:00 EDT
            utc("2026-03-12 13:00"),  # Thu 09:00 EDT
        ],
    )


# ---------------------------------------------------------------- window and grace


async def _daily_plan(talk: Conversation) -> dict[str, Any]:
    # The world's clock starts on Monday 2026-01-05 09:00 UTC (11:00 in Bucharest):
    # the first prompt is Tuesday 10:00 local = 08:00 UTC.
    plan = await talk.officer.set_checkin_plan(
        talk.witness_id,
        weekdays=["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
        times=["10:00"],
        window_minutes=60,
        grace_minutes=30,
        reminder_minutes=15,
    )
    current = plan["current"]
    assert current["due_at"] == "2026-01-06T08:00:00.000Z"
    assert current["closes_at"] == "2026-01-06T09:00:00.000Z"
    assert current["deadline_at"] == "2026-01-06T09:30:00.000Z"
    assert current["remind_at"] == "2026-01-06T08:45:00.000Z"
    return plan


async def test_an_answer_during_the_grace_period_is_accepted(world: World) -> None:
    talk = await open_conversation(world)
    plan = await _daily_plan(talk)
    # The window closed ten minutes ago; the grace period is still running.
    await advance_to(world, parse(plan["current"]["closes_at"]) + timedelta(minutes=10))
    assert await talk.witness.current_prompt() is not None
    result = await talk.witness.check_in("ok")
    assert result.recorded
    assert result.next_due_at == utc("2026-01-07 08:00")

    await advance_to(world, parse(plan["current"]["deadline_at"]) + timedelta(hours=1))
    assert await alerts_of(talk.worker, "missed_checkin") == []
    assert await alerts_of(talk.officer, "missed_checkin") == []


async def test_a_minute_after_the_grace_period_the_checkin_is_missed(world: World) -> None:
    talk = await open_conversation(world)
    plan = await _daily_plan(talk)
    deadline = parse(plan["current"]["deadline_at"])

    await advance_to(world, deadline - timedelta(minutes=1))
    assert await alerts_of(talk.worker, "missed_checkin") == []
    await advance_to(world, deadline + timedelta(minutes=1))
    (alert,) = await alerts_of(talk.worker, "missed_checkin")
    assert (alert["severity"], alert["status"], alert["level"]) == ("high", "open", 1)
    assert (alert["case_id"], alert["witness_id"]) == (talk.case_id, talk.witness_id)

    # Too late now: nothing is waiting.
    with pytest.raises(WitnesslinkError):
        await talk.witness.check_in("ok")

    # More time passing does not raise the same miss twice; the next occurrence is
    # scheduled (by the scheduler's next sweep at the latest).
    await advance(world, timedelta(minutes=5))
    await advance(world, timedelta(minutes=30))
    assert len(await alerts_of(talk.worker, "missed_checkin")) == 1
    current = (await talk.officer.checkin_plan(talk.witness_id))["current"]
    assert (current["state"], current["due_at"]) == ("scheduled", "2026-01-07T08:00:00.000Z")


# ---------------------------------------------------------------- pause and resume


async def test_a_pause_cancels_the_scheduled_prompt_and_nothing_fires_while_paused(
    world: World,
) -> None:
    talk = await open_conversation(world)
    plan = await _daily_plan(talk)
    paused = await talk.officer.pause_checkins(talk.witness_id, "hospital stay")
    assert (paused["paused"], paused["paused_reason"]) == (True, "hospital stay")
    assert paused["paused_until"] is None
    assert paused["current"] is None
    assert paused["version"] == plan["version"] + 1

    # Three days of would-be check-ins pass (the phone still reports in daily).
    for day in range(3):
        await advance_to(world, utc(f"2026-01-0{6 + day} 08:05"))
        assert await talk.witness.current_prompt() is None
        await talk.witness.heartbeat()
        await advance_to(world, utc(f"2026-01-0{6 + day} 12:00"))
    assert await talk.worker.alerts() == []
    viewed = await talk.officer.checkin_plan(talk.witness_id)
    assert (viewed["paused"], viewed["current"]) == (True, None)


async def test_a_pause_while_a_prompt_is_open_raises_no_missed_alert(world: World) -> None:
    """Staff pause because the witness is in hospital right now: the prompt that is
    already out must not turn into a 'missed check-in' alert half an hour later."""
    talk = await open_conversation(world)
    plan = await _daily_plan(talk)
    await advance_to(world, parse(plan["current"]["due_at"]) + timedelta(minutes=5))
    assert await talk.witness.current_prompt() is not None

    await talk.officer.pause_checkins(talk.witness_id, "admitted to hospital")
    await walk_to(world, parse(plan["current"]["deadline_at"]) + timedelta(minutes=30))
    assert await alerts_of(talk.worker, "missed_checkin") == []
    assert await talk.witness.current_prompt() is None


async def test_a_pause_resumes_by_itself_at_the_date_given(world: World) -> None:
    talk = await open_conversation(world)
    await _daily_plan(talk)
    until = utc("2026-01-08 12:00")  # Thursday 14:00 in Bucharest
    paused = await talk.officer.pause_checkins(talk.witness_id, "known travel", until=until)
    assert paused["paused_until"] == iso(until)

    await advance_to(world, until - timedelta(minutes=1))
    await talk.witness.heartbeat()
    viewed = await talk.officer.checkin_plan(talk.witness_id)
    assert (viewed["paused"], viewed["current"]) == (True, None)

    await advance_to(world, until + timedelta(minutes=1))
    resumed = await talk.officer.checkin_plan(talk.witness_id)
    assert resumed["paused"] is False
    assert resumed["paused_reason"] is None
    # The next occurrence after the resume: Friday 10:00 local.
    assert resumed["current"]["state"] == "scheduled"
    assert resumed["current"]["due_at"] == "2026-01-09T08:00:00.000Z"

    # ... and it fires.
    await advance_to(world, utc("2026-01-09 08:00"))
    prompt = await talk.witness.current_prompt()
    assert prompt is not None
    assert prompt.due_at == utc("2026-01-09 08:00")
    (entry,) = await audit_entries(world, action="checkin_plan.resumed")
    assert (entry.actor_kind, entry.subject_id) == ("system", talk.witness_id)
    assert '"automatic":true' in entry.details.replace(" ", "")


async def test_a_pause_can_be_ended_by_hand(world: World) -> None:
    talk = await open_conversation(world)
    await _daily_plan(talk)
    await talk.officer.pause_checkins(talk.witness_id, "hospital stay")
    await advance_to(world, utc("2026-01-07 09:00"))

    resumed = await talk.officer.resume_checkins(talk.witness_id)
    assert resumed["paused"] is False
    assert resumed["current"]["due_at"] == "2026-01-08T08:00:00.000Z"
    await advance_to(world, utc("2026-01-08 08:00"))
    assert await talk.witness.current_prompt() is not None


async def test_changing_a_paused_plan_keeps_it_paused(world: World) -> None:
    """Staff adjust the times while the witness is in hospital: the pause (its reason,
    its resume date) stands until it ends; nothing is prompted meanwhile."""
    talk = await open_conversation(world)
    await _daily_plan(talk)
    until = utc("2026-01-10 12:00")
    await talk.officer.pause_checkins(talk.witness_id, "hospital stay", until=until)

    changed = await talk.officer.set_checkin_plan(
        talk.witness_id, weekdays=["mon", "fri"], times=["11:00"]
    )
    assert (changed["paused"], changed["paused_reason"]) == (True, "hospital stay")
    assert changed["paused_until"] == iso(until)
    assert changed["current"] is None
    await advance_to(world, utc("2026-01-09 09:00"))  # Friday 11:00 in Bucharest
    assert await talk.witness.current_prompt() is None
    assert await audit_entries(world, action="checkin_plan.resumed") == []


async def test_plan_changes_pauses_and_resumes_are_audited_with_the_reason(
    world: World,
) -> None:
    talk = await open_conversation(world)
    await _daily_plan(talk)
    await talk.officer.set_checkin_plan(talk.witness_id, every_hours=12, start="08:00")
    await talk.worker.pause_checkins(talk.witness_id, "hospital stay")
    await talk.officer.resume_checkins(talk.witness_id)

    changed = await audit_entries(world, action="checkin_plan.changed", case_id=talk.case_id)
    assert len(changed) == 2
    assert {(e.actor_kind, e.actor_id) for e in changed} == {("staff", world.staff["officer"])}
    assert {e.subject_id for e in changed} == {talk.witness_id}
    assert '"interval"' in changed[0].details
    assert '"calendar"' in changed[1].details

    (paused,) = await audit_entries(world, action="checkin_plan.paused", case_id=talk.case_id)
    assert (paused.actor_id, paused.subject_id) == (world.staff["worker"], talk.witness_id)
    assert paused.reason == "hospital stay"

    (resumed,) = await audit_entries(world, action="checkin_plan.resumed", case_id=talk.case_id)
    assert (resumed.actor_id, resumed.subject_id) == (world.staff["officer"], talk.witness_id)


# ---------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    "plan",
    [
        pytest.param({"weekdays": ["mon"], "times": ["25:00"]}, id="hour-25"),
        pytest.param({"weekdays": ["mon"], "times": ["10:61"]}, id="minute-61"),
        pytest.param({"weekdays": ["mon"], "times": ["10am"]}, id="not-hh-mm"),
        pytest.param({"weekdays": [], "times": ["10:00"]}, id="no-weekdays"),
        pytest.param({"weekdays": ["funday"], "times": ["10:00"]}, id="unknown-weekday"),
        pytest.param({"weekdays": ["mon"], "times": []}, id="no-times"),
        pytest.param(
            {"weekdays": ["mon"], "times": ["10:00"], "window_minutes": 60, "reminder_minutes": 60},
            id="reminder-equals-window",
        ),
        pytest.param(
            {"weekdays": ["mon"], "times": ["10:00"], "window_minutes": 30, "reminder_minutes": 45},
            id="reminder-after-window",
        ),
        pytest.param({"weekdays": ["mon"], "times": ["10:00"], "window_minutes": 2}, id="window"),
        pytest.param({"every_hours": 0}, id="every-0-hours"),
        pytest.param({"every_hours": 169}, id="every-169-hours"),
        pytest.param({"every_hours": 12, "start_local": "24:30"}, id="bad-start"),
        pytest.param({"every_hours": 12, "weekdays": ["mon"], "times": ["10:00"]}, id="both-kinds"),
        pytest.param({}, id="nothing"),
    ],
)
async def test_a_plan_that_cannot_work_is_refused(world: World, plan: dict[str, Any]) -> None:
    talk = await open_conversation(world)
    good = await talk.officer.set_checkin_plan(talk.witness_id, weekdays=["thu"], times=["10:00"])
    with pytest.raises(ApiError) as refused:
        await talk.officer.transport.request(
            "PUT", f"/v1/witnesses/{talk.witness_id}/checkin-plan", json=plan
        )
    assert refused.value.status == 422
    after = await talk.officer.checkin_plan(talk.witness_id)
    assert after["version"] == good["version"]
    assert after["current"] == good["current"]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"reason": "   "}, id="blank-reason"),
        pytest.param({"reason": ""}, id="empty-reason"),
        pytest.param({"reason": "travel", "until": "2026-01-01T00:00:00Z"}, id="past-resume"),
        pytest.param({"reason": "travel", "until": "2026-02-01T10:00:00"}, id="naive-resume"),
    ],
)
async def test_a_pause_without_a_reason_or_with_a_senseless_resume_date_is_refused(
    world: World, body: dict[str, Any]
) -> None:
    talk = await open_conversation(world)
    await talk.officer.set_checkin_plan(talk.witness_id, weekdays=["thu"], times=["10:00"])
    with pytest.raises(ApiError) as refused:
        await talk.officer.transport.request(
            "POST", f"/v1/witnesses/{talk.witness_id}/checkin-plan/pause", json=body
        )
    assert refused.value.status == 422
    assert (await talk.officer.checkin_plan(talk.witness_id))["paused"] is False


async def test_staff_of_another_agency_can_neither_read_nor_set_a_plan(world: World) -> None:
    talk = await open_conversation(world)
    plan = await talk.officer.set_checkin_plan(talk.witness_id, weekdays=["thu"], times=["10:00"])
    outsider = await world.login("outsider")
    base = f"/v1/witnesses/{talk.witness_id}/checkin-plan"
    attempts: list[tuple[str, str, dict[str, Any] | None]] = [
        ("GET", base, None),
        ("PUT", base, {"every_hours": 1}),
        ("POST", base + "/pause", {"reason": "curious"}),
        ("POST", base + "/resume", None),
    ]
    for method, path, body in attempts:
        with pytest.raises(ApiError) as refused:
            await outsider.transport.request(method, path, json=body)
        assert refused.value.status == 404, (method, path)
    after = await talk.officer.checkin_plan(talk.witness_id)
    assert (after["version"], after["paused"]) == (plan["version"], False)


async def test_a_witness_without_a_plan_has_none_to_show(world: World) -> None:
    talk = await open_conversation(world)
    with pytest.raises(ApiError) as missing:
        await talk.officer.checkin_plan(talk.witness_id)
    assert missing.value.status == 404
    with pytest.raises(ApiError) as missing:
        await talk.officer.pause_checkins(talk.witness_id, "travel")
    assert missing.value.status == 404
    await catch_up(world)
    assert await talk.witness.current_prompt() is None


async def test_the_phone_cannot_change_its_own_plan(world: World) -> None:
    talk = await open_conversation(world)
    async with (
        aiohttp.ClientSession() as http,
        http.put(
            f"{world.url}/v1/witnesses/{talk.witness_id}/checkin-plan",
            json={"every_hours": 168},
            headers={"Authorization": f"Bearer {talk.witness.identity.token}"},
        ) as response,
    ):
        assert response.status == 403
    with pytest.raises(ApiError) as missing:
        await talk.officer.checkin_plan(talk.witness_id)
    assert missing.value.status == 404
