"""The staff side of alerts: the first acknowledgement wins and silences what was still
to be sent; resolving needs an outcome and a note; escalation follows the policy in
force when the alert fired (the case's own, else the agency's default, else the
built-in one); off-duty staff are skipped unless nobody is on duty; other agencies see
nothing; and the audit log records who acted, never what the note says."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from client_sdk import StaffClient
from client_sdk.errors import ApiError
from client_sdk.events import AlertNotice
from server.domain.models import Role
from tests.support.welfare import (
    SUPERVISOR_PHONE,
    WORKER_PHONE,
    advance,
    catch_up,
    sms_to,
    with_phones_and_supervisor,
)
from tests.support.world import Conversation, World, open_conversation
from tests.welfare.helpers import (
    audit_entries,
    next_event,
    open_second_case,
    server_bytes,
    start_and_connect,
)

NOTE = "Neighbour-IOANA-says-he-drove-her-to-Constanta"


async def _panic(talk: Conversation) -> dict[str, Any]:
    """A fresh alert on the case (a panic from the phone); returns it as staff see it."""
    before = {a["alert_id"] for a in await talk.worker.alerts(include_resolved=True)}
    await talk.witness.panic()
    (alert,) = [a for a in await talk.worker.alerts() if a["alert_id"] not in before]
    return alert


def _recipients(detail: dict[str, Any], *, level: int | None = None) -> set[str]:
    return {
        n["recipient_id"] for n in detail["notifications"] if level is None or n["level"] == level
    }


def _named_levels(*levels: tuple[int, str], repeat: int = 60) -> dict[str, Any]:
    return {
        "levels": [
            {"after_minutes": after, "notify": [{"staff_ids": [staff_id]}]}
            for after, staff_id in levels
        ],
        "ack_timeout_minutes": 60,
        "repeat_minutes": repeat,
    }


async def _with_supervisor(world: World) -> StaffClient:
    await world.add_staff("supervisor", "support", Role.SUPERVISOR)
    return await world.login("supervisor")


# ---------------------------------------------------------------- acknowledge


async def test_the_first_acknowledgement_wins(world: World) -> None:
    talk = await open_conversation(world)
    alert = await _panic(talk)

    outcomes = await asyncio.gather(
        talk.worker.acknowledge(alert["alert_id"]),
        talk.officer.acknowledge(alert["alert_id"]),
        return_exceptions=True,
    )
    won = [o for o in outcomes if isinstance(o, dict)]
    lost = [o for o in outcomes if isinstance(o, ApiError)]
    assert (len(won), len(lost)) == (1, 1), outcomes
    assert (lost[0].status, lost[0].code) == (409, "conflict")
    winner = won[0]["acknowledged_by"]
    assert winner in (world.staff["worker"], world.staff["officer"])
    assert won[0]["status"] == "acknowledged"

    detail = await talk.officer.alert(alert["alert_id"])
    assert (detail["status"], detail["acknowledged_by"]) == ("acknowledged", winner)
    assert detail["ack_expires_at"] == "2026-01-05T10:00:00.000Z"  # the policy's 60 minutes
    (entry,) = await audit_entries(world, action="alert.acknowledged")
    assert (entry.actor_id, entry.subject_id, entry.case_id) == (
        winner,
        alert["alert_id"],
        talk.case_id,
    )
    # Asking again changes nothing, whoever asks.
    for staff in (talk.worker, talk.officer):
        with pytest.raises(ApiError) as again:
            await staff.acknowledge(alert["alert_id"])
        assert again.value.status == 409
    assert (await talk.officer.alert(alert["alert_id"]))["acknowledged_by"] == winner


async def test_acknowledging_cancels_what_was_still_to_be_sent(sms_world: World) -> None:
    world = sms_world
    talk = await open_conversation(world)
    await with_phones_and_supervisor(world, talk)
    alert = await _panic(talk)  # queued, not yet sent: the dispatcher has not run

    await talk.worker.acknowledge(alert["alert_id"])
    await catch_up(world)
    assert sms_to(world, WORKER_PHONE) == []
    detail = await talk.worker.alert(alert["alert_id"])
    assert detail["notifications"]
    assert {n["status"] for n in detail["notifications"]} == {"cancelled"}

    # Escalation waits for the acknowledgement to run out (60 minutes), not 15.
    await advance(world, timedelta(minutes=30))
    assert sms_to(world, SUPERVISOR_PHONE) == []
    assert (await talk.worker.alert(alert["alert_id"]))["level"] == 1


async def test_an_expired_acknowledgement_can_be_taken_by_someone_else(sms_world: World) -> None:
    world = sms_world
    talk = await open_conversation(world)
    await with_phones_and_supervisor(world, talk)
    alert = await _panic(talk)
    await talk.worker.acknowledge(alert["alert_id"])
    await advance(world, timedelta(minutes=59))
    assert (await talk.officer.alert(alert["alert_id"]))["status"] == "acknowledged"
    await advance(world, timedelta(minutes=1))
    reopened = await talk.officer.alert(alert["alert_id"])
    assert (reopened["status"], reopened["ack_expires_at"]) == ("open", None)
    assert reopened["level"] == 2  # escalation resumed at the next level
    taken = await talk.officer.acknowledge(alert["alert_id"])
    assert (taken["status"], taken["acknowledged_by"]) == ("acknowledged", world.staff["officer"])


async def test_the_rest_of_the_team_sees_acknowledgement_and_resolution(world: World) -> None:
    talk = await open_conversation(world)
    await start_and_connect(world, talk.officer)
    alert = await _panic(talk)
    raised = await next_event(talk.officer, AlertNotice, lambda e: e.event == "raised")
    assert raised.alert_id == alert["alert_id"]

    await talk.worker.acknowledge(alert["alert_id"])
    taken = await next_event(talk.officer, AlertNotice, lambda e: e.event == "acknowledged")
    assert (taken.alert_id, taken.status) == (alert["alert_id"], "acknowledged")
    await talk.worker.resolve(alert["alert_id"], "called her: safe", "Spoke for ten minutes.")
    closed = await next_event(talk.officer, AlertNotice, lambda e: e.event == "resolved")
    assert (closed.alert_id, closed.status) == (alert["alert_id"], "resolved")


# ---------------------------------------------------------------- resolve


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"outcome": "home visit: safe", "note": ""}, id="empty-note"),
        pytest.param({"outcome": "home visit: safe", "note": "   "}, id="blank-note"),
        pytest.param({"outcome": "", "note": "She was at home."}, id="empty-outcome"),
        pytest.param({"outcome": " \n ", "note": "She was at home."}, id="blank-outcome"),
        pytest.param({"outcome": "home visit: safe"}, id="no-note"),
        pytest.param({"note": "She was at home."}, id="no-outcome"),
        pytest.param({}, id="nothing"),
    ],
)
async def test_resolving_needs_an_outcome_and_a_note(world: World, body: dict[str, Any]) -> None:
    talk = await open_conversation(world)
    alert = await _panic(talk)
    with pytest.raises(ApiError) as refused:
        await talk.worker.transport.request(
            "POST", f"/v1/alerts/{alert['alert_id']}/resolve", json=body
        )
    assert refused.value.status == 422
    still = await talk.worker.alert(alert["alert_id"])
    assert (still["status"], still["outcome"], still["note"]) == ("open", None, None)
    assert await audit_entries(world, action="alert.resolved") == []


async def test_resolved_alerts_leave_the_list_unless_asked_for(world: World) -> None:
    talk = await open_conversation(world)
    kept = await _panic(talk)
    done = await _panic(talk)
    closed = await talk.officer.resolve(done["alert_id"], "home visit: witness safe", NOTE)
    assert (closed["status"], closed["resolved_by"]) == ("resolved", world.staff["officer"])
    assert closed["outcome"] == "home visit: witness safe"

    assert [a["alert_id"] for a in await talk.worker.alerts()] == [kept["alert_id"]]
    everything = await talk.worker.alerts(include_resolved=True)
    assert {a["alert_id"]: a["status"] for a in everything} == {
        kept["alert_id"]: "open",
        done["alert_id"]: "resolved",
    }
    detail = await talk.worker.alert(done["alert_id"])
    assert (detail["outcome"], detail["note"]) == ("home visit: witness safe", NOTE)
    with pytest.raises(ApiError) as again:
        await talk.worker.resolve(done["alert_id"], "again", "again")
    assert again.value.status == 409
    with pytest.raises(ApiError) as late:
        await talk.worker.acknowledge(done["alert_id"])
    assert late.value.status == 409


async def test_the_detail_shows_who_was_told_how_and_when(sms_world: World) -> None:
    world = sms_world
    talk = await open_conversation(world)
    await with_phones_and_supervisor(world, talk)
    alert = await _panic(talk)
    await catch_up(world)

    detail = await talk.officer.alert(alert["alert_id"])
    assert {n["channel"] for n in detail["notifications"]} <= {"app", "sms"}
    assert {n["recipient_kind"] for n in detail["notifications"]} == {"staff"}
    sms = [n for n in detail["notifications"] if n["channel"] == "sms"]
    assert [(n["recipient_id"], n["level"], n["round"], n["status"]) for n in sms] == [
        (world.staff["worker"], 1, 1, "sent")
    ]
    assert sms[0]["sent_at"] == "2026-01-05T09:00:00.000Z"
    assert sms[0]["attempts"] == 1
    assert sms[0]["error_code"] is None

    await advance(world, timedelta(minutes=15))
    detail = await talk.officer.alert(alert["alert_id"])
    assert detail["level"] == 2
    assert {
        (n["recipient_id"], n["level"], n["status"])
        for n in detail["notifications"]
        if n["channel"] == "sms"
    } == {(world.staff["worker"], 1, "sent"), (world.staff["supervisor"], 2, "sent")}
    assert _recipients(detail, level=2) == {world.staff["supervisor"]}
    assert len(sms_to(world, SUPERVISOR_PHONE)) == 1


async def test_levels_repeat_until_someone_acknowledges(sms_world: World) -> None:
    world = sms_world
    talk = await open_conversation(world)
    await with_phones_and_supervisor(world, talk)  # (an SMS nobody can get escalates early)
    worker, officer = world.staff["worker"], world.staff["officer"]
    await talk.officer.set_escalation_policy(
        talk.case_id, _named_levels((0, worker), (10, officer), repeat=20)
    )
    alert = await _panic(talk)

    def told(detail: dict[str, Any]) -> list[tuple[int, int, str]]:
        return sorted(
            (n["round"], n["level"], n["recipient_id"])
            for n in detail["notifications"]
            if n["channel"] == "sms"
        )

    await advance(world, timedelta(minutes=10))
    await advance(world, timedelta(minutes=19))
    assert told(await talk.officer.alert(alert["alert_id"])) == [(1, 1, worker), (1, 2, officer)]
    # Twenty minutes after the last level, the round starts again from level 1...
    await advance(world, timedelta(minutes=1))
    detail = await talk.officer.alert(alert["alert_id"])
    assert (detail["round"], detail["level"]) == (2, 1)
    assert told(detail)[-1] == (2, 1, worker)
    await advance(world, timedelta(minutes=10))
    assert told(await talk.officer.alert(alert["alert_id"]))[-1] == (2, 2, officer)

    # ... until someone takes it.
    await talk.officer.acknowledge(alert["alert_id"])
    count = len(told(await talk.officer.alert(alert["alert_id"])))
    for _ in range(5):
        await advance(world, timedelta(minutes=10))
    assert len(told(await talk.officer.alert(alert["alert_id"]))) == count


# ---------------------------------------------------------------- policies


async def test_an_alert_escalates_by_the_policy_in_force_when_it_fired(sms_world: World) -> None:
    world = sms_world
    talk = await open_conversation(world)
    await with_phones_and_supervisor(world, talk)
    worker, officer, supervisor = (world.staff[k] for k in ("worker", "officer", "supervisor"))
    set_policy = await talk.officer.set_escalation_policy(
        talk.case_id, _named_levels((0, worker), (10, officer))
    )
    assert set_policy["source"] == f"case:{talk.case_id}"
    first = await _panic(talk)
    assert _recipients(await talk.officer.alert(first["alert_id"])) == {worker}

    # The case's policy changes after the alert fired...
    await talk.officer.set_escalation_policy(
        talk.case_id, _named_levels((0, supervisor), (5, supervisor))
    )
    await advance(world, timedelta(minutes=5))
    detail = await talk.officer.alert(first["alert_id"])
    assert (detail["level"], _recipients(detail)) == (1, {worker})
    # ... but the running alert keeps to the policy it started with.
    await advance(world, timedelta(minutes=5))
    detail = await talk.officer.alert(first["alert_id"])
    assert detail["level"] == 2
    assert _recipients(detail, level=2) == {officer}
    assert supervisor not in _recipients(detail)

    # A new alert follows the new policy.
    second = await _panic(talk)
    assert _recipients(await talk.officer.alert(second["alert_id"])) == {supervisor}


async def test_the_agency_default_policy_applies_to_new_alerts_of_its_cases(
    world: World,
) -> None:
    talk = await open_conversation(world)
    supervisor = await _with_supervisor(world)
    support = world.agencies["support"]
    other = await open_second_case(world, talk)
    before = await _panic(talk)

    policy = _named_levels((0, world.staff["supervisor"]))
    applied = await supervisor.set_agency_policy(support, policy)
    assert applied["source"] == f"agency:{support}"
    in_force = await talk.officer.transport.request(
        "GET", f"/v1/cases/{talk.case_id}/escalation-policy"
    )
    assert in_force["source"] == f"agency:{support}"

    after = await _panic(talk)
    assert _recipients(await talk.officer.alert(after["alert_id"])) == {world.staff["supervisor"]}
    # Every case of the agency, not only this one.
    await other.witness.panic()
    (other_alert,) = [a for a in await talk.worker.alerts() if a["case_id"] == other.case_id]
    assert _recipients(await talk.officer.alert(other_alert["alert_id"])) == {
        world.staff["supervisor"]
    }
    # The alert raised before keeps the built-in default it started with.
    assert _recipients(await talk.officer.alert(before["alert_id"])) == {world.staff["worker"]}

    # A case's own policy overrides the agency's default.
    await talk.officer.set_escalation_policy(
        talk.case_id, _named_levels((0, world.staff["officer"]))
    )
    own = await _panic(talk)
    assert _recipients(await talk.officer.alert(own["alert_id"])) == {world.staff["officer"]}


async def test_only_the_agencys_supervisors_set_its_default_policy(world: World) -> None:
    talk = await open_conversation(world)
    supervisor = await _with_supervisor(world)
    policy = _named_levels((0, world.staff["worker"]))
    for staff, agency in [
        (talk.worker, "support"),
        (talk.officer, "police"),
        (supervisor, "police"),
    ]:
        with pytest.raises(ApiError) as refused:
            await staff.set_agency_policy(world.agencies[agency], policy)
        assert refused.value.status == 403
    in_force = await talk.officer.transport.request(
        "GET", f"/v1/cases/{talk.case_id}/escalation-policy"
    )
    assert in_force["source"] == "default"


@pytest.mark.parametrize(
    "policy",
    [
        pytest.param({"levels": []}, id="no-levels"),
        pytest.param(
            {"levels": [{"after_minutes": 5, "notify": [{"staff_ids": ["stf_x"]}]}]},
            id="first-level-late",
        ),
        pytest.param(
            {
                "levels": [
                    {"after_minutes": 0, "notify": [{"staff_ids": ["stf_x"]}]},
                    {"after_minutes": 0, "notify": [{"staff_ids": ["stf_y"]}]},
                ]
            },
            id="levels-not-later",
        ),
        pytest.param(
            {"levels": [{"after_minutes": 0, "notify": [{"roles": ["officer"]}]}]},
            id="role-without-agency",
        ),
        pytest.param(
            {"levels": [{"after_minutes": 0, "notify": [{"agency": "police"}]}]},
            id="nobody",
        ),
    ],
)
async def test_a_policy_that_cannot_work_is_refused(world: World, policy: dict[str, Any]) -> None:
    talk = await open_conversation(world)
    with pytest.raises(ApiError) as refused:
        await talk.officer.set_escalation_policy(talk.case_id, policy)
    assert refused.value.status == 422


async def test_off_duty_workers_are_skipped_unless_nobody_is_on_duty(world: World) -> None:
    talk = await open_conversation(world)
    await world.add_staff("worker2", "support", Role.SUPPORT_WORKER)
    await talk.officer.assign(talk.case_id, world.staff["worker2"])
    worker2 = await world.login("worker2")
    worker, other_worker = world.staff["worker"], world.staff["worker2"]

    await talk.worker.set_on_duty(False)
    skipped = await _panic(talk)
    assert _recipients(await talk.officer.alert(skipped["alert_id"]), level=1) == {other_worker}

    # Nobody on duty must not mean nobody told.
    await worker2.set_on_duty(False)
    everyone = await _panic(talk)
    assert _recipients(await talk.officer.alert(everyone["alert_id"]), level=1) == {
        worker,
        other_worker,
    }

    await talk.worker.set_on_duty(True)
    back = await _panic(talk)
    assert _recipients(await talk.officer.alert(back["alert_id"]), level=1) == {worker}


# ---------------------------------------------------------------- other agencies


async def test_another_agency_can_neither_see_nor_touch_an_alert(world: World) -> None:
    talk = await open_conversation(world)
    alert = await _panic(talk)
    outsider = await world.login("outsider")
    assert await outsider.alerts(include_resolved=True) == []
    for attempt in (
        outsider.alert(alert["alert_id"]),
        outsider.acknowledge(alert["alert_id"]),
        outsider.resolve(alert["alert_id"], "closed", "nothing to see"),
    ):
        with pytest.raises(ApiError) as refused:
            await attempt
        assert refused.value.status == 404
    still = await talk.worker.alert(alert["alert_id"])
    assert (still["status"], still["acknowledged_by"], still["outcome"]) == ("open", None, None)
    with pytest.raises(ApiError) as refused:
        await talk.witness.transport.request("GET", "/v1/alerts")
    assert refused.value.status == 403


# ---------------------------------------------------------------- audit


async def test_acknowledgement_and_resolution_are_audited_without_the_note(
    world: World, backend: str
) -> None:
    talk = await open_conversation(world)
    alert = await _panic(talk)
    await talk.worker.acknowledge(alert["alert_id"])
    await talk.officer.resolve(alert["alert_id"], "home visit: witness safe", NOTE)
    assert (await talk.worker.alert(alert["alert_id"]))["note"] == NOTE

    (taken,) = await audit_entries(world, action="alert.acknowledged")
    assert (taken.actor_kind, taken.actor_id) == ("staff", world.staff["worker"])
    assert (taken.subject_kind, taken.subject_id) == ("alert", alert["alert_id"])
    assert taken.case_id == talk.case_id
    (resolved,) = await audit_entries(world, action="alert.resolved")
    assert (resolved.actor_id, resolved.subject_id) == (world.staff["officer"], alert["alert_id"])
    (consulted,) = await audit_entries(world, action="alert.note_consulted")
    assert consulted.actor_id == world.staff["worker"]

    for entry in await audit_entries(world):
        text = " ".join(str(v) for v in (entry.action, entry.reason, entry.details))
        assert "IOANA" not in text, entry
        assert "Constanta" not in text, entry
    # Sealed at rest: not even the database holds the note in the clear.
    assert NOTE.encode() not in await server_bytes(world, backend)
