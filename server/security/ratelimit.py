"""Token-bucket rate limits: the bucket arithmetic, and the in-memory limiter.

The arithmetic (:func:`spend`) is shared by both limiters: the in-memory one here, for
the hot path of one-time-key claims (up to 200 a second per device, where a database
round trip per claim would cost more than the claim), and the shared one in
:mod:`server.security.shared_ratelimit`, whose buckets live in the database so that
every instance of a deployment counts the same attempts (logins, enrolment claims, PIN
evaluations). They bound online guessing; the secrets themselves (Argon2id passwords,
160-bit enrolment codes) are what make guessing hopeless.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from server.clock import Clock
from server.errors import RateLimited


@dataclass(frozen=True, slots=True)
class Rate:
    """``capacity`` attempts at once, refilled at one per ``refill_s`` seconds."""

    capacity: int
    refill_s: float

    @property
    def full_after_s(self) -> float:
        """How long an empty bucket takes to fill up again (after which it is
        indistinguishable from a fresh one and may be forgotten)."""
        return self.capacity * self.refill_s

    def full_again_after_s(self, tokens: float) -> float:
        """How long a bucket holding ``tokens`` takes to fill up again."""
        return max(0.0, self.capacity - tokens) * self.refill_s


@dataclass(frozen=True, slots=True)
class Bucket:
    """A bucket's state: ``tokens`` left as of ``stamp`` (seconds since the epoch), and
    whether it has refused an attempt since it last admitted one."""

    tokens: float
    stamp: float
    refusing: bool = False


@dataclass(frozen=True, slots=True)
class Spent:
    """The outcome of one attempt: the bucket to store and, if refused, how long to wait."""

    bucket: Bucket
    admitted: bool
    retry_after_s: int

    def raise_if_refused(self, was_refusing: bool) -> None:
        """Raises: RateLimited (``first_refusal`` when this refusal starts a run)."""
        if not self.admitted:
            raise RateLimited(retry_after_s=self.retry_after_s, first_refusal=not was_refusing)


def spend(bucket: Bucket | None, rate: Rate, now: float, cost: int) -> Spent:
    """Refill ``bucket`` up to ``now`` and spend ``cost`` tokens if it has them.

    Time never runs backwards for a bucket: a ``now`` earlier than its stamp (another
    instance whose clock is behind) refills nothing and keeps the stamp. So instances
    whose clocks disagree by ``d`` seconds can admit at most ``d / refill_s`` extra
    attempts between them, once, never a steady excess.
    """
    if bucket is None:
        bucket = Bucket(float(rate.capacity), now)
    stamp = max(bucket.stamp, now)
    tokens = min(float(rate.capacity), bucket.tokens + (stamp - bucket.stamp) / rate.refill_s)
    if tokens < cost:
        wait = (cost - tokens) * rate.refill_s
        return Spent(Bucket(tokens, stamp, refusing=True), False, max(1, int(wait + 0.999)))
    return Spent(Bucket(tokens - cost, stamp, refusing=False), True, 0)


class Limiter(Protocol):
    """Named token buckets keyed by whatever the caller chooses (address, user, device)."""

    async def take(self, key: str, cost: int = 1) -> None:
        """Spend ``cost`` tokens from ``key``'s bucket.

        Raises:
            RateLimited: when the bucket has too few tokens; says how long to wait,
                and (``first_refusal``) whether this refusal starts a run of them, so
                a caller can record the start of a throttling once, not every refusal.
        """
        ...


class MemoryRateLimiter:
    """A :class:`Limiter` in this process's memory: for hot paths only, where each
    instance keeping its own count is acceptable (an instance multiplies the allowance,
    it does not remove it)."""

    def __init__(self, clock: Clock, rate: Rate, *, max_keys: int = 100_000) -> None:
        self._clock = clock
        self._rate = rate
        self._max_keys = max_keys
        self._buckets: dict[str, Bucket] = {}

    async def take(self, key: str, cost: int = 1) -> None:
        """See :meth:`Limiter.take`."""
        self.take_now(key, cost)

    def take_now(self, key: str, cost: int = 1) -> None:
        """:meth:`take` without a coroutine, for callers on a hot path."""
        now = self._clock.now().timestamp()
        previous = self._buckets.get(key)
        spent = spend(previous, self._rate, now, cost)
        if previous is None and len(self._buckets) >= self._max_keys:
            self._evict(now)
        self._buckets[key] = spent.bucket
        spent.raise_if_refused(previous is not None and previous.refusing)

    def _evict(self, now: float) -> None:
        for key, bucket in list(self._buckets.items()):
            if now - bucket.stamp >= self._rate.full_after_s:
                del self._buckets[key]
        if len(self._buckets) >= self._max_keys:
            self._buckets.clear()
