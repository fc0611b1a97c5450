"""RFC 9457 problem responses, produced in one place.

Domain errors carry a stable code and a safe message; aiohttp's own HTTP errors (404,
405, 413...) are rewritten into the same shape; anything unexpected becomes a bare 500
with an incident id that is logged — never a stack trace or an exception text.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from aiohttp import web

from server.errors import DomainError
from server.observability.requests import route_of

log = logging.getLogger("witnesslink.api")

PROBLEM_TYPE_BASE = "urn:witnesslink:problem:"
_encoder = msgspec.json.Encoder()

_HTTP_CODES = {
    400: "bad-request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    406: "not-acceptable",
    411: "length-required",
    413: "too-large",
    415: "unsupported-media-type",
    429: "rate-limited",
}


def problem(
    status: int,
    code: str,
    title: str,
    detail: str | None = None,
    *,
    extra_headers: dict[str, str] | None = None,
    **extensions: Any,
) -> web.Response:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + code,
        "title": title,
        "status": status,
        "code": code,
    }
    if detail and detail != title:
        body["detail"] = detail
    body.update(extensions)
    headers = dict(extra_headers or {})
    if "retry_after" in extensions:
        headers["Retry-After"] = str(extensions["retry_after"])
    if status == 401:
        headers.setdefault("WWW-Authenticate", 'Bearer realm="witnesslink"')
    return web.Response(
        status=status,
        body=_encoder.encode(body),
        content_type="application/problem+json",
        headers=headers,
    )


def from_domain_error(error: DomainError) -> web.Response:
    return problem(error.status, error.code, error.title, error.detail, **dict(error.extensions))


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def problem_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except DomainError as error:
        return from_domain_error(error)
    except msgspec.ValidationError as error:
        return problem(422, "invalid-body", "The request body is not valid", str(error))
    except msgspec.DecodeError:
        return problem(400, "malformed-json", "The request body is not valid JSON")
    except web.HTTPException as error:
        if error.status < 400:
            raise
        code = _HTTP_CODES.get(error.status, "http-error")
        kept = {k: v for k, v in error.headers.items() if k.lower() in ("allow", "retry-after")}
        return problem(error.status, code, error.reason, extra_headers=kept)
    except Exception:
        incident = secrets.token_hex(6)
        # The route's template, not the path: a path can carry ids or a secret.
        log.exception(
            "unhandled error (incident %s) on %s %s", incident, request.method, route_of(request)
        )
        return problem(
            500,
            "internal-error",
            "Something went wrong on the server",
            "The error was logged; quote the incident id when reporting it",
            incident=incident,
        )
