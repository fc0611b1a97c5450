"""``GET /openapi.json``: the API contract of the routes this application serves."""

from __future__ import annotations

from aiohttp import web

from server.api.context import json_response
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


@routes.get("/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    return json_response(openapi_document(served_routes(request.app)))
