"""Welfare visits by the home-country team: the plan follows the risk level, the
visitor's own client tells the witness who comes and when (end to end: the server holds
no name), a held visit counts as contact, an unrecorded visit raises an alert that
escalates, and staff of another agency can do none of it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import icalendar
import pytest

from client_sdk.errors import ApiError
from client_sdk.events import VisitChanged
from server.domain.risk_levels import RiskLevel, defaults_for
from tests.court.helpers import alerts_of, audit_entries, server_bytes
from tests.support.welfare import advance, advance_to
from tests.support.world import Conversation, World, open_conversation
from tests.welfare.helpers import next_event, start_and_connect

START = datetime(2026, 5, 4, 7, 0, tzinfo=UTC)  # a Monday, 10:00 in Bucharest


async def _visit(
    world: World, talk: Conversation, hours_ahead: float = 2, **extra: Any
) -> dict[str, Any]:
    """The support worker schedules their own visit (their client announces it)."""
    start = world.clock.now() + timedelta(hours=hours_ahead)
    return await talk.worker.schedule_visit(
        talk.case_id,
        visitor_staff_id=talk.worker.staff_id,
        window_start=start,
        window_end=start + timedelta(hours=2),
        **extra,
    )


async def test_the_plan_defaults_from_the_risk_level_and_can_be_set(world: World) -> None:
    world.clock.set(START)
    talk = await open_conversation(world)
    default = await talk.officer.visit_plan(talk.witness_id)
    assert (default["set"], default["risk_level"], default["every_days"]) == (
        False,
        "medium",
        defaults_for(RiskLevel.MEDIUM).visit_every_days,
    )
    high = await talk.worker.set_visit_plan(talk.witness_id, risk_level="high")
    assert (high["set"], high["every_days"]) == (
        True,
        defaults_for(RiskLevel.HIGH).visit_every_days,
    )
    chosen = await talk.worker.set_visit_plan(talk.witness_id, every_days=10)
    assert chosen["every_days"] == 10
    assert len(await audit_entries(world, action="visit_plan.set")) == 2


async def test_the_witness_learns_who_comes_and_when_end_to_end(world: World, backend: str) -> None:
    world.clock.set(START)
    talk = await open_conversation(world)
    visit = await _visit(world, talk)
    await talk.witness.sync()
    (upcoming,) = await talk.witness.upcoming_visits()
    assert upcoming.visit_id == visit["visit_id"]
    assert upcoming.visitor_name == "Worker"
    assert upcoming.window_start == START + timedelta(hours=2)
    # A repeated notice (a second client of the visitor, a retry) is one visit.
    await talk.worker.send_visit_notice(visit)
    await talk.witness.sync()
    assert len(await talk.witness.upcoming_visits()) == 1

    # The server stored the fact (a staff id and a time), never the visitor's name in
    # anything readable: the notice is end-to-end ciphertext.
    stored = await server_bytes(world, backend)
    assert visit["visitor_staff_id"].encode() in stored
    assert b"visitor_name" not in stored
    assert b"visit_notice" not in stored


async def test_a_visit_scheduled_while_the_visitors_app_is_offline_reaches_the_phone(
    world: World,
) -> None:
    """The officer schedules the visit (as in the console) while the visitor's app is
    not connected: the event waits for the app, which tells the phone when it next
    connects. A live-only push was lost, and the witness never learned of the visit."""
    world.clock.set(START)
    talk = await open_conversation(world)
    start = START + timedelta(days=2)
    visit = await talk.officer.schedule_visit(
        talk.case_id,
        visitor_staff_id=talk.worker.staff_id,
        window_start=start,
        window_end=start + timedelta(hours=2),
    )
    await talk.witness.sync()
    assert await talk.witness.upcoming_visits() == []  # only the visitor's app tells it
    world.clock.advance(timedelta(hours=5))
    await talk.worker.sync()  # the app comes online hours later
    await talk.witness.sync()
    assert [v.visit_id for v in await talk.witness.upcoming_visits()] == [visit["visit_id"]]


async def test_only_the_visitors_own_notice_is_kept(world: World) -> None:
    """A colleague on the case (or anyone) who announces a visit in the visitor's name
    is not believed: the phone keeps notices from the visitor's own devices only."""
    world.clock.set(START)
    talk = await open_conversation(world)
    visit = await talk.officer.schedule_visit(
        talk.case_id,
        visitor_staff_id=talk.worker.staff_id,
        window_start=START + timedelta(hours=1),
        window_end=START + timedelta(hours=3),
    )
    body = {
        "kind": "visit_notice",
        "visit_id": visit["visit_id"],
        "version": 1,
        "visitor": talk.worker.owner,
        "visitor_name": "Worker",
        "window_start": visit["window_start"],
        "window_end": visit["window_end"],
        "status": "scheduled",
    }
    await talk.officer.send_payload(talk.case_id, body)
    await talk.witness.sync()
    assert await talk.witness.upcoming_visits() == []
    # Only the visitor's client may announce it.
    with pytest.raises(Exception, match="only the visitor"):
        await talk.officer.send_visit_notice(visit)


