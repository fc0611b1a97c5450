"""Fixtures for the staff console in real headless Chromium.

* ``browser``: one Chromium for the whole session (``/usr/bin/chromium`` or
  ``$WITNESSLINK_CHROMIUM``). Missing on a laptop: the tests skip; under ``CI=true``
  they fail, like the PostgreSQL tests.
* ``console_world``: the real server on 127.0.0.1 (SQLite unless a test asks for
  ``BOTH_BACKENDS``; manual clock; the standard cast) with the caseload's live feed
  polling every ``LIVE_INTERVAL_S``.
* ``browsing`` / ``page``: fresh browser contexts (one per person) that record every
  request and console message; on teardown a Content-Security-Policy violation anywhere
  in the test is an error.
* ``screenshot``: saves ``test-artifacts/console/<test>-<name>.png``.
* ``sign_in`` signs in through the real form; ``submit`` follows a form to the page it
  leads to and fails at once on an error page.

Every test module runs in the session's event loop (``pytestmark``) because the
browser and the server must share one loop.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyotp
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestServer
from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Locator,
    Page,
    Playwright,
    Request,
    Response,
    async_playwright,
    expect,
)

from server.app import build_app
from server.clock import ManualClock
from tests.conftest import create_pg_schema, drop_pg_schema, postgres_dsn
from tests.fakes.twilio_server import FakeTwilio
from tests.support.world import PASSWORD, World, settings_for_tests, standard_cast

CHROMIUM_ENV = "WITNESSLINK_CHROMIUM"
DEFAULT_CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Lets WebAudio start without a user gesture (the duress alarm test only).
AUTOPLAY_ARG = "--autoplay-policy=no-user-gesture-required"
LIVE_INTERVAL_S = 0.2
# Long enough for a few live-feed rounds on a slow CI machine, short enough to fail fast.
LIVE_TIMEOUT_MS = 10_000
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 360, "height": 740}
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"

expect.set_options(timeout=LIVE_TIMEOUT_MS)


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def chromium_path() -> str:
    """The Chromium to drive; skip (or fail under CI) when there is none."""
    path = os.environ.get(CHROMIUM_ENV) or DEFAULT_CHROMIUM
    if Path(path).is_file():
        return path
    if in_ci():
        pytest.fail(f"Chromium not found at {path} ({CHROMIUM_ENV}); console tests may not skip")
    pytest.skip(f"Chromium not found at {path} (set {CHROMIUM_ENV})")


# ---------------------------------------------------------------- the server


BOTH_BACKENDS = pytest.mark.parametrize(
    "console_backend",
    ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
    indirect=True,
)
"""For the tests worth running on PostgreSQL too (the browser tests are SQLite-only
otherwise, to keep the suite fast)."""


@pytest.fixture
def console_backend(request: pytest.FixtureRequest) -> str:
    return str(getattr(request, "param", "sqlite"))


@asynccontextmanager
async def console_server(
    tmp: Path,
    clock: ManualClock,
    *,
    backend: str = "sqlite",
    twilio: FakeTwilio | None = None,
    **overrides: Any,
) -> AsyncIterator[World]:
    """Like ``tests.support.world.running_world``, with a fast live feed and any other
    settings overridden, and the standard cast of agencies and staff."""
    dsn = schema = None
    url = f"sqlite:///{tmp / 'server.db'}"
    if backend == "postgres":
        url = dsn = postgres_dsn()
        schema = await create_pg_schema(dsn)
    # Bound before the app is built (its URL goes into the settings) and handed over
    # as it is, so no other process can take the port in between.
    listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listening.bind(("127.0.0.1", 0))
    port = int(listening.getsockname()[1])
    settings = settings_for_tests(tmp, url, schema, port=port, twilio=twilio).with_overrides(
        console_live_interval_s=LIVE_INTERVAL_S, **overrides
    )
    try:
        app = build_app(settings, clock=clock)
        server = TestServer(app, host="127.0.0.1", port=port, socket_factory=lambda *_: listening)
        await server.start_server()
        world = World(
            server=server, app=app, clock=clock, tmp=tmp, settings=settings, twilio=twilio
        )
        try:
            await standard_cast(world)
            yield world
        finally:
            await world.close_clients()
            await world.server.close()
    finally:
        if dsn is not None and schema is not None:
            await drop_pg_schema(dsn, schema)


@pytest_asyncio.fixture(loop_scope="session")
async def twilio_fake(clock: ManualClock) -> AsyncIterator[FakeTwilio]:
    """A Twilio-shaped server on 127.0.0.1 (in the session's loop)."""
    async with FakeTwilio.running(clock=clock.now) as fake:
        yield fake


@pytest_asyncio.fixture(loop_scope="session")
async def console_world(
    tmp_path: Path, clock: ManualClock, console_backend: str
) -> AsyncIterator[World]:
    async with console_server(tmp_path, clock, backend=console_backend) as world:
        yield world


# ---------------------------------------------------------------- the browser


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def playwright_driver() -> AsyncIterator[Playwright]:
    chromium_path()
    async with async_playwright() as driver:
        yield driver


async def launch(driver: Playwright, *extra_args: str) -> Browser:
    # launch() gives every browser a fresh temporary profile (user data dir).
    return await driver.chromium.launch(
        executable_path=chromium_path(), headless=True, args=[*CHROMIUM_ARGS, *extra_args]
    )


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser(playwright_driver: Playwright) -> AsyncIterator[Browser]:
    chromium = await launch(playwright_driver)
    yield chromium
    await chromium.close()


@pytest_asyncio.fixture(loop_scope="session")
async def audible_browser(playwright_driver: Playwright) -> AsyncIterator[Browser]:
    """A Chromium whose autoplay policy lets the duress alarm sound without a gesture."""
    chromium = await launch(playwright_driver, AUTOPLAY_ARG)
    yield chromium
    await chromium.close()


@dataclass
class BrowserLog:
    """Everything the browser asked for and said during a test."""

    requests: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)

    def on_request(self, request: Request) -> None:
        self.requests.append(request.url)

    def on_console(self, message: ConsoleMessage) -> None:
        self.console.append(f"{message.type}: {message.text}")

    def csp_violations(self) -> list[str]:
        return [m for m in self.console if "Content Security Policy" in m or "Refused to" in m]

    def foreign_requests(self, origin: str) -> list[str]:
        return [u for u in self.requests if not u.startswith(origin + "/")]


