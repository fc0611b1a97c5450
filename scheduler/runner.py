"""APScheduler 3.x wiring: short periodic jobs that work from database rows.

The scheduler holds no deadlines of its own — they live in rows — so a restart loses
nothing; jobs here are sweeps that find due work, claim it, and do it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from scheduler.jobs import Maintenance

if TYPE_CHECKING:
    from server.services import Services

log = logging.getLogger(__name__)


class BackgroundJobs:
    """The periodic jobs of one server process."""

    def __init__(self, services: Services) -> None:
        self._scheduler = AsyncIOScheduler(timezone="UTC")
        self.maintenance = Maintenance(services)
        self._scheduler.add_job(
            self.maintenance.flush_last_seen,
            "interval",
            seconds=30,
            id="flush-last-seen",
            max_instances=1,
            coalesce=True,
        )
        self._scheduler.add_job(
            self.maintenance.purge_expired,
            "interval",
            minutes=10,
            id="purge-expired",
            max_instances=1,
            coalesce=True,
        )

    def start(self) -> None:
        self._scheduler.start()

    def shutdown(self) -> None:
        self._scheduler.shutdown(wait=False)
