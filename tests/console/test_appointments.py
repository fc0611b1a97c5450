"""Scheduling a court date from the witness page: the console holds only the time,
kind and where the witness connects from; the caseload shows the next court date."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from tests.console.conftest import Screenshot, nav_link, sign_in, submit
from tests.support.world import World, open_conversation

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_scheduling_a_video_link_from_the_witness_page(
    console_world: World, page: Page, screenshot: Screenshot
) -> None:
    world = console_world
    talk = await open_conversation(world)
    await sign_in(page, "officer")

    await page.locator(f"tr[data-case='{talk.case_id}'] th a").click()
    await expect(page).to_have_url(re.compile(rf"/console/cases/{talk.case_id}$"))
    await expect(page.locator("h1")).to_contain_text("Sparrow")

    form = page.locator(f"form[action='/console/cases/{talk.case_id}/appointments']")
    await form.get_by_label("Video link").check()
    await form.get_by_label("The court's timezone").fill("Europe/Berlin")
    await form.get_by_label("Starts (court's time)").fill("2026-03-02T09:30")
    await form.get_by_label("Ends (court's time)").fill("2026-03-02T12:00")
    await form.get_by_label("Where the witness connects from").select_option("support_office")
    await form.get_by_label("Interpreter's language").fill("ro")
    await screenshot(page, "witness-schedule-form")
    await submit(page, form.get_by_role("button", name="Schedule").click)

    await expect(page).to_have_url(re.compile(r"\?done=scheduled$"))
    await expect(page.locator(".notice")).to_have_text("Appointment scheduled.")
    (stored,) = await talk.officer.appointments(talk.case_id)
    assert stored["kind"] == "video_link"
    assert stored["starts_at"] == "2026-03-02T08:30:00.000Z"  # 09:30 in Berlin (CET)
    assert stored["location_kind"] == "support_office"
    assert stored["interpreter_language"] == "ro"
    row = page.locator(f"tr[data-appointment='{stored['appointment_id']}']")
    await expect(row).to_have_attribute("data-status", "scheduled")
    await expect(row).to_contain_text("Video link")
    await expect(row).to_contain_text("2026-03-02 08:30 UTC")
    await expect(row).to_contain_text("2026-03-02 10:30 (Europe/Bucharest)")
    await screenshot(page, "witness-scheduled")

    # The caseload shows the next court date.
    await nav_link(page, "Caseload").click()
    await expect(page.locator(f"tr[data-case='{talk.case_id}']")).to_contain_text(
        "Video link: 2026-03-02 08:30 UTC"
    )
