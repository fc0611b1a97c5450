"""When a welfare check-in plan is due: recurrence maths in the witness's own zone.

Case staff set a *check-in plan* for a witness and the witness's phone is prompted at
each due time. Design principle 4 says calendar maths is done in the witness's zone
and stored in UTC; this module is that maths. It is pure: frozen dataclasses and
functions, no clock, no I/O beyond loading tzdata through :mod:`zoneinfo`.

Two kinds of plan exist:

``CalendarPlan``
    Each listed weekday at each listed local wall-clock time, e.g. Monday and
    Thursday at 10:00 in Europe/Bucharest.

``IntervalPlan``
    Every ``every_hours`` hours from a local anchor, counted in *wall-clock* hours:
    the occurrences are ``anchor_local + k * every_hours`` (k = 0, 1, 2, ...) read on
    the witness's clock. "Every 12 hours from 08:00" is therefore due at 08:00 and
    20:00 local all year round, across daylight-saving changes. Only occurrences at or
    after the anchor exist.

Product decisions (tested in ``tests/server/test_recurrence.py``):

* **All arithmetic happens on the witness's wall clock** (``zoneinfo``); every result
  is an aware UTC ``datetime``, ready to be stored as a due time.
* **Wall times that do not exist** (the spring-forward gap) are *shifted forward by
  the length of the gap*: the wall time is read with the offset in force before the
  transition (``fold=0``, which is what :mod:`zoneinfo` does). An occurrence is thus
  never skipped and never earlier than the gap. Example: in Europe/Bucharest clocks
  jump from 03:00 to 04:00 on Sunday 2026-03-29, so a 03:30 check-in that day is due
  at 04:30 EEST = 01:30 UTC.
* **Wall times that occur twice** (the fall-back fold) are due *once*, at the first
  occurrence (``fold=0``). Example: in Europe/Bucharest clocks go back from 04:00 to
  03:00 on Sunday 2026-10-25, so a 03:30 check-in that day is due at 03:30 EEST =
  00:30 UTC and not again at 03:30 EET = 01:30 UTC.
* **Coinciding occurrences are merged.** After a gap shift, two wall times can map to
  the same instant (03:30 and 04:30 on the Bucharest spring-forward day are both
  01:30 UTC; an hourly plan's 03:00 merges with 04:00). The witness is prompted once:
  results are strictly increasing. A shift can also reorder two times of one day
  (03:30 shifted to 04:30 comes after 04:15); results are always in instant order.
* **Interval plans keep local times, not elapsed time.** On a DST-change day the
  elapsed time between two occurrences is one hour less (spring) or more (autumn)
  than ``every_hours``: "every 12 hours from 08:00" in Bucharest is due at 20:00 EET
  (18:00 UTC) on 2026-03-28 and then at 08:00 EEST (05:00 UTC) on 2026-03-29, eleven
  hours later. This is what a witness expects: the same local times every day. An
  hourly plan gets one prompt for the repeated hour in autumn (at the first 03:00)
  and none for the missing hour in spring (03:00 merges into 04:00).
* Gaps larger than a day (Pacific/Apia skipped 2011-12-30 entirely) follow the same
  rule: the occurrence moves forward by the gap, so a Friday check-in that day was due
  on Saturday at the same wall time.
* ``next_occurrence`` is strictly after ``after``: asking at exactly a due instant
  returns the next one. It costs a bounded amount of work whatever the distance from
  the anchor (the interval index is computed directly).

UTC offsets are strictly less than 24 hours in magnitude (a ``tzinfo`` contract), so an
occurrence's instant is within a day of its wall time read as UTC. The search below
relies only on that bound, so it is correct for every IANA zone: 30/45-minute offsets
(Asia/Kathmandu), transitions at midnight (America/Santiago, America/Havana), southern
hemisphere DST (Australia/Sydney) and historical changes of standard offset.
"""

from __future__ import annotations

import heapq
import zoneinfo
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import count as _naturals
from itertools import islice, pairwise

MIN_EVERY_HOURS = 1
MAX_EVERY_HOURS = 168

_WEEKDAY_ABBREVIATIONS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_WEEKDAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WEEKDAY_BY_NAME: dict[str, int] = {
    **{abbr.lower(): day for day, abbr in enumerate(_WEEKDAY_ABBREVIATIONS)},
    **{name: day for day, name in enumerate(_WEEKDAY_NAMES)},
}

