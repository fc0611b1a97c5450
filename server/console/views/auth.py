"""Sign in (password, and TOTP where the account has it), sign out, language."""

from __future__ import annotations

import secrets
from typing import Any

from aiohttp import web

from server.console.i18n import CONSOLE_LANGUAGES
from server.console.sessions import (
    COOKIE,
    DESK,
    KNOWN_CLIENT_COOKIE,
    KNOWN_CLIENT_MAX_AGE_S,
    LOGIN_CSRF_COOKIE,
    SHIFT,
    same_token,
)
from server.console.web import (
    PREFIX,
    address,
    back_to,
    console,
    page,
    services,
    set_cookie,
    submitted_form,
)
from server.errors import LoginFailed, RateLimited, TotpRequired

routes = web.RouteTableDef()


def _safe_next(target: str | None) -> str:
    """Only ever redirect within the console (no open redirect)."""
    if target and target.startswith(PREFIX + "/") and "//" not in target and "\\" not in target:
        return target
    return PREFIX + "/"


def _session_terms(request: web.Request) -> dict[str, Any]:
    """What the sign-in page says about how sessions end: the idle time, the shift
    length, and why the last session ended (``?ended=idle|expiry|other``, from the page that
    was signed out)."""
    sessions = console(request).sessions
    ended = request.query.get("ended")
    hours = sessions.shift.total_seconds() / 3600
    return {
        "idle_minutes": int(sessions.idle.total_seconds() // 60),
        "shift_hours": int(hours) if hours.is_integer() else round(hours, 1),
        "ended": ended if ended in ("idle", "expiry", "other") else None,
    }


@routes.get(PREFIX + "/login")
async def login_form(request: web.Request) -> web.StreamResponse:
    current = await page(request, signed_in=False)
    if current.signed_in is not None:
        raise web.HTTPSeeOther(PREFIX + "/")
    token = secrets.token_urlsafe(24)
    current.csrf = token
    response = current.render(
        "login.html",
        next=_safe_next(request.query.get("next")),
        error=None,
        username="",
        need_totp=False,
        mode=SHIFT if request.query.get("mode") == SHIFT else DESK,
        **_session_terms(request),
    )
    set_cookie(response, request, LOGIN_CSRF_COOKIE, token, max_age=3600)
    return response


@routes.post(PREFIX + "/login")
async def login(request: web.Request) -> web.StreamResponse:
    current = await page(request, signed_in=False)
    form = await request.post()
    token = form.get("csrf")
    expected = request.cookies.get(LOGIN_CSRF_COOKIE)
    if not isinstance(token, str) or not expected or not same_token(expected, token):
        raise web.HTTPForbidden(reason="This form has expired; reload the page")
    username = str(form.get("username", "")).strip()[:64]
    password = str(form.get("password", ""))[:1024]
    totp = str(form.get("totp", "")).strip()[:10] or None
    target = _safe_next(str(form.get("next", "")))
    current.csrf = expected
    error = None
    need_totp = False
    accounts = services(request).accounts
    try:
        staff = await accounts.check_credentials(
            username, password, totp, address(request), request.cookies.get(KNOWN_CLIENT_COOKIE)
        )
    except TotpRequired:
        error, need_totp = "totp", True
    except LoginFailed:
        error = "failed"
    except RateLimited:
        error = "rate"
    if error is not None:
        status = 429 if error == "rate" else 401
        return current.render(
            "login.html",
            status=status,
            next=target,
            error=error,
            username=username,
            need_totp=need_totp or bool(totp),
            mode=SHIFT if form.get("mode") == SHIFT else DESK,
            **_session_terms(request),
        )
    mode = SHIFT if form.get("mode") == SHIFT else DESK
    sessions = console(request).sessions
    cookie, _session = await sessions.start(staff, current.language, mode=mode)
    response = web.HTTPSeeOther(target)
    set_cookie(
        response,
        request,
        COOKIE,
        cookie,
        max_age=int(sessions.lifetime(mode).total_seconds()),
    )
    set_cookie(
        response,
        request,
        KNOWN_CLIENT_COOKIE,
        accounts.known_client_proof(staff),
        max_age=KNOWN_CLIENT_MAX_AGE_S,
    )
    response.del_cookie(LOGIN_CSRF_COOKIE, path=PREFIX)
    raise response


@routes.post(PREFIX + "/logout")
async def logout(request: web.Request) -> web.StreamResponse:
    current = await page(request)
    await submitted_form(request, current, is_action=False)
    assert current.signed_in is not None
    await console(request).sessions.end(current.signed_in)
    response = web.HTTPSeeOther(PREFIX + "/login")
    response.del_cookie(COOKIE, path=PREFIX)
    raise response


@routes.post(PREFIX + "/language")
async def language(request: web.Request) -> web.StreamResponse:
    current = await page(request)
    form = await submitted_form(request, current, is_action=False)
    chosen = form.get("language", "en")
    assert current.signed_in is not None
    if chosen in CONSOLE_LANGUAGES:
        await console(request).sessions.set_language(current.signed_in, chosen)
    raise back_to(_safe_next(form.get("next")))
