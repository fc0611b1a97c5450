"""Usable by everyone on the team: the keyboard alone is enough (skip link first,
then the navigation; every control named), text and state badges are readable
(WCAG AA contrast), and the interface speaks Romanian as well as English."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from playwright.async_api import Page, expect

import server.console
from server.domain.caseload import STATE_ORDER
from server.domain.models import Role
from tests.console.conftest import Browsing, Screenshot, nav_link, sign_in, submit
from tests.support.catalogues import load
from tests.support.world import PASSWORD, World, open_conversation

pytestmark = pytest.mark.asyncio(loop_scope="session")

ROMANIAN_PO = Path(server.console.__file__).parent / "locales" / "ro" / "LC_MESSAGES" / "console.po"
WCAG_AA = 4.5

ACTIVE = """() => {
  const el = document.activeElement;
  return {tag: el.localName, id: el.id, cls: el.className,
          text: (el.innerText || el.value || "").trim(), href: el.getAttribute("href")};
}"""

# WCAG 2 contrast of an element's text against the first opaque background behind it.
CONTRAST = """(el) => {
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  let bg = null;
  for (let node = el; node; node = node.parentElement) {
    const c = rgb(getComputedStyle(node).backgroundColor);
    if (c.length === 3 || (c.length === 4 && c[3] > 0.99)) { bg = c.slice(0, 3); break; }
  }
  bg = bg || [255, 255, 255];
  const fg = rgb(getComputedStyle(el).color).slice(0, 3);
  const [hi, lo] = [lum(fg), lum(bg)].sort((a, b) => b - a);
  return {ratio: (hi + 0.05) / (lo + 0.05), fg: fg.join(","), bg: bg.join(",")};
}"""

CONTROLS = "input:not([type=hidden]), select, textarea, button"


async def focused(page: Page) -> dict[str, str]:
    result: dict[str, str] = await page.evaluate(ACTIVE)
    return result


async def tab_to(page: Page, matches: re.Pattern[str], *, limit: int = 80) -> dict[str, str]:
    """Press Tab until the focused element's text matches; fail after ``limit``."""
    for _press in range(limit):
        await page.keyboard.press("Tab")
        now = await focused(page)
        if matches.fullmatch(now["text"]):
            return now
    raise AssertionError(f"{matches.pattern!r} not reached in {limit} Tab presses")


async def unnamed_controls(page: Page) -> list[str]:
    """Form controls without an accessible name (label, aria-label or text)."""
    missing = []
    controls = page.locator(CONTROLS)
    for index in range(await controls.count()):
        control = controls.nth(index)
        try:
            await expect(control).to_have_accessible_name(re.compile(r"\S"), timeout=500)
        except AssertionError:
            missing.append(await control.evaluate("e => e.outerHTML.slice(0, 120)"))
    return missing


async def test_the_skip_link_comes_first_then_the_navigation(
    console_world: World, page: Page
) -> None:
    await sign_in(page, "officer")
    await page.goto("/console/")

    await page.keyboard.press("Tab")
    first = await focused(page)
    assert (first["cls"], first["href"], first["text"]) == ("skip", "#main", "Skip to content")
    # It becomes visible when focused.
    box = await page.locator("a.skip").bounding_box()
    assert box is not None
    assert box["x"] >= 0
    await page.keyboard.press("Tab")
    assert (await focused(page))["text"] == "Caseload"
    await page.keyboard.press("Tab")
    assert (await focused(page))["text"] == "Alerts"
    # The focus is visible: a thick outline.
    outline = await page.evaluate(
        "() => [getComputedStyle(document.activeElement).outlineStyle,"
        " getComputedStyle(document.activeElement).outlineWidth]"
    )
    assert outline == ["solid", "3px"], outline

    await page.keyboard.press("Shift+Tab")
    await page.keyboard.press("Shift+Tab")
    await page.keyboard.press("Enter")
    assert (await focused(page))["id"] == "main"


async def test_every_form_control_has_a_name(console_world: World, browsing: Browsing) -> None:
    world = console_world
    talk = await open_conversation(world)
    await talk.witness.panic()
    await world.add_staff("chief", "police", Role.ADMIN)
    page = await browsing.page()
    await page.goto("/console/login")
    assert await unnamed_controls(page) == []
    await sign_in(page, "chief")
    paths = ["/console/", "/console/alerts", f"/console/cases/{talk.case_id}", "/console/admin"]
    missing: dict[str, list[str]] = {}
    for path in paths:
        response = await page.goto(path)
        assert response is not None
        if response.status == 404:
            continue  # a page that does not exist yet (reported by the security tests)
        assert response.ok, path
        missing[path] = await unnamed_controls(page)
    assert {path: controls for path, controls in missing.items() if controls} == {}


