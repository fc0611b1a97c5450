"""Pacing: hand the senders only what they can send now (issue 14).

Twilio sends about one SMS a second from a long code (tens to hundreds from a short
code or a Messaging Service pool) and places calls at the account's calls-per-second,
and queues whatever is submitted faster, in arrival order, for hours. Submitting a
wave of routine SMS at once would put a duress alarm raised a minute later behind
all of them. So the backlog stays in the outbox, where the claim takes the most urgent
first (:mod:`server.domain.welfare.urgency`), and the dispatcher submits no faster
than these token buckets allow.

One bucket per SMS sender (a number, short code or Messaging Service SID) and one for
the account's calls, kept in the ``rate_buckets`` table that every instance shares, on
the database's clock: two instances together take no more tokens than one would.
A bucket holds at most one second's worth (at least one token), so an idle sender
never bursts beyond its rate.

Tokens are taken *before* rows are claimed, in their own transaction, and the ones a
claim could not use are given back. A crash between taking and sending loses tokens
(the sender is slower for a moment); it never adds any. A 429, 20429 (too many
requests) or 21611 (the sender's queue is full) answer to a send puts the sender's
bucket into debt (:data:`DEBT_S` seconds' worth), so the next sends wait; a status
callback reporting 30001 (queue overflow) does the same to every sender.

A rate of 0 means unlimited (no bucket, as before this issue).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from server.clock import DatabaseClock, to_ms
from server.security.ratelimit import Bucket
from server.storage.protocols import Store, UnitOfWork

#: The rate_buckets scope of the pacing buckets.
SCOPE: Final = "pacing"
#: How long a sender that answered "too many requests" is held back, in seconds of
#: its own rate (on top of what it already owes).
DEBT_S: Final = 5.0
#: Twilio's answers that mean "slower": HTTP 429 and these error codes.
SLOW_DOWN_CODES: Final = frozenset({"429", "20429", "21611", "30001"})
#: Twilio's "queue overflow" delivery error, reported in a status callback.
QUEUE_OVERFLOW: Final = "30001"
#: The account's call bucket's key.
CALLS: Final = "calls"


@dataclass(frozen=True, slots=True)
class PacingSettings:
    """Sender limits: SMS per second per sender, calls per second per account
    (0: unlimited). The defaults match a single Twilio long code."""

    sms_per_second: float = 1.0
    calls_per_second: float = 1.0

    def __post_init__(self) -> None:
        if self.sms_per_second < 0 or self.calls_per_second < 0:
            raise ValueError("sender rates must be 0 (unlimited) or positive")

    @classmethod
    def unlimited(cls) -> PacingSettings:
        return cls(0.0, 0.0)


def _bucket_key(channel: str, sender: str) -> str:
    """The bucket's key: a digest, so sender numbers are not copied around."""
    if channel == "voice":
        return CALLS
    return "sms:" + hashlib.sha256(sender.encode()).hexdigest()[:16]


