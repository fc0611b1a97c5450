"""Risk and needs assessments: history kept, notes sealed at rest and every reading
audited (with a reason where the agency requires one), a review that falls due reminds
the case team and then alerts, and the level's defaults reach the check-in plan only
as a suggestion."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from client_sdk import ReviewDue
from server.domain.assessments import current_assessment, latest_level
from server.domain.caseload import Caseload
from server.domain.risk_levels import RiskLevel
from server.storage.repos.handovers import erase_case
from tests.court.helpers import api_error, audit_entries, connect, next_event, server_bytes
from tests.handover.helpers import (
    alerts_of,
    foreign_support,
    receiving_team,
    requested,
    requested_case,
)
from tests.support.welfare import advance, advance_to
from tests.support.world import World, open_conversation

START = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)
NOTES = "NOTES-UNCLE-ION-DRIVES-FOR-THE-NETWORK-IN-ARAD"


async def _events(client: Any, kind: str) -> list[dict[str, Any]]:
    reply = await client.transport.request("GET", "/v1/events")
    return [e for e in reply["events"] if e.get("type") == kind]


async def test_an_overdue_review_reminds_the_team_then_raises_an_alert_that_escalates(
    world: World,
) -> None:
    world.clock.set(START)
    talk = await open_conversation(world)
    recorded = await talk.officer.record_assessment(talk.case_id, "high", ["network_threats"])
    assert recorded["review_due_at"] == "2026-06-03T08:00:00.000Z"  # high: 30 days

    await advance_to(world, START + timedelta(days=30))
    (reminder,) = await _events(talk.officer, "review_due")
    assert set(reminder) == {"type", "case_id", "assessment_id", "due_at", "event_id"}
    assert (await _events(talk.worker, "review_due")) != [], "the whole case team"
    assert await alerts_of(talk.officer, "review_overdue") == [], "a reminder first"

    await advance_to(world, START + timedelta(days=33) - timedelta(minutes=1))
    assert await alerts_of(talk.officer, "review_overdue") == []
    await advance(world, timedelta(minutes=1))
    (alert,) = await alerts_of(talk.officer, "review_overdue")
    assert alert["level"] == 1
    await advance(world, timedelta(minutes=16))
    (alert,) = await alerts_of(talk.officer, "review_overdue")
    assert alert["level"] == 2


async def test_a_review_in_time_supersedes_the_old_deadlines(world: World) -> None:
    world.clock.set(START)
    talk = await open_conversation(world)
    await talk.officer.record_assessment(talk.case_id, "high", [])
    await advance_to(world, START + timedelta(days=29))
    await talk.worker.record_assessment(talk.case_id, "medium", ["housing"])  # 60 days
    await advance_to(world, START + timedelta(days=40))
    assert await alerts_of(talk.officer, "review_overdue") == []
    assert await _events(talk.officer, "review_due") == []


async def test_every_assessment_is_kept_and_none_is_rewritten(world: World) -> None:
    world.clock.set(START)
    talk = await open_conversation(world)
    first = await talk.officer.record_assessment(talk.case_id, "severe", ["re_trafficking"], NOTES)
    world.clock.advance(timedelta(days=2))
    second = await talk.worker.record_assessment(talk.case_id, "medium", ["debt", "health"])

    history = (await talk.officer.assessments(talk.case_id))["assessments"]
    assert [a["assessment_id"] for a in history] == [
        second["assessment_id"],
        first["assessment_id"],
    ]
    assert history[1] == first, "the first assessment is exactly as it was recorded"
    assert history[0]["factors"] == ["health", "debt"]  # in the fixed list's order
    assert "notes" not in history[1]
    assert history[1]["has_notes"] is True
    assert await latest_level(world.services.store, talk.witness_id) is RiskLevel.MEDIUM
    current = await current_assessment(world.services.store, talk.witness_id)
    assert current is not None
    assert current.id == second["assessment_id"]


async def test_notes_are_sealed_at_rest_and_every_reading_is_audited(
    world: World, backend: str
) -> None:
    world.clock.set(START)
    talk = await open_conversation(world)
    recorded = await talk.officer.record_assessment(talk.case_id, "high", [], NOTES)
    assert NOTES.encode() not in await server_bytes(world, backend)
    assert await audit_entries(world, action="assessment.notes_consulted") == []

    assert await talk.worker.assessment_notes(recorded["assessment_id"]) == NOTES
    assert await talk.worker.assessment_notes(recorded["assessment_id"]) == NOTES
    entries = await audit_entries(
        world, action="assessment.notes_consulted", actor_id=world.staff["worker"]
    )
    assert len(entries) == 2, "every reading, not the first one only"
    assert all(NOTES not in str(entry) for entry in entries)
    recorded_entries = await audit_entries(world, action="assessment.recorded")
    assert NOTES not in str(recorded_entries)


async def test_an_agency_that_requires_a_reason_gets_none_of_the_notes_without_one(
    world: World,
) -> None:
    world.clock.set(START)
    talk = await open_conversation(world)
    recorded = await talk.officer.record_assessment(talk.case_id, "low", [], NOTES)
    async with world.services.db.transaction() as conn:
        await conn.execute(
            "UPDATE agencies SET requires_reason = TRUE WHERE id = $1", world.agencies["support"]
        )
    refused = await api_error(talk.worker.assessment_notes(recorded["assessment_id"]))
    assert refused.status in (400, 403, 422, 428)
    assert NOTES not in str(refused)
    read = await talk.worker.assessment_notes(recorded["assessment_id"], reason="home visit")
    assert read == NOTES
    (entry,) = await audit_entries(
        world, action="assessment.notes_consulted", actor_id=world.staff["worker"]
    )
    assert entry.reason == "home visit"


async def test_staff_of_another_agency_cannot_record_list_or_read_assessments(
    world: World,
) -> None:
    world.clock.set(START)
    talk = await open_conversation(world)
    outsider = await world.login("outsider")
    stranger = await foreign_support(world)
    recorded = await talk.officer.record_assessment(talk.case_id, "high", [], NOTES)
    for client in (outsider, stranger):
        for call in (
            client.assessments(talk.case_id),
            client.assessment_notes(recorded["assessment_id"], reason="curious"),
            client.record_assessment(talk.case_id, "low", []),
        ):
            error = await api_error(call)
            assert error.status == 404
            assert NOTES not in str(error)
    assert len((await talk.officer.assessments(talk.case_id))["assessments"]) == 1


async def test_a_higher_level_suggests_the_default_check_in_plan_but_never_rewrites_it(
    world: World,
) -> None:
    world.clock.set(START)
    talk = await open_conversation(world)
    await talk.officer.set_checkin_plan(talk.witness_id, every_hours=72)
    await talk.officer.record_assessment(talk.case_id, "high", [])
    listed = await talk.officer.assessments(talk.case_id)
    assert listed["checkin_suggestion"] == {
        "level": "high",
        "every_hours": 24,
        "plan_every_hours": 72.0,
    }
    plan = await talk.officer.transport.request(
        "GET", f"/v1/witnesses/{talk.witness_id}/checkin-plan"
    )
    assert "72" in str(plan), "the team's plan is left as it was"

    await talk.officer.set_checkin_plan(talk.witness_id, every_hours=12)
    assert (await talk.officer.assessments(talk.case_id))["checkin_suggestion"] is None


async def test_the_retention_erasure_leaves_nothing_of_the_handover_or_assessments(
    world: World, backend: str
) -> None:
    world.clock.set(START)
    talk = await open_conversation(world)
    lead, _alternate = await receiving_team(world)
    await talk.officer.record_assessment(talk.case_id, "high", [], NOTES)
    await advance_to(world, START + timedelta(days=31))  # a reminder deadline done
    handover = await requested(world, talk)
    await lead.decline_handover(handover["handover_id"], "REASON-TO-ERASE-77")
    await talk.officer.record_handover_consent(talk.case_id, "in_person")

    async with world.services.db.transaction() as conn:
        erased = await erase_case(conn, talk.case_id)
    assert erased == 5  # one handover, one consent, one assessment, two deadlines
    async with world.services.db.transaction() as conn:
        for table in ("handovers", "handover_consents", "risk_assessments", "review_deadlines"):
            count = await conn.fetchval(
                f"SELECT COUNT(*) FROM {table} WHERE case_id = $1", talk.case_id
            )
            assert count == 0, table
    assert await talk.officer.assessments(talk.case_id) == {
        "assessments": [],
        "checkin_suggestion": None,
    }


async def test_the_caseload_shows_the_handover_state_and_a_review_that_fell_due(
    world: World,
) -> None:
    case = await requested_case(world, START, days=10)
    talk = case.talk
    await talk.officer.record_assessment(talk.case_id, "severe", [])  # review in 14 days
    async with world.services.store.read() as uow:
        officer = await uow.staff.get(world.staff["officer"])
    assert officer is not None
    caseload = Caseload(world.services.store, world.clock)

    async def row() -> tuple[str, bool]:
        (found,) = await caseload.rows(officer)
        return found.handover_state, found.review_due

    assert await row() == ("requested", False)
    world.clock.set(START + timedelta(days=3))  # accept-by: 7 days before day 10
    assert await row() == ("overdue", False)
    await case.lead.accept_handover(case.handover_id, world.staff["worker"], case.alternate_id)
    world.clock.set(START + timedelta(days=14))
    assert await row() == ("accepted", True)


async def test_a_connected_staff_client_is_told_when_a_review_falls_due(world: World) -> None:
    world.clock.set(START)
    talk = await open_conversation(world)
    recorded = await talk.officer.record_assessment(talk.case_id, "severe", [], NOTES)
    await connect(world, talk.worker)
    await advance_to(world, START + timedelta(days=14))
    told = await next_event(talk.worker, ReviewDue)
    assert (told.case_id, told.assessment_id) == (talk.case_id, recorded["assessment_id"])
    assert told.due_at == "2026-05-18T08:00:00.000Z"
