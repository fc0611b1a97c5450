"""Things to do once a transaction has committed.

Pushing an event to a phone, or waking the notification dispatcher, before the commit
would announce something that may still roll back. Services collect such effects while
they work inside a unit of work and run them after it commits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from server.domain.events import EventSink


@dataclass
class Effects:
    """Pushes and wake-ups gathered during one transaction."""

    pushes: list[tuple[list[str], dict[str, Any]]] = field(default_factory=list)
    wake_dispatcher: bool = False

    def push(self, device_ids: list[str], event: dict[str, Any]) -> None:
        if device_ids:
            self.pushes.append((device_ids, event))

    async def run(self, sink: EventSink, wake: Callable[[], None] | None = None) -> None:
        for device_ids, event in self.pushes:
            await sink.device_event(device_ids, event)
        if self.wake_dispatcher and wake is not None:
            wake()
