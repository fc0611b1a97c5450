"""The caseload at a glance: each witness's welfare state turns live (no reload) as
time passes; filter and sort; readable at phone width."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.async_api import Page, expect

from tests.console.conftest import (
    BOTH_BACKENDS,
    PHONE,
    Browsing,
    Screenshot,
    nav_link,
    sign_in,
    state_badge,
)
from tests.support.welfare import advance
from tests.support.world import World, open_conversation
from tests.welfare.helpers import open_second_case

pytestmark = pytest.mark.asyncio(loop_scope="session")

EVERY_DAY = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


async def no_horizontal_scroll(page: Page) -> None:
    widths = await page.evaluate(
        "({scroll: document.documentElement.scrollWidth, inner: window.innerWidth})"
    )
    assert widths["scroll"] <= widths["inner"], widths


@BOTH_BACKENDS
async def test_a_witness_turns_due_overdue_and_alerting_without_a_reload(
    console_world: World, page: Page, screenshot: Screenshot
) -> None:
    world = console_world
    talk = await open_conversation(world)
    # 09:00 UTC on Monday; the check-in is due at 11:05 Bucharest time (09:05 UTC),
    # its window closes at 09:10 and the grace runs out at 09:13.
    plan = await talk.officer.set_checkin_plan(
        talk.witness_id,
        weekdays=EVERY_DAY,
        times=["11:05"],
        window_minutes=5,
        grace_minutes=3,
        reminder_minutes=0,
    )
    assert plan["current"]["due_at"] == "2026-01-05T09:05:00.000Z"

    await sign_in(page, "officer")
    row = page.locator(f"#caseload-rows tr[data-case='{talk.case_id}']")
    await expect(row.locator("th a")).to_have_text("Sparrow")
    await expect(row).to_contain_text("DE-2026-0042")
    badge = state_badge(page, talk.case_id)
    await expect(badge).to_have_attribute("data-state", "ok")
    await expect(badge).to_have_text("OK")
    await screenshot(page, "caseload-ok")

    # Anything that reloads the page would lose this.
    await page.evaluate("window.__sameDocument = true")
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url))

    await advance(world, timedelta(minutes=5))  # 09:05: the window opens
    await expect(badge).to_have_attribute("data-state", "due")
    await expect(badge).to_have_text("Check-in due")
    await expect(page.locator("#live")).to_have_text("Caseload updated")

    await advance(world, timedelta(minutes=5))  # 09:10: the window closes unanswered
    await expect(badge).to_have_attribute("data-state", "overdue")
    await expect(badge).to_have_text("Overdue")

    await advance(world, timedelta(minutes=3))  # 09:13: grace over, the sweep alerts
    await expect(badge).to_have_attribute("data-state", "alert")
    await expect(badge).to_have_text("Open alert")
    (alert,) = await talk.worker.alerts()
    assert alert["kind"] == "missed_checkin"
    await screenshot(page, "caseload-alert")

    assert await page.evaluate("window.__sameDocument") is True
    assert navigations == []


async def test_filter_and_sort(console_world: World, page: Page, screenshot: Screenshot) -> None:
    world = console_world
    talk = await open_conversation(world)  # Sparrow, DE-2026-0042
    second = await open_second_case(world, talk)  # Heron, DE-2026-0099
    await talk.officer.set_checkin_plan(
        talk.witness_id, weekdays=EVERY_DAY, times=["11:05"], window_minutes=10, reminder_minutes=0
    )
    await advance(world, timedelta(minutes=5))  # Sparrow's check-in is due; Heron has no plan

    await sign_in(page, "officer")
    aliases = page.locator("#caseload-rows th a")
    # Most urgent first.
    await expect(aliases).to_have_text(["Sparrow", "Heron"])
    await expect(state_badge(page, talk.case_id)).to_have_attribute("data-state", "due")
    await expect(state_badge(page, second.case_id)).to_have_attribute("data-state", "no_plan")
    await expect(page.locator("#state option[value=due]")).to_have_text("Check-in due (1)")

    await page.select_option("#sort", "alias")
    await page.get_by_role("button", name="Apply").click()
    await expect(page).to_have_url(re.compile(r"sort=alias"))
    await expect(aliases).to_have_text(["Heron", "Sparrow"])

    await page.select_option("#sort", "reference")
    await page.get_by_role("button", name="Apply").click()
    await expect(aliases).to_have_text(["Sparrow", "Heron"])

    await page.select_option("#state", "no_plan")
    await page.get_by_role("button", name="Apply").click()
    await expect(page).to_have_url(re.compile(r"state=no_plan"))
    await expect(aliases).to_have_text(["Heron"])
    await expect(page.locator("#state")).to_have_value("no_plan")
    await screenshot(page, "filtered-no-plan")

    # The live update keeps the filter: Sparrow going overdue does not bring her back.
    before = await page.locator("#caseload-rows").get_attribute("data-version")
    assert before
    await advance(world, timedelta(minutes=10))
    await expect(page.locator("#caseload-rows")).not_to_have_attribute("data-version", before)
    await expect(aliases).to_have_text(["Heron"])

    await page.select_option("#state", "overdue")
    await page.get_by_role("button", name="Apply").click()
    await expect(aliases).to_have_text(["Sparrow"])
    await page.select_option("#state", "paused")
    await page.get_by_role("button", name="Apply").click()
    await expect(page.locator("#caseload-rows")).to_contain_text("Nobody here.")


async def test_usable_at_phone_width(
    console_world: World, browsing: Browsing, screenshot: Screenshot
) -> None:
    world = console_world
    talk = await open_conversation(world)
    await open_second_case(world, talk)
    await talk.officer.set_checkin_plan(
        talk.witness_id, weekdays=EVERY_DAY, times=["11:05"], window_minutes=30, reminder_minutes=0
    )
    await talk.witness.panic()

    page = await browsing.page(viewport=PHONE, is_mobile=True, has_touch=True)
    await page.goto("/console/login")
    await no_horizontal_scroll(page)
    await screenshot(page, "phone-sign-in")

    await sign_in(page, "officer")
    await expect(page.locator("#panic-banner")).to_be_visible()
    await expect(page.locator("#caseload-rows tr")).to_have_count(2)
    await no_horizontal_scroll(page)
    await screenshot(page, "phone-caseload")

    await nav_link(page, "Alerts").click()
    await expect(page.locator("li.alert")).to_have_count(1)
    await no_horizontal_scroll(page)
    await screenshot(page, "phone-alerts")
