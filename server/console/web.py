"""Console plumbing: who is signed in, CSRF on every form, HTML errors, strict headers.

Handlers call :func:`page` (signed-in staff, language, CSRF token) and, for POSTs,
:func:`submitted_form` (refuses a form whose CSRF token does not match the session's).
Domain errors become an HTML page with the right status, never a stack trace.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from aiohttp import web
from multidict import MultiDict, MultiDictProxy

from server.api.context import CALLER, SERVICES, SETTINGS, client_address
from server.console.fresh_sign_in import confirm_fresh_sign_in
from server.console.i18n import CONSOLE_LANGUAGES, LANGUAGE_NAMES, pick_language
from server.console.rendering import render
from server.console.sessions import COOKIE, ConsoleSessions, SignedIn, same_token
from server.domain.access import SUPERVISING_ROLES
from server.domain.audit import Actor
from server.domain.caseload import Caseload
from server.domain.free_text import check_free_text
from server.domain.models import Role
from server.errors import DomainError
from server.observability.requests import route_of

log = logging.getLogger(__name__)

PREFIX = "/console"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


@dataclass
class ConsoleServices:
    sessions: ConsoleSessions
    caseload: Caseload


CONSOLE = web.AppKey("console", ConsoleServices)


@dataclass
class Page:
    """Everything a console page needs to render for this request."""

    request: web.Request
    signed_in: SignedIn | None
    language: str
    csrf: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def staff(self) -> Any:
        assert self.signed_in is not None
        return self.signed_in.staff

    def render(self, template: str, status: int = 200, **context: Any) -> web.Response:
        staff = None if self.signed_in is None else self.signed_in.staff
        return render(
            self.language,
            template,
            status=status,
            staff=staff,
            csrf=self.csrf,
            language=self.language,
            languages=[(code, LANGUAGE_NAMES[code]) for code in CONSOLE_LANGUAGES],
            path=self.request.path,
            is_manager=staff is not None and staff.role in SUPERVISING_ROLES,
            is_admin=staff is not None and staff.role is Role.ADMIN,
            on_call_screen=self.signed_in is not None and self.signed_in.on_call_screen,
            notice=self.request.query.get("done"),
            **self.extra,
            **context,
        )


def console(request: web.Request) -> ConsoleServices:
    return request.app[CONSOLE]


def is_secure(request: web.Request) -> bool:
    """Served over TLS, directly or behind a trusted proxy that says so."""
    if request.secure:
        return True
    settings = request.app[SETTINGS]
    if settings.trust_forwarded_for and request.headers.get("X-Forwarded-Proto") == "https":
        return True
    return bool(settings.public_url and settings.public_url.startswith("https://"))


def set_cookie(
    response: web.StreamResponse,
    request: web.Request,
    name: str,
    value: str,
    *,
    max_age: int | None,
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=PREFIX,
        httponly=True,
        secure=is_secure(request),
        samesite="Strict",
    )


async def page(request: web.Request, *, signed_in: bool = True, touch: bool = True) -> Page:
    """The request's console context; redirects to sign-in when a session is needed.

    Raises:
        web.HTTPFound: not signed in (or the session expired).
    """
    resolved = await console(request).sessions.resolve(request.cookies.get(COOKIE), touch=touch)
    if signed_in and resolved is None:
        target = quote(request.path_qs if request.method == "GET" else PREFIX + "/", safe="")
        raise web.HTTPFound(f"{PREFIX}/login?next={target}")
    language = pick_language(
        None if resolved is None else resolved.session.language,
        request.headers.get("Accept-Language"),
    )
    csrf = resolved.session.csrf if resolved is not None else ""
    if resolved is not None:
        request[CALLER] = Actor.staff(resolved.staff.id)
    return Page(request, resolved, language, csrf)


async def submitted_form(
    request: web.Request, current: Page, *, is_action: bool = True
) -> MultiDictProxy[str]:
    """The POSTed form, after checking its CSRF token against the session's, and, on an
    on-call screen, the fresh sign-in every action needs (``is_action=False`` only for
    signing out and choosing the language).

    Every field but the passwords is checked for control and invisible formatting
    characters (:mod:`server.domain.free_text`); the text areas may hold line breaks.

    Raises:
        web.HTTPForbidden: missing or wrong CSRF token (nothing is changed).
        web.HTTPUnauthorized: an action on an on-call screen without a fresh sign-in.
        UnsafeText: a field holds a refused character (a 422 page naming the field).
    """
    form = await request.post()
    token = form.get("csrf")
    if not isinstance(token, str) or not current.csrf or not same_token(current.csrf, token):
        raise web.HTTPForbidden(reason="This form has expired or did not come from this console")
    fields = [(k, v) for k, v in form.items() if isinstance(v, str)]
    for name, value in fields:
        if name not in _VERBATIM_FIELDS:
            check_free_text(value, field=name, multiline=name in _MULTILINE_FIELDS)
    checked = MultiDictProxy(MultiDict(fields))
    if is_action and current.signed_in is not None:
        await confirm_fresh_sign_in(request, current.signed_in, checked)
    return checked


def back_to(path: str, done: str | None = None) -> web.HTTPSeeOther:
    """Redirect after a successful POST (so a reload does not post again)."""
    suffix = f"?done={quote(done)}" if done else ""
    return web.HTTPSeeOther(f"{path}{suffix}")


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: Form fields compared as typed (a password may be anything), never checked as text.
_VERBATIM_FIELDS = frozenset({"csrf", "password", "password_again"})
#: The console's text areas.
_MULTILINE_FIELDS = frozenset({"note", "notes", "nudge_text", "reason", "steps", "instructions"})


@web.middleware
async def console_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """For console paths: strict CSP, no caching, and errors as HTML pages."""
    if not request.path.startswith(PREFIX):
        return await handler(request)
    try:
        response = await handler(request)
    except web.HTTPException as error:
        if error.status < 400:
            error.headers["Content-Security-Policy"] = CSP
            raise
        response = await _error_page(request, error.status, error.reason)
    except DomainError as error:
        response = await _error_page(request, error.status, error.detail)
    except Exception:
        incident = secrets.token_hex(6)
        log.exception(
            "console error (incident %s) on %s %s", incident, request.method, route_of(request)
        )
        response = await _error_page(request, 500, f"Something went wrong (incident {incident}).")
    if not response.prepared:
        response.headers["Content-Security-Policy"] = CSP
        response.headers["Cache-Control"] = "no-store"
    return response


async def _error_page(request: web.Request, status: int, message: str) -> web.Response:
    try:
        current = await page(request, signed_in=False)
    except Exception:
        current = Page(request, None, "en", "")
    return current.render("error.html", status=status, status_code=status, message=message)


def address(request: web.Request) -> str:
    return client_address(request)


def services(request: web.Request) -> Any:
    return request.app[SERVICES]
