"""A newcomer runs a case from the console, as the README tells them: open a case,
add the witness, see the phone's enrolment state (made in the staff app, never here),
assign and unassign the team, close with an outcome. A foreign agency's staff can do
none of it."""

from __future__ import annotations

import re

from server.domain.models import Role
from tests.console_witness.conftest import SignIn
from tests.console_witness.helpers import back_on_page
from tests.support.world import World, finish_in_person


def _case_id(url: str) -> str:
    match = re.search(r"/console/cases/([^/?#]+)", url)
    assert match is not None, url
    return match.group(1)


def _enrolment(page: str) -> str:
    match = re.search(r'data-enrolment="([a-z]+)"', page)
    assert match is not None
    return match.group(1)


async def test_a_newcomer_runs_a_case_from_the_console(world: World, console: SignIn) -> None:
    officer = await console("officer")
    start = await officer.get("/console/")
    assert 'data-form="open-case"' in start.text
    assert world.agencies["support"] in start.text  # the support organisation to choose
    opened = await officer.post(
        "/console/cases",
        {"reference": "DE-2026-7", "support_agency_id": world.agencies["support"]},
    )
    case_id = _case_id(opened.url)
    page = back_on_page(opened, case_id, "opened")
    assert 'data-form="add-witness"' in page
    caseload = await officer.get("/console/")
    assert "Nobody here." not in caseload.text
    assert "DE-2026-7" in caseload.text
    assert 'data-review="later"' in caseload.text

    added = await officer.post(
        f"/console/cases/{case_id}/witness",
        {"alias": "Kestrel", "language": "ro", "timezone": "Europe/Bucharest"},
    )
    page = back_on_page(added, case_id, "saved")
    assert _enrolment(page) == "none"
    assert "staff app" in page
    assert 'href="#witness-phone"' in page

    # The code comes from the officer's staff app; the console follows its state.
    app = await world.login("officer")
    async with world.services.store.read() as uow:
        witness = await uow.witnesses.get_by_case(case_id)
    assert witness is not None
    enrolment = await app.new_enrolment(case_id, witness.id, "Kestrel")
    assert _enrolment((await officer.get(f"/console/cases/{case_id}")).text) == "issued"
    pending = await world.start_enrolment(enrolment, name="kestrel")
    assert _enrolment((await officer.get(f"/console/cases/{case_id}")).text) == "waiting"
    await finish_in_person(app, enrolment, pending)
    assert _enrolment((await officer.get(f"/console/cases/{case_id}")).text) == "enrolled"

    # The team: the support worker is offered, assigned, then taken off again.
    page = (await officer.get(f"/console/cases/{case_id}")).text
    worker_id = world.staff["worker"]
    assert f'<option value="{worker_id}"' in page
    assert world.staff["outsider"] not in page  # another agency's staff are not offered
    assigned = await officer.post(f"/console/cases/{case_id}/team", {"staff_id": worker_id})
    page = back_on_page(assigned, case_id, "saved")
    assert f'data-member="{worker_id}"' in page
    removed = await officer.post(f"/console/cases/{case_id}/team/{worker_id}/remove")
    assert f'data-member="{worker_id}"' not in back_on_page(removed, case_id, "saved")

    # The phone number: set from the page, never shown back.
    await officer.post(f"/console/cases/{case_id}/phone", {"number": "+40712345678"})
    page = (await officer.get(f"/console/cases/{case_id}")).text
    assert "712345678" not in page
    assert "345678" not in page
    assert 'data-sms="set"' in page
    assert 'data-phone-hint="••78"' in page

    closed = await officer.post(f"/console/cases/{case_id}/close", {"outcome": "acquitted"})
    page = back_on_page(closed, case_id, "closed")
    assert 'data-closed="acquitted"' in page
    assert 'data-form="close"' not in page


async def test_staff_of_another_agency_cannot_run_the_case(world: World, console: SignIn) -> None:
    officer = await console("officer")
    opened = await officer.post(
        "/console/cases",
        {"reference": "DE-2026-8", "support_agency_id": world.agencies["support"]},
    )
    case_id = _case_id(opened.url)
    outsider = await console("outsider")
    for path, form in (
        (f"/console/cases/{case_id}/witness", {"alias": "X", "language": "ro", "timezone": "UTC"}),
        (f"/console/cases/{case_id}/team", {"staff_id": world.staff["outsider"]}),
        (f"/console/cases/{case_id}/close", {"outcome": "other"}),
        (f"/console/cases/{case_id}/review", {}),
    ):
        refused = await outsider.post(path, form)
        assert refused.status == 404, path
    # A support worker may not open police cases at all: no form, and a refusal.
    worker = await console("worker")
    assert 'data-form="open-case"' not in (await worker.get("/console/")).text
    refused = await worker.post(
        "/console/cases", {"reference": "RO-1", "support_agency_id": world.agencies["support"]}
    )
    assert refused.status == 403
    # An officer cannot put another agency's officer on the case either.
    await world.add_staff("colleague", "other", Role.SUPERVISOR)
    refused = await officer.post(
        f"/console/cases/{case_id}/team", {"staff_id": world.staff["colleague"]}
    )
    assert refused.status == 403
    async with world.services.store.read() as uow:
        assert await uow.cases.staff_ids(case_id) == [world.staff["officer"]]
