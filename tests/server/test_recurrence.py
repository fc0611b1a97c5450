"""Check-in plan recurrence: due times in the witness's zone, stored in UTC.

Every expected instant below was worked out by hand from the zone's rules and is
written in UTC, with the local reading alongside. The 2026 transitions used:

* Europe/Bucharest: 2026-03-29 03:00 EET -> 04:00 EEST (01:00 UTC);
  2026-10-25 04:00 EEST -> 03:00 EET (01:00 UTC).
* America/New_York: 2026-03-08 02:00 EST -> 03:00 EDT (07:00 UTC);
  2026-11-01 02:00 EDT -> 01:00 EST (06:00 UTC).
* Australia/Sydney: 2026-04-05 03:00 AEDT -> 02:00 AEST (2026-04-04 16:00 UTC);
  2026-10-04 02:00 AEST -> 03:00 AEDT (2026-10-03 16:00 UTC).
* America/Santiago (at midnight): 2026-04-05 00:00 -03 -> 2026-04-04 23:00 -04
  (03:00 UTC); 2026-09-06 00:00 -04 -> 01:00 -03 (04:00 UTC).
* America/Havana (at midnight): 2026-03-08 00:00 CST -> 01:00 CDT (05:00 UTC).
* Australia/Lord_Howe (half-hour DST): 2026-10-04 02:00 +10:30 -> 02:30 +11.
* Asia/Kathmandu: +05:45 all year.
"""

from __future__ import annotations

import functools
import time as wallclock
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo, available_timezones

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from server.domain.recurrence import (
    CalendarPlan,
    IntervalPlan,
    Plan,
    PlanError,
    describe,
    next_occurrence,
    occurrences,
    parse_weekdays,
    validate,
)

MON, TUE, WED, THU, FRI, SAT, SUN = range(7)
BUCHAREST = "Europe/Bucharest"


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def calendar(zone: str, weekdays: set[int], *times: str) -> CalendarPlan:
    return CalendarPlan(
        weekdays=frozenset(weekdays),
        times=tuple(time.fromisoformat(t) for t in times),
        timezone=zone,
    )


def interval(zone: str, every_hours: int, anchor: str) -> IntervalPlan:
    return IntervalPlan(
        every_hours=every_hours, anchor_local=datetime.fromisoformat(anchor), timezone=zone
    )


def local(instant: datetime, zone: str) -> str:
    """How the witness's clock reads at ``instant``, e.g. '2026-03-29 04:30 +0300'."""
    return instant.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %z")


# --- Europe/Bucharest: spring forward and fall back ------------------------------------


class TestBucharestCalendar:
    def test_time_in_the_spring_gap_is_shifted_forward_by_the_gap(self) -> None:
        # 03:30 does not exist on 2026-03-29: read with the pre-transition offset (+2)
        # it is 01:30 UTC, which the witness's clock shows as 04:30 EEST.
        plan = calendar(BUCHAREST, {SUN}, "03:30")
        due = occurrences(plan, utc(2026, 3, 21), 3)
        assert due == [
            utc(2026, 3, 22, 1, 30),  # 03:30 EET (+2)
            utc(2026, 3, 29, 1, 30),  # 03:30 does not exist -> 04:30 EEST
            utc(2026, 4, 5, 0, 30),  # 03:30 EEST (+3)
        ]
        assert local(due[1], BUCHAREST) == "2026-03-29 04:30 +0300"
        gap_end = utc(2026, 3, 29, 1, 0)
        assert due[1] >= gap_end

    def test_time_at_the_start_of_the_gap_is_due_when_the_gap_ends(self) -> None:
        plan = calendar(BUCHAREST, {SUN}, "03:00")
        due = next_occurrence(plan, utc(2026, 3, 28))
        assert due == utc(2026, 3, 29, 1, 0)
        assert local(due, BUCHAREST) == "2026-03-29 04:00 +0300"

    def test_ambiguous_time_in_autumn_is_due_once_at_the_first_occurrence(self) -> None:
        # 03:30 happens twice on 2026-10-25: 03:30 EEST (00:30 UTC), then 03:30 EET
        # (01:30 UTC). Only the first is a due time.
        plan = calendar(BUCHAREST, {SUN}, "03:30")
        assert occurrences(plan, utc(2026, 10, 17), 3) == [
            utc(2026, 10, 18, 0, 30),  # 03:30 EEST
            utc(2026, 10, 25, 0, 30),  # first 03:30, still EEST
            utc(2026, 11, 1, 1, 30),  # 03:30 EET
        ]
        # Asking at the first 03:30 does not produce the second one.
        assert next_occurrence(plan, utc(2026, 10, 25, 0, 30)) == utc(2026, 11, 1, 1, 30)

    def test_shifted_times_are_reordered_and_merged_not_duplicated(self) -> None:
        # On 2026-03-29: 03:30 -> 04:30 EEST (01:30 UTC), 04:15 EEST is 01:15 UTC and
        # 04:30 EEST is 01:30 UTC. The witness is prompted at 01:15 and once at 01:30.
        plan = calendar(BUCHAREST, {SUN}, "03:30", "04:15", "04:30")
        assert occurrences(plan, utc(2026, 3, 28), 5) == [
            utc(2026, 3, 29, 1, 15),
            utc(2026, 3, 29, 1, 30),
            utc(2026, 4, 5, 0, 30),  # 03:30 EEST
            utc(2026, 4, 5, 1, 15),  # 04:15 EEST
            utc(2026, 4, 5, 1, 30),  # 04:30 EEST
        ]

    def test_monday_and_thursday_at_ten_across_the_spring_change(self) -> None:
        plan = calendar(BUCHAREST, {MON, THU}, "10:00")
        assert occurrences(plan, utc(2026, 3, 22), 4) == [
            utc(2026, 3, 23, 8, 0),  # Mon 10:00 EET
            utc(2026, 3, 26, 8, 0),  # Thu 10:00 EET
            utc(2026, 3, 30, 7, 0),  # Mon 10:00 EEST (clocks changed on Sunday)
            utc(2026, 4, 2, 7, 0),  # Thu 10:00 EEST
        ]

    def test_monday_and_thursday_at_ten_across_the_autumn_change(self) -> None:
        plan = calendar(BUCHAREST, {MON, THU}, "10:00")
        assert occurrences(plan, utc(2026, 10, 19), 4) == [
            utc(2026, 10, 19, 7, 0),  # Mon 10:00 EEST
            utc(2026, 10, 22, 7, 0),  # Thu 10:00 EEST
            utc(2026, 10, 26, 8, 0),  # Mon 10:00 EET
            utc(2026, 10, 29, 8, 0),  # Thu 10:00 EET
        ]


