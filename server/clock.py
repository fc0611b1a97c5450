"""Time as a dependency.

Every time-dependent component takes a :class:`Clock`, so tests move time instead of
sleeping (design principle 10). Timestamps are handled as aware UTC datetimes in the
domain and stored as integer milliseconds since the epoch, which both SQLite and
PostgreSQL compare and index cheaply and without timezone surprises.
"""

from __future__ import annotations

import functools
import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Something that says what time it is now (UTC)."""

    def now(self) -> datetime:
        """Return the current time as an aware UTC datetime."""
        ...


class SystemClock:
    """The real wall clock."""

    def now(self) -> datetime:
        """Return the current UTC time."""
        return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to; for tests and simulations.

    Thread-safe, because the server under test may read it from worker threads.
    """

    def __init__(self, start: datetime | None = None) -> None:
        if start is None:
            start = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
        if start.tzinfo is None:
            raise ValueError("ManualClock needs an aware datetime")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """Return the clock's current time."""
        with self._lock:
            return self._now

    def advance(self, delta: timedelta) -> datetime:
        """Move the clock forward by ``delta`` and return the new time.

        Raises:
            ValueError: if ``delta`` is negative; time never runs backwards here.
        """
        if delta < timedelta(0):
            raise ValueError("time cannot move backwards")
        with self._lock:
            self._now += delta
            return self._now

    def set(self, when: datetime) -> None:
        """Jump to ``when`` (which must not be earlier than now).

        Raises:
            ValueError: if ``when`` is naive or in the past of this clock.
        """
        if when.tzinfo is None:
            raise ValueError("ManualClock needs an aware datetime")
        with self._lock:
            if when < self._now:
                raise ValueError("time cannot move backwards")
            self._now = when.astimezone(UTC)


class DatabaseClock:
    """Which time leases are taken and compared with: the database server's.

    Leases are compared with the database's time (one clock for every instance), never
    an instance's own clock: two instances whose clocks differ by more than a lease
    would otherwise both believe they hold a row. In production the database's time is
    used as it is. A test that moves an injected clock builds this ``following`` that
    clock: the database's time is then pinned to it (exactly, so a test can stand on
    a lease's last millisecond), and several instances with clocks of their own can
    share one.
    """

    def __init__(self, following: Clock | None = None) -> None:
        self._following = following

    @classmethod
    def for_instance(cls, clock: Clock) -> DatabaseClock:
        """The database clock an instance uses by default: the real one, or one that
        follows ``clock`` when that is not the system clock (a test's clock)."""
        return cls(None if isinstance(clock, SystemClock) else clock)

    def pinned_ms(self) -> int | None:
        """The database time to use instead of the server's (epoch ms), or None."""
        if self._following is None:
            return None
        return to_ms(self._following.now())


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def to_ms(when: datetime) -> int:
    """Convert an aware datetime to integer milliseconds since the epoch.

    Integer arithmetic, not ``timestamp() * 1000``: the float product can land just
    below a whole millisecond and truncate to the one before, which would make stored
    times (and the audit chain's hashes over them) fail to round-trip.
    """
    return (when - _EPOCH) // _MS


@functools.lru_cache(maxsize=65536)
def from_ms(ms: int) -> datetime:
    """Convert integer milliseconds since the epoch to an aware UTC datetime.

    This runs for every time column of every row read, so it is cached (datetimes are
    immutable; a wave of lapses shares a handful of instants) and uses exact integer
    arithmetic with positional ``timedelta`` arguments, the fast form.
    """
    seconds, millis = divmod(ms, 1000)
    return _EPOCH + timedelta(0, seconds, millis * 1000)


@functools.lru_cache(maxsize=4096)
def iso(when: datetime) -> str:
    """Render an aware datetime as an RFC 3339 UTC string with millisecond precision.

    Cached: a sweep renders the same few instants for thousands of events.
    """
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class FileClock:
    """A clock read from a file holding an ISO 8601 time: for tests that run real
    server processes (crash tests, two instances on one database) and need to move
    time for all of them at once without waiting for it.

    Enabled only by ``WITNESSLINK_TEST_CLOCK_FILE``; never in production.
    """

    def __init__(self, path: str) -> None:
        self._path = path
        self._cached: tuple[float, datetime] | None = None

    def now(self) -> datetime:
        """The time written in the file (re-read whenever the file changes)."""
        import os

        stamp = os.stat(self._path).st_mtime_ns
        if self._cached is None or self._cached[0] != stamp:
            with open(self._path, encoding="ascii") as handle:
                value = datetime.fromisoformat(handle.read().strip())
            self._cached = (stamp, value.astimezone(UTC))
        return self._cached[1]

    @staticmethod
    def write(path: str, when: datetime) -> None:
        """Set the time for every process reading ``path`` (atomically)."""
        import os

        temporary = f"{path}.{os.getpid()}.tmp"
        with open(temporary, "w", encoding="ascii") as handle:
            handle.write(when.astimezone(UTC).isoformat())
        os.replace(temporary, path)
