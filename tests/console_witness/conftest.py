"""Fixtures for the witness page, driven over plain HTTP like a browser would.

``console`` signs a staff member in through the real sign-in form (reading the form's
CSRF field first) and returns a :class:`ConsoleUser` holding the session cookie and the
session's CSRF token.
"""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from server.domain.models import AuditEntry
from tests.support.world import PASSWORD, World

CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_in(page: str) -> str:
    match = CSRF_FIELD.search(page)
    assert match is not None, "no CSRF field on the page"
    return html.unescape(match.group(1))


@dataclass
class Answer:
    status: int
    text: str
    url: str


@dataclass
class ConsoleUser:
    """One signed-in browser session."""

    world: World
    http: aiohttp.ClientSession
    csrf: str

    def case_page(self, case_id: str) -> str:
        return f"/console/cases/{case_id}"

    async def get(self, path: str) -> Answer:
        async with self.http.get(self.world.url + path) as response:
            return Answer(response.status, await response.text(), str(response.url))

    async def post(
        self,
        path: str,
        data: dict[str, Any] | list[tuple[str, str]] | None = None,
        *,
        csrf: str | None = "session",
    ) -> Answer:
        """POST a form; ``csrf`` is the session's token unless given (None: left out)."""
        fields: list[tuple[str, str]] = list(
            data.items() if isinstance(data, dict) else (data or [])
        )
        if csrf is not None:
            fields.append(("csrf", self.csrf if csrf == "session" else csrf))
        async with self.http.post(self.world.url + path, data=fields) as response:
            return Answer(response.status, await response.text(), str(response.url))

    async def close(self) -> None:
        await self.http.close()


SignIn = Callable[[str], Awaitable[ConsoleUser]]


async def sign_in(world: World, username: str) -> ConsoleUser:
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with http.get(world.url + "/console/login") as response:
        assert response.status == 200
        token = csrf_in(await response.text())
    form = {"csrf": token, "next": "/console/", "username": username, "password": PASSWORD}
    async with http.post(world.url + "/console/login", data=form) as response:
        page = await response.text()
        assert response.status == 200, page
        assert str(response.url).endswith("/console/")
    return ConsoleUser(world, http, csrf_in(page))


@pytest.fixture
async def console(world: World) -> AsyncIterator[SignIn]:
    users: list[ConsoleUser] = []

    async def signed_in(username: str) -> ConsoleUser:
        user = await sign_in(world, username)
        users.append(user)
        return user

    yield signed_in
    for user in users:
        await user.close()


async def audit_entries(
    world: World, *, action: str | None = None, case_id: str | None = None
) -> list[AuditEntry]:
    """Audit entries, newest first."""
    async with world.services.store.read() as uow:
        entries: list[AuditEntry] = await uow.audit.query(
            action=action, case_id=case_id, limit=1000
        )
    return entries