class TestBucharestInterval:
    def test_every_12_hours_keeps_local_times_over_spring_forward(self) -> None:
        plan = interval(BUCHAREST, 12, "2026-03-01T08:00")
        due = occurrences(plan, utc(2026, 3, 28), 4)
        assert due == [
            utc(2026, 3, 28, 6, 0),  # 08:00 EET
            utc(2026, 3, 28, 18, 0),  # 20:00 EET
            utc(2026, 3, 29, 5, 0),  # 08:00 EEST
            utc(2026, 3, 29, 17, 0),  # 20:00 EEST
        ]
        assert [local(d, BUCHAREST)[11:16] for d in due] == ["08:00", "20:00"] * 2
        # The night the clocks go forward is one hour shorter.
        assert due[2] - due[1] == timedelta(hours=11)

    def test_every_12_hours_keeps_local_times_over_fall_back(self) -> None:
        plan = interval(BUCHAREST, 12, "2026-03-01T08:00")
        due = occurrences(plan, utc(2026, 10, 24), 4)
        assert due == [
            utc(2026, 10, 24, 5, 0),  # 08:00 EEST
            utc(2026, 10, 24, 17, 0),  # 20:00 EEST
            utc(2026, 10, 25, 6, 0),  # 08:00 EET
            utc(2026, 10, 25, 18, 0),  # 20:00 EET
        ]
        assert due[2] - due[1] == timedelta(hours=13)

    def test_hourly_plan_merges_the_missing_hour_into_the_next(self) -> None:
        # Walls 01:00, 02:00 EET; 03:00 does not exist (-> 04:00 EEST); 04:00, 05:00 EEST.
        plan = interval(BUCHAREST, 1, "2026-03-29T00:00")
        assert occurrences(plan, utc(2026, 3, 28, 22, 30), 4) == [
            utc(2026, 3, 28, 23, 0),  # 01:00 EET
            utc(2026, 3, 29, 0, 0),  # 02:00 EET
            utc(2026, 3, 29, 1, 0),  # 03:00 shifted to 04:00 EEST, merged with 04:00
            utc(2026, 3, 29, 2, 0),  # 05:00 EEST
        ]

    def test_hourly_plan_prompts_once_in_the_repeated_hour(self) -> None:
        # Walls 00:00 .. 05:00 on 2026-10-25; 03:00 happens twice and is due once (EEST).
        plan = interval(BUCHAREST, 1, "2026-10-25T00:00")
        assert occurrences(plan, utc(2026, 10, 24, 20, 59), 6) == [
            utc(2026, 10, 24, 21, 0),  # 00:00 EEST (the anchor)
            utc(2026, 10, 24, 22, 0),  # 01:00 EEST
            utc(2026, 10, 24, 23, 0),  # 02:00 EEST
            utc(2026, 10, 25, 0, 0),  # 03:00 EEST, the first 03:00
            utc(2026, 10, 25, 2, 0),  # 04:00 EET (no prompt at the second 03:00)
            utc(2026, 10, 25, 3, 0),  # 05:00 EET
        ]

    def test_anchor_inside_the_gap_is_shifted_forward(self) -> None:
        plan = interval(BUCHAREST, 24, "2026-03-29T03:30")
        assert occurrences(plan, utc(2026, 1, 1), 2) == [
            utc(2026, 3, 29, 1, 30),  # 04:30 EEST
            utc(2026, 3, 30, 0, 30),  # 03:30 EEST
        ]

    def test_nothing_is_due_before_the_anchor(self) -> None:
        plan = interval(BUCHAREST, 12, "2026-03-01T08:00")
        assert next_occurrence(plan, utc(2020, 1, 1)) == utc(2026, 3, 1, 6, 0)
        assert next_occurrence(plan, utc(2026, 3, 1, 5, 59)) == utc(2026, 3, 1, 6, 0)