class Pacer:
    """The shared token buckets of the SMS senders and the account's calls."""

    def __init__(
        self,
        store: Store,
        database_clock: DatabaseClock,
        settings: PacingSettings,
        senders: Sequence[str],
    ) -> None:
        if not senders:
            raise ValueError("at least one sender is needed")
        self._store = store
        self._database_clock = database_clock
        self.settings = settings
        self.senders = tuple(senders)
        self._next = 0

    def rate(self, channel: str) -> float:
        """Per second, per sender for SMS (0: unlimited)."""
        if channel == "voice":
            return self.settings.calls_per_second
        return self.settings.sms_per_second if channel == "sms" else 0.0

    def paced(self, channel: str) -> bool:
        return self.rate(channel) > 0

    def capacity(self, channel: str) -> float:
        """Senders' combined rate per second (inf when unlimited)."""
        rate = self.rate(channel)
        if rate <= 0:
            return math.inf
        return rate * (1 if channel == "voice" else len(self.senders))

    def _rotation(self) -> list[str]:
        """The senders, starting after the one this instance used last (round robin)."""
        start = self._next % len(self.senders)
        self._next += 1
        return [*self.senders[start:], *self.senders[:start]]

    async def take(self, channel: str, want: int) -> list[str]:
        """Up to ``want`` tokens of ``channel``; returns the sender of each token
        (for calls, the account's sender, repeated)."""
        if want <= 0:
            return []
        senders = [self.senders[0]] if channel == "voice" else self._rotation()
        if not self.paced(channel):
            return [senders[i % len(senders)] for i in range(want)]
        rate = self.rate(channel)
        granted: list[str] = []
        async with self._store.write() as uow:
            now = await self._now(uow)
            for sender in senders:
                if len(granted) >= want:
                    break
                key = _bucket_key(channel, sender)
                bucket = self._refill(
                    await uow.rate_limits.lock(SCOPE, key, Bucket(max(1.0, rate), now)),
                    now,
                    rate,
                )
                n = min(want - len(granted), math.floor(bucket.tokens + 1e-9))
                if n > 0:
                    bucket = Bucket(bucket.tokens - n, now)
                    granted += [sender] * n
                await uow.rate_limits.save(SCOPE, key, bucket, self._idle_after(bucket, rate))
        return granted

    async def give_back(self, channel: str, senders: Sequence[str]) -> None:
        """Return tokens a claim could not use (fewer rows were due than taken)."""
        if not senders or not self.paced(channel):
            return
        rate = self.rate(channel)
        counts: dict[str, int] = {}
        for sender in senders:
            counts[sender] = counts.get(sender, 0) + 1
        async with self._store.write() as uow:
            now = await self._now(uow)
            for sender, n in sorted(counts.items()):
                key = _bucket_key(channel, sender)
                bucket = self._refill(
                    await uow.rate_limits.lock(SCOPE, key, Bucket(max(1.0, rate), now)), now, rate
                )
                bucket = Bucket(min(max(1.0, rate), bucket.tokens + n), now)
                await uow.rate_limits.save(SCOPE, key, bucket, self._idle_after(bucket, rate))

    async def slow_down(self, channel: str, sender: str) -> None:
        """The provider said "too many": the sender's bucket goes into debt."""
        if not self.paced(channel):
            return
        rate = self.rate(channel)
        async with self._store.write() as uow:
            now = await self._now(uow)
            key = _bucket_key(channel, sender)
            bucket = self._refill(
                await uow.rate_limits.lock(SCOPE, key, Bucket(max(1.0, rate), now)), now, rate
            )
            bucket = Bucket(min(0.0, bucket.tokens) - DEBT_S * rate, now, refusing=True)
            await uow.rate_limits.save(SCOPE, key, bucket, self._idle_after(bucket, rate))

    async def wait_s(self, channel: str) -> float:
        """Seconds until any sender of ``channel`` has a token again (0: now)."""
        if not self.paced(channel):
            return 0.0
        rate = self.rate(channel)
        senders = [self.senders[0]] if channel == "voice" else list(self.senders)
        async with self._store.write() as uow:
            now = await self._now(uow)
            waits = []
            for sender in senders:
                key = _bucket_key(channel, sender)
                bucket = self._refill(
                    await uow.rate_limits.lock(SCOPE, key, Bucket(max(1.0, rate), now)), now, rate
                )
                waits.append(max(0.0, (1.0 - bucket.tokens) / rate))
        return min(waits)

    async def _now(self, uow: UnitOfWork) -> float:
        """The database's time in seconds (every instance's buckets on one clock)."""
        moment = await uow.notifications.database_now(self._database_clock.pinned_ms())
        return to_ms(moment) / 1000

    @staticmethod
    def _refill(bucket: Bucket, now: float, rate: float) -> Bucket:
        elapsed = max(0.0, now - bucket.stamp)
        return Bucket(min(max(1.0, rate), bucket.tokens + elapsed * rate), now, bucket.refusing)

    @staticmethod
    def _idle_after(bucket: Bucket, rate: float) -> float:
        """Seconds until the bucket is full again (then it may be forgotten)."""
        return max(1.0, (max(1.0, rate) - bucket.tokens) / rate + 1.0)
