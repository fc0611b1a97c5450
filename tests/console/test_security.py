"""The console's security promises, checked in the browser: other agencies see
nothing; forms without the CSRF token change nothing; a strict CSP on every page with
nothing inline and nothing fetched from elsewhere; and no page ever shows message text,
hearing or video-link details, or phone numbers."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from playwright.async_api import Page, expect

from server.console.sessions import COOKIE
from server.domain.models import Role
from server.domain.welfare_models import AlertStatus
from tests.console.conftest import Browsing, Screenshot, Visit, crawl, sign_in, visit
from tests.support.welfare import (
    OFFICER_PHONE,
    SUPERVISOR_PHONE,
    WITNESS_PHONE,
    WORKER_PHONE,
    catch_up,
    with_phones_and_supervisor,
)
from tests.support.world import World, open_conversation
from tests.welfare.helpers import audit_entries

pytestmark = pytest.mark.asyncio(loop_scope="session")

CSP_DIRECTIVES = {
    "default-src": "'none'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "connect-src": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
    "base-uri": "'none'",
}
MESSAGE_FROM_WITNESS = "They took my passport again, please call me"
MESSAGE_FROM_OFFICER = "We will come to Strada Lalelelor 7 tomorrow"
VIDEO_DETAILS = {
    "url": "https://video.justice.example/room/8842-secret",
    "pin": "773191",
    "instructions": "Bring the blue folder; ask for Judge Albrecht",
}
HEARING_DETAILS = {
    "court": "Landgericht Nürnberg-Fürth",
    "address": "Fürther Straße 110, Saal 600",
    "interpreter": "Ioana Popescu",
}
PHONES = [WORKER_PHONE, SUPERVISOR_PHONE, OFFICER_PHONE, WITNESS_PHONE]


def secrets_in(text: str) -> list[str]:
    words = [MESSAGE_FROM_WITNESS, MESSAGE_FROM_OFFICER]
    words += list(VIDEO_DETAILS.values()) + list(HEARING_DETAILS.values())
    # Phone numbers as typed and as bare digits (with or without the country code).
    words += PHONES + [p.lstrip("+") for p in PHONES] + [p[2:] for p in PHONES]
    return [w for w in words if w in text]


def csp_of(headers: dict[str, str]) -> dict[str, str]:
    policy = headers.get("content-security-policy", "")
    directives = {}
    for part in policy.split(";"):
        name, _, value = part.strip().partition(" ")
        if name:
            directives[name] = value.strip()
    return directives


def check_page(v: Visit, server: str) -> list[str]:
    """Everything wrong with one page, as readable lines."""
    problems = [f"{v.url}: {p}" for p in v.dom_problems]
    if csp_of(v.headers) != CSP_DIRECTIVES:
        problems.append(f"{v.url}: CSP {v.headers.get('content-security-policy')!r}")
    for header, value in (
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("cache-control", "no-store"),
        ("referrer-policy", "no-referrer"),
    ):
        if v.headers.get(header) != value:
            problems.append(f"{v.url}: {header} is {v.headers.get(header)!r}")
    problems += [f"{v.url}: shows {s!r}" for s in secrets_in(v.html)]
    if not v.url.startswith(server + "/console"):
        problems.append(f"{v.url}: left the console")
    return problems


# ---------------------------------------------------------------- other agencies


async def test_another_agency_sees_nothing_of_the_witness(
    console_world: World, page: Page, screenshot: Screenshot
) -> None:
    world = console_world
    talk = await open_conversation(world)
    await talk.witness.panic()

    await sign_in(page, "outsider")
    await expect(page.locator("#caseload-rows")).to_contain_text("Nobody here.")
    await expect(page.locator("#panic-banner")).to_be_hidden()
    await page.locator("nav").get_by_role("link", name="Alerts", exact=True).click()
    await expect(page.locator("ul.alerts")).to_contain_text("No open alerts.")

    response = await page.goto(f"/console/cases/{talk.case_id}")
    assert response is not None
    assert response.status == 404
    await expect(page.locator("h1")).to_have_text("Not found")
    await screenshot(page, "wrong-agency-case")
    # The refused attempt is in the audit log, naming the case.
    denied = await audit_entries(world, action="access.denied", case_id=talk.case_id)
    assert any(e.actor_id == world.staff["outsider"] for e in denied)

    # Acting on the alert with a valid form token of the outsider's own session: no.
    (alert,) = await talk.worker.alerts()
    status = await page.evaluate(
        """async (id) => {
          const csrf = document.querySelector("input[name=csrf]").value;
          const r = await fetch(`/console/alerts/${id}/acknowledge`, {
            method: "POST", body: new URLSearchParams({csrf}), redirect: "manual"});
          return r.status;
        }""",
        alert["alert_id"],
    )
    assert status == 404
    assert (await talk.worker.alert(alert["alert_id"]))["status"] == "open"

    for v in [await visit(page, "/console/"), await visit(page, "/console/alerts?resolved=1")]:
        for word in ("Sparrow", "DE-2026-0042", talk.case_id, talk.witness_id):
            assert word not in v.html, (v.url, word)


# ---------------------------------------------------------------- CSRF

POST_WITHOUT_TOKEN = """async ([path, fields]) => {
  const r = await fetch(path, {method: "POST", body: new URLSearchParams(fields),
                               redirect: "manual"});
  return [r.status, await r.text()];
}"""


async def test_forms_without_the_csrf_token_change_nothing(
    console_world: World, page: Page, screenshot: Screenshot
) -> None:
    world = console_world
    talk = await open_conversation(world)
    await talk.witness.panic()
    (alert,) = await talk.worker.alerts()
    alert_id = alert["alert_id"]

    await sign_in(page, "worker", start="/console/alerts")
    item = page.locator(f"#alert-{alert_id}")
    await expect(item).to_be_visible()

    attempts = [
        (f"/console/alerts/{alert_id}/acknowledge", {}),
        (f"/console/alerts/{alert_id}/acknowledge", {"csrf": "forged"}),
        (f"/console/alerts/{alert_id}/resolve", {"outcome": "fake", "note": "fake"}),
        ("/console/language", {"language": "ro", "next": "/console/"}),
        ("/console/logout", {}),
        (f"/console/cases/{talk.case_id}/phone", {"number": "+15005550099"}),
        (
            f"/console/cases/{talk.case_id}/appointments",
            {"kind": "hearing", "timezone": "Europe/Berlin", "starts_at": "2026-03-02T09:00"},
        ),
    ]
    for path, fields in attempts:
        status, body = await page.evaluate(POST_WITHOUT_TOKEN, [path, fields])
        assert status == 403, (path, status)
        assert "Not allowed" in body, path

    # A real form, submitted by the browser with its token removed.
    await page.evaluate(
        """(id) => {
          const form = document.querySelector(`form[action$="/alerts/${id}/acknowledge"]`);
          form.querySelector("input[name=csrf]").remove();
          form.submit();
        }""",
        alert_id,
    )
    await expect(page.locator("h1")).to_have_text("Not allowed")
    await screenshot(page, "csrf-refused")

    # Nothing changed: still open, still signed in, still English, no appointment.
    assert (await talk.worker.alert(alert_id))["status"] == AlertStatus.OPEN.value
    await page.goto("/console/alerts")
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await expect(item.locator("[data-status]")).to_have_attribute("data-status", "open")
    assert any(c["name"] == COOKIE for c in await page.context.cookies())
    assert await talk.officer.appointments(talk.case_id) == []
    async with world.services.store.read() as uow:
        assert await uow.witnesses.phone(talk.witness_id) is None


async def test_signing_in_needs_the_form_token_too(console_world: World, page: Page) -> None:
    await page.goto("/console/login")
    await page.context.clear_cookies()  # the sign-in form's token cookie is gone
    await page.locator("#username").fill("officer")
    await page.locator("#password").fill("correct horse battery staple")
    await page.locator("form[action='/console/login'] button").click()
    await expect(page.locator("h1")).to_have_text("Not allowed")
    assert not any(c["name"] == COOKIE for c in await page.context.cookies())
    assert await audit_entries(console_world, action="console.signed_in") == []


# ---------------------------------------------------------------- every page


async def _case_with_everything(world: World) -> tuple[str, str]:
    """A case whose phones, messages and court dates hold every kind of secret."""
    talk = await open_conversation(world)
    await with_phones_and_supervisor(world, talk)
    await world.add_staff("chief", "police", Role.ADMIN)
    await talk.witness.send(MESSAGE_FROM_WITNESS)
    await talk.officer.send(MESSAGE_FROM_OFFICER, case_id=talk.case_id)
    await talk.officer.schedule_video_link(
        talk.case_id,
        starts_at=datetime(2026, 3, 30, 7, 0, tzinfo=UTC),
        ends_at=datetime(2026, 3, 30, 9, 0, tzinfo=UTC),
        timezone="Europe/Berlin",
        location_kind="support_office",
        interpreter_language="ro",
        details=VIDEO_DETAILS,
    )
    await talk.officer.schedule_hearing(
        talk.case_id,
        starts_at=datetime(2026, 4, 14, 8, 0, tzinfo=UTC),
        ends_at=datetime(2026, 4, 14, 12, 0, tzinfo=UTC),
        timezone="Europe/Berlin",
        details=HEARING_DETAILS,
    )
    await talk.officer.set_checkin_plan(talk.witness_id, every_hours=24, start="10:00")
    await talk.witness.panic()
    await catch_up(world)  # the alert SMS go out (to the console log: no Twilio here)
    return talk.case_id, talk.witness_id


async def test_every_page_is_locked_down_and_shows_no_secrets(
    console_world: World, browsing: Browsing, screenshot: Screenshot
) -> None:
    world = console_world
    case_id, _witness_id = await _case_with_everything(world)
    visits: dict[str, list[Visit]] = {}
    # The police side, the support side, and an administrator (every admin page).
    for username in ("officer", "worker", "chief"):
        page = await browsing.page()
        visits.setdefault("anonymous", []).append(await visit(page, "/console/login"))
        await sign_in(page, username)
        visits[username] = await crawl(
            page,
            [
                "/console/",
                "/console/alerts",
                "/console/alerts?resolved=1",
                f"/console/cases/{case_id}",
                "/console/admin",
                "/console/no-such-page",
            ],
        )
    everything = [v for pages in visits.values() for v in pages]
    problems = [p for v in everything for p in check_page(v, world.url)]
    assert problems == []

    paths = {re.sub(r"^https?://[^/]+", "", v.url) for v in everything}
    assert {"/console/login", "/console/", "/console/alerts"} <= paths
    assert any(v.status == 404 for v in everything)  # the error page is covered too
    # Everything the browser fetched came from this server: no CDN fonts or scripts.
    assert browsing.log.foreign_requests(world.url) == []
    assert browsing.log.csp_violations() == []
    print(f"checked {len(everything)} page views: {sorted(paths)}")


async def test_the_witness_and_admin_pages(
    console_world: World, browsing: Browsing, screenshot: Screenshot
) -> None:
    """Screenshots and page checks of the witness page and the administration."""
    world = console_world
    case_id, _witness_id = await _case_with_everything(world)
    page = await browsing.page()
    await sign_in(page, "officer")
    witness_page = await visit(page, f"/console/cases/{case_id}")
    assert witness_page.status == 200
    assert check_page(witness_page, world.url) == []
    await expect(page.locator("h1")).to_contain_text("Sparrow")
    await screenshot(page, "witness-page")

    await expect(page.locator("[data-enrol='staff-client']")).to_be_visible()
    # No inline style or script in the page (the console's own script may leave an
    # empty style attribute behind when it toggles a field, which carries nothing).
    problems = await page.evaluate(
        "() => Array.from(document.querySelectorAll("
        "\"[style]:not([style='']), style, script:not([src])\"))"
        ".map(e => e.outerHTML.slice(0, 100))"
    )
    assert problems == []

    admin = await browsing.page()
    await sign_in(admin, "chief")
    admin_page = await visit(admin, "/console/admin")
    assert admin_page.status == 200
    assert check_page(admin_page, world.url) == []
    await screenshot(admin, "admin")
    for link, name in (("/console/admin/audit", "admin-audit"),):
        assert check_page(await visit(admin, link), world.url) == []
        await screenshot(admin, name)
    assert browsing.log.csp_violations() == []