# --- Other zones ---------------------------------------------------------------------


class TestNewYork:
    """US clocks change on other dates than the EU's (2026-03-08 and 2026-11-01)."""

    def test_monday_and_thursday_follow_the_us_dates_not_the_eu_ones(self) -> None:
        plan = calendar("America/New_York", {MON, THU}, "10:00")
        assert occurrences(plan, utc(2026, 3, 4), 4) == [
            utc(2026, 3, 5, 15, 0),  # Thu 10:00 EST
            utc(2026, 3, 9, 14, 0),  # Mon 10:00 EDT (US changed on Sunday 8th)
            utc(2026, 3, 12, 14, 0),
            utc(2026, 3, 16, 14, 0),
        ]
        # The EU change on 2026-03-29 does not move a New York witness.
        assert next_occurrence(plan, utc(2026, 3, 29)) == utc(2026, 3, 30, 14, 0)
        assert occurrences(plan, utc(2026, 10, 26), 3) == [
            utc(2026, 10, 26, 14, 0),  # Mon 10:00 EDT, though Europe changed on 25th
            utc(2026, 10, 29, 14, 0),  # Thu 10:00 EDT
            utc(2026, 11, 2, 15, 0),  # Mon 10:00 EST
        ]

    def test_same_local_time_differs_in_utc_from_a_bucharest_witness(self) -> None:
        # In the weeks between the US and EU changes the gap is 6 hours, not 7.
        ny = calendar("America/New_York", {MON}, "10:00")
        ro = calendar(BUCHAREST, {MON}, "10:00")
        after = utc(2026, 3, 22)
        assert next_occurrence(ny, after) - next_occurrence(ro, after) == timedelta(hours=6)
        after = utc(2026, 4, 5)
        assert next_occurrence(ny, after) - next_occurrence(ro, after) == timedelta(hours=7)

    def test_gap_and_fold(self) -> None:
        gap = calendar("America/New_York", {SUN}, "02:30")
        assert next_occurrence(gap, utc(2026, 3, 7)) == utc(2026, 3, 8, 7, 30)  # 03:30 EDT
        fold = calendar("America/New_York", {SUN}, "01:30")
        assert occurrences(fold, utc(2026, 10, 31), 2) == [
            utc(2026, 11, 1, 5, 30),  # first 01:30, EDT
            utc(2026, 11, 8, 6, 30),  # 01:30 EST
        ]


class TestKathmandu:
    def test_quarter_hour_offset(self) -> None:
        plan = calendar("Asia/Kathmandu", set(range(7)), "08:00")
        assert occurrences(plan, utc(2026, 6, 1), 2) == [
            utc(2026, 6, 1, 2, 15),
            utc(2026, 6, 2, 2, 15),
        ]

    def test_interval(self) -> None:
        plan = interval("Asia/Kathmandu", 6, "2026-01-01T00:00")
        assert occurrences(plan, utc(2025, 12, 31), 4) == [
            utc(2025, 12, 31, 18, 15),
            utc(2026, 1, 1, 0, 15),
            utc(2026, 1, 1, 6, 15),
            utc(2026, 1, 1, 12, 15),
        ]


