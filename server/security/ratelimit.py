"""Token-bucket rate limits for login, enrolment and key claims.

Buckets live in memory (per server process) and use the injectable clock. They bound
online guessing; the secrets themselves (Argon2id passwords, 160-bit enrolment codes)
are what make guessing hopeless.
"""

from __future__ import annotations

from dataclasses import dataclass

from server.clock import Clock
from server.errors import RateLimited


@dataclass(frozen=True, slots=True)
class Rate:
    """``capacity`` attempts at once, refilled at one per ``refill_s`` seconds."""

    capacity: int
    refill_s: float


class RateLimiter:
    """Named token buckets keyed by whatever the caller chooses (IP, username, device)."""

    def __init__(self, clock: Clock, rate: Rate, *, max_keys: int = 100_000) -> None:
        self._clock = clock
        self._rate = rate
        self._max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}
        self._refusing: set[str] = set()  # keys refused since their last admitted attempt

    def take(self, key: str, cost: int = 1) -> None:
        """Spend ``cost`` tokens from ``key``'s bucket.

        Raises:
            RateLimited: when the bucket has too few tokens; says how long to wait,
                and (``first_refusal``) whether this refusal starts a run of them, so
                a caller can record the start of a throttling once, not every refusal.
        """
        now = self._clock.now().timestamp()
        tokens, stamp = self._buckets.get(key, (float(self._rate.capacity), now))
        tokens = min(self._rate.capacity, tokens + (now - stamp) / self._rate.refill_s)
        if tokens < cost:
            wait = (cost - tokens) * self._rate.refill_s
            self._buckets[key] = (tokens, now)
            first = key not in self._refusing
            self._refusing.add(key)
            raise RateLimited(retry_after_s=max(1, int(wait + 0.999)), first_refusal=first)
        if len(self._buckets) >= self._max_keys and key not in self._buckets:
            self._evict(now)
        self._buckets[key] = (tokens - cost, now)
        self._refusing.discard(key)

    def _evict(self, now: float) -> None:
        full_after = self._rate.capacity * self._rate.refill_s
        for key, (_tokens, stamp) in list(self._buckets.items()):
            if now - stamp >= full_after:
                del self._buckets[key]
                self._refusing.discard(key)
        if len(self._buckets) >= self._max_keys:
            self._buckets.clear()
            self._refusing.clear()
