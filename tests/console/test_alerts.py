"""The alert inbox: acknowledge (escalation pauses), resolve with an outcome, who has
been notified; and a duress alert nobody can miss — a red banner on every console page
and an alarm sound, live."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, expect

from client_sdk import WitnessClient
from server.clock import ManualClock
from server.domain.welfare_models import Alert, AlertStatus
from tests.console.conftest import (
    BOTH_BACKENDS,
    Browsing,
    Screenshot,
    console_server,
    sign_in,
    state_badge,
    submit,
)
from tests.fakes.twilio_server import FakeTwilio
from tests.support.kdf import DURESS_PIN
from tests.support.welfare import (
    OFFICER_PHONE,
    SUPERVISOR_PHONE,
    WORKER_PHONE,
    advance,
    catch_up,
    sms_to,
    with_phones_and_supervisor,
)
from tests.support.world import Conversation, World, open_conversation
from tests.welfare.helpers import open_case

pytestmark = pytest.mark.asyncio(loop_scope="session")

EVERY_DAY = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
# Records every AudioContext the page makes, so the test can tell a sounding alarm from
# one the browser's autoplay policy silenced.
AUDIO_PROBE = """
(() => {
  const Original = window.AudioContext;
  window.__audioContexts = [];
  window.AudioContext = function () {
    const context = new Original();
    window.__audioContexts.push(context);
    return context;
  };
})();
"""


@pytest_asyncio.fixture(loop_scope="session")
async def console_world(
    tmp_path: Path, clock: ManualClock, twilio_fake: FakeTwilio, console_backend: str
) -> AsyncIterator[World]:
    """Alerts here go out by SMS too (through the real twilio client to the fake)."""
    async with console_server(
        tmp_path, clock, backend=console_backend, twilio=twilio_fake
    ) as world:
        yield world


async def missed_checkin_alert(world: World) -> tuple[Conversation, Alert]:
    """Sparrow misses the 09:05 UTC check-in (window 5 min, grace 3 min): an alert at
    09:13, level 1 (the support worker, by SMS)."""
    talk = await open_conversation(world)
    await with_phones_and_supervisor(world, talk)
    await talk.officer.set_checkin_plan(
        talk.witness_id,
        weekdays=EVERY_DAY,
        times=["11:05"],
        window_minutes=5,
        grace_minutes=3,
        reminder_minutes=0,
    )
    for minutes in (5, 5, 3):
        await advance(world, timedelta(minutes=minutes))
    (alert,) = await stored_alerts(world)
    assert (alert.kind.value, alert.status, alert.level) == ("missed_checkin", "open", 1)
    return talk, alert


def sms_reference(body: str) -> str:
    """The short reference in a staff alert SMS ("… Ref 717A", perhaps then the link)."""
    found = re.search(r"Ref\.? ([0-9A-F]{4})\b", body)
    assert found is not None, body
    return found.group(1)


async def stored_alerts(world: World) -> list[Alert]:
    async with world.services.store.read() as uow:
        return await uow.alerts.list_for_cases(
            await all_case_ids(world), statuses=["open", "acknowledged", "resolved"], limit=100
        )


async def all_case_ids(world: World) -> list[str]:
    async with world.services.store.read() as uow:
        cases = await uow.cases.list_for_agency(world.agencies["police"])
    return [c.id for c in cases]


async def stored_alert(world: World, alert_id: str) -> Alert:
    async with world.services.store.read() as uow:
        alert = await uow.alerts.get(alert_id)
    assert alert is not None
    return alert


async def test_acknowledge_then_resolve_an_alert_in_the_inbox(
    console_world: World, page: Page, screenshot: Screenshot
) -> None:
    world = console_world
    _talk, alert = await missed_checkin_alert(world)
    (sms,) = sms_to(world, WORKER_PHONE)
    reference = sms_reference(sms)

    await sign_in(page, "worker", start="/console/alerts")
    item = page.locator(f"#alert-{alert.id}")
    await expect(item.locator("h2")).to_contain_text("Missed check-in — Sparrow")
    await expect(item.locator("h2 .badge")).to_have_text("High")
    await expect(item.locator("[data-status]")).to_have_attribute("data-status", "open")
    await expect(item).to_contain_text("Escalation level: 1")
    # The reference the worker has in the SMS, and when level 2 is due (15 minutes).
    await expect(item.locator(".refs")).to_have_text(f"Reference in the SMS: {reference}")
    await expect(item.locator("[data-escalation-resumes]")).to_have_text(
        (alert.created_at + timedelta(minutes=15)).strftime("%Y-%m-%d %H:%M UTC")
    )
    # Who has been told so far, by which channel, behind a disclosure.
    notified = item.locator("details")
    await expect(notified.locator("summary")).to_have_text("Who has been notified (1)")
    await notified.locator("summary").click()
    await expect(notified.locator("li")).to_have_text(
        [f"Worker — level 1 — SMS: sent (ref {reference})"]
    )
    await screenshot(page, "inbox-open")

    await submit(page, item.get_by_role("button", name="Acknowledge").click)
    await expect(page).to_have_url(re.compile(r"/console/alerts\?done=acknowledged$"))
    await expect(page.locator(".notice")).to_contain_text("Alert acknowledged")
    await expect(item.locator("[data-status]")).to_have_attribute("data-status", "acknowledged")
    await expect(item.get_by_role("button", name="Acknowledge")).to_have_count(0)
    acknowledged_at = world.clock.now()
    await expect(item.locator("[data-acknowledged-by]")).to_have_text(
        f"Worker — {acknowledged_at:%Y-%m-%d %H:%M} UTC"
    )
    # Escalation resumes when the acknowledgement times out (60 minutes).
    await expect(item.locator("[data-escalation-resumes]")).to_have_text(
        f"{acknowledged_at + timedelta(minutes=60):%Y-%m-%d %H:%M} UTC unless resolved"
    )
    taken = await stored_alert(world, alert.id)
    assert taken.status is AlertStatus.ACKNOWLEDGED
    assert taken.acknowledged_by == world.staff["worker"]
    assert taken.ack_expires_at == world.clock.now() + timedelta(minutes=60)

    # Level 2 was due 15 minutes after the alert: acknowledged, nobody else is texted.
    for _step in range(2):
        await advance(world, timedelta(minutes=10))
        await page.reload()
    assert (await stored_alert(world, alert.id)).level == 1
    assert sms_to(world, SUPERVISOR_PHONE) == []
    await expect(item.locator("[data-status]")).to_have_attribute("data-status", "acknowledged")
    await screenshot(page, "inbox-acknowledged")

    await item.get_by_label("Outcome").fill("phoned: witness safe")
    await item.get_by_label("Note").fill("Phone battery had died; she is at her aunt's.")
    await submit(page, item.get_by_role("button", name="Resolve").click)
    await expect(page).to_have_url(re.compile(r"/console/alerts\?done=resolved$"))
    await expect(page.locator(".notice")).to_have_text("Alert resolved.")
    await expect(item).to_have_count(0)
    await expect(page.locator("ul.alerts")).to_contain_text("No open alerts.")
    closed = await stored_alert(world, alert.id)
    assert closed.status is AlertStatus.RESOLVED
    assert (closed.resolved_by, closed.outcome) == (world.staff["worker"], None)
    assert closed.outcome_sealed is not None  # sealed at rest, like the note
    assert world.services.sealer.open(closed.outcome_sealed) == "phoned: witness safe"
    assert closed.note_sealed is not None
    assert b"aunt" not in closed.note_sealed

    await page.get_by_role("link", name="Show resolved alerts").click()
    await expect(item.locator("[data-status]")).to_have_attribute("data-status", "resolved")
    await expect(item).to_contain_text("Outcome: phoned: witness safe")
    await expect(item.locator("[data-resolved-by]")).to_have_text(
        f"Worker — {world.clock.now():%Y-%m-%d %H:%M} UTC"
    )
    assert "aunt" not in await page.content()  # the note is personal data, not shown here
    await screenshot(page, "inbox-resolved")

    await advance(world, timedelta(hours=2))
    assert sms_to(world, SUPERVISOR_PHONE) == []
    assert sms_to(world, OFFICER_PHONE) == []


@BOTH_BACKENDS
async def test_duress_shows_a_red_banner_and_sounds_the_alarm_live(
    console_world: World,
    browsing: Browsing,
    audible_browser: Browser,
    screenshot: Screenshot,
) -> None:
    world = console_world
    talk, store = await open_case(world, duress_pin=DURESS_PIN)
    await with_phones_and_supervisor(world, talk)
    await talk.witness.close()

    context = await browsing.context(browser=audible_browser)
    await context.add_init_script(AUDIO_PROBE)
    page = await context.new_page()
    await sign_in(page, "worker")
    banner = page.locator("#duress-banner")
    badge = state_badge(page, talk.case_id)
    await expect(badge).to_have_attribute("data-state", "no_plan")
    await expect(banner).to_be_hidden()
    assert await page.locator("html").get_attribute("data-alarm-sounded") is None

    # Someone makes the witness open the app: she types the duress PIN.
    phone = await WitnessClient.open(store, DURESS_PIN, clock=world.clock)
    world.clients.append(phone)

    await expect(banner).to_be_visible()
    await expect(banner).to_contain_text("DURESS — a witness may be in danger now.")
    await expect(page.locator("html")).to_have_attribute("data-alarm-sounded", "1")
    await expect(badge).to_have_attribute("data-state", "duress")
    await expect(badge).to_have_text("Duress")
    await expect(page.locator(f"tr[data-case='{talk.case_id}']")).to_have_class("state-duress")
    # It actually sounds: the audio context runs (not suspended by the autoplay policy).
    states = await page.evaluate("window.__audioContexts.map(c => c.state)")
    assert states == ["running"], states
    # Impossible to miss: white on the danger red, large, announced (role=alert).
    look = await banner.evaluate(
        "b => [getComputedStyle(b).backgroundColor, getComputedStyle(b).color,"
        " getComputedStyle(b).fontSize, b.getAttribute('role')]"
    )
    assert look == ["rgb(185, 28, 28)", "rgb(255, 255, 255)", "18px", "alert"], look
    await screenshot(page, "caseload-duress")

    # Every level is texted at once; the inbox says who.
    await catch_up(world)
    await banner.get_by_role("link", name="Open the alerts").click()
    await expect(page).to_have_url(re.compile(r"/console/alerts$"))
    await expect(page.locator("main .duress[data-duress='1']")).to_be_visible()
    item = page.locator("li.kind-duress")
    await expect(item).to_have_class(re.compile(r"severity-critical"))
    await expect(item.locator("h2")).to_contain_text("Duress — Sparrow")
    await expect(item.locator("details summary")).to_have_text("Who has been notified (3)")
    await item.locator("details summary").click()
    told = sorted(await item.locator("details li").all_inner_texts())
    refs = {
        phone: sms_reference(sms_to(world, phone)[-1])
        for phone in (OFFICER_PHONE, SUPERVISOR_PHONE, WORKER_PHONE)
    }
    assert told == [
        f"Officer — level 3 — SMS: sent (ref {refs[OFFICER_PHONE]})",
        f"Supervisor — level 2 — SMS: sent (ref {refs[SUPERVISOR_PHONE]})",
        f"Worker — level 1 — SMS: sent (ref {refs[WORKER_PHONE]})",
    ]
    # The alarm follows the worker to the inbox too.
    await expect(banner).to_be_visible()
    await expect(page.locator("html")).to_have_attribute("data-alarm-sounded", "1")
    await screenshot(page, "alerts-duress")