class TestSydney:
    """Southern hemisphere: clocks go back in April and forward in October."""

    def test_weekday_is_the_witnesss_weekday_not_utcs(self) -> None:
        # Monday 10:00 in Sydney is still Sunday in UTC while DST is on.
        plan = calendar("Australia/Sydney", {MON}, "10:00")
        assert occurrences(plan, utc(2026, 3, 29), 2) == [
            utc(2026, 3, 29, 23, 0),  # Mon 2026-03-30 10:00 AEDT (+11)
            utc(2026, 4, 6, 0, 0),  # Mon 2026-04-06 10:00 AEST (+10)
        ]

    def test_ambiguous_time_in_april(self) -> None:
        plan = calendar("Australia/Sydney", {SUN}, "02:30")
        assert occurrences(plan, utc(2026, 4, 1), 2) == [
            utc(2026, 4, 4, 15, 30),  # first 02:30 on 2026-04-05, AEDT
            utc(2026, 4, 11, 16, 30),  # 02:30 AEST on 2026-04-12
        ]

    def test_gap_in_october(self) -> None:
        plan = calendar("Australia/Sydney", {SUN}, "02:30")
        due = occurrences(plan, utc(2026, 9, 26), 3)
        assert due == [
            utc(2026, 9, 26, 16, 30),  # 02:30 AEST on 2026-09-27
            utc(2026, 10, 3, 16, 30),  # 02:30 missing on 2026-10-04 -> 03:30 AEDT
            utc(2026, 10, 10, 15, 30),  # 02:30 AEDT on 2026-10-11
        ]
        assert local(due[1], "Australia/Sydney") == "2026-10-04 03:30 +1100"

    def test_interval_across_both_changes(self) -> None:
        plan = interval("Australia/Sydney", 12, "2026-01-01T08:00")
        assert occurrences(plan, utc(2026, 4, 4, 8), 2) == [
            utc(2026, 4, 4, 9, 0),  # 20:00 AEDT on 2026-04-04
            utc(2026, 4, 4, 22, 0),  # 08:00 AEST on 2026-04-05, 13 h later
        ]
        assert occurrences(plan, utc(2026, 10, 3, 9), 2) == [
            utc(2026, 10, 3, 10, 0),  # 20:00 AEST on 2026-10-03
            utc(2026, 10, 3, 21, 0),  # 08:00 AEDT on 2026-10-04, 11 h later
        ]


class TestMidnightTransitions:
    def test_santiago_gap_at_midnight_stays_on_the_same_day(self) -> None:
        plan = calendar("America/Santiago", {SUN}, "00:30")
        due = next_occurrence(plan, utc(2026, 9, 5))
        assert due == utc(2026, 9, 6, 4, 30)
        assert local(due, "America/Santiago") == "2026-09-06 01:30 -0300"

    def test_santiago_repeated_hour_before_midnight(self) -> None:
        plan = calendar("America/Santiago", {SAT}, "23:30")
        assert occurrences(plan, utc(2026, 4, 4), 2) == [
            utc(2026, 4, 5, 2, 30),  # first 23:30 on Saturday 2026-04-04, -03
            utc(2026, 4, 12, 3, 30),  # 23:30 -04 on 2026-04-11
        ]

    def test_havana_daily_midnight_interval(self) -> None:
        plan = interval("America/Havana", 24, "2026-03-01T00:00")
        due = occurrences(plan, utc(2026, 3, 7), 3)
        assert due == [
            utc(2026, 3, 7, 5, 0),  # 00:00 CST
            utc(2026, 3, 8, 5, 0),  # 00:00 missing -> 01:00 CDT
            utc(2026, 3, 9, 4, 0),  # 00:00 CDT
        ]
        assert local(due[1], "America/Havana") == "2026-03-08 01:00 -0400"

    def test_lord_howe_half_hour_gap(self) -> None:
        plan = calendar("Australia/Lord_Howe", {SUN}, "02:15")
        due = next_occurrence(plan, utc(2026, 10, 1))
        assert due == utc(2026, 10, 3, 15, 45)
        assert local(due, "Australia/Lord_Howe") == "2026-10-04 02:45 +1100"

    def test_apia_skipped_day_moves_friday_to_saturday(self) -> None:
        # Samoa skipped Friday 2011-12-30: 23:59 on the 29th (-10) became the 31st (+14).
        friday = calendar("Pacific/Apia", {FRI}, "10:00")
        assert occurrences(friday, utc(2011, 12, 20), 3) == [
            utc(2011, 12, 23, 20, 0),  # Fri 10:00 -10
            utc(2011, 12, 30, 20, 0),  # no Friday: Sat 2011-12-31 10:00 +14
            utc(2012, 1, 5, 20, 0),  # Fri 2012-01-06 10:00 +14
        ]
        friday_and_saturday = calendar("Pacific/Apia", {FRI, SAT}, "10:00")
        assert occurrences(friday_and_saturday, utc(2011, 12, 29), 2) == [
            utc(2011, 12, 30, 20, 0),  # merged: one prompt
            utc(2012, 1, 5, 20, 0),
        ]


# --- Contract ------------------------------------------------------------------------


