"""Content-free events waiting for a device: reminders, prompts, appointment changes.

Pushed live when the device is connected and kept until it acknowledges them, so a
phone that was out of reach for a minute still gets the reminder that fell due in that
minute. They carry times and kinds only — never details.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from server.clock import Clock
from server.domain.access import Principal
from server.errors import InvalidInput
from server.storage.protocols import Store

MAX_BATCH = 500


class DeviceEvents:
    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def pending(self, device_id: str, limit: int = MAX_BATCH) -> list[dict[str, Any]]:
        async with self._store.read() as uow:
            stored = await uow.device_events.pending(device_id, self._clock.now(), limit)
        events = []
        for item in stored:
            event: dict[str, Any] = json.loads(item.payload)
            event["event_id"] = item.id
            events.append(event)
        return events

    async def acknowledge(self, principal: Principal, event_ids: Sequence[int]) -> int:
        """Raises: InvalidInput for more than 500 ids."""
        if len(event_ids) > MAX_BATCH:
            raise InvalidInput(f"acknowledge at most {MAX_BATCH} events at a time")
        async with self._store.write() as uow:
            return await uow.device_events.delete(principal.device.id, list(event_ids))

    async def purge_expired(self) -> int:
        async with self._store.write() as uow:
            return await uow.device_events.purge(self._clock.now())
