"""What the domain tells the real-time layer after a commit.

The domain does not know about WebSockets; it reports facts through this protocol and
the real-time hub (``server.realtime``) turns them into pushes, on this instance and,
with PostgreSQL, on every other instance.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from server.domain.models import MessageCopy


class EventSink(Protocol):
    async def messages_stored(self, copies: Sequence[MessageCopy]) -> None:
        """New copies were committed for these recipient devices."""
        ...

    async def devices_revoked(self, device_ids: Sequence[str]) -> None:
        """These devices were revoked: drop their connections and cached credentials."""
        ...

    async def device_event(self, device_ids: Sequence[str], event: dict[str, Any]) -> None:
        """Push a small, content-free event (check-in prompt, reminder) to devices."""
        ...


class NullEventSink:
    """For the admin command and tools that run without a real-time layer."""

    async def messages_stored(self, copies: Sequence[MessageCopy]) -> None:
        return None

    async def devices_revoked(self, device_ids: Sequence[str]) -> None:
        return None

    async def device_event(self, device_ids: Sequence[str], event: dict[str, Any]) -> None:
        return None
