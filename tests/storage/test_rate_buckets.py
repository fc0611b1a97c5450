"""Rate-limit buckets in the database: two instances (two independent ``Database``s on
the same data) count against one bucket, concurrent takes are never both granted from
one balance, clocks that disagree do not multiply the allowance, keys are stored only
hashed, and buckets that filled up again are swept."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from server.clock import ManualClock
from server.errors import RateLimited
from server.security.ratelimit import Rate
from server.security.shared_ratelimit import BucketKeys, SharedRateLimiter, sweep_idle_buckets
from server.storage.database import Database
from server.storage.store import SqlStore

RATE = Rate(capacity=5, refill_s=60)
KEYS = BucketKeys(b"k" * 32)


def limiter(db: Database, clock: ManualClock, scope: str = "test.scope") -> SharedRateLimiter:
    return SharedRateLimiter(SqlStore(db), clock, KEYS, scope, RATE)


async def admitted(limiter: SharedRateLimiter, key: str, attempts: int) -> int:
    count = 0
    for _ in range(attempts):
        try:
            await limiter.take(key)
            count += 1
        except RateLimited:
            pass
    return count


async def test_two_instances_draw_from_one_bucket(
    database: Database, second_database: Database, clock: ManualClock
) -> None:
    first, second = limiter(database, clock), limiter(second_database, clock)
    assert await admitted(first, "203.0.113.9", 3) == 3
    assert await admitted(second, "203.0.113.9", 3) == 2  # 3 + 2 = the capacity
    with pytest.raises(RateLimited) as refused:
        await first.take("203.0.113.9")
    assert refused.value.retry_after_s == 60
    # Another key, and the same key under another scope, have buckets of their own.
    assert await admitted(second, "203.0.113.10", 1) == 1
    assert await admitted(limiter(database, clock, "other.scope"), "203.0.113.9", 1) == 1
    clock.advance(timedelta(seconds=60))
    assert await admitted(second, "203.0.113.9", 2) == 1  # one refilled, for everyone


async def test_concurrent_takes_from_two_instances_are_counted_one_after_the_other(
    database: Database, second_database: Database, clock: ManualClock
) -> None:
    first, second = limiter(database, clock), limiter(second_database, clock)

    async def attempt(which: SharedRateLimiter) -> bool:
        try:
            await which.take("shared")
        except RateLimited:
            return False
        return True

    results = await asyncio.gather(*(attempt(first if i % 2 else second) for i in range(16)))
    assert sum(results) == RATE.capacity


async def test_the_start_of_a_run_of_refusals_is_flagged_once_across_instances(
    database: Database, second_database: Database, clock: ManualClock
) -> None:
    first, second = limiter(database, clock), limiter(second_database, clock)
    await admitted(first, "key", RATE.capacity)
    flags = []
    for which in (first, second, first):
        with pytest.raises(RateLimited) as refused:
            await which.take("key")
        flags.append(refused.value.first_refusal)
    assert flags == [True, False, False]


async def test_an_instance_whose_clock_is_behind_refills_nothing(
    database: Database, second_database: Database, clock: ManualClock
) -> None:
    behind = ManualClock(clock.now() - timedelta(minutes=10))
    first, lagging = limiter(database, clock), limiter(second_database, behind)
    assert await admitted(first, "key", RATE.capacity) == RATE.capacity
    # Ten minutes "earlier" must not read as ten minutes of refill, nor rewind the
    # bucket so that the first instance's next minute counts twice.
    assert await admitted(lagging, "key", 3) == 0
    clock.advance(timedelta(seconds=60))
    assert await admitted(first, "key", 3) == 1


async def test_an_instance_whose_clock_is_ahead_gains_its_lead_once_not_steadily(
    database: Database, second_database: Database, clock: ManualClock
) -> None:
    ahead = ManualClock(clock.now() + timedelta(seconds=120))
    first, leading = limiter(database, clock), limiter(second_database, ahead)
    assert await admitted(first, "key", RATE.capacity) == RATE.capacity
    assert await admitted(leading, "key", 5) == 2  # its two minutes' lead, once
    assert await admitted(first, "key", 5) == 0
    for _ in range(3):  # afterwards both together get one per minute, as one would
        clock.advance(timedelta(seconds=60))
        ahead.advance(timedelta(seconds=60))
        assert await admitted(first, "key", 2) + await admitted(leading, "key", 2) == 1


async def test_keys_are_stored_hashed_and_full_buckets_are_swept(
    database: Database, clock: ManualClock
) -> None:
    store = SqlStore(database)
    await admitted(limiter(database, clock), "officer\x00203.0.113.9", 1)
    clock.advance(timedelta(seconds=200))
    await admitted(limiter(database, clock), "198.51.100.7", 5)
    async with store.read() as uow:
        rows = await uow.conn.fetch("SELECT scope, bucket_key FROM rate_buckets ORDER BY 2")
    assert len(rows) == 2
    for row in rows:
        assert "officer" not in row[1]
        assert "203.0" not in row[1]
        assert "198.51" not in row[1]
        assert row[1] in {KEYS.hashed("officer\x00203.0.113.9"), KEYS.hashed("198.51.100.7")}

    # The first bucket has been full again since 60 s after its one attempt; the
    # second (emptied just now) needs five minutes.
    assert await sweep_idle_buckets(store, clock) == 1
    clock.advance(timedelta(seconds=299))
    assert await sweep_idle_buckets(store, clock) == 0
    clock.advance(timedelta(seconds=1))
    assert await sweep_idle_buckets(store, clock) == 1
