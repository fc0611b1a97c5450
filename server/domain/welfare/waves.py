"""Waves of deadlines, worked out before they pass.

Calendar plans put many witnesses' deadlines on the same instant: everyone whose
check-in is "daily at 10:00, one hour to answer, thirty minutes' grace" misses it, if
they miss it, at 11:30:00 exactly. When thousands pass at once, most of the time between
the deadline and the alerts being there for staff goes into working the alerts out (the
case, the policy in force, who is on duty at each level, the SMS rows) rather than
writing them. Deadlines are known in advance, so :class:`WaveArming` works that out a
few seconds before, from a snapshot, and keeps it ready; when the instant passes only
the write is left.

Nothing is decided early. The write is the sweep's ordinary version-checked one, made
at or after the deadline with the alerts stamped at the moment of writing: a witness
who answers after the wave was armed has moved on and is not called missed, and any
occurrence an armed batch no longer matches is left to the ordinary sweep. Only groups
of at least ``min_wave`` occurrences sharing a deadline are armed; scattered deadlines
go the ordinary way.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import datetime, timedelta

from server.clock import Clock
from server.domain.welfare.checkins import CheckInService, DueBatch
from server.domain.welfare_models import CheckIn, CheckInStep
from server.storage.protocols import Store

#: How far ahead deadlines are worked out.
DEFAULT_HORIZON = timedelta(seconds=3)
#: The smallest group of deadlines at one instant worth working out ahead.
DEFAULT_MIN_WAVE = 100


class WaveArming:
    """Misses of large waves, worked out ahead (``arm``) and written when due
    (``fire``). Holds the armed batches in memory: a restart just loses the head
    start, never an alert."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        checkins: CheckInService,
        *,
        horizon: timedelta = DEFAULT_HORIZON,
        min_wave: int = DEFAULT_MIN_WAVE,
    ) -> None:
        self._store = store
        self._clock = clock
        self._checkins = checkins
        self._horizon = horizon
        self._min_wave = min_wave
        self._armed: dict[datetime, list[DueBatch]] = {}
        self._armed_ids: set[str] = set()
        self._lock = asyncio.Lock()  # one arm or fire at a time
        self._not_empty = asyncio.Event()

    @property
    def armed(self) -> int:
        """How many occurrences are armed (or being written)."""
        return len(self._armed_ids)

    def armed_ids(self) -> frozenset[str]:
        """The occurrences armed (or being written): the ordinary sweep leaves them."""
        return frozenset(self._armed_ids)

    @property
    def next_deadline(self) -> datetime | None:
        """The earliest deadline of an armed batch."""
        return min(self._armed, default=None)

    async def wait_armed(self) -> None:
        """Wait until something is armed."""
        await self._not_empty.wait()

    async def arm(self, limit: int, max_batches: int) -> int:
        """Work out up to ``max_batches`` batches of ``limit`` misses falling due
        within the horizon, from one snapshot. Returns how many occurrences were armed."""
        async with self._lock:
            armed = await self._arm(limit, max_batches)
        if self._armed:
            self._not_empty.set()
        return armed

    async def _arm(self, limit: int, max_batches: int) -> int:
        until = self._clock.now() + self._horizon
        armed = 0
        async with self._store.read() as uow:
            due = await uow.checkins.due(
                until,
                limit * max_batches,
                skip=sorted(self._armed_ids),
                steps=[CheckInStep.MISS],
            )
            for deadline, group in _by_deadline(due).items():
                if len(group) < self._min_wave:
                    continue
                for start in range(0, len(group), limit):
                    chunk = group[start : start + limit]
                    batch = await self._checkins.work_out(uow, chunk, deadline)
                    self._armed.setdefault(deadline, []).append(batch)
                    self._armed_ids.update(c.id for c in chunk)
                    armed += len(chunk)
        return armed

    async def fire(self) -> int:
        """Write every armed batch whose deadline has passed, each stamped with the
        time it is written. Returns how many occurrences moved."""
        async with self._lock:
            moved = await self._fire()
        if not self._armed:
            self._not_empty.clear()
        return moved

    async def _fire(self) -> int:
        now = self._clock.now()
        ready = sorted(d for d in self._armed if d <= now)
        moved = 0
        for deadline in ready:
            batches = self._armed.pop(deadline)
            try:
                for batch in batches:
                    moved += await self._checkins.write(batch.at(self._clock.now()))
            finally:  # written or failed: either way the ordinary sweep takes over
                for batch in batches:
                    self._armed_ids.difference_update(c.id for c in batch.due)
        return moved


def _by_deadline(due: list[CheckIn]) -> dict[datetime, list[CheckIn]]:
    groups: dict[datetime, list[CheckIn]] = defaultdict(list)
    for checkin in due:
        if checkin.next_action_at is not None:
            groups[checkin.next_action_at].append(checkin)
    return groups
