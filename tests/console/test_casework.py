"""A newcomer in real Chromium: opens a case from an empty caseload, adds the witness,
puts the support worker on the team, and closes the case after the trial — the forms
work under the console's strict CSP, the closing asks for confirmation first."""

from __future__ import annotations

import pytest
from playwright.async_api import Dialog, Page, expect

from tests.console.conftest import sign_in
from tests.support.world import World

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_a_newcomer_opens_staffs_and_closes_a_case_in_the_browser(
    console_world: World, page: Page
) -> None:
    world = console_world
    await sign_in(page, "officer")
    await expect(page.locator("#caseload-rows")).to_contain_text("Nobody here.")
    await page.fill("#case-reference", "DE-2026-0501")
    await page.select_option("#case-support", world.agencies["support"])
    await page.click("form[data-form='open-case'] button[type='submit']")
    await expect(page.locator("p.notice")).to_contain_text("Case opened")

    await page.fill("#witness-alias", "Linnet")
    await page.select_option("#witness-language", "ro")
    await page.click("form[data-form='add-witness'] button[type='submit']")
    await expect(page.locator("h1")).to_contain_text("Linnet")
    await expect(page.locator("[data-enrolment]")).to_have_attribute("data-enrolment", "none")
    await expect(page.locator("#casework")).to_contain_text("staff app")

    await page.select_option("#assign-staff", world.staff["worker"])
    await page.click("form[data-form='assign'] button[type='submit']")
    await expect(page.locator(f"[data-member='{world.staff['worker']}']")).to_be_visible()

    asked: list[str] = []

    async def answer(dialog: Dialog) -> None:
        asked.append(dialog.message)
        await dialog.accept()

    page.on("dialog", answer)
    await page.select_option("#close-outcome", "convicted")
    await page.click("form[data-form='close'] button[type='submit']")
    await expect(page.locator("[data-closed]")).to_have_attribute("data-closed", "convicted")
    assert len(asked) == 1
    assert "cannot be undone" in asked[0]

    await page.goto("/console/")
    await expect(page.locator("#caseload-rows")).to_contain_text("Linnet")
    await expect(page.locator("#caseload-rows")).not_to_contain_text("Nobody here.")
