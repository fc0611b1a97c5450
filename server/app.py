"""The aiohttp application: wiring through typed AppKeys and cleanup contexts.

Start-up opens the database (migrating it), builds the services, starts the real-time
hub and the scheduler; shutdown stops them in reverse and lets in-flight group commits
finish. Nothing is mutated after start-up.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse

from server.api.context import JOBS, SERVICES, SETTINGS
from server.api.problems import problem_middleware
from server.api.routes import (
    accounts,
    alerts,
    cases,
    court,
    enrolment,
    health,
    identities,
    keys,
    messages,
    realtime,
    twilio,
    vault,
    welfare,
)
from server.clock import Clock, SystemClock
from server.config import Settings
from server.console.sessions import ConsoleSessions
from server.console.views import admin as console_admin
from server.console.views import alerts as console_alerts
from server.console.views import auth as console_auth
from server.console.views import caseload as console_caseload
from server.console.views import witness as console_witness
from server.console.web import CONSOLE, ConsoleServices, console_middleware
from server.domain.caseload import Caseload
from server.realtime.bus import EventBus, LocalBus, PostgresBus
from server.realtime.hub import Hub
from server.services import open_services
from server.storage.opening import open_database
from server.storage.postgres import PostgresDatabase

log = logging.getLogger("witnesslink")
STATIC_DIR = Path(__file__).parent / "console" / "static"

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    if not response.prepared:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
    return response


class PathOnlyAccessLogger(AbstractAccessLogger):
    """Access log lines that name the route, not the path: a path can carry a secret
    (the calendar feed's token) or ids that should not sit in logs, so the line shows
    the route's template (``/v1/calendar/{token}.ics``). No query strings, no client
    addresses (personal data)."""

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        self.logger.info(
            "%s %s %s %.1fms", request.method, route_template(request), response.status, time * 1000
        )


def route_template(request: BaseRequest) -> str:
    """The matched route's template, or ``(no route)``: never the request's own path."""
    if not isinstance(request, web.Request):
        return "(no route)"
    resource = request.match_info.route.resource
    return "(no route)" if resource is None else resource.canonical


def build_app(settings: Settings, *, clock: Clock | None = None) -> web.Application:
    """An application for ``settings``; the clock is injectable for tests."""
    the_clock: Clock = clock or SystemClock()
    app = web.Application(
        middlewares=[security_headers, problem_middleware, console_middleware],
        client_max_size=max(settings.attachment_max_bytes, settings.json_max_bytes) + 64 * 1024,
    )
    app[SETTINGS] = settings
    for table in (
        accounts.routes,
        cases.routes,
        keys.routes,
        identities.routes,
        enrolment.routes,
        messages.routes,
        realtime.routes,
        health.routes,
        welfare.routes,
        alerts.routes,
        twilio.routes,
        court.routes,
        vault.routes,
        console_auth.routes,
        console_caseload.routes,
        console_alerts.routes,
        console_admin.routes,
        console_witness.routes,
    ):
        app.router.add_routes(table)
    app.router.add_static("/console/static", STATIC_DIR, append_version=False)

    async def services_ctx(app: web.Application) -> AsyncIterator[None]:
        db = await open_database(settings.database_url, the_clock, schema=settings.postgres_schema)
        bus: EventBus = LocalBus()
        if isinstance(db, PostgresDatabase):
            bus = PostgresBus(settings.database_url, db.pool, schema=settings.postgres_schema)
        hub = Hub(bus)
        services = await open_services(settings, the_clock, db, hub=hub, events=hub)
        app[SERVICES] = services
        app[CONSOLE] = ConsoleServices(
            sessions=ConsoleSessions(
                services.store,
                services.audit,
                the_clock,
                idle=timedelta(minutes=settings.console_idle_minutes),
            ),
            caseload=Caseload(services.store, the_clock),
        )
        await hub.start()
        scheduler = None
        if settings.run_scheduler:
            from scheduler.runner import BackgroundJobs

            scheduler = BackgroundJobs(services)
            scheduler.start()
        app[JOBS] = scheduler
        try:
            yield
        finally:
            if scheduler is not None:
                scheduler.shutdown()
                await scheduler.stopped()
            await services.dispatcher.gateway.close()
            await services.messages.drain()
            await services.authenticator.flush_last_seen()
            await hub.close()
            await db.close()

    app.cleanup_ctx.append(services_ctx)
    return app
