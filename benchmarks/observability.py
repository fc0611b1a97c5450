"""What observability costs: request throughput with request ids, JSON access lines and
metrics on, and how long a /metrics scrape takes over a database with many queued
copies. Prints JSON.

    .venv/bin/python -m benchmarks.observability --copies 200000 --seconds 3

In-process (aiohttp test server on 127.0.0.1, SQLite in a temporary folder); the
access log goes to a discarded JSON handler so that formatting is paid for. Client and
server share one event loop, so compare ``livez_requests_per_s`` with
``bare_aiohttp_requests_per_s`` (the same loop and client, a bare app) rather than
reading either as the server's capacity.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import logging
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from server.app import METRICS, build_app
from server.clock import ManualClock
from server.config import Settings
from server.observability.logs import PathOnlyAccessLogger, build_handler


async def _hammer(url: str, seconds: float, concurrency: int) -> tuple[int, list[float]]:
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def worker(session: aiohttp.ClientSession) -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            async with session.get(url) as response:
                await response.read()
            latencies.append(time.perf_counter() - started)

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return len(latencies), latencies


async def _seed_copies(app_settings: Settings, count: int) -> None:
    from server.storage.opening import open_database

    db = await open_database(app_settings.database_url, ManualClock())
    try:
        rows = [(f"dev_{i % 500}", "case", "sender", f"m{i}", 1, "b", 0) for i in range(count)]
        async with db.transaction() as conn:
            await conn.executemany(
                "INSERT INTO message_copies (recipient_device_id, case_id, sender_device_id,"
                " message_id, olm_type, body, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                rows,
            )
    finally:
        await db.close()


async def _bare_livez(seconds: float, concurrency: int) -> int:
    """Requests/s of a bare aiohttp app answering the same body, no middleware and no
    access log: the baseline the figures above are compared with."""

    async def live(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    bare = web.Application()
    bare.router.add_get("/livez", live)
    server = TestServer(bare, host="127.0.0.1")
    await server.start_server(access_log=None)
    try:
        url = str(server.make_url("/livez"))
        await _hammer(url, 0.5, concurrency)
        count, _ = await _hammer(url, seconds, concurrency)
    finally:
        await server.close()
    return round(count / seconds)


async def run(copies: int, seconds: float, concurrency: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), run_scheduler=False)
        await _seed_copies(settings, copies)
        app = build_app(settings)
        handler = build_handler("json", io.StringIO())
        access = logging.getLogger("aiohttp.access")
        access.addHandler(handler)
        access.setLevel(logging.INFO)
        access.propagate = False
        server = TestServer(app, host="127.0.0.1")
        await server.start_server(access_log_class=PathOnlyAccessLogger)
        try:
            url = str(server.make_url("/livez"))
            await _hammer(url, 0.5, concurrency)  # warm up
            count, latencies = await _hammer(url, seconds, concurrency)
            scrapes = []
            for _ in range(20):
                started = time.perf_counter()
                body = await app[METRICS].exposition()
                scrapes.append(time.perf_counter() - started)
            assert b"witnesslink_queued_message_copies" in body
        finally:
            await server.close()
            access.removeHandler(handler)
    latencies.sort()
    baseline = await _bare_livez(seconds, concurrency)
    return {
        "benchmark": "observability",
        "livez_requests_per_s": round(count / seconds),
        "bare_aiohttp_requests_per_s": baseline,
        "livez_p50_ms": round(statistics.median(latencies) * 1000, 2),
        "livez_p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 2),
        "concurrency": concurrency,
        "queued_copies": copies,
        "scrape_p50_ms": round(statistics.median(scrapes) * 1000, 2),
        "scrape_max_ms": round(max(scrapes) * 1000, 2),
        "scrape_bytes": len(body),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--copies", type=int, default=200_000)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.copies, args.seconds, args.concurrency))))


if __name__ == "__main__":
    main()
