"""How far behind the senders are (issue 14): the outbox's depth by urgency class, the
expected wait of a routine SMS queued now, and how long the oldest critical alert has
waited unsent, with a warning beyond a threshold. Shown on the console's alert inbox
and exported as metrics.

The expected wait counts the SMS the waiting rows make: a staff member's alerts of one
urgency fold into one SMS, so they count once per person and urgency (alerts of a first
round and of a repeat for one person may still fold into one: an upper bound).
"""

from __future__ import annotations

from dataclasses import dataclass

from server.clock import Clock
from server.domain.welfare.urgency import CLASSES, urgency_class
from server.notify.pacing import Pacer
from server.storage.protocols import Store

#: The channels the senders limit (the in-app channel is never behind).
PACED_CHANNELS = ("sms", "voice")


@dataclass(frozen=True, slots=True)
class OutboxBacklog:
    """The outbox's backlog across every instance."""

    #: Rows waiting (SMS and calls) by class: "critical", "alert", "routine".
    depth: dict[str, int]
    #: Seconds the oldest critical alert (SMS or call) has waited; 0 when none waits.
    oldest_critical_wait_s: float
    #: Seconds a routine SMS queued now is expected to wait (0 when unpaced).
    routine_sms_wait_s: float
    #: The oldest critical alert has waited longer than the threshold.
    warning: bool
    warning_after_s: float

    @property
    def total(self) -> int:
        return sum(self.depth.values())


class BacklogReader:
    """Reads :class:`OutboxBacklog` from the outbox (two cheap grouped counts)."""

    def __init__(self, store: Store, clock: Clock, pacer: Pacer, warning_after_s: float) -> None:
        self._store = store
        self._clock = clock
        self._pacer = pacer
        self.warning_after_s = warning_after_s

    async def read(self) -> OutboxBacklog:
        now = self._clock.now()
        async with self._store.read() as uow:
            rows = await uow.notifications.backlog(now, PACED_CHANNELS)
        depth = dict.fromkeys(CLASSES, 0)
        oldest_critical = None
        sms_waiting = 0
        for row in rows:
            klass = urgency_class(row.urgency)
            depth[CLASSES[klass]] += row.count
            if row.channel == "sms":
                sms_waiting += row.messages
            if klass == 0 and (oldest_critical is None or row.oldest < oldest_critical):
                oldest_critical = row.oldest
        waited = 0.0 if oldest_critical is None else (now - oldest_critical).total_seconds()
        waited = max(0.0, waited)
        capacity = self._pacer.capacity("sms")
        wait = 0.0 if capacity == float("inf") else sms_waiting / capacity
        return OutboxBacklog(
            depth=depth,
            oldest_critical_wait_s=waited,
            routine_sms_wait_s=wait,
            warning=waited > self.warning_after_s,
            warning_after_s=self.warning_after_s,
        )