# |utcoffset| < 24 h for every tzinfo, so an instant lies strictly within a day of its
# wall time read as UTC. This is the only fact about zones the search depends on.
_OFFSET_BOUND = timedelta(hours=24)
_ONE_DAY = timedelta(days=1)


class PlanError(ValueError):
    """A check-in plan (or a part of one, such as a weekday name) is not valid."""


@dataclass(frozen=True, slots=True)
class IntervalPlan:
    """Every ``every_hours`` wall-clock hours from ``anchor_local`` in ``timezone``."""

    every_hours: int
    """1..168."""
    anchor_local: datetime
    """Naive wall-clock time in ``timezone`` where the series starts, minute precision."""
    timezone: str
    """IANA name of the witness's zone, e.g. Europe/Bucharest."""


@dataclass(frozen=True, slots=True)
class CalendarPlan:
    """Each weekday in ``weekdays`` at each local time in ``times``."""

    weekdays: frozenset[int]
    """0 = Monday .. 6 = Sunday, non-empty."""
    times: tuple[time, ...]
    """Naive local wall-clock times, non-empty, strictly increasing, minute precision."""
    timezone: str
    """IANA name of the witness's zone, e.g. Europe/Bucharest."""


Plan = IntervalPlan | CalendarPlan


def validate(plan: Plan) -> None:
    """Check that ``plan`` is well formed and its zone is known.

    Raises:
        PlanError: unknown zone, ``every_hours`` outside 1..168, an aware or
            sub-minute anchor, empty or out-of-range weekdays, empty, unsorted,
            duplicate, aware or sub-minute times.
    """
    _zone(plan)


def next_occurrence(plan: Plan, after: datetime) -> datetime:
    """The first due time strictly after ``after`` (aware, any zone), as aware UTC.

    Raises:
        PlanError: the plan is not valid (see :func:`validate`).
        ValueError: ``after`` is naive.
    """
    return next(_instants(plan, after))


def occurrences(plan: Plan, after: datetime, count: int) -> list[datetime]:
    """The first ``count`` due times strictly after ``after``, strictly increasing, UTC.

    Raises:
        PlanError: the plan is not valid (see :func:`validate`).
        ValueError: ``after`` is naive or ``count`` is negative.
    """
    if count < 0:
        raise ValueError("count must not be negative")
    return list(islice(_instants(plan, after), count))


def parse_weekdays(names: Iterable[str]) -> frozenset[int]:
    """Weekday numbers (0 = Monday) from names such as ``["mon", "Thursday"]``.

    Three-letter abbreviations and full English names are accepted, in any case and
    with surrounding whitespace; duplicates are harmless.

    Raises:
        PlanError: a name is unknown, or there are none (a ``PlanError`` is a
            ``ValueError``).
    """
    if isinstance(names, str):
        raise PlanError("weekdays must be a list of names, not a single string")
    days: set[int] = set()
    for name in names:
        day = _WEEKDAY_BY_NAME.get(name.strip().lower()) if isinstance(name, str) else None
        if day is None:
            raise PlanError(f"unknown weekday {name!r}; use mon..sun or monday..sunday")
        days.add(day)
    if not days:
        raise PlanError("at least one weekday is needed")
    return frozenset(days)


def describe(plan: Plan) -> str:
    """A one-line English summary for staff, e.g. ``Mon, Thu at 10:00 (Europe/Bucharest)``.

    Interval plans read ``every 12 hours from 08:00 (Europe/Bucharest)``; when the
    interval does not divide a day the anchor's date is included, because the time
    of day alone no longer fixes the pattern (``every 5 hours from 2026-03-02 08:00``).

    Raises:
        PlanError: the plan is not valid (see :func:`validate`).
    """
    validate(plan)
    if isinstance(plan, IntervalPlan):
        every = "every hour" if plan.every_hours == 1 else f"every {plan.every_hours} hours"
        start = f"{plan.anchor_local:%H:%M}"
        if 24 % plan.every_hours != 0:
            start = f"{plan.anchor_local:%Y-%m-%d} {start}"
        return f"{every} from {start} ({plan.timezone})"
    days = (
        "every day"
        if len(plan.weekdays) == 7
        else ", ".join(_WEEKDAY_ABBREVIATIONS[day] for day in sorted(plan.weekdays))
    )
    times = ", ".join(f"{t:%H:%M}" for t in plan.times)
    return f"{days} at {times} ({plan.timezone})"


# --- internals ---------------------------------------------------------------------


