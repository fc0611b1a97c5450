"""What a shared (database) rate-limit take costs, on SQLite and PostgreSQL.

Each take is one write transaction: create the bucket if absent, lock it, refill and
spend, write it back (:mod:`server.security.shared_ratelimit`). Measured here with
``--concurrency`` takes in flight over ``--keys`` distinct buckets, against the in-memory
limiter for comparison. A sign-in makes three takes, an enrolment claim or a PIN
evaluation one; key claims stay in memory. Prints one JSON line.

    python benchmarks/rate_limits.py --takes 2000
    WITNESSLINK_TEST_POSTGRES_DSN=postgresql://postgres@127.0.0.1:5432/test \\
        python benchmarks/rate_limits.py --takes 2000 --postgres
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from server.clock import ManualClock
from server.security.ratelimit import MemoryRateLimiter, Rate
from server.security.shared_ratelimit import BucketKeys, SharedRateLimiter
from server.storage.opening import open_database
from server.storage.store import SqlStore

RATE = Rate(capacity=1_000_000, refill_s=1)  # never refuses: measures the take itself


async def _timed(
    take: Callable[[str], Awaitable[None]], keys: list[str], takes: int, concurrency: int
) -> list[float]:
    latencies: list[float] = []
    queue = iter(range(takes))

    async def worker() -> None:
        for n in queue:
            start = time.perf_counter()
            await take(keys[n % len(keys)])
            latencies.append(time.perf_counter() - start)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


def _summary(latencies: list[float], elapsed: float) -> dict[str, float]:
    ordered = sorted(latencies)
    return {
        "takes_per_s": round(len(latencies) / elapsed),
        "p50_ms": round(statistics.median(ordered) * 1000, 3),
        "p99_ms": round(ordered[int(len(ordered) * 0.99) - 1] * 1000, 3),
    }


async def main(args: argparse.Namespace) -> dict[str, object]:
    clock = ManualClock()
    keys = [f"198.51.100.{n}" for n in range(args.keys)]
    results: dict[str, object] = {"takes": args.takes, "concurrency": args.concurrency}
    memory = MemoryRateLimiter(clock, RATE)
    start = time.perf_counter()
    results["memory"] = _summary(
        await _timed(memory.take, keys, args.takes, args.concurrency), time.perf_counter() - start
    )
    with tempfile.TemporaryDirectory() as tmp:
        schema = None
        if args.postgres:
            import asyncpg

            dsn = os.environ["WITNESSLINK_TEST_POSTGRES_DSN"]
            schema = f"bench_{secrets.token_hex(4)}"
            conn = await asyncpg.connect(dsn)
            await conn.execute(f"CREATE SCHEMA {schema}")
            await conn.close()
            url = dsn
        else:
            url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        db = await open_database(url, clock, schema=schema)
        try:
            shared = SharedRateLimiter(SqlStore(db), clock, BucketKeys(b"b" * 32), "bench", RATE)
            start = time.perf_counter()
            latencies = await _timed(shared.take, keys, args.takes, args.concurrency)
            results["postgres" if args.postgres else "sqlite"] = _summary(
                latencies, time.perf_counter() - start
            )
        finally:
            await db.close()
            if schema is not None:
                conn = await asyncpg.connect(dsn)
                await conn.execute(f"DROP SCHEMA {schema} CASCADE")
                await conn.close()
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--takes", type=int, default=2000)
    parser.add_argument("--keys", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--postgres", action="store_true")
    print(json.dumps(asyncio.run(main(parser.parse_args()))))
