"""Prometheus metrics of one application, served on a private listener.

Each application owns a :class:`~prometheus_client.CollectorRegistry` (tests build many
applications in one process; the global registry would mix them). Request counts and
latencies are recorded as requests finish, labelled by route *template* and status.
Everything else is read when Prometheus scrapes: connected devices from the hub, queued
copies and alerts from the database (two cheap queries), sweep lag from the scheduler's
watchdog, delivery outcomes and Twilio errors from the delivery monitor.

``/metrics`` is never routed on the public application: with ``metrics_listen`` set, a
second aiohttp site on that address serves it (keep it on a loopback or private
address; it is unauthenticated). Labels carry no personal data: routes are templates,
error labels are provider codes.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Protocol

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from server.config import parse_listen_address
from server.notify.backlog import OutboxBacklog
from server.observability.delivery_health import DeliveryMonitor
from server.storage.database import Database
from server.storage.operational import OperationalCounts, operational_counts

log = logging.getLogger("witnesslink.metrics")

#: Methods counted under their own name; any other (clients can send any token) is
#: counted as ``other`` so that a client cannot create label values at will.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
SWITCHING_PROTOCOLS = 101
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class SweepWatch(Protocol):
    """What the metrics need from the scheduler (``scheduler.runner.BackgroundJobs``)."""

    def sweep_ages(self) -> dict[str, float]: ...

    @property
    def healthy(self) -> bool: ...


class ServerMetrics:
    """The registry of one application and the metrics recorded as things happen."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "witnesslink_http_requests",
            "HTTP requests handled, by route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "witnesslink_http_request_duration_seconds",
            "Time to handle an HTTP request, by route template.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._state = _ScrapeState()
        self.registry.register(_StateCollector(self._state))

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one handled request (the request context middleware calls this)."""
        method = method if method in KNOWN_METHODS else "other"
        self.requests.labels(method, route, str(status)).inc()
        if status != SWITCHING_PROTOCOLS:
            # A WebSocket "request" lasts as long as the phone stays connected: that is
            # not latency, and would push every bucket of its route to +Inf.
            self.latency.labels(method, route).observe(seconds)

    def attach(
        self,
        *,
        db: Database,
        delivery: DeliveryMonitor,
        connected_devices: Callable[[], int] | None,
        jobs: SweepWatch | None,
        runs_scheduler: bool,
        outbox: Callable[[], Awaitable[OutboxBacklog]] | None = None,
    ) -> None:
        """Point the scrape-time metrics at the running services (at start-up)."""
        self._state.outbox = outbox
        self._state.db = db
        self._state.delivery = delivery
        self._state.connected_devices = connected_devices
        self._state.jobs = jobs
        self._state.runs_scheduler = runs_scheduler

    async def exposition(self) -> bytes:
        """The text exposition, after reading the database's counts."""
        if self._state.db is not None:
            try:
                self._state.counts = await operational_counts(self._state.db)
            except Exception:
                # Report what is known; the instance-down and readiness checks cover
                # a database that does not answer.
                log.warning("could not read counts from the database for /metrics")
                self._state.counts = None
        if self._state.outbox is not None:
            try:
                self._state.backlog = await self._state.outbox()
            except Exception:
                log.warning("could not read the outbox backlog for /metrics")
                self._state.backlog = None
        return generate_latest(self.registry)


class _ScrapeState:
    def __init__(self) -> None:
        self.db: Database | None = None
        self.delivery: DeliveryMonitor | None = None
        self.connected_devices: Callable[[], int] | None = None
        self.jobs: SweepWatch | None = None
        self.runs_scheduler = False
        self.counts: OperationalCounts | None = None
        self.outbox: Callable[[], Awaitable[OutboxBacklog]] | None = None
        self.backlog: OutboxBacklog | None = None


