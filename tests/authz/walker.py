"""Makes each cell's request in the seeded world and reports the status it got.

The caller's credentials depend on the kind of route (see the legend in ``matrix.py``):
a device's bearer token on the API, a console session cookie (and its CSRF token in
forms) on ``/console`` for staff, nothing for ``AN``, a just-expired session for ``XS``.
Redirects are not followed: a 302 to the sign-in page is the console's refusal.
"""

from __future__ import annotations

import secrets
from typing import Any

import aiohttp

from server.console.sessions import COOKIE
from tests.authz.matrix import NO_SURFACE, Actor, Row
from tests.authz.recipes import RECIPES, Recipe, fill
from tests.authz.world import STAFF_USERNAMES, AuthzWorld

CONSOLE_PREFIX = "/console"
UNLOCK_PREFIX = "/v1/vault/unlock/"


def is_console(route: str) -> bool:
    return route == CONSOLE_PREFIX or route.startswith(CONSOLE_PREFIX + "/")


async def credentials(
    aw: AuthzWorld, actor: Actor, route: str
) -> tuple[dict[str, str], str | None]:
    """The headers ``actor`` sends on ``route``, and the CSRF token its forms carry."""
    if actor is Actor.ANONYMOUS:
        return {}, None
    if actor is Actor.EXPIRED_SESSION:
        cookie, csrf = await aw.expired_session()
        return {"Cookie": f"{COOKIE}={cookie}"}, csrf
    if route.startswith(UNLOCK_PREFIX) and actor in aw.unlock_tokens:
        return {"Authorization": f"Bearer {aw.unlock_tokens[actor]}"}, None
    if is_console(route) and actor in STAFF_USERNAMES:
        cookie, csrf = await aw.console_session(actor)
        return {"Cookie": f"{COOKIE}={cookie}"}, csrf
    return {"Authorization": f"Bearer {aw.tokens[actor]}"}, None


async def call(http: aiohttp.ClientSession, aw: AuthzWorld, row: Row, actor: Actor) -> str:
    """The status ``actor`` gets on ``row``'s route, or ``-`` when it has no way to ask."""
    if actor is Actor.OPERATOR:
        return NO_SURFACE
    recipe: Recipe = RECIPES[(row.method, row.route)]
    ids = dict(aw.ids)
    ids["unique"] = secrets.token_hex(6)
    ids["message_id"] = f"m{ids['unique']}"
    # Someone else in case A's conversation: the officer for the witness, else the witness.
    ids["peer_device"] = ids["officer_device" if actor is Actor.WITNESS else "witness_device"]
    ids["own_message_id"] = aw.sent_messages.get(actor, "m-never-sent")
    if recipe.fresh is not None:
        ids |= await recipe.fresh(aw)
    for parameter, source in recipe.bind.items():
        ids[parameter] = ids[source]
    path = recipe.path or fill(row.route, ids)
    headers, csrf = await credentials(aw, actor, row.route)
    headers |= recipe.headers
    if recipe.cookies:
        extra = "; ".join(f"{name}={fill(value, ids)}" for name, value in recipe.cookies.items())
        headers["Cookie"] = f"{headers['Cookie']}; {extra}" if "Cookie" in headers else extra
    options: dict[str, Any] = {"headers": headers, "allow_redirects": False}
    if recipe.query:
        options["params"] = fill(recipe.query, ids)
    if recipe.make_json is not None:
        options["json"] = await recipe.make_json(aw)
    elif recipe.json is not None:
        options["json"] = fill(recipe.json, ids)
    elif recipe.form is not None:
        form = fill(recipe.form, ids)
        if csrf is not None:
            # The sign-in form carries its own token, not the session's.
            form.setdefault("csrf", csrf)
        options["data"] = form
    elif recipe.data is not None:
        options["data"] = recipe.data
    if recipe.websocket:
        return await upgrade(http, aw.url + path, headers)
    async with http.request(row.method, aw.url + path, **options) as response:
        if recipe.stream:
            response.close()
        else:
            await response.read()
        return str(response.status)


async def upgrade(http: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> str:
    """The status of a WebSocket upgrade: 101 when accepted (the socket is closed at
    once), else the refusal's status."""
    try:
        socket = await http.ws_connect(url, headers=headers)
    except aiohttp.WSServerHandshakeError as refused:
        return str(refused.status)
    await socket.close()
    return "101"


async def walk(aw: AuthzWorld, rows: list[Row]) -> dict[tuple[str, str], dict[Actor, str]]:
    """Every cell of ``rows``; rows whose recipe is ``last`` after all the others."""
    ordered = sorted(rows, key=lambda row: RECIPES[(row.method, row.route)].last)
    results: dict[tuple[str, str], dict[Actor, str]] = {}
    async with aiohttp.ClientSession(
        cookie_jar=aiohttp.DummyCookieJar(), timeout=aiohttp.ClientTimeout(total=20)
    ) as http:
        for row in ordered:
            results[(row.method, row.route)] = {
                actor: await call(http, aw, row, actor) for actor in row.expected
            }
    return results
