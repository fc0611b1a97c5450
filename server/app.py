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

from server.api.context import JOBS, SERVICES, SETTINGS
from server.api.problems import problem_middleware
from server.api.refusals import audit_refusals
from server.api.routes import (
    accounts,
    alerts,
    cases,
    court,
    enrolment,
    handovers,
    health,
    identities,
    keys,
    messages,
    openapi,
    realtime,
    twilio,
    vault,
    visits,
    voice,
    welfare,
)
from server.clock import Clock, SystemClock
from server.config import Settings
from server.console.sessions import ConsoleSessions
from server.console.views import account as console_account
from server.console.views import admin as console_admin
from server.console.views import admin_playbooks as console_admin_playbooks
from server.console.views import alert_page as console_alert_page
from server.console.views import alerts as console_alerts
from server.console.views import auth as console_auth
from server.console.views import caseload as console_caseload
from server.console.views import casework as console_casework
from server.console.views import handover as console_handover
from server.console.views import witness as console_witness
from server.console.views import witness_instructions as console_witness_instructions
from server.console.views import witness_visits as console_witness_visits
from server.console.views import witness_voice as console_witness_voice
from server.console.web import CONSOLE, ConsoleServices, console_middleware
from server.domain.caseload import Caseload
from server.observability.logs import PathOnlyAccessLogger
from server.observability.metrics import ServerMetrics, metrics_listener
from server.observability.requests import add_request_id_header, request_context_middleware
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
METRICS = web.AppKey("metrics", ServerMetrics)

__all__ = ["METRICS", "PathOnlyAccessLogger", "build_app"]


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    if not response.prepared:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
    return response


def build_app(settings: Settings, *, clock: Clock | None = None) -> web.Application:
    """An application for ``settings``; the clock is injectable for tests."""
    the_clock: Clock = clock or SystemClock()
    metrics = ServerMetrics()
    app = web.Application(
        middlewares=[
            request_context_middleware(metrics.observe_request),
            security_headers,
            problem_middleware,
            console_middleware,
            audit_refusals,
        ],
        client_max_size=max(settings.attachment_max_bytes, settings.json_max_bytes) + 64 * 1024,
    )
    app[SETTINGS] = settings
    app[METRICS] = metrics
    app.on_response_prepare.append(add_request_id_header)
    for table in (
        accounts.routes,
        cases.routes,
        keys.routes,
        identities.routes,
        enrolment.routes,
        messages.routes,
        realtime.routes,
        health.routes,
        openapi.routes,
        welfare.routes,
        alerts.routes,
        twilio.routes,
        voice.routes,
        court.routes,
        visits.routes,
        handovers.routes,
        vault.routes,
        console_auth.routes,
        console_caseload.routes,
        console_alerts.routes,
        console_alert_page.routes,
        console_account.routes,
        console_admin.routes,
        console_admin_playbooks.routes,
        console_witness.routes,
        console_witness_instructions.routes,
        console_handover.routes,
        console_witness_voice.routes,
        console_witness_visits.routes,
        console_casework.routes,
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
                shift=timedelta(hours=settings.console_shift_hours),
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
        metrics.attach(
            db=db,
            delivery=services.delivery,
            connected_devices=lambda: len(hub.connected_devices()),
            jobs=scheduler,
            runs_scheduler=settings.run_scheduler,
            outbox=services.backlog.read,
        )
        try:
            yield
        finally:
            if scheduler is not None:
                scheduler.shutdown()
                await scheduler.stopped()
            for sender_gateway in services.dispatcher.senders.values():
                await sender_gateway.close()
            if services.dispatcher.voice is not None:
                await services.dispatcher.voice.close()
            await services.messages.drain()
            await services.authenticator.flush_last_seen()
            await hub.close()
            await db.close()

    app.cleanup_ctx.append(services_ctx)
    if settings.metrics_listen is not None:
        listen = settings.metrics_listen

        async def metrics_ctx(_app: web.Application) -> AsyncIterator[None]:
            async with metrics_listener(metrics, listen):
                yield

        app.cleanup_ctx.append(metrics_ctx)
    return app