class _StateCollector(Collector):
    """Builds the scrape-time families from :class:`_ScrapeState`."""

    def __init__(self, state: _ScrapeState) -> None:
        self._state = state

    def describe(self) -> list[Metric]:
        return []  # families vary with what is attached; collected fresh each scrape

    def collect(self) -> Iterator[Metric]:
        state = self._state
        yield from self._devices(state)
        yield from self._database(state)
        yield from self._scheduler(state)
        yield from self._delivery(state)
        yield from self._outbox(state)

    def _devices(self, state: _ScrapeState) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "witnesslink_connected_devices",
            "Devices holding a WebSocket to this instance.",
            value=0 if state.connected_devices is None else state.connected_devices(),
        )

    def _database(self, state: _ScrapeState) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "witnesslink_database_up", "1 if the last scrape could read the database."
        )
        up.add_metric([], 1 if state.counts is not None else 0)
        yield up
        if state.counts is None:
            return
        yield GaugeMetricFamily(
            "witnesslink_queued_message_copies",
            "Message copies stored and not yet acknowledged by their device (all instances).",
            value=state.counts.queued_copies,
        )
        alerts = GaugeMetricFamily(
            "witnesslink_alerts",
            "Alerts by kind and state (all instances).",
            labels=["kind", "state"],
        )
        for (kind, status), count in sorted(state.counts.alerts.items()):
            alerts.add_metric([kind, status], count)
        yield alerts

    def _scheduler(self, state: _ScrapeState) -> Iterator[Metric]:
        enabled = GaugeMetricFamily(
            "witnesslink_scheduler_enabled", "1 if this instance is configured to run the sweeps."
        )
        enabled.add_metric([], 1 if state.runs_scheduler else 0)
        yield enabled
        # Exported (as 0, and no sweeps) on an instance without a scheduler too, so
        # "no instance runs it" is a sum of zeros rather than a missing series.
        running = GaugeMetricFamily(
            "witnesslink_scheduler_running",
            "1 if this instance's scheduler is running and every sweep ran recently.",
        )
        running.add_metric([], 1 if state.jobs is not None and state.jobs.healthy else 0)
        yield running
        lag = GaugeMetricFamily(
            "witnesslink_sweep_seconds_since_run",
            "Seconds since each scheduler job last completed on this instance.",
            labels=["sweep"],
        )
        for sweep, age in sorted(({} if state.jobs is None else state.jobs.sweep_ages()).items()):
            lag.add_metric([sweep], age)
        yield lag

    def _outbox(self, state: _ScrapeState) -> Iterator[Metric]:
        """The paced outbox (issue 14): what waits, and how long (all instances)."""
        backlog = state.backlog
        if backlog is None:
            return
        depth = GaugeMetricFamily(
            "witnesslink_outbox_waiting",
            "SMS and calls waiting to be sent, by urgency class (all instances).",
            labels=["class"],
        )
        for klass, count in backlog.depth.items():
            depth.add_metric([klass], count)
        yield depth
        yield GaugeMetricFamily(
            "witnesslink_outbox_routine_sms_wait_seconds",
            "Expected wait of a routine SMS queued now, at the senders' rate.",
            value=backlog.routine_sms_wait_s,
        )
        yield GaugeMetricFamily(
            "witnesslink_outbox_oldest_critical_wait_seconds",
            "How long the oldest critical alert (SMS or call) has waited unsent.",
            value=backlog.oldest_critical_wait_s,
        )
        yield GaugeMetricFamily(
            "witnesslink_outbox_critical_waiting_too_long",
            "1 while a critical alert has waited longer than the warning threshold.",
            value=1 if backlog.warning else 0,
        )

    def _delivery(self, state: _ScrapeState) -> Iterator[Metric]:
        outcomes = CounterMetricFamily(
            "witnesslink_notifications",
            "Notification deliveries and delivery reports, by channel and outcome.",
            labels=["channel", "outcome"],
        )
        errors = CounterMetricFamily(
            "witnesslink_twilio_errors",
            "Twilio errors by error code (or connection failure class) and the outcome.",
            labels=["code", "outcome"],
        )
        failing = GaugeMetricFamily(
            "witnesslink_sms_delivery_failing",
            "1 while SMS delivery has failed more times in a row than the threshold.",
        )
        streak = GaugeMetricFamily(
            "witnesslink_sms_consecutive_failures", "SMS attempts in a row that did not go out."
        )
        monitor = state.delivery
        if monitor is not None:
            for (channel, outcome), count in sorted(monitor.outcomes.items()):
                outcomes.add_metric([channel, outcome], count)
            for (code, outcome), count in sorted(monitor.provider_errors.items()):
                errors.add_metric([code, outcome], count)
        failing.add_metric([], 1 if monitor is not None and monitor.failing else 0)
        streak.add_metric([], 0 if monitor is None else monitor.consecutive_sms_failures)
        yield from (outcomes, errors, failing, streak)


def metrics_app(metrics: ServerMetrics) -> web.Application:
    """The private application: ``GET /metrics`` and nothing else."""

    async def serve_metrics(_request: web.Request) -> web.Response:
        body = await metrics.exposition()
        response = web.Response(body=body)
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    app = web.Application()
    app.router.add_get("/metrics", serve_metrics)
    return app


@asynccontextmanager
async def metrics_listener(metrics: ServerMetrics, listen: str) -> AsyncIterator[web.TCPSite]:
    """Run the private metrics site on ``listen`` (``host:port``) until closed."""
    host, port = parse_listen_address(listen)
    runner = web.AppRunner(metrics_app(metrics), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    log.info("metrics served on http://%s:%d/metrics", host, port)
    try:
        yield site
    finally:
        await runner.cleanup()
