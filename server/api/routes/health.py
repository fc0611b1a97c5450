"""Liveness and readiness, for a process supervisor and a load balancer.

``/livez`` answers while the process can serve HTTP at all (no database call: a
database outage must not get every instance restarted). ``/readyz`` answers 200 only
when this instance can do its work: the database answers and accepts writes (not
full), every migration this code knows is applied, and the scheduler runs if this
instance is meant to run it; otherwise 503 with a problem body naming the failed checks.
``/healthz`` is the older combined check with the watchdog's per-job report, kept for
existing monitors; it also turns 503 while the storage is full.
"""

from __future__ import annotations

import logging

from aiohttp import web

from server.api.context import JOBS, SETTINGS, json_response, services
from server.api.problems import problem
from server.api.responses import HealthOut, LiveOut, ReadyOut
from server.storage.operational import pending_migrations

routes = web.RouteTableDef()
log = logging.getLogger("witnesslink.health")


@routes.get("/healthz")
async def health(request: web.Request) -> web.Response:
    """200 when the database answers and every background sweep is running; 503 when
    a sweep has fallen silent (nothing would fire: someone must look) or the database
    refuses writes for lack of space (``storage: "full"``)."""
    svc = services(request)
    async with svc.store.read() as uow:
        await uow.agencies.get("-")
    jobs = request.app.get(JOBS)
    scheduler = None if jobs is None else jobs.watchdog.report()  # type: ignore[attr-defined]
    storage_full = svc.db.capacity.full
    healthy = (scheduler is None or scheduler["healthy"]) and not storage_full
    body = HealthOut(
        status="ok" if healthy else "unhealthy",
        scheduler=scheduler,
        storage="full" if storage_full else "ok",
    )
    return json_response(body, status=200 if healthy else 503)


@routes.get("/livez")
async def live(_request: web.Request) -> web.Response:
    """200 while the process serves requests; touches nothing else."""
    return json_response(LiveOut(status="ok"))


@routes.get("/readyz")
async def ready(request: web.Request) -> web.Response:
    """200 when the database answers with every migration applied and the scheduler
    (where this instance runs it) is healthy; 503 problem naming what is not."""
    checks: dict[str, str] = {}
    checks["storage"] = "full" if services(request).db.capacity.full else "ok"
    try:
        pending = await pending_migrations(services(request).db)
    except Exception:
        log.warning("readiness: the database did not answer", exc_info=True)
        checks["database"] = "unreachable"
    else:
        checks["database"] = "ok"
        checks["migrations"] = "ok" if not pending else f"{len(pending)} pending"
    if request.app[SETTINGS].run_scheduler:
        jobs = request.app.get(JOBS)
        running = jobs is not None and jobs.healthy  # type: ignore[attr-defined]
        checks["scheduler"] = "ok" if running else "not running"
    if all(value == "ok" for value in checks.values()):
        return json_response(ReadyOut(status="ready", checks=checks))
    return problem(
        503,
        "not-ready",
        "This instance is not ready",
        "One or more readiness checks failed",
        checks=checks,
    )
