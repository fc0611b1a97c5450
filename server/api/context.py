"""What every handler needs: the caller, the body, the response encoder, typed keys."""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec
from aiohttp import web

from server.config import Settings
from server.domain.access import Principal
from server.domain.audit import Actor
from server.domain.models import Staff
from server.errors import Forbidden, NotFound, TooLarge, Unauthenticated
from server.services import Services

SERVICES = web.AppKey("services", Services)
SETTINGS = web.AppKey("settings", Settings)
JOBS = web.AppKey("jobs", object)  # scheduler.runner.BackgroundJobs, or None
#: Who the request was authenticated as (API device or console session), for auditing
#: the refusals it gets (server.api.refusals).
CALLER = web.RequestKey("caller", Actor)

M = TypeVar("M")
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_encoder = msgspec.json.Encoder()


def services(request: web.Request) -> Services:
    return request.app[SERVICES]


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def principal(request: web.Request) -> Principal:
    """The authenticated device and its owner.

    Raises:
        Unauthenticated: no or unknown bearer token.
        DeviceRevoked: the device has been revoked.
    """
    token = bearer_token(request)
    if token is None:
        raise Unauthenticated("Send the device credential as 'Authorization: Bearer …'")
    caller = await services(request).authenticator.authenticate(token)
    request[CALLER] = caller.actor
    return caller


async def staff_principal(request: web.Request) -> Principal:
    """The caller, who must be staff.

    Raises:
        Forbidden: the caller is a witness device.
    """
    caller = await principal(request)
    if caller.staff is None:
        raise Forbidden("This is for case staff")
    return caller


async def calling_staff(request: web.Request) -> Staff:
    """The staff member behind the caller's device: what a staff-only handler needs.

    Raises:
        Unauthenticated, DeviceRevoked: as :func:`principal`.
        Forbidden: the caller is a witness device.
    """
    caller = await staff_principal(request)
    assert caller.staff is not None  # staff_principal refuses everyone else
    return caller.staff


def client_address(request: web.Request) -> str:
    """The caller's network address, for rate limits; honours X-Forwarded-For only
    when the server is configured to sit behind a trusted reverse proxy."""
    if request.app[SETTINGS].trust_forwarded_for:
        forwarded = request.headers.get("X-Forwarded-For", "")
        if forwarded:
            return forwarded.split(",")[-1].strip()
    return request.remote or "unknown"


async def read_json(request: web.Request, model: type[M]) -> M:
    """Decode the JSON body into ``model``.

    Raises:
        web.HTTPUnsupportedMediaType: not application/json.
        msgspec.ValidationError / DecodeError: mapped to problems by the middleware
            (a body nested too deeply to decode is a ValidationError).
    """
    if request.content_type != "application/json":
        raise web.HTTPUnsupportedMediaType(reason="Send the body as application/json")
    limit = request.app[SETTINGS].json_max_bytes
    if request.content_length is not None and request.content_length > limit:
        raise TooLarge(f"JSON bodies are limited to {limit} bytes")
    body = await request.content.read(limit + 1)
    if len(body) > limit:
        raise TooLarge(f"JSON bodies are limited to {limit} bytes")
    try:
        return msgspec.json.decode(body, type=model)
    except RecursionError:
        # Arrays or objects nested about a thousand deep, where a model takes any JSON.
        raise msgspec.ValidationError("The body nests too deeply") from None


def looks_like_id(value: str) -> bool:
    """Whether ``value`` has the shape of a resource id (and so may be looked up)."""
    return _ID.match(value) is not None


def path_id(request: web.Request, name: str) -> str:
    """A resource id from the URL path; a value that cannot be an id is simply not
    found (and never reaches SQL with odd characters in it).

    Raises:
        NotFound: the value is not shaped like an id.
    """
    value = request.match_info[name]
    if not _ID.fullmatch(value):
        raise NotFound("No such resource")
    return value


def json_response(payload: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=_encoder.encode(payload), status=status, content_type="application/json"
    )


def consultation_reason(request: web.Request) -> str | None:
    """The reason for consulting a witness's data, sent as a header (not in the URL,
    so it stays out of access logs)."""
    reason = request.headers.get("X-Witnesslink-Reason")
    return reason.strip()[:500] if reason else None
