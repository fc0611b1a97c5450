"""The ceiling under the relay benchmark: bare aiohttp answering one PUT per message.

A server process with a single handler (read the body, answer 201 with a small JSON;
no authentication, no database, no access log) on asyncio's loop as ``serve`` is,
driven exactly as ``benchmarks/relay.py`` drives witnesslink: ~400-byte JSON bodies,
``--in-flight`` concurrent requests from one client process (on uvloop when
installed). Whatever this reaches on a
machine is the most the relay could reach there while each message is its own HTTP
request; the gap between the two is what witnesslink's own work costs. Prints one
JSON line.

    python benchmarks/http_floor.py --requests 20000 --in-flight 64
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._servers import cpu_seconds, run_loop
from tests.support.processes import free_port, stop


def serve(port: int) -> None:
    """The bare server (run in its own process)."""

    async def store(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=b'{"stored":true}', status=201, content_type="application/json")

    app = web.Application()
    app.router.add_put("/v1/cases/{case_id}/messages/{message_id}", store)
    app.router.add_get("/healthz", lambda _request: _ok())
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


async def _ok() -> web.Response:
    return web.Response(text="ok")


async def drive(url: str, requests: int, in_flight: int) -> float:
    """Send ``requests`` PUTs with ``in_flight`` at a time; returns requests/s."""
    body = json.dumps({"ciphertexts": [{"device_id": "dev_x", "type": 1, "body": "A" * 400}]})
    numbers = iter(range(requests))
    connector = aiohttp.TCPConnector(limit=in_flight + 8)
    async with aiohttp.ClientSession(connector=connector) as session:
        deadline = time.monotonic() + 30
        while True:
            try:
                async with session.get(url + "/healthz") as response:
                    if response.status == 200:
                        break
            except aiohttp.ClientError:
                if time.monotonic() > deadline:
                    raise
            await asyncio.sleep(0.05)

        async def client() -> None:
            for number in numbers:
                async with session.put(
                    f"{url}/v1/cases/case_x/messages/floor-{number:08d}",
                    data=body,
                    headers={"Content-Type": "application/json"},
                ) as response:
                    await response.read()

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(in_flight)))
        return requests / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--in-flight", type=int, default=64)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    port = free_port()
    process = subprocess.Popen([sys.executable, __file__, "--serve", str(port)])
    try:
        cpu_before = cpu_seconds([process.pid])
        rate = run_loop(drive(f"http://127.0.0.1:{port}", args.requests, args.in_flight))
        server_cpu = cpu_seconds([process.pid]) - cpu_before
    finally:
        stop(process)
    print(
        json.dumps(
            {
                "benchmark": "http_floor",
                "requests": args.requests,
                "in_flight": args.in_flight,
                "requests_per_s": round(rate, 1),
                "server_cpu_ms_per_request": round(server_cpu * 1000 / args.requests, 3),
                "cpu_count": os.cpu_count() or 0,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
