"""The API contract's vocabulary: what one HTTP operation declares.

The table itself is ``server.api.operations``. Each :class:`Operation` names its route
(method and aiohttp path template), who may call it (:class:`Auth`), its request body
model (the same msgspec model the handler passes to ``read_json``), its success
responses (models from ``server.api.responses``) and the problems it can answer with.
``server.api.openapi`` turns the table into the OpenAPI 3.1 document served at
``GET /openapi.json``; ``tests/contract`` checks that every route the application
registers has an entry (a new route fails until it is described) and runs schemathesis
against a live server to hold the server to it.

The staff console (``/console/...``) is not part of this contract: it is server-
rendered HTML with forms, sessions and CSRF tokens, not an API for other programs.
Its exclusion is the explicit :data:`EXCLUDED_PREFIXES`, checked by the same test.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: Route prefixes deliberately left out of the document (the HTML staff console).
EXCLUDED_PREFIXES = ("/console/",)


class Auth(enum.StrEnum):
    """How a caller proves who it is."""

    NONE = "none"
    #: The bearer device credential of a witness phone or a staff client.
    DEVICE = "device"
    #: The bearer device credential of a staff client (a witness device gets 403).
    STAFF = "staff"
    #: A witness phone's unlock credential (the device token is inside the locked store).
    UNLOCK = "unlock"
    #: A valid ``X-Twilio-Signature`` over the public URL Twilio called.
    TWILIO = "twilio"


@dataclass(frozen=True)
class Reply:
    """One documented response: a model, or a raw schema for non-JSON bodies."""

    description: str
    model: type | None = None
    media: str | None = "application/json"
    schema: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Query:
    """One query-string parameter."""

    name: str
    description: str
    schema: Mapping[str, Any]


@dataclass(frozen=True)
class Operation:
    """One HTTP operation of the contract."""

    method: str
    path: str
    summary: str
    auth: Auth
    replies: Mapping[int, Reply]
    body: type | None = None
    #: A non-JSON request body: (media type, schema).
    raw_body: tuple[str, Mapping[str, Any]] | None = None
    query: tuple[Query, ...] = ()
    headers: tuple[Query, ...] = ()
    #: Problem statuses beyond those implied by the auth, body and path parameters.
    problems: frozenset[int] = field(default_factory=frozenset)

    @property
    def key(self) -> tuple[str, str]:
        return (self.method, self.path)


def ok(model: type, description: str = "Done") -> Mapping[int, Reply]:
    return {200: Reply(description, model)}


def created(model: type, description: str = "Created") -> Mapping[int, Reply]:
    return {201: Reply(description, model)}


def is_excluded(path: str) -> bool:
    """Whether a route is deliberately outside the contract (see :data:`EXCLUDED_PREFIXES`)."""
    return path.startswith(EXCLUDED_PREFIXES)
