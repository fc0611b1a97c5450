"""Token buckets in the database, so that every instance of a deployment counts the
same attempts: guesses spread over two instances are limited as if made at one.

Each take is one short write transaction: create the bucket if absent, lock its row
(PostgreSQL ``FOR UPDATE``; SQLite's writes are serial), refill and spend with
:func:`~server.security.ratelimit.spend`, write it back. Two instances taking from one
bucket at once are therefore counted one after the other, never both from the same
balance.

Time comes from the injected clock (tests move it; production's is the system clock),
not from the database's ``now()``: one time source for all of a process's decisions.
Instances' clocks need not agree for the limit to hold: a bucket's stamp never moves
backwards, so a clock that is behind refills nothing until it catches up, and one that
is ``d`` seconds ahead grants at most ``d / refill_s`` extra attempts, once (see
:func:`~server.security.ratelimit.spend`). NTP keeps ``d`` far below any refill period.

Keys (addresses, usernames, device ids) are stored only as a keyed BLAKE2b hash, so the
table holds no personal data; buckets that have filled up again are swept.
"""

from __future__ import annotations

import nacl.encoding
import nacl.hash

from server.clock import Clock, to_ms
from server.security.ratelimit import Bucket, Rate, spend
from server.storage.protocols import Store

#: Buckets forgotten per transaction by :func:`sweep_idle_buckets` (short transactions).
SWEEP_BATCH = 5000


class BucketKeys:
    """Turns a limiter's key into the opaque value stored in the table (keyed by the
    blind-index root, which every instance shares and a key rotation keeps)."""

    def __init__(self, root_key: bytes) -> None:
        self._key = nacl.hash.blake2b(
            root_key, key=b"", person=b"wl-rate-limits", encoder=nacl.encoding.RawEncoder
        )

    def __repr__(self) -> str:
        return "BucketKeys(<key hidden>)"

    def hashed(self, key: str) -> str:
        return nacl.hash.blake2b(
            key.encode("utf-8"), key=self._key, digest_size=20, encoder=nacl.encoding.HexEncoder
        ).decode("ascii")


class SharedRateLimiter:
    """A :class:`~server.security.ratelimit.Limiter` whose buckets are rows of
    ``rate_buckets`` under one ``scope`` (the limiter's name, e.g. ``login.address``)."""

    def __init__(
        self, store: Store, clock: Clock, keys: BucketKeys, scope: str, rate: Rate
    ) -> None:
        self._store = store
        self._clock = clock
        self._keys = keys
        self._scope = scope
        self._rate = rate

    async def take(self, key: str, cost: int = 1) -> None:
        """See :meth:`~server.security.ratelimit.Limiter.take`."""
        now = self._clock.now().timestamp()
        hashed = self._keys.hashed(key)
        async with self._store.write() as uow:
            before = await uow.rate_limits.lock(
                self._scope, hashed, Bucket(float(self._rate.capacity), now)
            )
            spent = spend(before, self._rate, now, cost)
            await uow.rate_limits.save(
                self._scope,
                hashed,
                spent.bucket,
                self._rate.full_again_after_s(spent.bucket.tokens),
            )
        spent.raise_if_refused(before.refusing)


async def sweep_idle_buckets(store: Store, clock: Clock) -> int:
    """Forget buckets that are full again (a full bucket and none are the same)."""
    swept = 0
    while True:
        async with store.write() as uow:
            count = await uow.rate_limits.purge(to_ms(clock.now()), limit=SWEEP_BATCH)
        swept += count
        if count < SWEEP_BATCH:
            return swept
