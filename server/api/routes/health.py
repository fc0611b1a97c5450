"""Liveness and readiness."""

from __future__ import annotations

from aiohttp import web

from server.api.context import json_response, services

routes = web.RouteTableDef()


@routes.get("/healthz")
async def health(request: web.Request) -> web.Response:
    svc = services(request)
    async with svc.store.read() as uow:
        await uow.agencies.get("-")
    return json_response({"status": "ok"})
