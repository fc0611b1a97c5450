"""``GET /openapi.json``: the API contract of the routes this application serves."""

from __future__ import annotations

import functools

import msgspec
from aiohttp import web

from server.api.contract import is_excluded
from server.api.openapi import openapi_document

routes = web.RouteTableDef()


def served_routes(app: web.Application) -> set[tuple[str, str]]:
    """Every (method, path template) the application answers, HEAD aside (aiohttp adds
    it to each GET) and the console aside (outside the contract by design)."""
    served = set()
    for route in app.router.routes():
        resource = route.resource
        if resource is None or route.method == "HEAD" or is_excluded(resource.canonical):
            continue
        served.add((route.method, resource.canonical))
    return served


@functools.cache
def encoded_document(served: frozenset[tuple[str, str]]) -> bytes:
    """The document, built once per set of routes: building it takes tens of
    milliseconds of CPU, too much to spend on every anonymous request."""
    return msgspec.json.encode(openapi_document(served))


@routes.get("/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    body = encoded_document(frozenset(served_routes(request.app)))
    return web.Response(body=body, content_type="application/json")
