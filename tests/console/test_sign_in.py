"""Signing in to the console: password and TOTP through the real form, audited
failures, rate limits, cookies that scripts and other sites cannot use, sign-out that
ends the session on the server, and an idle timeout."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import aiohttp
import pytest
from playwright.async_api import Page, expect

from server.clock import ManualClock
from server.console.sessions import COOKIE, session_hash
from server.domain.models import Role
from tests.console.conftest import (
    Browsing,
    Screenshot,
    console_server,
    fill_sign_in,
    nav_link,
    sign_in,
    state_badge,
    submit,
    totp_now,
)
from tests.support.welfare import catch_up
from tests.support.world import PASSWORD, World, open_conversation
from tests.welfare.helpers import audit_entries

pytestmark = pytest.mark.asyncio(loop_scope="session")

SIGN_IN_URL = re.compile(r"/console/login(\?|$)")
CASELOAD_URL = re.compile(r"/console/$")


async def session_cookie(page: Page) -> dict[str, object]:
    (cookie,) = [c for c in await page.context.cookies() if c["name"] == COOKIE]
    return dict(cookie)


async def test_sign_in_with_a_one_time_code(
    console_world: World, page: Page, screenshot: Screenshot
) -> None:
    world = console_world
    secret = await world.add_staff("vigilant", "police", Role.OFFICER, totp=True)
    assert secret is not None

    await page.goto("/console/")
    await expect(page).to_have_url(SIGN_IN_URL)
    await expect(page.locator("h1")).to_have_text("Sign in")
    await screenshot(page, "sign-in")

    # The right password without the code: the form asks for the code.
    await fill_sign_in(page, "vigilant")
    await expect(page.locator(".error")).to_contain_text("6-digit code")
    await expect(page.locator("#totp")).to_have_attribute("required", "")
    assert COOKIE not in {c["name"] for c in await page.context.cookies()}

    # A wrong code is refused like a wrong password.
    wrong = f"{(int(totp_now(world, secret)) + 1) % 1_000_000:06d}"
    await fill_sign_in(page, "vigilant", totp=wrong)
    await expect(page.locator(".error")).to_contain_text("not right")

    await fill_sign_in(page, "vigilant", totp=totp_now(world, secret))
    await expect(page).to_have_url(CASELOAD_URL)
    await expect(page.locator("header.bar .who")).to_contain_text("Vigilant")
    await expect(page.locator("h1")).to_have_text("Caseload")
    await screenshot(page, "caseload-after-sign-in")

    staff_id = world.staff["vigilant"]
    (signed_in,) = await audit_entries(world, action="console.signed_in")
    assert signed_in.actor_id == staff_id
    reasons = [e.details for e in await audit_entries(world, action="staff.login_failed")]
    assert len(reasons) == 2
    assert any("totp-missing" in r for r in reasons)
    assert any('"totp"' in r for r in reasons)


async def test_a_wrong_password_shows_an_error_and_is_audited(
    console_world: World, page: Page, screenshot: Screenshot
) -> None:
    world = console_world
    await page.goto("/console/login")
    response_status: list[int] = []
    page.on(
        "response",
        lambda r: response_status.append(r.status) if r.request.method == "POST" else None,
    )
    await fill_sign_in(page, "officer", password="not the password")
    await expect(page.locator(".error[role=alert]")).to_have_text(
        "The username, password or code is not right."
    )
    # What was typed stays for the next try, except the password.
    await expect(page.locator("#username")).to_have_value("officer")
    await expect(page.locator("#password")).to_have_value("")
    assert response_status == [401]
    await screenshot(page, "wrong-password")

    (failed,) = await audit_entries(world, action="staff.login_failed")
    assert (failed.actor_kind, failed.actor_id) == ("staff", world.staff["officer"])
    assert PASSWORD not in failed.details
    assert "not the password" not in failed.details
    assert await audit_entries(world, action="console.signed_in") == []


async def test_repeated_failures_are_rate_limited(console_world: World, page: Page) -> None:
    world = console_world
    await page.goto("/console/login")
    for _attempt in range(5):
        await fill_sign_in(page, "worker", password="guess")
        await expect(page.locator(".error")).to_contain_text("not right")
    # Even the right password is refused while the limit holds.
    await fill_sign_in(page, "worker")
    await expect(page.locator(".error[role=alert]")).to_contain_text("Too many attempts")
    await expect(page).to_have_url(SIGN_IN_URL)
    assert len(await audit_entries(world, action="staff.login_failed")) == 5

    # A minute per attempt refills the bucket.
    world.clock.advance(timedelta(minutes=1))
    await fill_sign_in(page, "worker")
    await expect(page).to_have_url(CASELOAD_URL)


async def test_sign_in_returns_to_the_page_asked_for_and_nowhere_else(
    console_world: World, browsing: Browsing
) -> None:
    page = await browsing.page()
    await sign_in(page, "officer", start="/console/alerts?resolved=1")
    await expect(page).to_have_url(re.compile(r"/console/alerts\?resolved=1$"))

    for target in ("https://evil.example/", "//evil.example/console/", "/console/..\\evil"):
        page = await browsing.page()
        await page.goto(f"/console/login?next={quote(target, safe='')}")
        await fill_sign_in(page, "officer")
        await expect(page).to_have_url(CASELOAD_URL)


async def test_the_session_cookie_is_http_only_and_same_site_strict(
    console_world: World, page: Page
) -> None:
    await sign_in(page, "officer")
    cookie = await session_cookie(page)
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert cookie["path"] == "/console"
    # Served over plain HTTP (public_url http://...): not Secure, or it would be lost.
    assert cookie["secure"] is False
    # Scripts on the page cannot read it.
    assert COOKIE not in await page.evaluate("document.cookie")


async def _cookies_after_sign_in(
    world: World, headers: dict[str, str] | None = None
) -> dict[str, str]:
    """Sign in with a plain HTTP client; the Set-Cookie headers by cookie name. (The
    client sends cookies by hand: a Secure cookie would not go back over http://.)"""
    found: dict[str, str] = {}
    async with aiohttp.ClientSession(headers=headers, cookie_jar=aiohttp.DummyCookieJar()) as http:
        async with http.get(f"{world.url}/console/login") as form:
            html = await form.text()
            for header in form.headers.getall("Set-Cookie", []):
                found[header.split("=", 1)[0]] = header
        (csrf,) = re.findall(r'name="csrf" value="([^"]+)"', html)
        login_cookie = found["wl_login"].split(";")[0]
        async with http.post(
            f"{world.url}/console/login",
            data={"csrf": csrf, "username": "officer", "password": PASSWORD, "next": "/console/"},
            headers={"Cookie": login_cookie},
            allow_redirects=False,
        ) as signed_in:
            assert signed_in.status == 303, await signed_in.text()
            for header in signed_in.headers.getall("Set-Cookie", []):
                if header.startswith(COOKIE + "="):
                    found[COOKIE] = header
    return found


def _attributes(set_cookie: str) -> set[str]:
    return {part.strip().split("=")[0].lower() for part in set_cookie.split(";")[1:]}


async def test_cookies_are_secure_behind_tls(tmp_path: Path, clock: ManualClock) -> None:
    # Served at an https:// public URL (TLS terminated in front of the server).
    async with console_server(
        tmp_path / "tls", clock, public_url="https://console.example.org"
    ) as world:
        cookies = await _cookies_after_sign_in(world)
        for name in (COOKIE, "wl_login"):
            assert {"secure", "httponly", "samesite"} <= _attributes(cookies[name]), cookies
            assert "samesite=strict" in cookies[name].lower().replace(" ", "")

    # Behind a trusted reverse proxy that says the request came over TLS.
    async with console_server(
        tmp_path / "proxy",
        clock,
        public_url=None,
        trust_forwarded_for=True,
    ) as world:
        cookies = await _cookies_after_sign_in(world, {"X-Forwarded-Proto": "https"})
        assert "secure" in _attributes(cookies[COOKIE])
        plain = await _cookies_after_sign_in(world)
        assert "secure" not in _attributes(plain[COOKIE])


async def test_x_forwarded_proto_is_ignored_without_a_trusted_proxy(
    console_world: World,
) -> None:
    cookies = await _cookies_after_sign_in(console_world, {"X-Forwarded-Proto": "https"})
    assert "secure" not in _attributes(cookies[COOKIE])
    assert {"httponly", "samesite"} <= _attributes(cookies[COOKIE])


async def test_signing_out_ends_the_session_on_the_server(console_world: World, page: Page) -> None:
    world = console_world
    await sign_in(page, "officer")
    await nav_link(page, "Alerts").click()
    await expect(page).to_have_url(re.compile(r"/console/alerts$"))
    cookie = str((await session_cookie(page))["value"])

    await submit(page, page.get_by_role("button", name="Sign out").click)
    await expect(page).to_have_url(SIGN_IN_URL)
    await expect(page.locator("h1")).to_have_text("Sign in")
    assert COOKIE not in {c["name"] for c in await page.context.cookies()}

    # Back and reload land on the sign-in page, not on a cached console page.
    await page.go_back()
    await expect(page).to_have_url(SIGN_IN_URL)
    await expect(page.locator("#username")).to_be_visible()
    await page.reload()
    await expect(page.locator("#username")).to_be_visible()

    # The old cookie is dead on the server, not just forgotten by the browser.
    async with world.services.store.read() as uow:
        assert await uow.console_sessions.get(session_hash(cookie)) is None
    async with (
        aiohttp.ClientSession(cookies={COOKIE: cookie}) as http,
        http.get(f"{world.url}/console/", allow_redirects=False) as replay,
    ):
        assert replay.status == 302
        assert replay.headers["Location"].startswith("/console/login")
    (signed_out,) = await audit_entries(world, action="console.signed_out")
    assert signed_out.actor_id == world.staff["officer"]


async def test_an_idle_session_ends_after_fifteen_minutes(console_world: World, page: Page) -> None:
    world = console_world
    await sign_in(page, "officer")
    world.clock.advance(timedelta(minutes=14))
    await nav_link(page, "Alerts").click()
    await expect(page).to_have_url(re.compile(r"/console/alerts$"))
    await expect(page.locator("h1")).to_have_text("Alerts")

    world.clock.advance(timedelta(minutes=15, seconds=1))
    await nav_link(page, "Caseload").click()
    await expect(page).to_have_url(SIGN_IN_URL)
    await expect(page.locator("#username")).to_be_visible()
    await page.goto("/console/alerts")
    await expect(page).to_have_url(SIGN_IN_URL)


async def test_an_open_live_page_does_not_keep_an_idle_session_alive(
    console_world: World, page: Page
) -> None:
    """The caseload's live feed is not activity: a console left open on an unattended
    desk must still idle out 15 minutes after the person's last request."""
    world = console_world
    talk = await open_conversation(world)
    # Due 09:10 UTC (11:10 in Bucharest).
    await talk.officer.set_checkin_plan(
        talk.witness_id,
        weekdays=["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
        times=["11:10"],
        window_minutes=30,
        reminder_minutes=0,
    )
    await sign_in(page, "officer")  # 09:00: the officer's last request
    row = state_badge(page, talk.case_id)
    await expect(row).to_have_attribute("data-state", "ok")

    world.clock.advance(timedelta(minutes=10))
    await catch_up(world)
    await expect(row).to_have_attribute("data-state", "due")  # the feed ran at 09:10
    await page.goto("about:blank")  # the feed stops; nothing else happens

    # 09:20: twenty minutes since the officer last did anything.
    world.clock.advance(timedelta(minutes=10))
    await page.goto("/console/alerts")
    assert SIGN_IN_URL.search(page.url), f"still signed in: {page.url}"