async def test_acknowledging_an_alert_with_the_keyboard_alone(
    console_world: World, page: Page
) -> None:
    talk = await open_conversation(console_world)
    await talk.witness.panic()
    (alert,) = await talk.worker.alerts()

    await page.goto("/console/login")
    # The username field has the focus from the start.
    assert (await focused(page))["id"] == "username"
    await page.keyboard.type("worker")
    await page.keyboard.press("Tab")
    await page.keyboard.type(PASSWORD)
    await page.keyboard.press("Enter")
    await expect(page.locator("h1")).to_have_text("Caseload")

    await tab_to(page, re.compile("Alerts"))
    await page.keyboard.press("Enter")
    await expect(page.locator("h1")).to_have_text("Alerts")
    await tab_to(page, re.compile("Acknowledge"))
    await submit(page, lambda: page.keyboard.press("Enter"))
    await expect(page.locator(".notice")).to_contain_text("Alert acknowledged")
    assert (await talk.worker.alert(alert["alert_id"]))["status"] == "acknowledged"


async def test_the_console_in_romanian(
    console_world: World, browsing: Browsing, screenshot: Screenshot
) -> None:
    world = console_world
    talk = await open_conversation(world)
    catalogue = load(ROMANIAN_PO, "ro")

    page = await browsing.page()
    await sign_in(page, "worker")
    await page.select_option("#language", "ro")
    await submit(page, page.locator("form[action='/console/language'] button").click)
    await expect(page).to_have_url(re.compile(r"/console/$"))
    await expect(page.locator("html")).to_have_attribute("lang", "ro")
    await expect(page.locator("#language")).to_have_value("ro")
    await expect(page.locator(f"tr[data-case='{talk.case_id}']")).to_contain_text("Sparrow")
    await screenshot(page, "caseload-ro")
    # The choice sticks for the session, on every page.
    await nav_link(page, translated(catalogue, "Alerts")).click()
    await expect(page.locator("html")).to_have_attribute("lang", "ro")
    await screenshot(page, "alerts-ro")

    # A browser that prefers Romanian gets the sign-in page in Romanian.
    romanian = await browsing.page(locale="ro-RO")
    response = await romanian.goto("/console/login")
    assert response is not None
    assert response.status == 200
    await expect(romanian.locator("html")).to_have_attribute("lang", "ro")
    await screenshot(romanian, "sign-in-ro")

    for english in ("Caseload", "Alerts", "Sign out", "Sign in", "Skip to content"):
        romanian_word = translated(catalogue, english)
        assert romanian_word != english, f"{english!r} is not translated"
    await expect(romanian.locator("h1")).to_have_text(translated(catalogue, "Sign in"))
    await page.goto("/console/")
    await expect(page.locator("h1")).to_have_text(translated(catalogue, "Caseload"))
    await expect(nav_link(page, translated(catalogue, "Alerts"))).to_be_visible()
    await expect(page.locator("header.bar")).to_contain_text(translated(catalogue, "Sign out"))


def translated(catalogue: Catalog, english: str) -> str:
    """The catalogue's translation, or the English word if there is none."""
    message = catalogue.get(english)
    return str(message.string) if message is not None and message.string else english


async def test_text_and_state_badges_are_readable(
    console_world: World, page: Page, screenshot: Screenshot
) -> None:
    talk = await open_conversation(console_world)
    await talk.witness.panic()
    await sign_in(page, "officer")
    await expect(page.locator("#panic-banner")).to_be_visible()

    # Every badge the console can show, whatever the data: states and severities.
    await page.evaluate(
        """(classes) => {
          const holder = document.createElement("div");
          holder.id = "badge-samples";
          for (const c of classes) {
            const span = document.createElement("span");
            span.className = "badge badge-" + c;
            span.textContent = c;
            holder.append(span);
          }
          for (const [tag, cls] of [["button", "primary"], ["p", "error"], ["p", "notice"]]) {
            const el = document.createElement(tag);
            el.className = cls;
            el.textContent = cls;
            holder.append(el);
          }
          document.querySelector("main").append(holder);
        }""",
        [*STATE_ORDER, "critical", "high", "normal"],
    )
    samples = {
        "body text": page.locator("main h1"),
        "table text": page.locator("#caseload-rows td").first,
        "muted text": page.locator("#caseload-rows .muted").first,
        "link": page.locator("#caseload-rows th a").first,
        "navigation": nav_link(page, "Caseload"),
        "panic banner": page.locator("#panic-banner strong"),
        "live panic badge": page.locator("#caseload-rows .badge").first,
        "button": page.get_by_role("button", name="Apply"),
        "primary button": page.locator("#badge-samples button.primary"),
        "error message": page.locator("#badge-samples .error"),
        "notice": page.locator("#badge-samples .notice"),
    }
    for css_class in [*STATE_ORDER, "critical", "high", "normal"]:
        samples[f"badge {css_class}"] = page.locator(f"#badge-samples .badge-{css_class}")
    ratios = {name: await locator.evaluate(CONTRAST) for name, locator in samples.items()}
    low = {name: r for name, r in ratios.items() if r["ratio"] < WCAG_AA}
    assert low == {}
    await screenshot(page, "contrast")
