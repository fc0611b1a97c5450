"""The witness page's welfare-visit forms: plan, schedule (in the witness's time),
record (a held visit is contact; concerns sealed) and cancel; the caseload shows the
next visit; an outsider's console is refused."""

from __future__ import annotations

from datetime import timedelta

from server.domain.visit_models import VisitOutcome, VisitStatus
from tests.console_witness.conftest import SignIn
from tests.console_witness.helpers import back_on_page, officer_on_page, staff_of
from tests.support.world import World


async def test_plan_schedule_record_and_cancel_from_the_console(
    world: World, console: SignIn
) -> None:
    talk, officer, path = await officer_on_page(world, console)
    staff = await staff_of(world, "officer")
    page = (await officer.get(path)).text
    assert 'id="visits"' in page
    assert 'data-visit-plan="30"' in page  # the MEDIUM default
    page = back_on_page(
        await officer.post(path + "/visit-plan", {"every_days": "21"}), talk.case_id, "saved"
    )
    assert 'data-visit-plan="21"' in page

    # The worker's name is offered as visitor; times are the witness's (Bucharest).
    assert f'<option value="{talk.worker.staff_id}">Worker</option>' in page
    local = "2026-01-05T11:05"
    page = back_on_page(
        await officer.post(
            path + "/visits",
            {
                "visitor_staff_id": talk.worker.staff_id,
                "window_start": local,
                "window_end": "2026-01-05T13:00",
            },
        ),
        talk.case_id,
        "scheduled",
    )
    (visit,) = await world.services.visits.for_case(staff, talk.case_id)
    assert visit.window_start.isoformat() == "2026-01-05T09:05:00+00:00"  # 11:05 Bucharest
    assert f'data-visit="{visit.id}" data-status="scheduled"' in page
    caseload = (await officer.get("/console/")).text
    assert "2026-01-05 09:05 UTC" in caseload

    # Not yet begun: no record form; cancelling works.
    assert f"/visits/{visit.id}/record" not in page
    world.clock.set(visit.window_start + timedelta(minutes=1))
    page = (await officer.get(path)).text
    assert f"/visits/{visit.id}/record" in page
    page = back_on_page(
        await officer.post(
            path + f"/visits/{visit.id}/record",
            {"outcome": "held", "seen_alone": "1", "concerns": "BROTHER-ASKS-ABOUT-DEBT-9"},
        ),
        talk.case_id,
        "saved",
    )
    recorded = await world.services.visits.get(staff, visit.id)
    assert (recorded.status, recorded.outcome, recorded.seen_alone) == (
        VisitStatus.RECORDED,
        VisitOutcome.HELD,
        True,
    )
    assert "Concerns recorded" in page
    assert "BROTHER-ASKS-ABOUT-DEBT-9" not in page  # the page shows that, not what
    async with world.services.store.read() as uow:
        contact = await uow.contact.get(talk.witness_id)
    assert contact is not None
    assert contact.last_contact_at == world.clock.now()

    # A CSRF-less post changes nothing.
    refused = await officer.post(path + "/visit-plan", {"every_days": "5"}, csrf=None)
    assert refused.status in (400, 403)


async def test_an_outsiders_console_cannot_touch_the_visits(world: World, console: SignIn) -> None:
    talk, officer, path = await officer_on_page(world, console)
    await officer.post(
        path + "/visits",
        {
            "visitor_staff_id": talk.worker.staff_id,
            "window_start": "2026-01-07T10:00",
            "window_end": "2026-01-07T12:00",
        },
    )
    (visit,) = await world.services.visits.for_case(await staff_of(world, "officer"), talk.case_id)
    outsider = await console("outsider")
    for form_path, data in (
        (path + "/visit-plan", {"every_days": "3"}),
        (path + f"/visits/{visit.id}/cancel", {}),
        (path + f"/visits/{visit.id}/record", {"outcome": "held"}),
    ):
        answer = await outsider.post(form_path, data)
        assert answer.status == 404, form_path
    still = await world.services.visits.get(await staff_of(world, "officer"), visit.id)
    assert still.status is VisitStatus.SCHEDULED
