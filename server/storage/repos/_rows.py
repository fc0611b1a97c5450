"""Small conversions shared by the SQL repositories."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from server.clock import from_ms, to_ms


def ms(when: datetime) -> int:
    return to_ms(when)


def opt_ms(when: datetime | None) -> int | None:
    return None if when is None else to_ms(when)


def dt(value: Any) -> datetime:
    return from_ms(int(value))


def opt_dt(value: Any) -> datetime | None:
    return None if value is None else from_ms(int(value))


def opt_bytes(value: Any) -> bytes | None:
    return None if value is None else bytes(value)
