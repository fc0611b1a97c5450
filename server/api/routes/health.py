"""Liveness and readiness."""

from __future__ import annotations

from aiohttp import web

from server.api.context import JOBS, json_response, services
from server.api.responses import HealthOut

routes = web.RouteTableDef()


@routes.get("/healthz")
async def health(request: web.Request) -> web.Response:
    """200 when the database answers and every background sweep is running; 503 when
    a sweep has fallen silent (nothing would fire: someone must look)."""
    svc = services(request)
    async with svc.store.read() as uow:
        await uow.agencies.get("-")
    jobs = request.app.get(JOBS)
    scheduler = None if jobs is None else jobs.watchdog.report()  # type: ignore[attr-defined]
    healthy = scheduler is None or scheduler["healthy"]
    body = HealthOut(status="ok" if healthy else "unhealthy", scheduler=scheduler)
    return json_response(body, status=200 if healthy else 503)
