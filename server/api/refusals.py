"""Every refused request for case data by an authenticated caller is audited.

Services audit the refusals they decide (``access.denied`` with what was attempted);
this middleware covers every other one: a 403 or 404 raised as a domain error to an
authenticated caller (API device or console session) on a route whose path names case
data (a case, witness, alert, appointment, attachment, message or check-in). The entry
records the route template (never the ids in the path: a made-up id must not reach the
log) and the case when the path names one that exists. Bursts are audited once (see
:mod:`server.domain.denials`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final

from aiohttp import web

from server.api.context import CALLER, looks_like_id, services
from server.domain.denials import audit_denied, refusal_audited, request_scope
from server.errors import Forbidden, NotFound

__all__ = ["CASE_DATA_PARAMETERS", "audit_refusals"]

#: Path parameters that name case data.
CASE_DATA_PARAMETERS: Final = frozenset(
    {
        "case_id",
        "witness_id",
        "alert_id",
        "appointment_id",
        "attachment_id",
        "message_id",
        "checkin_id",
    }
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def audit_refusals(request: web.Request, handler: Handler) -> web.StreamResponse:
    with request_scope(f"{request.method} {request.path}"):
        try:
            return await handler(request)
        except (Forbidden, NotFound):
            await _audit(request)
            raise


async def _audit(request: web.Request) -> None:
    actor = request.get(CALLER)
    if actor is None or refusal_audited():
        return
    # Only values that can be ids: anything else names nothing and must never reach SQL
    # (a NUL in a path is an error on PostgreSQL).
    named = {
        k: v
        for k, v in request.match_info.items()
        if k in CASE_DATA_PARAMETERS and looks_like_id(v)
    }
    if not named:
        return
    resource = request.match_info.route.resource
    template = request.path if resource is None else resource.canonical
    svc = services(request)
    await audit_denied(
        svc.store,
        svc.audit,
        actor,
        named.get("case_id"),
        f"{request.method} {template}",
        target=",".join(f"{k}={v}" for k, v in sorted(named.items())),
    )