class TestStrictlyAfter:
    @pytest.mark.parametrize(
        "plan",
        [
            calendar(BUCHAREST, {MON, THU}, "10:00", "18:30"),
            interval(BUCHAREST, 12, "2026-03-01T08:00"),
            interval("Asia/Kathmandu", 7, "2026-03-01T08:00"),
        ],
    )
    def test_asking_exactly_at_a_due_time_returns_the_next(self, plan: Plan) -> None:
        first, second, third = occurrences(plan, utc(2026, 3, 20), 3)
        assert next_occurrence(plan, first) == second
        assert next_occurrence(plan, second) == third
        assert next_occurrence(plan, first - timedelta(microseconds=1)) == first
        assert occurrences(plan, first, 2) == [second, third]

    def test_after_may_be_in_any_zone(self) -> None:
        plan = calendar(BUCHAREST, {MON}, "10:00")
        in_tokyo = datetime(2026, 3, 23, 17, 0, tzinfo=ZoneInfo("Asia/Tokyo"))  # 08:00 UTC
        assert next_occurrence(plan, in_tokyo) == utc(2026, 3, 30, 7, 0)
        result = next_occurrence(plan, in_tokyo - timedelta(minutes=1))
        assert result == utc(2026, 3, 23, 8, 0)
        assert result.tzinfo is UTC

    def test_naive_after_is_rejected(self) -> None:
        plan = calendar(BUCHAREST, {MON}, "10:00")
        with pytest.raises(ValueError, match="timezone-aware"):
            next_occurrence(plan, datetime(2026, 3, 23))

    def test_count(self) -> None:
        plan = calendar(BUCHAREST, {MON}, "10:00")
        assert occurrences(plan, utc(2026, 3, 23), 0) == []
        with pytest.raises(ValueError, match="count"):
            occurrences(plan, utc(2026, 3, 23), -1)


class TestLongGaps:
    def test_ten_years_after_the_anchor_is_exact_and_fast(self) -> None:
        plan = interval(BUCHAREST, 12, "2016-01-01T08:00")
        assert next_occurrence(plan, utc(2026, 7, 1)) == utc(2026, 7, 1, 5, 0)  # 08:00 EEST
        hourly = interval(BUCHAREST, 1, "2016-01-01T08:00")
        weekly = interval("America/New_York", 168, "2016-01-04T09:00")  # Mondays
        assert next_occurrence(weekly, utc(2026, 3, 10)) == utc(2026, 3, 16, 13, 0)
        started = wallclock.perf_counter()
        for day in range(300):
            after = utc(2026, 1, 1) + timedelta(days=day, minutes=7 * day)
            next_occurrence(hourly, after)
            next_occurrence(weekly, after + timedelta(days=36500))  # a century on
        assert wallclock.perf_counter() - started < 2.0  # ~0.1 ms each in practice


