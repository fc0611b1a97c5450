"""The OpenAPI document describes exactly the routes the application serves.

A route added without a contract entry fails here, which is the point: the document
and the schemathesis run only know what the table in ``server.api.operations`` says.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from openapi_spec_validator import validate

from server.api.contract import EXCLUDED_PREFIXES
from server.api.operations import OPERATIONS, operations_by_route
from server.api.routes.openapi import served_routes
from server.app import build_app
from server.config import Settings
from tests.support.world import World


def application(tmp_path: Path) -> web.Application:
    return build_app(Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path}/db"))


async def fetch_document(world: World) -> dict[str, Any]:
    """``GET /openapi.json`` from the running server, checked to be a JSON 200."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(world.url + "/openapi.json") as response,
    ):
        assert response.status == 200
        assert response.content_type == "application/json"
        document: dict[str, Any] = await response.json()
    return document


def test_every_route_the_application_serves_is_in_the_contract(tmp_path: Path) -> None:
    undescribed = served_routes(application(tmp_path)) - operations_by_route().keys()
    assert undescribed == set(), f"describe these in server/api/operations.py: {undescribed}"


def test_the_contract_describes_no_route_the_application_lacks(tmp_path: Path) -> None:
    missing = operations_by_route().keys() - served_routes(application(tmp_path))
    assert missing == set(), f"described but not served: {missing}"


def test_the_contract_has_one_entry_per_operation() -> None:
    assert len(operations_by_route()) == len(OPERATIONS)


def test_only_the_html_console_is_left_out_of_the_contract(tmp_path: Path) -> None:
    app = application(tmp_path)
    left_out = {
        route.resource.canonical
        for route in app.router.routes()
        if route.resource is not None and route.method != "HEAD"
    } - {path for _, path in served_routes(app)}
    assert left_out, "the console routes should be registered and left out"
    assert all(path.startswith(EXCLUDED_PREFIXES) for path in left_out)
    assert EXCLUDED_PREFIXES == ("/console/",)


async def test_the_served_document_is_valid_openapi_3_1_of_the_served_routes(
    world: World,
) -> None:
    document = await fetch_document(world)
    validate(document)
    assert document["openapi"].startswith("3.1")
    described = {
        (method.upper(), path) for path, item in document["paths"].items() for method in item
    }
    assert described == served_routes(world.app)
    assert not any(path.startswith("/console/") for path in document["paths"])


async def test_request_bodies_are_the_models_the_handlers_decode(world: World) -> None:
    document = await fetch_document(world)
    login = document["paths"]["/v1/auth/login"]["post"]
    schema_ref = login["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    login_in = document["components"]["schemas"][schema_ref.rsplit("/", 1)[1]]
    # The real model's constraints, not a hand-written copy: unknown fields rejected,
    # the username pattern, the nested device model.
    assert login_in["additionalProperties"] is False
    assert set(login_in["required"]) == {"username", "password", "device"}
    assert login_in["properties"]["username"]["pattern"] == r"^[A-Za-z0-9._-]+\Z"
    assert login["security"] == []
    cases = document["paths"]["/v1/cases"]["get"]
    assert cases["security"] == [{"deviceToken": []}]
    problem = cases["responses"]["401"]["$ref"]
    assert problem == "#/components/responses/Problem"
    media = document["components"]["responses"]["Problem"]["content"]
    assert list(media) == ["application/problem+json"]


async def test_response_bodies_are_the_models_the_presenters_build(world: World) -> None:
    document = await fetch_document(world)
    schemas = document["components"]["schemas"]
    me = document["paths"]["/v1/me"]["get"]["responses"]["200"]["content"]["application/json"]
    me_out = schemas[me["schema"]["$ref"].rsplit("/", 1)[1]]
    # Strict: a presenter that sends a field its model lacks breaks the contract.
    assert me_out["additionalProperties"] is False
    device = schemas[me_out["properties"]["device"]["$ref"].rsplit("/", 1)[1]]
    assert device["properties"]["created_at"] == {"type": "string", "format": "date-time"}
    assert schemas["OwnerKind"]["enum"] == ["staff", "witness"]