def _zone(plan: Plan) -> zoneinfo.ZoneInfo:
    """Validate ``plan`` and return its zone (ZoneInfo caches instances per key)."""
    if isinstance(plan, IntervalPlan):
        _check_interval(plan)
    elif isinstance(plan, CalendarPlan):
        _check_calendar(plan)
    else:
        raise PlanError(f"not a check-in plan: {type(plan).__name__}")
    name = plan.timezone
    if not isinstance(name, str) or not name:
        raise PlanError("timezone must be an IANA name such as Europe/Bucharest")
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise PlanError(f"unknown IANA timezone {name!r}") from exc


def _check_interval(plan: IntervalPlan) -> None:
    hours = plan.every_hours
    if (
        not isinstance(hours, int)
        or isinstance(hours, bool)
        or not MIN_EVERY_HOURS <= hours <= MAX_EVERY_HOURS
    ):
        raise PlanError(
            f"every_hours must be a whole number from {MIN_EVERY_HOURS} to {MAX_EVERY_HOURS}"
        )
    anchor = plan.anchor_local
    if not isinstance(anchor, datetime) or anchor.tzinfo is not None:
        raise PlanError("anchor_local must be a naive local wall-clock datetime")
    if anchor.second or anchor.microsecond:
        raise PlanError("anchor_local must be a whole minute")


def _check_calendar(plan: CalendarPlan) -> None:
    weekdays = plan.weekdays
    if not isinstance(weekdays, frozenset) or not weekdays:
        raise PlanError("weekdays must be a non-empty frozenset of 0 (Monday) .. 6 (Sunday)")
    if any(not isinstance(d, int) or isinstance(d, bool) or not 0 <= d <= 6 for d in weekdays):
        raise PlanError("weekdays must be numbers from 0 (Monday) to 6 (Sunday)")
    times = plan.times
    if not isinstance(times, tuple) or not times:
        raise PlanError("times must be a non-empty tuple of local times")
    for t in times:
        if not isinstance(t, time) or t.tzinfo is not None:
            raise PlanError("times must be naive local wall-clock times")
        if t.second or t.microsecond:
            raise PlanError("times must be whole minutes")
    if any(earlier >= later for earlier, later in pairwise(times)):
        raise PlanError("times must be sorted and unique")


def _instants(plan: Plan, after: datetime) -> Iterator[datetime]:
    """Validate eagerly (even if nothing is consumed), then search lazily.

    Raises:
        PlanError: the plan is not valid.
        ValueError: ``after`` is naive.
    """
    zone = _zone(plan)
    if after.tzinfo is None or after.utcoffset() is None:
        raise ValueError("after must be a timezone-aware datetime")
    return _search(plan, zone, after.astimezone(UTC))


def _search(plan: Plan, zone: zoneinfo.ZoneInfo, threshold: datetime) -> Iterator[datetime]:
    """Due instants strictly after ``threshold`` (UTC), strictly increasing, forever.

    Wall times come in non-decreasing order; each is turned into an instant with
    ``fold=0`` (gap: shift forward; fold: first occurrence). Shifts can reorder or
    merge instants, so they pass through a heap. An instant is released once the
    next wall time, less the 24-hour offset bound, has reached it: no later wall
    time can produce an earlier instant.
    """
    # A wall time earlier than this cannot give an instant after `threshold`.
    earliest_wall = threshold.replace(tzinfo=None) - _OFFSET_BOUND

    pending: list[datetime] = []
    last: datetime | None = None
    for wall in _wall_times(plan, earliest_wall):
        release_below = (wall - _OFFSET_BOUND).replace(tzinfo=UTC)
        while pending and pending[0] <= release_below:
            instant = heapq.heappop(pending)
            if instant != last:
                last = instant
                yield instant
        instant = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
        if instant > threshold:
            heapq.heappush(pending, instant)


def _wall_times(plan: Plan, earliest: datetime) -> Iterator[datetime]:
    """The plan's naive wall times from about ``earliest`` on, non-decreasing, forever.

    May start a little before ``earliest``; never omits one at or after it.
    """
    if isinstance(plan, IntervalPlan):
        step = timedelta(hours=plan.every_hours)
        behind = earliest - plan.anchor_local
        # Smallest k >= 0 with anchor + k*step >= earliest: O(1) however far ahead.
        first = max(0, -(-behind // step))
        for k in _naturals(first):
            yield plan.anchor_local + k * step
    else:
        day: date = earliest.date()
        while True:
            if day.weekday() in plan.weekdays:
                for t in plan.times:
                    yield datetime.combine(day, t)
            day += _ONE_DAY