@dataclass
class Browsing:
    """Opens isolated browser contexts (one per person) and remembers what they did."""

    browser: Browser
    world: World
    log: BrowserLog = field(default_factory=BrowserLog)
    contexts: list[BrowserContext] = field(default_factory=list)

    async def context(
        self, *, browser: Browser | None = None, locale: str = "en-GB", **options: Any
    ) -> BrowserContext:
        options.setdefault("viewport", DESKTOP)
        context = await (browser or self.browser).new_context(
            base_url=self.world.url, locale=locale, **options
        )
        context.set_default_timeout(LIVE_TIMEOUT_MS)
        context.on("request", self.log.on_request)
        context.on("console", self.log.on_console)
        self.contexts.append(context)
        return context

    async def page(self, **options: Any) -> Page:
        return await (await self.context(**options)).new_page()

    async def close(self) -> None:
        for context in self.contexts:
            await context.close()


@pytest_asyncio.fixture(loop_scope="session")
async def browsing(browser: Browser, console_world: World) -> AsyncIterator[Browsing]:
    session = Browsing(browser, console_world)
    yield session
    # Closing the pages ends their live feeds before the server shuts down.
    await session.close()
    violations = session.log.csp_violations()
    assert not violations, f"Content-Security-Policy violations: {violations}"


@pytest_asyncio.fixture(loop_scope="session")
async def page(browsing: Browsing) -> Page:
    return await browsing.page()


# ---------------------------------------------------------------- helpers


def totp_now(world: World, secret: str) -> str:
    """The authenticator app's code at the server's (manual) time."""
    return pyotp.TOTP(secret).at(world.clock.now())


async def fill_sign_in(
    page: Page,
    username: str,
    *,
    password: str = PASSWORD,
    totp: str | None = None,
) -> None:
    """Fill in and submit the real sign-in form (the page must show it)."""
    await page.locator("#username").fill(username)
    await page.locator("#password").fill(password)
    if totp is not None:
        await page.locator("#totp").fill(totp)
    await page.locator("form[action='/console/login'] button[type=submit]").click()


