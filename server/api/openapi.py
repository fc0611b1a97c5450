"""The OpenAPI 3.1 document, generated from the contract table and the typed models.

Schemas come from ``msgspec.json.schema_components`` over the very models the handlers
decode requests into (``server.api.models``, ``server.api.vault_models``) and the
response models (``server.api.responses``), so the document cannot describe a field
the server does not read or write. Only routes the application actually registers are
described (the document tells what this server serves); the contract test makes sure
none of them is missing from the table.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import msgspec

from server.api.contract import Auth, Operation, Reply
from server.api.operations import OPERATIONS
from server.api.responses import Problem

REF_TEMPLATE = "#/components/schemas/{name}"
PROBLEM_MEDIA = "application/problem+json"
_PATH_PARAMETER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")

_SECURITY_SCHEMES: dict[str, Any] = {
    "deviceToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "The device credential a login or an enrolment returned",
    },
    "unlockCredential": {
        "type": "http",
        "scheme": "bearer",
        "description": "A witness phone's unlock credential (from /v1/vault/setup)",
    },
    "twilioSignature": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Twilio-Signature",
        "description": "Twilio's signature over the public URL it called and the form",
    },
}
_SECURITY: dict[Auth, list[dict[str, list[str]]]] = {
    Auth.NONE: [],
    Auth.DEVICE: [{"deviceToken": []}],
    Auth.STAFF: [{"deviceToken": []}],
    Auth.UNLOCK: [{"unlockCredential": []}],
    Auth.TWILIO: [{"twilioSignature": []}],
}
_PROBLEM_TITLES = {
    400: "Malformed request",
    401: "No valid credential",
    403: "Not allowed",
    404: "No such resource (or not visible to the caller)",
    409: "Conflicts with the current state",
    410: "Gone",
    413: "Too large",
    415: "Unsupported media type",
    422: "Invalid input",
    428: "A consultation reason is required",
    429: "Too many attempts; see Retry-After",
    503: "Unavailable",
}


def problem_statuses(operation: Operation) -> set[int]:
    """Which problems an operation can answer with: what its credential, body and path
    parameters imply, plus what its table entry adds."""
    statuses = set(operation.problems)
    if operation.auth in (Auth.DEVICE, Auth.STAFF, Auth.UNLOCK):
        # The domain checks visibility (403/404) and input beyond the model (422).
        statuses |= {401, 403, 404, 422}
        if operation.method != "GET":
            statuses.add(409)
    if operation.body is not None:
        statuses |= {400, 413, 415, 422}
    if _PATH_PARAMETER.search(operation.path):
        statuses.add(404)
    return statuses


def _reply(reply: Reply) -> dict[str, Any]:
    described: dict[str, Any] = {"description": reply.description}
    if reply.media is None:
        return described
    schema: dict[str, Any]
    if reply.model is not None:
        schema = {"$ref": REF_TEMPLATE.format(name=reply.model.__name__)}
    else:
        schema = dict(reply.schema or {})
    described["content"] = {reply.media: {"schema": schema}}
    return described


def _parameters(operation: Operation) -> list[dict[str, Any]]:
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _PATH_PARAMETER.findall(operation.path)
    ]
    for where, items in (("query", operation.query), ("header", operation.headers)):
        parameters += [
            {
                "name": item.name,
                "in": where,
                "required": False,
                "description": item.description,
                "schema": dict(item.schema),
            }
            for item in items
        ]
    return parameters


def _operation(operation: Operation) -> dict[str, Any]:
    responses = {str(status): _reply(reply) for status, reply in operation.replies.items()}
    problem = {"$ref": "#/components/responses/Problem"}
    for status in sorted(problem_statuses(operation)):
        responses.setdefault(str(status), problem)
    described: dict[str, Any] = {
        "operationId": _operation_id(operation),
        "summary": operation.summary,
        "security": _SECURITY[operation.auth],
        "responses": responses,
    }
    parameters = _parameters(operation)
    if parameters:
        described["parameters"] = parameters
    if operation.body is not None:
        ref = {"$ref": REF_TEMPLATE.format(name=operation.body.__name__)}
        described["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": ref}},
        }
    elif operation.raw_body is not None:
        media, schema = operation.raw_body
        described["requestBody"] = {"required": True, "content": {media: {"schema": dict(schema)}}}
    return described


def _operation_id(operation: Operation) -> str:
    words = re.sub(r"[^A-Za-z0-9]+", "_", operation.path).strip("_") or "root"
    return f"{operation.method.lower()}_{words}"


def _schemas(operations: Iterable[Operation]) -> dict[str, Any]:
    models: list[type] = [Problem]
    for operation in operations:
        if operation.body is not None:
            models.append(operation.body)
        models += [reply.model for reply in operation.replies.values() if reply.model is not None]
    unique = list(dict.fromkeys(models))
    _, components = msgspec.json.schema_components(unique, ref_template=REF_TEMPLATE)
    return components


def openapi_document(served: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """The OpenAPI 3.1 document for the (method, path template) routes ``served``.

    Routes without a contract entry are left out here; the contract test fails on them.
    """
    wanted = set(served)
    operations = [operation for operation in OPERATIONS if operation.key in wanted]
    paths: dict[str, dict[str, Any]] = {}
    for operation in operations:
        paths.setdefault(operation.path, {})[operation.method.lower()] = _operation(operation)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "witnesslink",
            "version": "1",
            "description": (
                "The HTTP API of a witnesslink server. Errors are RFC 9457 problems. "
                "The staff console (/console/) is HTML and not described here."
            ),
        },
        "paths": paths,
        "components": {
            "schemas": _schemas(operations),
            "securitySchemes": _SECURITY_SCHEMES,
            "responses": {
                "Problem": {
                    "description": "An RFC 9457 problem: "
                    + "; ".join(f"{s} {t}" for s, t in _PROBLEM_TITLES.items()),
                    "content": {
                        PROBLEM_MEDIA: {"schema": {"$ref": REF_TEMPLATE.format(name="Problem")}}
                    },
                }
            },
        },
    }
