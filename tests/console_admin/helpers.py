"""A signed-in console browser made of plain aiohttp: cookies, CSRF fields, forms."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import timedelta

import aiohttp
import pyotp

from server.domain.models import Role
from tests.support.world import PASSWORD, World

CSRF_FIELD = re.compile(r'name="csrf" value="([^"]*)"')


def csrf_of(page: str) -> str:
    found = CSRF_FIELD.search(page)
    assert found is not None, "the page has no CSRF field"
    return html.unescape(found.group(1))


def totp_code(world: World, secret: str) -> str:
    return pyotp.TOTP(secret).at(world.clock.now())


@dataclass
class Reply:
    status: int
    text: str
    location: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


class Browser:
    """One person's browser: its own cookie jar, no JavaScript."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.session = aiohttp.ClientSession(
            base_url=world.url, cookie_jar=aiohttp.CookieJar(unsafe=True)
        )
        self.csrf = ""

    async def close(self) -> None:
        await self.session.close()

    async def get(self, path: str) -> Reply:
        async with self.session.get(path, allow_redirects=False) as response:
            text = await response.text()
            reply = Reply(
                response.status, text, response.headers.get("Location"), dict(response.headers)
            )
        if 'name="csrf"' in text:
            self.csrf = csrf_of(text)
        return reply

    async def post(
        self, path: str, data: dict[str, str] | None = None, *, csrf: bool = True
    ) -> Reply:
        form = dict(data or {})
        if csrf:
            form.setdefault("csrf", self.csrf)
        async with self.session.post(path, data=form, allow_redirects=False) as response:
            text = await response.text()
            return Reply(
                response.status, text, response.headers.get("Location"), dict(response.headers)
            )

    async def sign_in(
        self, username: str, *, password: str = PASSWORD, totp: str | None = None
    ) -> Reply:
        form_page = await self.get("/console/login")
        assert form_page.status == 200
        reply = await self.post(
            "/console/login",
            {
                "username": username,
                "password": password,
                "totp": totp or "",
                "next": "/console/",
            },
        )
        if reply.status == 303:
            await self.get("/console/")  # picks up the session's CSRF token
        return reply


async def signed_in(world: World, username: str, *, secret: str | None = None) -> Browser:
    """A browser signed in as ``username`` (with a fresh TOTP step when it has one)."""
    browser = Browser(world)
    code = None
    if secret is not None:
        world.clock.advance(timedelta(seconds=31))  # a time step not used before
        code = totp_code(world, secret)
    reply = await browser.sign_in(username, totp=code)
    assert reply.status == 303, reply.text
    return browser


async def add_admin(world: World, username: str = "root", agency: str = "police") -> str:
    secret = await world.add_staff(username, agency, Role.ADMIN, totp=True)
    assert secret is not None
    return secret


async def add_supervisor(world: World, username: str, agency: str) -> str:
    secret = await world.add_staff(username, agency, Role.SUPERVISOR, totp=True)
    assert secret is not None
    return secret
