"""The jobs themselves, free of APScheduler so tests can run them with a manual clock.

Each sweep claims due rows in batches and repeats until a batch comes back short, so a
wave of ten thousand deadlines is worked through in one run rather than one batch per
tick.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from server.domain.effects import Effects
from server.domain.welfare.checkins import URGENT_STEPS
from server.domain.welfare_models import CheckInStep
from server.security.shared_ratelimit import sweep_idle_buckets

if TYPE_CHECKING:
    from server.services import Services

log = logging.getLogger(__name__)

#: Rows per transaction. Larger batches spread each batch's fixed cost (the lookups of
#: cases, teams, policies and devices; the commit) over more rows; a batch of this size
#: holds the write lock for roughly a tenth of a second during a wave.
BATCH = 1000
MAX_BATCHES = 100
#: Batches of an approaching wave worked out per tick (see ``server.domain.welfare.waves``):
#: few enough that arming never holds up a tick's sweep for long.
ARM_BATCHES = 3


@dataclass(frozen=True, slots=True)
class PurgeReport:
    message_copies: int
    attachments: int
    enrolment_codes: int


class Maintenance:
    """Housekeeping: last-seen batching and TTL purges."""

    def __init__(self, services: Services) -> None:
        self._services = services

    async def flush_last_seen(self) -> int:
        return await self._services.authenticator.flush_last_seen()

    async def purge_expired(self) -> PurgeReport:
        """Delete undelivered copies and attachments past their TTL and dead codes."""
        copies = await self._services.messages.purge_expired()
        attachments = await self._services.attachments.purge_expired()
        codes = await self._services.enrolments.purge_expired()
        async with self._services.store.write() as uow:
            await uow.console_sessions.purge(self._services.clock.now())
        await self._services.device_events.purge_expired()
        await self._services.dispatcher.forget_old_reports()
        await self._services.keys.forget_old_allowances()
        await sweep_idle_buckets(self._services.store, self._services.clock)
        await self._services.webhook_replays.purge_expired()
        report = PurgeReport(copies, attachments, codes)
        if copies or attachments or codes:
            log.info(
                "purged %d undelivered copies, %d attachments, %d enrolment codes",
                copies,
                attachments,
                codes,
            )
        return report


class WelfareSweeps:
    """Check-in steps, silence, automatic resumes and escalation."""

    def __init__(self, services: Services) -> None:
        self._services = services

    async def checkins(self) -> int:
        """Armed waves whose deadline has passed, prompts, reminders and misses that
        are due, then the next occurrences of those that finished; then the next wave
        is worked out ahead. Notification dispatch holds back only while the first part
        runs: a wave's alerts are all raised before its SMS go out, and the SMS do not
        wait for the scheduling."""
        checkins, waves = self._services.checkins, self._services.waves
        with self._services.dispatcher.sweeping():
            total = await waves.fire()
            total += await checkins.sweep(BATCH, MAX_BATCHES, URGENT_STEPS, waves.armed_ids())
        total += await checkins.sweep(BATCH, MAX_BATCHES, [CheckInStep.SCHEDULE])
        await waves.arm(BATCH, ARM_BATCHES)
        return total

    async def silences(self) -> int:
        """Phones silent for longer than their case allows."""
        return await self._in_batches(self._services.checkins.silence_due)

    async def appointments(self) -> int:
        """Court-date reminders and checks that are due."""
        return await self._in_batches(self._services.appointments.process_due)

    async def handover_reviews(self) -> int:
        """Handover requests past their acceptance deadline, and assessment reviews
        that fell due (a reminder) or are overdue (an alert)."""
        total = await self._in_batches(self._services.handovers.process_due)
        return total + await self._in_batches(self._services.assessments.process_due)

    async def _in_batches(self, step: Callable[[int], Awaitable[int]]) -> int:
        """Run ``step`` batch after batch until a batch comes back short. Notification
        dispatch holds back meanwhile (see ``Dispatcher.sweeping``)."""
        total = 0
        with self._services.dispatcher.sweeping():
            for _ in range(MAX_BATCHES):
                done = await step(BATCH)
                total += done
                if done < BATCH:
                    break
        return total

    async def resumes(self) -> int:
        return await self._services.plans.resume_due()

    async def escalations(self) -> int:
        """Escalation steps and expired acknowledgements that are due."""
        return await self._in_batches(self._escalate_batch)

    async def _escalate_batch(self, limit: int) -> int:
        svc = self._services
        async with svc.store.read() as uow:
            if not await uow.alerts.any_due(svc.clock.now()):
                return 0
        effects = Effects()
        async with svc.store.write() as uow:
            moved = await svc.alerts.escalate_due(uow, svc.clock.now(), limit, effects)
        await effects.run(svc.events, svc.dispatcher.wake)
        return moved

    async def visits(self) -> int:
        """Welfare visits unrecorded past their window and grace (``visit_overdue``)."""
        return await self._in_batches(self._services.visits.overdue_due)

    async def case_lifecycle(self) -> int:
        """Closed cases' phones retired, due reviews reminded, retention erasures."""
        lifecycle = self._services.case_lifecycle
        done = await lifecycle.retire_due_phones()
        done += await lifecycle.remind_due_reviews()
        return done + await lifecycle.erase_due()

    async def run_all(self) -> None:
        """Everything due, in an order that lets one step's output feed the next
        (for tests that move a manual clock and then want the world to catch up)."""
        await self._services.authenticator.flush_last_seen()
        await self.resumes()
        await self.checkins()
        await self.appointments()
        await self.handover_reviews()
        await self.silences()
        await self.visits()
        await self.escalations()
        await self._services.dispatcher.drain()