class TestYearLong:
    """Every due time maps back to the configured local time, except inside a gap."""

    @pytest.mark.parametrize(
        "zone",
        [BUCHAREST, "America/New_York", "Australia/Sydney", "America/Santiago", "Asia/Kathmandu"],
    )
    def test_calendar_plan_for_a_year(self, zone: str) -> None:
        plan = calendar(zone, {MON, THU, SUN}, "00:00", "00:30", "02:30", "03:30", "23:30")
        due = occurrences(plan, utc(2026, 1, 1), 3 * 52 * 5)
        assert_strictly_increasing(due)
        for instant in due:
            assert_calendar_wall_time(plan, instant)

    @pytest.mark.parametrize("zone", [BUCHAREST, "America/Havana", "Australia/Lord_Howe"])
    @pytest.mark.parametrize("every_hours", [1, 5, 12, 24])
    def test_interval_plan_for_a_year(self, zone: str, every_hours: int) -> None:
        plan = interval(zone, every_hours, "2025-12-31T00:30")
        due = occurrences(plan, utc(2026, 1, 1), 365 * 24 // every_hours)
        assert_strictly_increasing(due)
        for instant in due:
            assert_interval_wall_time(plan, instant)


# --- Validation, parsing, description ------------------------------------------------


INVALID_PLANS = {
    "every_hours 0": IntervalPlan(0, datetime(2026, 3, 1, 8), BUCHAREST),
    "every_hours 169": IntervalPlan(169, datetime(2026, 3, 1, 8), BUCHAREST),
    "every_hours bool": IntervalPlan(True, datetime(2026, 3, 1, 8), BUCHAREST),
    "aware anchor": IntervalPlan(12, datetime(2026, 3, 1, 8, tzinfo=UTC), BUCHAREST),
    "anchor seconds": IntervalPlan(12, datetime(2026, 3, 1, 8, 0, 30), BUCHAREST),
    "unknown zone": IntervalPlan(12, datetime(2026, 3, 1, 8), "Mars/Olympus_Mons"),
    "empty zone": calendar("", {MON}, "10:00"),
    "zone directory": calendar("America", {MON}, "10:00"),
    "zone path": calendar("/etc/passwd", {MON}, "10:00"),
    "zone traversal": calendar("../../etc/passwd", {MON}, "10:00"),
    "no weekdays": calendar(BUCHAREST, set(), "10:00"),
    "weekday 7": calendar(BUCHAREST, {7}, "10:00"),
    "weekday -1": calendar(BUCHAREST, {-1}, "10:00"),
    "no times": calendar(BUCHAREST, {MON}),
    "unsorted times": calendar(BUCHAREST, {MON}, "18:00", "10:00"),
    "duplicate times": calendar(BUCHAREST, {MON}, "10:00", "10:00"),
    "time seconds": calendar(BUCHAREST, {MON}, "10:00:30"),
    "aware time": CalendarPlan(frozenset({MON}), (time(10, tzinfo=UTC),), BUCHAREST),
    "weekdays not frozen": CalendarPlan({MON}, (time(10),), BUCHAREST),  # type: ignore[arg-type]
    "times not a tuple": CalendarPlan(frozenset({MON}), [time(10)], BUCHAREST),  # type: ignore[arg-type]
}


class TestValidation:
    @pytest.mark.parametrize("plan", INVALID_PLANS.values(), ids=INVALID_PLANS.keys())
    def test_invalid_plans_raise_plan_error_everywhere(self, plan: Plan) -> None:
        with pytest.raises(PlanError):
            validate(plan)
        with pytest.raises(PlanError):
            next_occurrence(plan, utc(2026, 3, 1))
        with pytest.raises(PlanError):
            occurrences(plan, utc(2026, 3, 1), 0)
        with pytest.raises(PlanError):
            describe(plan)

    def test_plan_error_is_a_value_error(self) -> None:
        assert issubclass(PlanError, ValueError)

    @pytest.mark.parametrize(
        "plan",
        [
            interval(BUCHAREST, 1, "2026-03-01T08:00"),
            interval("UTC", 168, "2026-03-01T08:00"),
            calendar("Asia/Kathmandu", set(range(7)), "00:00", "23:59"),
        ],
    )
    def test_valid_plans_pass(self, plan: Plan) -> None:
        validate(plan)


class TestParseWeekdays:
    def test_abbreviations_and_full_names_in_any_case(self) -> None:
        assert parse_weekdays(["mon", "Thu"]) == frozenset({MON, THU})
        assert parse_weekdays(["MONDAY", " sunday ", "Mon"]) == frozenset({MON, SUN})
        names = ["tue", "wed", "fri", "sat", "Tuesday", "wednesday", "FRIDAY", "Saturday"]
        assert parse_weekdays(names) == frozenset({TUE, WED, FRI, SAT})

    @pytest.mark.parametrize("names", [[], ["mon", "tues"], ["lundi"], [""], "mon"])
    def test_unknown_or_empty_is_rejected(self, names: list[str]) -> None:
        with pytest.raises(PlanError):
            parse_weekdays(names)
        with pytest.raises(ValueError):  # noqa: PT011 - PlanError is the ValueError promised
            parse_weekdays(names)


class TestDescribe:
    @pytest.mark.parametrize(
        ("plan", "text"),
        [
            (
                interval(BUCHAREST, 12, "2026-03-01T08:00"),
                "every 12 hours from 08:00 (Europe/Bucharest)",
            ),
            (
                interval(BUCHAREST, 1, "2026-03-01T08:05"),
                "every hour from 08:05 (Europe/Bucharest)",
            ),
            (
                interval("Asia/Kathmandu", 5, "2026-03-02T08:00"),
                "every 5 hours from 2026-03-02 08:00 (Asia/Kathmandu)",
            ),
            (calendar(BUCHAREST, {THU, MON}, "10:00"), "Mon, Thu at 10:00 (Europe/Bucharest)"),
            (
                calendar("America/New_York", {SUN, SAT}, "09:00", "21:30"),
                "Sat, Sun at 09:00, 21:30 (America/New_York)",
            ),
            (calendar(BUCHAREST, set(range(7)), "10:00"), "every day at 10:00 (Europe/Bucharest)"),
        ],
    )
    def test_summary(self, plan: Plan, text: str) -> None:
        assert describe(plan) == text


# --- Shared checks -------------------------------------------------------------------


def assert_strictly_increasing(due: list[datetime]) -> None:
    assert all(instant.tzinfo is UTC for instant in due)
    assert all(earlier < later for earlier, later in pairwise(due))


def exists(wall: datetime, zone: ZoneInfo) -> bool:
    """Whether the naive wall time ``wall`` is shown by a clock in ``zone`` at some instant."""
    instant = wall.replace(tzinfo=zone).astimezone(UTC)
    return instant.astimezone(zone).replace(tzinfo=None) == wall


def shifted(wall: datetime, zone: ZoneInfo) -> datetime:
    """The documented instant for ``wall``: pre-transition offset in a gap, first in a fold."""
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)


def explained_by_gap(
    instant: datetime, zone: ZoneInfo, walls: Callable[[date], list[datetime]]
) -> bool:
    """Whether ``instant`` is the forward-shifted image of a configured wall time that
    does not exist (looking at the configured walls of nearby local days)."""
    day = instant.astimezone(zone).date()
    candidates = [w for offset in (-2, -1, 0) for w in walls(day + timedelta(days=offset))]
    return any(not exists(w, zone) and shifted(w, zone) == instant for w in candidates)


