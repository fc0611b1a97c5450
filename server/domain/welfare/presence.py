"""Is the witness's phone reachable? Decides whether an SMS nudge is needed."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from server.domain.models import Device


def phone_offline(
    phones: Sequence[Device],
    heard: datetime | None,
    offline_after: timedelta,
    now: datetime,
    connected: Callable[[str], bool],
) -> bool:
    """No phone of the witness connected, nor seen (any request) or heard (heartbeat)
    within ``offline_after``."""
    if any(connected(d.id) for d in phones):
        return False
    horizon = now - offline_after
    if heard is not None and heard >= horizon:
        return False
    return not any(d.last_seen_at >= horizon for d in phones)