async def sign_in(
    page: Page,
    username: str,
    *,
    totp: str | None = None,
    start: str = "/console/",
) -> None:
    """Sign in through the real form and land on ``start``."""
    await page.goto(start)
    await expect(page).to_have_url(re.compile(r"/console/login"))
    await fill_sign_in(page, username, totp=totp)
    await expect(page).not_to_have_url(re.compile(r"/console/login"))
    await expect(page.locator("header.bar")).to_be_visible()


async def submit(page: Page, action: Callable[[], Awaitable[None]]) -> Response:
    """Do ``action`` (click a submit button, press Enter) and wait for the page it
    leads to; fails at once, with the page's message, when that is an error page."""
    async with page.expect_navigation() as navigation:
        await action()
    response = await navigation.value
    assert response is not None
    if not response.ok:
        message = (
            await page.locator("main").inner_text()
            if await page.locator("main").count()
            else await response.text()
        )
        raise AssertionError(f"{response.url} answered {response.status}: {message.strip()}")
    return response


def nav_link(page: Page, name: str) -> Locator:
    """A link in the console's main navigation (found by its place, not its name, which
    is translated)."""
    return page.locator("header.bar nav").get_by_role("link", name=name, exact=True)


def state_badge(page: Page, case_id: str) -> Locator:
    """The welfare state badge in a case's caseload row."""
    return page.locator(f"#caseload-rows tr[data-case='{case_id}'] .badge")


# What a console page must not contain: inline code (the CSP would block it, and it is
# how injected markup runs), event-handler attributes, javascript: URLs.
DOM_RULES = """() => {
  const problems = [];
  for (const s of document.querySelectorAll("script:not([src])")) {
    problems.push("inline <script>: " + s.textContent.slice(0, 80));
  }
  for (const s of document.querySelectorAll("style")) {
    problems.push("<style> element: " + s.textContent.slice(0, 80));
  }
  for (const el of document.querySelectorAll("*")) {
    for (const attr of el.attributes) {
      const name = attr.name.toLowerCase();
      if (name === "style") { problems.push("style attribute on <" + el.localName + ">"); }
      if (name.startsWith("on")) { problems.push(name + " attribute on <" + el.localName + ">"); }
      if (/^\\s*javascript:/i.test(attr.value)) { problems.push("javascript: URL in " + name); }
    }
  }
  return problems;
}"""


@dataclass
class Visit:
    """One console page as the browser got it."""

    url: str
    status: int
    headers: dict[str, str]
    html: str
    dom_problems: list[str]


async def visit(page: Page, url: str) -> Visit:
    """Open ``url`` in the page and record what came back."""
    response = await page.goto(url)
    assert response is not None, url
    return Visit(
        url=page.url,
        status=response.status,
        headers=await response.all_headers(),
        html=await page.content(),
        dom_problems=await page.evaluate(DOM_RULES),
    )


SKIPPED_LINKS = ("/console/static/", "/console/events")


async def crawl(page: Page, start: list[str], *, limit: int = 60) -> list[Visit]:
    """Every console page reachable by following links from ``start`` (GET only, so
    nothing changes), up to ``limit`` pages."""
    seen: set[str] = set()
    queue = list(start)
    visits: list[Visit] = []
    while queue and len(visits) < limit:
        path = queue.pop(0).split("#")[0]
        if not path or path in seen or path.startswith(SKIPPED_LINKS):
            continue
        seen.add(path)
        visits.append(await visit(page, path))
        links = await page.eval_on_selector_all(
            "a[href]", "links => links.map(a => a.getAttribute('href'))"
        )
        for href in links:
            if href.startswith("/console") and href.split("#")[0] not in seen:
                queue.append(href)
    return visits


Screenshot = Callable[[Page, str], Awaitable[Path]]


@pytest.fixture
def screenshot(request: pytest.FixtureRequest) -> Screenshot:
    """``await screenshot(page, "name")`` → test-artifacts/console/<test>-<name>.png."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    test = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name).strip("_")
    for stale in ARTIFACTS.glob(f"{test}-*.png"):  # from an earlier run of this test
        stale.unlink()

    async def take(page: Page, name: str) -> Path:
        path = ARTIFACTS / f"{test}-{name}.png"
        await page.screenshot(path=str(path), full_page=True)
        return path

    return take