def assert_calendar_wall_time(plan: CalendarPlan, instant: datetime) -> None:
    zone = ZoneInfo(plan.timezone)
    reading = instant.astimezone(zone)
    on_schedule = reading.weekday() in plan.weekdays and reading.time() in plan.times

    def walls(day: date) -> list[datetime]:
        if day.weekday() not in plan.weekdays:
            return []
        return [datetime.combine(day, t) for t in plan.times]

    # fold == 0: in a repeated hour it is the first pass that is due.
    assert (on_schedule and reading.fold == 0) or explained_by_gap(instant, zone, walls), (
        f"{instant} reads {reading} in {plan.timezone}, not a configured time"
    )


def assert_interval_wall_time(plan: IntervalPlan, instant: datetime) -> None:
    zone = ZoneInfo(plan.timezone)
    reading = instant.astimezone(zone)
    step = timedelta(hours=plan.every_hours)
    since_anchor = reading.replace(tzinfo=None, fold=0) - plan.anchor_local
    on_schedule = since_anchor >= timedelta(0) and since_anchor % step == timedelta(0)

    def walls(day: date) -> list[datetime]:
        start = datetime.combine(day, time())
        first = max(0, -(-(start - plan.anchor_local) // step))
        found: list[datetime] = []
        wall = plan.anchor_local + first * step
        while wall < start + timedelta(days=1):
            found.append(wall)
            wall += step
        return found

    assert (on_schedule and reading.fold == 0) or explained_by_gap(instant, zone, walls), (
        f"{instant} reads {reading} in {plan.timezone}, not a configured time"
    )


# --- Properties (hypothesis, a test dependency) ----------------------------------------

ZONES = sorted(available_timezones())
# No example database: a failure prints its reproduction blob instead of writing
# into the working tree.
PROPERTY_SETTINGS = settings(
    max_examples=300,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)

minutes_of_day = st.builds(time, st.integers(0, 23), st.integers(0, 59))
calendar_plans = st.builds(
    CalendarPlan,
    weekdays=st.frozensets(st.integers(0, 6), min_size=1),
    times=st.lists(minutes_of_day, min_size=1, max_size=4, unique=True).map(
        lambda ts: tuple(sorted(ts))
    ),
    timezone=st.sampled_from(ZONES),
)
anchors = st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1)).map(
    lambda d: d.replace(second=0, microsecond=0)
)
interval_plans = st.builds(
    IntervalPlan,
    every_hours=st.integers(1, 168),
    anchor_local=anchors,
    timezone=st.sampled_from(ZONES),
)
moments = st.datetimes(
    min_value=datetime(1900, 1, 1),
    max_value=datetime(2100, 1, 1),
    timezones=st.sampled_from([UTC, ZoneInfo("Asia/Kathmandu"), ZoneInfo(BUCHAREST)]),
)


