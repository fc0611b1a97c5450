"""Opening a witness page: an audited consultation, refused (and audited) for people
outside the case, and preceded by a reason where the agency requires one."""

from __future__ import annotations

from datetime import timedelta

from server.domain.models import AgencyKind, Role
from tests.console_witness.conftest import SignIn, audit_entries
from tests.support.world import World, open_conversation


async def test_the_assigned_officer_sees_the_witness_page(world: World, console: SignIn) -> None:
    talk = await open_conversation(world)
    officer = await console("officer")

    answer = await officer.get(officer.case_page(talk.case_id))

    assert answer.status == 200, answer.text
    page = answer.text
    assert "Sparrow" in page
    assert "DE-2026-0042" in page
    assert "Europe/Bucharest" in page
    for heading in (
        "Facts and devices",
        "Check-ins",
        "Welfare settings",
        "Escalation policy",
        "Court dates",
        "Timeline",
    ):
        assert f">{heading}</h2>" in page
    # Devices: the witness's phone (with a revoke button) and the team's devices.
    assert f'data-device="{talk.witness.device_id}"' in page
    assert f"/devices/{talk.witness.device_id}/revoke" in page
    assert f'data-device="{talk.worker.device_id}"' in page
    assert f"/devices/{talk.worker.device_id}/revoke" not in page
    assert 'data-sms="not-set"' in page
    assert 'data-plan="none"' in page
    assert 'data-policy-source="default"' in page
    assert 'data-enrol="staff-client"' in page
    # The enrolment shows in the timeline, from the audit log.
    assert 'data-what="device.enrolled"' in page
    # Every form carries the CSRF token.
    assert page.count('method="post"') == page.count('name="csrf"')

    (entry,) = await audit_entries(world, action="witness.consulted", case_id=talk.case_id)
    assert entry.actor_id == world.staff["officer"]
    assert entry.subject_id == talk.witness_id
    assert entry.reason is None


async def test_a_support_worker_sees_the_page_without_officer_only_actions(
    world: World, console: SignIn
) -> None:
    talk = await open_conversation(world)
    worker = await console("worker")

    answer = await worker.get(worker.case_page(talk.case_id))

    assert answer.status == 200
    assert "Sparrow" in answer.text
    assert 'data-enrol="staff-client"' not in answer.text
    assert f"/devices/{talk.witness.device_id}/revoke" not in answer.text
    # The case team may still change the plan.
    assert f"/console/cases/{talk.case_id}/plan" in answer.text
    # ... but not revoke the phone, even by posting directly.
    refused = await worker.post(
        f"{worker.case_page(talk.case_id)}/devices/{talk.witness.device_id}/revoke"
    )
    assert refused.status == 403


async def test_an_outsider_gets_not_found_and_the_attempt_is_audited(
    world: World, console: SignIn
) -> None:
    talk = await open_conversation(world)
    outsider = await console("outsider")

    answer = await outsider.get(outsider.case_page(talk.case_id))

    assert answer.status == 404
    assert "Sparrow" not in answer.text
    assert "DE-2026-0042" not in answer.text
    (denied,) = await audit_entries(world, action="access.denied", case_id=talk.case_id)
    assert denied.actor_id == world.staff["outsider"]
    assert await audit_entries(world, action="witness.consulted") == []
    # The forms refuse too, and change nothing.
    refused = await outsider.post(
        outsider.case_page(talk.case_id) + "/plan/pause", {"reason": "nosy"}
    )
    assert refused.status == 404
    # A made-up id and a malformed one are simply not found.
    assert (await outsider.get("/console/cases/case_doesnotexist")).status == 404
    assert (await outsider.get("/console/cases/%3Cscript%3E")).status == 404


async def test_the_page_asks_for_a_reason_where_the_agency_requires_one(
    world: World, console: SignIn
) -> None:
    await world.add_agency("strict", kind=AgencyKind.POLICE, country="NL", requires_reason=True)
    await world.add_staff("careful", "strict", Role.OFFICER)
    careful_client = await world.login("careful")
    case = await careful_client.create_case("NL-2026-7", world.agencies["support"])
    case_id = case["case_id"]
    await careful_client.add_witness(
        case_id, alias="Heron", language="ro", timezone="Europe/Bucharest"
    )
    careful = await console("careful")
    path = careful.case_page(case_id)

    asked = await careful.get(path)
    assert asked.status == 200
    assert "Why are you opening this witness" in asked.text
    assert f'action="/console/cases/{case_id}/consult"' in asked.text
    assert "Heron" not in asked.text
    assert await audit_entries(world, action="witness.consulted") == []

    # Without the CSRF token nothing happens; with an empty reason the form asks again.
    assert (await careful.post(path + "/consult", {"reason": "x"}, csrf=None)).status == 403
    empty = await careful.post(path + "/consult", {"reason": "   "})
    assert empty.status == 422
    assert "Give a reason" in empty.text
    assert await audit_entries(world, action="witness.consulted") == []

    opened = await careful.post(path + "/consult", {"reason": "preparing the hearing"})
    assert opened.status == 200
    assert "Heron" in opened.text
    assert "preparing" not in opened.url
    (entry,) = await audit_entries(world, action="witness.consulted", case_id=case_id)
    assert entry.actor_id == world.staff["careful"]
    assert entry.reason == "preparing the hearing"

    # The reason is remembered for this session and case for a while: a form on the
    # page redirects back and the page opens again, audited with the same reason.
    saved = await careful.post(
        path + "/settings",
        {"nudge_text": "", "offline_after_minutes": "30", "silent_after_hours": "24"},
    )
    assert saved.status == 200
    assert saved.url.endswith(f"{path}?done=saved")
    assert "Heron" in saved.text
    entries = await audit_entries(world, action="witness.consulted", case_id=case_id)
    assert [e.reason for e in entries] == ["preparing the hearing"] * 2

    # Another session of the same person is asked again.
    other_tab = await console("careful")
    assert "Why are you opening" in (await other_tab.get(path)).text

    # After ten minutes the page asks again.
    world.clock.advance(timedelta(minutes=10, seconds=1))
    again = await careful.get(path)
    assert again.status == 200
    assert "Why are you opening" in again.text
    assert "Heron" not in again.text
    assert len(await audit_entries(world, action="witness.consulted", case_id=case_id)) == 2
    # Reloading the address the reason was posted to goes back to the page (no re-post).
    reloaded = await careful.get(path + "/consult")
    assert reloaded.url.endswith(path)
    assert "Why are you opening" in reloaded.text


async def test_an_outsider_is_not_asked_for_a_reason(world: World, console: SignIn) -> None:
    talk = await open_conversation(world)
    await world.add_agency("strict", kind=AgencyKind.POLICE, country="NL", requires_reason=True)
    await world.add_staff("careful", "strict", Role.OFFICER)
    careful = await console("careful")

    answer = await careful.get(careful.case_page(talk.case_id))
    assert answer.status == 404
    assert "Why are you opening" not in answer.text
    posted = await careful.post(careful.case_page(talk.case_id) + "/consult", {"reason": "curious"})
    assert posted.status == 404
    assert "Sparrow" not in posted.text
    assert await audit_entries(world, action="witness.consulted") == []
    assert len(await audit_entries(world, action="access.denied", case_id=talk.case_id)) == 2
