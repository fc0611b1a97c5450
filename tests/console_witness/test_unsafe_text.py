"""The console refuses control and bidi characters in its forms (issue 13, finding:
free text), naming the field, and changes nothing; line breaks in text areas are fine."""

from __future__ import annotations

from tests.console_witness.conftest import SignIn
from tests.console_witness.helpers import back_on_page, officer_on_page, staff_of
from tests.console_witness.test_forms import CALENDAR_PLAN
from tests.support.world import World


async def test_a_bidi_override_in_a_form_is_refused_naming_the_field(
    world: World, console: SignIn
) -> None:
    talk, officer, path = await officer_on_page(world, console)
    staff = await staff_of(world, "officer")
    back_on_page(await officer.post(path + "/plan", CALENDAR_PLAN), talk.case_id, "saved")

    answer = await officer.post(path + "/plan/pause", {"reason": "hospital \u202eyats"})

    assert answer.status == 422
    assert "reason contains U+202E (RIGHT-TO-LEFT OVERRIDE)" in answer.text
    view = await world.services.plans.view(staff, talk.witness_id)
    assert view is not None
    assert not view.plan.paused


async def test_a_line_break_in_a_text_area_is_accepted_but_a_nul_is_not(
    world: World, console: SignIn
) -> None:
    talk, officer, path = await officer_on_page(world, console)
    staff = await staff_of(world, "officer")
    fields = {"offline_after_minutes": "45", "silent_after_hours": "12"}

    refused = await officer.post(path + "/settings", {**fields, "nudge_text": "Order\x00ready"})
    assert refused.status == 422
    assert "nudge_text contains U+0000" in refused.text

    accepted = await officer.post(path + "/settings", {**fields, "nudge_text": "Order\r\nready"})
    back_on_page(accepted, talk.case_id, "saved")
    settings = await world.services.welfare.case_settings(staff, talk.case_id)
    assert settings.nudge_text is not None
    assert "\x00" not in settings.nudge_text
    assert settings.offline_after_s == 45 * 60
