"""Handover before return: the police ask the case's support agency to take the witness
on; it sees only the minimum, accepts naming two contacts or declines with a reason
(sealed at rest); no acceptance in time raises an alert that escalates; any other
agency sees nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from server.domain.models import Role
from tests.court.helpers import api_error, audit_entries, server_bytes
from tests.handover.helpers import (
    alerts_of,
    days_ahead,
    foreign_support,
    receiving_team,
    requested,
    requested_case,
)
from tests.support.welfare import advance, advance_to, catch_up
from tests.support.world import World, open_conversation

START = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)
DECLINE_REASON = "REASON-NO-SHELTER-BEDS-IN-CONSTANTA-UNTIL-AUGUST"
MINIMUM = {
    "handover_id",
    "alias",
    "language",
    "return_on",
    "accept_by",
    "risk_level",
    "status",
    "case_id",
    "primary_contact_id",
    "alternate_contact_id",
}


async def test_a_handover_not_accepted_in_time_raises_an_alert_that_escalates(
    world: World,
) -> None:
    world.clock.set(START)
    talk = await open_conversation(world)
    handover = await requested(world, talk, days=20)
    # Default: seven days before the start of the return day.
    assert handover["accept_by"] == "2026-05-17T00:00:00.000Z"
    assert handover["state"] == "requested"

    await advance_to(world, datetime(2026, 5, 16, 23, 59, tzinfo=UTC))
    assert await alerts_of(talk.officer, "handover_not_accepted") == []

    await advance_to(world, datetime(2026, 5, 17, 0, 0, tzinfo=UTC))
    (alert,) = await alerts_of(talk.officer, "handover_not_accepted")
    assert alert["level"] == 1
    assert (await talk.officer.handover(talk.case_id))["handover"]["state"] == "overdue"

    await advance(world, timedelta(minutes=16))
    (alert,) = await alerts_of(talk.officer, "handover_not_accepted")
    assert alert["level"] == 2, "the alert escalates like any other"
    await catch_up(world)
    assert len(await alerts_of(talk.officer, "handover_not_accepted")) == 1, "raised once"


async def test_an_accepted_handover_raises_no_alert_and_both_contacts_join_the_team(
    world: World,
) -> None:
    case = await requested_case(world, START)
    talk, lead, alternate_id, handover = case.talk, case.lead, case.alternate_id, case.handover

    accepted = await lead.accept_handover(
        handover["handover_id"], world.staff["worker"], alternate_id
    )
    assert accepted["status"] == "accepted"
    assert accepted["case_id"] == talk.case_id, "the case is theirs once accepted"
    await advance_to(world, START + timedelta(days=25))
    assert await alerts_of(talk.officer, "handover_not_accepted") == []
    seen = (await talk.officer.handover(talk.case_id))["handover"]
    assert (seen["state"], seen["primary_contact_id"], seen["alternate_contact_id"]) == (
        "accepted",
        world.staff["worker"],
        alternate_id,
    )
    async with world.services.store.read() as uow:
        team = await uow.cases.staff_ids(talk.case_id)
    assert alternate_id in team
    assert await audit_entries(world, action="handover.accepted")

    again = await api_error(lead.decline_handover(handover["handover_id"], "changed mind"))
    assert again.status == 409, "a decided request stays decided"


async def test_contacts_must_be_two_different_active_staff_of_the_receiving_agency(
    world: World,
) -> None:
    case = await requested_case(world, START)
    talk, lead, alternate_id, handover = case.talk, case.lead, case.alternate_id, case.handover
    hid = handover["handover_id"]
    same = await api_error(lead.accept_handover(hid, alternate_id, alternate_id))
    police = await api_error(lead.accept_handover(hid, world.staff["officer"], alternate_id))
    assert (same.status, police.status) == (422, 422)
    async with world.services.store.read() as uow:
        assert world.staff["officer"] in await uow.cases.staff_ids(talk.case_id)
        assert alternate_id not in await uow.cases.staff_ids(talk.case_id), "no partial write"


async def test_acceptance_after_the_alert_leaves_the_alert_for_a_person_to_resolve(
    world: World,
) -> None:
    case = await requested_case(world, START, days=10)
    talk, lead, alternate_id, handover = case.talk, case.lead, case.alternate_id, case.handover
    await advance_to(world, START + timedelta(days=4))
    (alert,) = await alerts_of(talk.officer, "handover_not_accepted")

    await lead.accept_handover(handover["handover_id"], world.staff["worker"], alternate_id)
    (still,) = await alerts_of(talk.officer, "handover_not_accepted")
    assert still["alert_id"] == alert["alert_id"]
    assert still["status"] == "open"
    seen = (await talk.officer.handover(talk.case_id))["handover"]
    assert (seen["state"], seen["alert_raised"]) == ("accepted", True)


async def test_a_declined_handover_shows_the_police_the_reason_sealed_at_rest(
    world: World, backend: str
) -> None:
    case = await requested_case(world, START)
    talk, lead, handover = case.talk, case.lead, case.handover

    declined = await lead.decline_handover(handover["handover_id"], DECLINE_REASON)
    assert declined["status"] == "declined"
    assert declined["case_id"] is None

    seen = (await talk.officer.handover(talk.case_id))["handover"]
    assert (seen["state"], seen["decline_reason"]) == ("declined", DECLINE_REASON)
    (read,) = await audit_entries(
        world, action="handover.reason_consulted", actor_id=world.staff["officer"]
    )
    assert DECLINE_REASON not in str(read)
    stored = await server_bytes(world, backend)
    assert DECLINE_REASON.encode() not in stored, "the reason is sealed at rest"
    await advance_to(world, START + timedelta(days=15))
    assert await alerts_of(talk.officer, "handover_not_accepted") == [], "decided: no alert"


async def test_the_receiving_agency_sees_only_the_minimum_before_acceptance(
    world: World,
) -> None:
    world.clock.set(START)
    talk = await open_conversation(world)
    lead, _alternate = await receiving_team(world)
    await talk.officer.record_assessment(talk.case_id, "high", ["debt"], "NOTES-SECRET-42")
    handover = await requested(world, talk)

    (listed,) = await lead.handover_requests()
    one = await lead.handover_request(handover["handover_id"])
    for seen in (listed, one):
        assert set(seen) == MINIMUM
        assert (seen["alias"], seen["language"], seen["risk_level"]) == ("Sparrow", "ro", "high")
        assert seen["return_on"] == days_ahead(world, 20).isoformat()
        assert seen["case_id"] is None, "not even the case id before acceptance"
        assert "NOTES-SECRET-42" not in str(seen)
        assert "debt" not in str(seen)


async def test_an_agency_that_is_not_the_receiving_one_sees_nothing(world: World) -> None:
    world.clock.set(START)
    talk = await open_conversation(world)
    stranger = await foreign_support(world)
    hid = (await requested(world, talk))["handover_id"]

    assert await stranger.handover_requests() == []
    for call in (
        stranger.handover_request(hid),
        stranger.accept_handover(hid, world.staff["elsewherelead"], world.staff["worker"]),
        stranger.decline_handover(hid, "not ours"),
        # The police side of the same case is not the receiving agency either.
        talk.officer.handover_request(hid),
    ):
        assert (await api_error(call)).status == 404
    assert (await talk.officer.handover(talk.case_id))["handover"]["status"] == "requested"


async def test_a_new_request_withdraws_the_open_one(world: World) -> None:
    world.clock.set(START)
    talk = await open_conversation(world)
    lead, _alternate = await receiving_team(world)
    first = await requested(world, talk, days=10)
    second = await requested(world, talk, days=30)
    (listed,) = await lead.handover_requests()
    assert listed["handover_id"] == second["handover_id"]
    assert (await api_error(lead.handover_request(first["handover_id"]))).status == 404
    await advance_to(world, START + timedelta(days=5))
    assert await alerts_of(talk.officer, "handover_not_accepted") == [], "withdrawn: no alert"


async def test_the_witnesss_consent_is_recorded_with_who_when_and_how(world: World) -> None:
    world.clock.set(START)
    talk = await open_conversation(world)
    await talk.officer.record_handover_consent(talk.case_id, "in_person")
    world.clock.advance(timedelta(hours=1))
    await talk.witness.consent_to_handover()

    consents = (await talk.officer.handover(talk.case_id))["consents"]
    assert [(c["how"], c["recorded_by"]) for c in consents] == [
        ("in_person", world.staff["officer"]),
        ("in_app", talk.witness_id),
    ]
    refused = await api_error(talk.worker.record_handover_consent(talk.case_id, "phone_call"))
    assert refused.status == 403, "the police side records consent"
    entries = await audit_entries(world, action="handover.consent_recorded")
    assert len(entries) == 2


async def test_the_support_side_cannot_send_a_handover(world: World) -> None:
    world.clock.set(START)
    talk = await open_conversation(world)
    refused = await api_error(talk.worker.request_handover(talk.case_id, days_ahead(world, 9)))
    past = await api_error(talk.officer.request_handover(talk.case_id, START.date()))
    assert (refused.status, past.status) == (403, 422)


async def test_a_request_sent_in_the_same_millisecond_as_a_decision_is_the_current_one(
    world: World,
) -> None:
    case = await requested_case(world, START)
    await case.lead.decline_handover(case.handover_id, "no capacity")
    again = await requested(world, case.talk, days=30)  # the clock has not moved
    seen = (await case.talk.officer.handover(case.talk.case_id))["handover"]
    assert (seen["handover_id"], seen["state"]) == (again["handover_id"], "requested")


async def test_the_alert_goes_to_the_police_side_of_the_case_only(world: World) -> None:
    """The default policy tells the support workers first; a handover nobody accepted
    is for the police to solve, so its alert reaches the officers, then the police
    supervisors — never the organisation that did not accept."""
    world.clock.set(START)
    talk = await open_conversation(world)
    await world.add_staff("sergeant", "police", Role.SUPERVISOR)
    await world.add_staff("supportlead", "support", Role.SUPERVISOR)
    await requested(world, talk, days=10)
    await advance_to(world, START + timedelta(days=4))
    (alert,) = await alerts_of(talk.officer, "handover_not_accepted")
    await advance(world, timedelta(minutes=16))
    async with world.services.store.read() as uow:
        told = {
            (n.recipient_id, n.level) for n in await uow.notifications.for_alert(alert["alert_id"])
        }
    police = {world.staff["officer"], world.staff["sergeant"]}
    assert {who for who, _level in told} == police
    assert (world.staff["officer"], 1) in told
    assert (world.staff["sergeant"], 2) in told


async def test_a_closed_case_raises_no_handover_or_review_alert(world: World) -> None:
    world.clock.set(START)
    talk = await open_conversation(world)
    await requested(world, talk, days=10)
    await talk.officer.record_assessment(talk.case_id, "severe", [])
    await talk.officer.close_case(talk.case_id)
    await advance_to(world, START + timedelta(days=20))
    for kind in ("handover_not_accepted", "review_overdue"):
        async with world.services.store.read() as uow:
            alerts = await uow.alerts.list_for_cases(
                [talk.case_id], statuses=["open", "acknowledged", "resolved"], limit=100
            )
        assert [a for a in alerts if a.kind.value == kind] == []