def reference(plan: Plan, after: datetime, until: datetime) -> list[datetime]:
    """Brute force: every configured wall time near (after, until], read with fold=0."""
    zone = ZoneInfo(plan.timezone)
    low = after.astimezone(UTC).replace(tzinfo=None) - timedelta(days=2)
    high = until.astimezone(UTC).replace(tzinfo=None) + timedelta(days=2)
    walls: list[datetime] = []
    if isinstance(plan, CalendarPlan):
        day = low.date()
        while day <= high.date():
            if day.weekday() in plan.weekdays:
                walls.extend(datetime.combine(day, t) for t in plan.times)
            day += timedelta(days=1)
    else:
        step = timedelta(hours=plan.every_hours)
        wall = plan.anchor_local
        if low > wall:
            wall += ((low - wall) // step) * step
        while wall <= high:
            walls.append(wall)
            wall += step
    instants = {shifted(w, zone) for w in walls}
    return sorted(i for i in instants if after < i <= until)


def check(plan: Plan, after: datetime, count: int) -> None:
    due = occurrences(plan, after, count)
    assert len(due) == count
    assert_strictly_increasing(due)
    assert all(instant > after for instant in due)
    # Nothing skipped, nothing invented: exactly the configured times in the window.
    assert due == reference(plan, after, due[-1])
    # next_occurrence agrees and chains.
    assert next_occurrence(plan, after) == due[0]
    for earlier, later in pairwise(due):
        assert next_occurrence(plan, earlier) == later
    for instant in due:
        if isinstance(plan, CalendarPlan):
            assert_calendar_wall_time(plan, instant)
        else:
            assert_interval_wall_time(plan, instant)


@PROPERTY_SETTINGS
@given(plan=calendar_plans, after=moments, count=st.integers(1, 20))
def test_calendar_properties(plan: CalendarPlan, after: datetime, count: int) -> None:
    check(plan, after, count)


@PROPERTY_SETTINGS
@given(
    plan=interval_plans,
    lead=st.timedeltas(min_value=timedelta(days=-10), max_value=timedelta(days=3700)),
    count=st.integers(1, 20),
)
def test_interval_properties(plan: IntervalPlan, lead: timedelta, count: int) -> None:
    anchor = plan.anchor_local.replace(tzinfo=ZoneInfo(plan.timezone)).astimezone(UTC)
    check(plan, anchor + lead, count)


@PROPERTY_SETTINGS
@given(plan=calendar_plans, after=moments)
def test_calendar_never_skips_a_day(plan: CalendarPlan, after: datetime) -> None:
    # Over three weeks every scheduled local day gets every configured time: either
    # exactly that wall time (first pass) or, if it does not exist, the shifted one.
    zone = ZoneInfo(plan.timezone)
    due = set(occurrences(plan, after, 30 * len(plan.times)))
    first_day = after.astimezone(zone).date() + timedelta(days=3)
    for offset in range(21):
        day = first_day + timedelta(days=offset)
        if day.weekday() in plan.weekdays:
            for t in plan.times:
                assert shifted(datetime.combine(day, t), zone) in due, (day, t)


# Random dates rarely land near a clock change, so these draw plans around one.


def _offset(instant: datetime, zone: ZoneInfo) -> timedelta | None:
    return instant.astimezone(zone).utcoffset()


@functools.cache
def transitions(zone_name: str, year: int) -> tuple[datetime, ...]:
    """The instants (to the minute) at which ``zone_name`` changed offset in ``year``."""
    zone = ZoneInfo(zone_name)
    found: list[datetime] = []
    day = datetime(year, 1, 1, tzinfo=UTC)
    while day.year == year:
        following = day + timedelta(days=1)
        if _offset(day, zone) != _offset(following, zone):
            low, high = day, following
            while high - low > timedelta(minutes=1):
                middle = low + (high - low) / 2
                if _offset(middle, zone) == _offset(day, zone):
                    low = middle
                else:
                    high = middle
            found.append(high)
        day = following
    return tuple(found)


CHANGING_ZONES = [
    name
    for name in ZONES
    if len(
        {
            _offset(datetime(y, m, 15, tzinfo=UTC), ZoneInfo(name))
            for y in (1980, 2000, 2020)
            for m in (1, 7)
        }
    )
    > 1
]


@st.composite
def around_a_transition(draw: st.DrawFn) -> tuple[str, datetime, list[datetime]]:
    """A zone, one of its clock changes, and wall times just before and after it."""
    zone_name = draw(st.sampled_from(CHANGING_ZONES))
    year = draw(st.integers(1970, 2037))
    changes = transitions(zone_name, year)
    assume(changes)
    change = draw(st.sampled_from(changes))
    zone = ZoneInfo(zone_name)
    edges = [
        (change - timedelta(microseconds=1)).astimezone(zone).replace(tzinfo=None),
        change.astimezone(zone).replace(tzinfo=None),
    ]
    deltas = st.integers(-90, 90).map(lambda m: timedelta(minutes=m))
    walls = [
        (draw(st.sampled_from(edges)) + draw(deltas)).replace(second=0, microsecond=0)
        for _ in range(draw(st.integers(1, 3)))
    ]
    return zone_name, change, walls


@PROPERTY_SETTINGS
@given(
    case=around_a_transition(),
    extra_days=st.frozensets(st.integers(0, 6)),
    lead=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3)),
    count=st.integers(1, 12),
)
def test_calendar_around_clock_changes(
    case: tuple[str, datetime, list[datetime]],
    extra_days: frozenset[int],
    lead: timedelta,
    count: int,
) -> None:
    zone_name, change, walls = case
    plan = CalendarPlan(
        weekdays=frozenset({w.weekday() for w in walls}) | extra_days,
        times=tuple(sorted({w.time() for w in walls})),
        timezone=zone_name,
    )
    check(plan, change - lead, count)


@PROPERTY_SETTINGS
@given(
    case=around_a_transition(),
    every_hours=st.sampled_from([1, 2, 3, 5, 6, 7, 12, 24, 25, 48, 168]),
    steps_back=st.integers(0, 4),
    lead=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3)),
    count=st.integers(1, 12),
)
def test_interval_around_clock_changes(
    case: tuple[str, datetime, list[datetime]],
    every_hours: int,
    steps_back: int,
    lead: timedelta,
    count: int,
) -> None:
    zone_name, change, walls = case
    anchor = walls[0] - steps_back * timedelta(hours=every_hours)
    plan = IntervalPlan(every_hours=every_hours, anchor_local=anchor, timezone=zone_name)
    check(plan, change - lead, count)
