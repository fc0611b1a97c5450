"""Things to do once a transaction has committed.

Pushing an event to a phone, or waking the notification dispatcher, before the commit
would announce something that may still roll back. Services collect such effects while
they work inside a unit of work and run them after it commits.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from server.domain.events import EventSink
from server.storage.protocols import UnitOfWork


@dataclass
class Effects:
    """Pushes and wake-ups gathered during one transaction."""

    pushes: list[tuple[list[str], dict[str, Any]]] = field(default_factory=list)
    wake_dispatcher: bool = False

    def push(self, device_ids: list[str], event: dict[str, Any]) -> None:
        """A live push only: a device that is not connected misses it (for staff
        notices whose state the app re-reads anyway)."""
        if device_ids:
            self.pushes.append((device_ids, event))

    async def push_durable(
        self,
        uow: UnitOfWork,
        device_ids: list[str],
        event: dict[str, Any],
        now: datetime,
        expires_at: datetime,
        ref: str | None = None,
    ) -> None:
        """Queue the event for each device in this transaction and push it after the
        commit; a device that is offline gets it when it next connects, until it
        acknowledges it or it expires (a reminder for something already over is not
        worth delivering)."""
        if not device_ids or expires_at <= now:
            return
        ids = await uow.device_events.insert_many(
            device_ids, json.dumps(event, separators=(",", ":")), now, expires_at, ref
        )
        for device_id, event_id in ids.items():
            self.pushes.append(([device_id], {**event, "event_id": event_id}))

    async def run(self, sink: EventSink, wake: Callable[[], None] | None = None) -> None:
        for device_ids, event in self.pushes:
            await sink.device_event(device_ids, event)
        if self.wake_dispatcher and wake is not None:
            wake()