async def test_a_visit_record_stops_a_silence_alert(world: World) -> None:
    world.clock.set(START)
    talk = await open_conversation(world)
    await talk.officer.set_welfare_settings(talk.case_id, silent_after_hours=48)
    await talk.witness.heartbeat()  # silent from START + 48 h unless heard from
    visit = await _visit(world, talk, hours_ahead=40)
    await advance_to(world, START + timedelta(hours=41))
    recorded = await talk.worker.record_visit(
        visit["visit_id"], outcome="held", seen_alone=True, concerns="SEALED-CONCERN-7781"
    )
    assert recorded["visit"]["status"] == "recorded"
    assert recorded["visit"]["has_concerns"] is True
    await advance_to(world, START + timedelta(hours=48, minutes=1))
    assert await alerts_of(talk.worker, "device_silent") == []
    # Without anything further the silence is counted from the visit.
    await advance_to(world, START + timedelta(hours=41 + 48))
    assert len(await alerts_of(talk.worker, "device_silent")) == 1


async def test_a_visit_not_held_is_no_contact(world: World) -> None:
    world.clock.set(START)
    talk = await open_conversation(world)
    await talk.officer.set_welfare_settings(talk.case_id, silent_after_hours=48)
    await talk.witness.heartbeat()
    visit = await _visit(world, talk, hours_ahead=40)
    await advance_to(world, START + timedelta(hours=41))
    await talk.worker.record_visit(visit["visit_id"], outcome="not_met")
    await advance_to(world, START + timedelta(hours=48))
    assert len(await alerts_of(talk.worker, "device_silent")) == 1


async def test_concerns_are_sealed_and_every_reading_is_audited(world: World, backend: str) -> None:
    world.clock.set(START)
    talk = await open_conversation(world)
    visit = await _visit(world, talk, hours_ahead=0.5)
    await advance(world, timedelta(hours=1))
    nxt = (START + timedelta(days=14), START + timedelta(days=14, hours=2))
    recorded = await talk.worker.record_visit(
        visit["visit_id"],
        outcome="held",
        seen_alone=False,
        concerns="UNCLE-WAITS-OUTSIDE-4410",
        next_window=nxt,
    )
    following = recorded["next_visit"]
    assert following is not None
    assert following["status"] == "scheduled"
    assert following["window_start"].startswith("2026-05-18T07:00")
    assert b"UNCLE-WAITS-OUTSIDE-4410" not in await server_bytes(world, backend)
    opened = await talk.officer.visit(visit["visit_id"])
    assert opened["concerns"] == "UNCLE-WAITS-OUTSIDE-4410"
    (read,) = await audit_entries(world, action="visit.concerns_read")
    assert read.actor_id == talk.officer.staff_id
    for entry in await audit_entries(world, action="visit.recorded"):
        assert "UNCLE" not in str(entry.details)
    # The next visit was announced to the phone by the visitor's client.
    await talk.witness.sync()
    assert [v.visit_id for v in await talk.witness.upcoming_visits()] == [following["visit_id"]]


