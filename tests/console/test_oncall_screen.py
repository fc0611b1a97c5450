"""The alert inbox as an on-call screen, in real Chromium.

* New alerts appear in the inbox without a reload; the alarm rings at once for each new
  critical alert, even while another is still open, keeps ringing until they are
  acknowledged, and the tab title says how many ("(2) CRITICAL — witnesslink").
* Panic and duress look different.
* A browser that keeps audio silent until a click shows a prominent bar to enable the
  alarm sound.
* An on-call screen (shift mode) stays signed in past the idle time and asks for the
  password again for every action; a desk console warns before it signs out for
  inactivity and says why it did.
* The witness page starts with its open alerts; the inbox links to them.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.async_api import Browser, Page, expect

from client_sdk import WitnessClient
from server.domain.welfare_models import Alert, AlertStatus
from tests.console.conftest import Browsing, Screenshot, sign_in, submit
from tests.console.test_alerts import stored_alert, stored_alerts
from tests.support.kdf import DURESS_PIN
from tests.support.welfare import advance
from tests.support.world import PASSWORD, World, open_conversation
from tests.welfare.helpers import open_case

pytestmark = pytest.mark.asyncio(loop_scope="session")

#: Set once when the page loads: still there later means the page was never reloaded.
LOAD_MARK = "() => (window.__loadedOnce = window.__loadedOnce || Math.random())"


RANG_FOR = "id => window.__wlAlarm.rangFor.includes(id)"


async def newest_alert(world: World, kind: str) -> Alert:
    (alert,) = [a for a in await stored_alerts(world) if a.kind.value == kind]
    return alert


async def rang_for(page: Page) -> list[str]:
    return list(await page.evaluate("window.__wlAlarm.rangFor"))


async def test_a_duress_alert_raised_while_a_panic_alert_is_open_sounds_again_and_appears_live(
    console_world: World, browsing: Browsing, audible_browser: Browser, screenshot: Screenshot
) -> None:
    world = console_world
    talk, store = await open_case(world, duress_pin=DURESS_PIN)
    context = await browsing.context(browser=audible_browser)
    page = await context.new_page()
    await sign_in(page, "worker", start="/console/alerts")
    await expect(page.locator("#alert-list")).to_contain_text("No open alerts.")
    mark = await page.evaluate(LOAD_MARK)
    assert await rang_for(page) == []

    await talk.witness.panic()
    panic = await newest_alert(world, "panic")
    panic_item = page.locator(f"#alert-{panic.id}")
    await expect(panic_item).to_be_visible()
    await page.wait_for_function(RANG_FOR, arg=panic.id)
    await expect(page).to_have_title("(1) CRITICAL — witnesslink")

    # Someone makes the witness open the app with the duress PIN, the panic still open.
    await talk.witness.close()
    phone = await WitnessClient.open(store, DURESS_PIN, clock=world.clock)
    world.clients.append(phone)
    duress = await newest_alert(world, "duress")
    duress_item = page.locator(f"#alert-{duress.id}")
    await expect(duress_item).to_be_visible()
    await page.wait_for_function(RANG_FOR, arg=duress.id)
    assert await rang_for(page) == [panic.id, duress.id]
    await expect(page).to_have_title("(2) CRITICAL — witnesslink")
    assert await page.evaluate(LOAD_MARK) == mark, "the inbox was reloaded"
    # It actually sounds (the audio context runs), and keeps ringing while unacknowledged.
    await page.wait_for_function("() => window.__wlAlarm.sounded >= 2 && window.__wlAlarm.armed")
    await page.wait_for_function("() => window.__wlAlarm.rings > window.__wlAlarm.rangFor.length")

    # Someone types an outcome while the panic alert escalates to level 2 (15 minutes,
    # exactly the idle limit): the alert's facts change, the typing is not disturbed.
    outcome = panic_item.get_by_label("Outcome")
    await outcome.fill("on my way to her")
    await advance(world, timedelta(minutes=15))
    await expect(panic_item).to_contain_text("Escalation level: 2")
    await expect(outcome).to_have_value("on my way to her")
    await expect(outcome).to_be_focused()
    assert await page.evaluate(LOAD_MARK) == mark, "the inbox was reloaded"

    # Panic and duress look different: their own label, class and colour.
    await expect(panic_item.locator(".kind-label")).to_have_text("Panic button")
    await expect(duress_item.locator(".kind-label")).to_have_text("Duress")
    await expect(panic_item).to_have_class(re.compile(r"\bkind-panic\b"))
    await expect(duress_item).to_have_class(re.compile(r"\bkind-duress\b"))
    looks = [
        await item.evaluate(
            "e => getComputedStyle(e).borderLeftColor + getComputedStyle(e).backgroundColor"
        )
        for item in (panic_item, duress_item)
    ]
    assert looks[0] != looks[1], looks
    await screenshot(page, "panic-then-duress")

    # The inbox row leads to the alert on the witness page, where it comes first.
    await duress_item.locator("h2 a").click()
    await expect(page).to_have_url(re.compile(rf"/console/cases/{talk.case_id}#alert-{duress.id}$"))
    top = page.locator("#open-alerts")
    await expect(top.locator(f"#alert-{duress.id}")).to_be_visible()
    await expect(top.locator(f"#alert-{panic.id}")).to_be_visible()
    # Near the top of the page (not thousands of pixels down), wherever it is scrolled.
    top_y = await top.evaluate("e => e.getBoundingClientRect().top + window.scrollY")
    assert top_y < 600, top_y
    await page.goto("/console/alerts")

    # Acknowledged, the alarm stops and the title comes back.
    for alert_id in (panic.id, duress.id):
        button = page.locator(f"#alert-{alert_id}").get_by_role("button", name="Acknowledge")
        await submit(page, button.click)
    await page.wait_for_function("() => window.__wlAlarm.open.length === 0")
    await expect(page).to_have_title("Alerts — witnesslink")


async def test_a_tab_never_clicked_offers_to_enable_the_alarm_sound(page: Page) -> None:
    await sign_in(page, "worker")
    # A new tab (say, the screen reopened in the morning): nobody has clicked on it.
    page = await page.context.new_page()
    await page.goto("/console/alerts")
    arming = page.locator("#alarm-arming")
    await expect(arming).to_be_visible()
    assert await page.evaluate("window.__wlAlarm.armed") is False
    await arming.get_by_role("button", name="Enable the alarm sound").click()
    # Armed: the bar turns green and offers a test of the sound instead.
    await expect(arming).to_have_class(re.compile(r"\barmed\b"))
    await expect(arming.get_by_role("button")).to_have_text("Test the alarm sound")
    assert await page.evaluate("window.__wlAlarm.armed") is True
    await arming.get_by_role("button", name="Test the alarm sound").click()
    assert await page.evaluate("window.__wlAlarm.rings") == 0  # a test is not an alert


async def sign_in_as_on_call_screen(page: Page, username: str) -> None:
    await page.goto("/console/alerts")
    await page.locator("#username").fill(username)
    await page.locator("#password").fill(PASSWORD)
    await page.locator("#mode-shift").check()
    await page.locator("form[action='/console/login'] button[type=submit]").click()
    await expect(page.locator("[data-on-call-screen]")).to_be_visible()


async def test_an_on_call_screen_stays_signed_in_for_the_shift_and_asks_for_the_password_to_act(
    console_world: World, browsing: Browsing, screenshot: Screenshot
) -> None:
    world = console_world
    talk = await open_conversation(world)
    await talk.witness.panic()
    (alert,) = await stored_alerts(world)

    screen = await browsing.page()
    await sign_in_as_on_call_screen(screen, "worker")
    desk = await browsing.page()
    await sign_in(desk, "worker", start="/console/alerts")
    item = screen.locator(f"#alert-{alert.id}")
    await expect(item).to_be_visible()

    # 13 minutes without activity: the desk console warns; the screen does not.
    world.clock.advance(timedelta(minutes=13))
    warning = desk.locator("#session-warning")
    await expect(warning).to_be_visible()
    await expect(warning).to_contain_text("You will be signed out in 2 min")
    await expect(screen.locator("#session-warning")).to_be_hidden()
    # "Stay signed in" counts as activity: the warning goes.
    await warning.get_by_role("button", name="Stay signed in").click()
    await expect(warning).to_be_hidden()

    # Past the idle time: the desk console says why it signed out; the screen stays.
    world.clock.advance(timedelta(minutes=15, seconds=1))
    await expect(desk).to_have_url(re.compile(r"/console/login\?ended=idle"))
    await expect(desk.locator("[data-ended=idle]")).to_have_text(
        "You were signed out after 15 minutes without activity."
    )
    world.clock.advance(timedelta(hours=2))  # 2 h 28 min into the shift
    await screen.reload()
    await expect(screen).to_have_url(re.compile(r"/console/alerts$"))
    await expect(item.locator("[data-status]")).to_have_attribute("data-status", "open")
    await screenshot(screen, "on-call-screen")

    # An acknowledge without a fresh sign-in, or with a wrong password, changes nothing.
    csrf = await item.locator("form.acknowledge input[name=csrf]").get_attribute("value")
    refused = await screen.request.post(
        f"/console/alerts/{alert.id}/acknowledge", form={"csrf": csrf or ""}, max_redirects=0
    )
    assert refused.status == 401
    assert "every action needs your password again" in await refused.text()
    response = await screen.request.post(
        f"/console/alerts/{alert.id}/acknowledge",
        form={"csrf": csrf or "", "password": "not-the-password"},
        max_redirects=0,
    )
    assert response.status == 401
    assert (await stored_alert(world, alert.id)).status is AlertStatus.OPEN

    # With the password typed into the form, it is acknowledged.
    await item.locator("form.acknowledge input[name=password]").fill(PASSWORD)
    await submit(screen, item.get_by_role("button", name="Acknowledge").click)
    taken = await stored_alert(world, alert.id)
    assert (taken.status, taken.acknowledged_by) == (
        AlertStatus.ACKNOWLEDGED,
        world.staff["worker"],
    )

    # The shift ends: the screen warns half an hour ahead, then says why it signed out.
    world.clock.advance(timedelta(hours=9, minutes=17))  # 11 h 45 min into the shift
    await expect(screen.locator("#session-warning")).to_contain_text("This session ends in 15 min")
    world.clock.advance(timedelta(minutes=16))
    await expect(screen).to_have_url(re.compile(r"/console/login\?ended=expiry"))
    await expect(screen.locator("[data-ended=expiry]")).to_be_visible()
