"""Per-request context: a request id, the matched route's template, timing.

Every request gets an id: the caller's ``X-Request-Id`` when it is a short, plain token
(a reverse proxy's id lets its log be joined with ours), otherwise a fresh one. The id
is returned in the response's ``X-Request-Id`` header, stored on the request for the
access log, and held in a context variable while the handler runs so that every log
line written meanwhile carries it. The route's *template* (``/v1/cases/{case_id}``) is
what logs and metrics name, never the path itself: paths carry ids and, for the
calendar feed, a secret.
"""

from __future__ import annotations

import asyncio
import contextvars
import re
import secrets
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware
from aiohttp.web_request import BaseRequest

REQUEST_ID_HEADER = "X-Request-Id"
#: Accepted incoming ids: letters, digits, ``-``, ``_``, ``.``, 8 to 64 of them (UUIDs,
#: nginx's ``$request_id``, Heroku-style ids); anything else is replaced.
REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9._-]{8,64}")
#: Recorded for a request whose handler was cancelled (the client went away), as
#: nginx records it; not a server error.
CLIENT_CLOSED = 499
#: Shown where a request never matched a route (unknown path, unparseable request).
NO_ROUTE = "(no route)"

#: The id of the request being handled, for log lines written while handling it.
current_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "witnesslink_request_id", default=None
)

# Keys on the request itself (a MutableMapping), read by the access log after the
# handler has returned and the context variable has been reset.
REQUEST_ID_KEY = web.RequestKey("request_id", str)
ROUTE_KEY = web.RequestKey("route", str)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
#: Called once per handled request with (method, route template, status, seconds).
RequestObserver = Callable[[str, str, int, float], None]


def new_request_id() -> str:
    return secrets.token_hex(12)


def accepted_request_id(incoming: str | None) -> str:
    """The caller's id if it is plainly shaped, else a fresh one."""
    if incoming is not None and REQUEST_ID_PATTERN.fullmatch(incoming):
        return incoming
    return new_request_id()


def request_id_of(request: BaseRequest) -> str | None:
    return request.get(REQUEST_ID_KEY)


def route_of(request: BaseRequest) -> str:
    """The route template recorded for ``request``, or :data:`NO_ROUTE`. Safe for any
    request, including one aiohttp rejected before routing (no match info at all)."""
    route: str | None = request.get(ROUTE_KEY)
    return NO_ROUTE if route is None else route


def _template(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return NO_ROUTE if resource is None else resource.canonical


def request_context_middleware(observe: RequestObserver | None) -> Middleware:
    """The outermost middleware: assigns the id, records the route template, times the
    request and hands (method, route, status, seconds) to ``observe`` (metrics)."""

    @web.middleware
    async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
        request_id = accepted_request_id(request.headers.get(REQUEST_ID_HEADER))
        request[REQUEST_ID_KEY] = request_id
        route = _template(request)
        request[ROUTE_KEY] = route
        token = current_request_id.set(request_id)
        started = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as error:  # redirects and anything not made a problem
            status = error.status
            raise
        except asyncio.CancelledError:
            status = CLIENT_CLOSED
            raise
        finally:
            current_request_id.reset(token)
            if observe is not None:
                observe(request.method, route, status, time.perf_counter() - started)

    return request_context


async def add_request_id_header(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: every response, WebSocket upgrades and errors raised
    before any handler included, carries the request's id."""
    request_id = request_id_of(request)
    if request_id is not None:
        response.headers[REQUEST_ID_HEADER] = request_id