async def test_an_overdue_visit_raises_one_alert_that_escalates(world: World) -> None:
    world.clock.set(START)
    talk = await open_conversation(world)
    await talk.witness.heartbeat()
    await talk.officer.set_welfare_settings(talk.case_id, silent_after_hours=24 * 14)
    visit = await _visit(world, talk, hours_ahead=1)
    window_end = START + timedelta(hours=3)
    await advance_to(world, window_end + timedelta(hours=24) - timedelta(minutes=1))
    assert await alerts_of(talk.worker, "visit_overdue") == []
    await advance_to(world, window_end + timedelta(hours=24))
    (alert,) = await alerts_of(talk.worker, "visit_overdue")
    assert (alert["case_id"], alert["severity"], alert["level"]) == (talk.case_id, "high", 1)
    listed = await talk.officer.visits(talk.case_id)
    assert [(v["visit_id"], v["overdue"]) for v in listed] == [(visit["visit_id"], True)]
    await advance(world, timedelta(hours=3))
    (alert,) = await alerts_of(talk.worker, "visit_overdue")
    assert alert["level"] > 1  # escalated, and still one alert
    # Recording it late is still possible and raises nothing more.
    await talk.worker.record_visit(visit["visit_id"], outcome="held", seen_alone=True)
    await advance(world, timedelta(days=2))
    assert len(await alerts_of(talk.worker, "visit_overdue")) == 1


async def test_staff_of_another_agency_can_neither_see_nor_schedule(world: World) -> None:
    world.clock.set(START)
    talk = await open_conversation(world)
    visit = await _visit(world, talk)
    outsider = await world.login("outsider")
    for call in (
        outsider.visits(talk.case_id),
        outsider.visit(visit["visit_id"]),
        outsider.visit_plan(talk.witness_id),
        outsider.record_visit(visit["visit_id"], outcome="held"),
        outsider.schedule_visit(
            talk.case_id,
            visitor_staff_id=outsider.staff_id,
            window_start=START + timedelta(hours=1),
            window_end=START + timedelta(hours=2),
        ),
    ):
        with pytest.raises(ApiError) as refused:
            await call
        assert refused.value.status == 404


async def test_the_visitor_must_be_the_support_organisation_on_the_case(world: World) -> None:
    world.clock.set(START)
    talk = await open_conversation(world)
    outsider = await world.login("outsider")
    for visitor in (talk.officer.staff_id, outsider.staff_id):
        with pytest.raises(ApiError) as refused:
            await talk.officer.schedule_visit(
                talk.case_id,
                visitor_staff_id=visitor,
                window_start=START + timedelta(hours=1),
                window_end=START + timedelta(hours=2),
            )
        assert refused.value.status == 422


async def test_the_calendar_feed_shows_visits_by_alias_and_window_only(world: World) -> None:
    world.clock.set(START)
    talk = await open_conversation(world)
    visit = await _visit(world, talk, hours_ahead=24)
    url = await talk.officer.calendar_feed_url()
    async with aiohttp.ClientSession() as session, session.get(url) as reply:
        assert reply.status == 200
        body = await reply.text()
    calendar = icalendar.Calendar.from_ical(body)
    (event,) = [e for e in calendar.walk("VEVENT") if str(e["uid"]).startswith("vis_")]
    assert str(event["uid"]) == f"{visit['visit_id']}@witnesslink"
    assert str(event["summary"]) == "Welfare visit — Sparrow"
    assert event.decoded("dtstart") == START + timedelta(hours=24)
    # Nothing else about the visit: no visitor, no place.
    assert set(event) == {
        "UID",
        "DTSTAMP",
        "DTSTART",
        "DTEND",
        "SUMMARY",
        "STATUS",
        "SEQUENCE",
        "TRANSP",
    }
    assert "Worker" not in body
    # A visitor's own feed has it too (the worker is on the case).
    worker_url = await talk.worker.calendar_feed_url()
    async with aiohttp.ClientSession() as session, session.get(worker_url) as reply:
        assert visit["visit_id"] in await reply.text()


async def test_a_visit_the_officer_schedules_is_announced_by_the_visitors_own_client(
    world: World,
) -> None:
    """The server only pushes ids and times to the team; the visitor's client, on that
    push, sends the witness the end-to-end notice (the officer's client cannot)."""
    world.clock.set(START)
    talk = await open_conversation(world)
    await start_and_connect(world, talk.worker)
    visit = await talk.officer.schedule_visit(
        talk.case_id,
        visitor_staff_id=talk.worker.staff_id,
        window_start=START + timedelta(hours=5),
        window_end=START + timedelta(hours=6),
    )
    changed = await next_event(talk.worker, VisitChanged)
    assert (changed.visit_id, changed.change) == (visit["visit_id"], "scheduled")
    await talk.witness.sync()
    (upcoming,) = await talk.witness.upcoming_visits()
    assert (upcoming.visit_id, upcoming.visitor_name) == (visit["visit_id"], "Worker")
