"""APScheduler 3.x wiring: short periodic sweeps over rows with due times.

The scheduler holds no deadlines of its own — they live in rows — so a restart loses
nothing and a deadline that passed while the server was down is acted on at the first
sweep after start. The notification dispatcher additionally runs its own loop, woken
the moment a transaction queues a notification, so an SMS does not wait for a tick.
A watchdog notes when each sweep last finished; the health endpoint reports the
scheduler unhealthy if any sweep falls silent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from scheduler.jobs import Maintenance, WelfareSweeps
from server.errors import StorageFull

if TYPE_CHECKING:
    from server.services import Services

log = logging.getLogger(__name__)

COALESCE_WINDOW_S = 0.2
#: How often the dispatch loop looks at the outbox when nothing wakes it. A
#: notification queued on this instance wakes it at once (``Dispatcher.wake``), and a
#: paced backlog left waiting for a token is looked at again when the token is there
#: (``Dispatcher.next_look_s``); a notification queued by another instance into an
#: idle outbox is seen at the next look.
DISPATCH_POLL_S = 1.0
#: The longest notification dispatch holds back for a sweep that is raising a wave.
SWEEP_DEFER_S = 3.0


class Watchdog:
    """When each job last completed, and whether that is recent enough."""

    def __init__(self) -> None:
        self._last: dict[str, float] = {}
        self._limits: dict[str, float] = {}
        self._started = time.monotonic()

    def expect(self, name: str, every_s: float) -> None:
        # Generous: a sweep working through a big wave may take a while.
        self._limits[name] = max(30.0, every_s * 20)

    def beat(self, name: str) -> None:
        self._last[name] = time.monotonic()

    def ages(self) -> dict[str, float]:
        """Seconds since each job last completed (since start-up if it never has)."""
        now = time.monotonic()
        return {name: now - self._last.get(name, self._started) for name in self._limits}

    @property
    def healthy(self) -> bool:
        return all(age <= self._limits[name] for name, age in self.ages().items())

    def report(self) -> dict[str, Any]:
        jobs = {}
        healthy = True
        for name, age in self.ages().items():
            ok = age <= self._limits[name]
            healthy = healthy and ok
            jobs[name] = {"seconds_since_run": round(age, 1), "ok": ok}
        return {"healthy": healthy, "jobs": jobs}


class BackgroundJobs:
    """The periodic jobs of one server process."""

    def __init__(self, services: Services) -> None:
        self._services = services
        self._scheduler = AsyncIOScheduler(timezone="UTC")
        self.maintenance = Maintenance(services)
        self.welfare = WelfareSweeps(services)
        self.watchdog = Watchdog()
        interval = services.settings.sweep_interval_s
        self._add("checkins", self.welfare.checkins, interval)
        self._add("appointments", self.welfare.appointments, 1.0)
        self._add("escalations", self.welfare.escalations, interval)
        self._add("dispatch", self._dispatch, max(interval, 1.0))
        self._add("silences", self.welfare.silences, 5.0)
        self._add("resumes", self.welfare.resumes, 30.0)
        self._add("flush-last-seen", self.maintenance.flush_last_seen, 30.0)
        self._add("purge-expired", self.maintenance.purge_expired, 600.0)
        self._add("reseal", services.resealer.run, services.settings.reseal_interval_s)
        self._add("visits", self.welfare.visits, 30.0)
        self._add("handover-reviews", self.welfare.handover_reviews, 30.0)
        self._add("case-lifecycle", self.welfare.case_lifecycle, 60.0)
        self._dispatch_loop: asyncio.Task[None] | None = None
        self._waves_loop: asyncio.Task[None] | None = None

    def _add(self, name: str, job: Callable[[], Awaitable[Any]], every_s: float) -> None:
        self.watchdog.expect(name, every_s)

        async def run() -> None:
            try:
                await job()
            except StorageFull:
                return  # logged once per episode by server.storage.capacity
            except Exception:
                log.exception("background job %s failed", name)
                return
            self.watchdog.beat(name)

        self._scheduler.add_job(
            run,
            "interval",
            seconds=every_s,
            id=name,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
        )

    @property
    def running(self) -> bool:
        """Whether the APScheduler loop is running (False once shut down)."""
        return bool(self._scheduler.running)

    @property
    def healthy(self) -> bool:
        """Running, and every job completed within its limit."""
        return self.running and self.watchdog.healthy

    def sweep_ages(self) -> dict[str, float]:
        """Seconds since each job last completed: the sweep lag metrics show."""
        return self.watchdog.ages()

    def start(self) -> None:
        self._scheduler.start()
        loop = asyncio.get_running_loop()
        self._dispatch_loop = loop.create_task(self._dispatch_forever())
        self._waves_loop = loop.create_task(self._fire_waves_on_time())

    async def _dispatch(self) -> int:
        """Deliver what is due once any sweep raising a wave has finished (or after
        :data:`SWEEP_DEFER_S`), so a wave's alerts reach each person as one SMS."""
        dispatcher = self._services.dispatcher
        await dispatcher.after_sweeps(SWEEP_DEFER_S)
        return await dispatcher.drain()

    async def _dispatch_forever(self) -> None:
        dispatcher = self._services.dispatcher
        wait_s = DISPATCH_POLL_S
        while True:
            await dispatcher.wait_for_work(wait_s)
            # A short breath lets a burst of alerts land, so that someone on call gets
            # one SMS about three alerts rather than three SMS.
            await asyncio.sleep(COALESCE_WINDOW_S)
            wait_s = DISPATCH_POLL_S
            try:
                await self._dispatch()
                # A paced backlog is looked at again when its next token is there.
                wait_s = await dispatcher.next_look_s(DISPATCH_POLL_S)
            except StorageFull:
                pass  # logged once per episode by server.storage.capacity
            except Exception:
                log.exception("notification dispatch failed")

    async def _fire_waves_on_time(self) -> None:
        """Write an armed wave the moment its deadline passes, rather than at the
        check-in sweep's next tick (up to ``sweep_interval_s`` later)."""
        waves, clock = self._services.waves, self._services.clock
        while True:
            await waves.wait_armed()
            deadline = waves.next_deadline
            wait_s = 0.0 if deadline is None else (deadline - clock.now()).total_seconds()
            if wait_s > 0:
                # At most a second at a time, so a clock moved by hand is followed too.
                await asyncio.sleep(min(wait_s, 1.0))
                continue
            try:
                with self._services.dispatcher.sweeping():
                    await waves.fire()
            except StorageFull:
                pass  # logged once per episode by server.storage.capacity
            except Exception:
                log.exception("writing an armed wave failed")

    def _loops(self) -> list[asyncio.Task[None]]:
        return [t for t in (self._dispatch_loop, self._waves_loop) if t is not None]

    def shutdown(self) -> None:
        """Stop the jobs; calling it again (application cleanup after a stop) is a no-op."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        for task in self._loops():
            task.cancel()

    async def stopped(self) -> None:
        for task in self._loops():
            with contextlib.suppress(asyncio.CancelledError):
                await task
