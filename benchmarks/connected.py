"""Many connected phones: N WebSockets held open with heartbeats against one instance.

The world is seeded directly into SQLite by :mod:`benchmarks._lapses_seed` (N witnesses,
each with a phone, one case each; support workers with 50 cases and a staff app each),
then every device is given a known credential (its ``token_hash`` rewritten as the
server's own :func:`server.ids.token_hash` of a fresh token). The server is the real
``witnesslink serve`` in its own process on 127.0.0.1, with its scheduler running.

The phones are *lightweight protocol clients*, not the vodozemac SDK: a raw WebSocket
with the device's bearer token and heartbeats every ``--heartbeat`` seconds (the server
pings every 30 s as well), acknowledging every copy it receives. The ciphertexts are
random bytes (the server never reads them). They are spread over ``--workers``
load-generator processes, since one Python process holding 10,000 sockets would itself
be the bottleneck.

Measured: how long connecting took; the server's RSS with everyone connected; its CPU
over an idle window of ``--idle-seconds`` (heartbeats and sweeps only); and the
delivery latency (send start → receipt on the phone, one system-wide monotonic clock) of
``--messages`` messages sent by the support workers to random phones while all are
connected. Prints one JSON line.

File descriptors: the benchmark raises its RLIMIT_NOFILE to the hard limit, and the
server and load generators inherit it; 10,000 phones need a hard limit above ~10,500
(``ulimit -Hn``).

    python benchmarks/connected.py --phones 1000
    python benchmarks/connected.py --phones 10000 --workers 4
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import multiprocessing
import os
import random
import secrets
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._servers import (
    cpu_seconds,
    percentile_ms,
    raise_fd_limit,
    rss_bytes,
    run_loop,
    send_ciphertext,
    server_instances,
)
from server.ids import token_hash

CASES_PER_WORKER = 50
CONNECT_CONCURRENCY = 64
COLLECT_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Phone:
    """A witness phone as the load generator knows it."""

    device_id: str
    token: str
    case_id: str
    sender_token: str  # the staff app of a support worker on the phone's case


def seed_phones(data_dir: Path, count: int) -> list[Phone]:
    """Seed ``count`` witnesses with phones and give every device a known credential."""
    from benchmarks._lapses_seed import seed

    seed(data_dir, witnesses=count, cases_per_worker=CASES_PER_WORKER)
    db = sqlite3.connect(data_dir / "witnesslink.db", isolation_level=None)
    try:
        tokens = {
            device_id: secrets.token_urlsafe(32)
            for (device_id,) in db.execute("SELECT id FROM devices")
        }
        db.execute("BEGIN IMMEDIATE")
        db.executemany(
            "UPDATE devices SET token_hash = ? WHERE id = ?",
            [(token_hash(token), device_id) for device_id, token in tokens.items()],
        )
        db.execute("COMMIT")
        staff_device_of_case = dict(
            db.execute(
                "SELECT cs.case_id, d.id FROM case_staff cs JOIN devices d"
                " ON d.owner_kind = 'staff' AND d.owner_id = cs.staff_id"
                " WHERE d.revoked_at IS NULL"
            ).fetchall()
        )
        rows = db.execute(
            "SELECT d.id, w.case_id FROM devices d JOIN witnesses w"
            " ON d.owner_kind = 'witness' AND d.owner_id = w.id"
        ).fetchall()
    finally:
        db.close()
    return [
        Phone(device_id, tokens[device_id], case_id, tokens[staff_device_of_case[case_id]])
        for device_id, case_id in rows
    ]


# --- the load-generator processes -------------------------------------------------


async def hold_phones(url: str, tokens: list[str], heartbeat: float, control: Connection) -> None:
    """Connect every phone, report, keep them connected (acknowledging and timing every
    copy) until told to collect, then report the receipts."""
    receipts: dict[str, int] = {}
    expected = [sys.maxsize]  # copies addressed to these phones, known after the sends
    all_in = asyncio.Event()
    duplicates = 0
    closed = 0
    sockets: list[aiohttp.ClientWebSocketResponse] = []
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def connect(token: str) -> None:
            async with gate:
                ws = await session.ws_connect(
                    url + "/v1/ws",
                    headers={"Authorization": f"Bearer {token}"},
                    heartbeat=heartbeat,
                )
            sockets.append(ws)

        async def listen(ws: aiohttp.ClientWebSocketResponse) -> None:
            nonlocal duplicates, closed
            async for frame in ws:
                if frame.type is not aiohttp.WSMsgType.TEXT:
                    continue
                data = json.loads(frame.data)
                if data.get("type") != "message":
                    continue
                now = time.monotonic_ns()
                await ws.send_str(json.dumps({"type": "ack", "copy_ids": [data["copy_id"]]}))
                if data["message_id"] in receipts:
                    duplicates += 1
                else:
                    receipts[data["message_id"]] = now
                    if len(receipts) >= expected[0]:
                        all_in.set()
            closed += 1

        outcomes = await asyncio.gather(*(connect(t) for t in tokens), return_exceptions=True)
        failures = sum(1 for o in outcomes if isinstance(o, BaseException))
        listeners = [asyncio.create_task(listen(ws)) for ws in sockets]
        control.send(("connected", len(sockets), failures))
        expected[0] = await asyncio.to_thread(control.recv)
        if len(receipts) >= expected[0]:
            all_in.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(all_in.wait(), COLLECT_TIMEOUT_S)
        control.send(("receipts", receipts, duplicates, closed))
        for task in listeners:
            task.cancel()
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)


def load_generator(url: str, tokens: list[str], heartbeat: float, control: Connection) -> None:
    """Entry point of one load-generator process."""
    raise_fd_limit()
    run_loop(hold_phones(url, tokens, heartbeat, control))


# --- the sender and the measurement ------------------------------------------------


async def send_messages(url: str, plan: list[tuple[str, Phone]], in_flight: int) -> dict[str, int]:
    """Send each planned message (id, phone); returns each message id's start time."""
    started: dict[str, int] = {}
    body = base64.b64encode(secrets.token_bytes(300)).decode()
    pending = iter(plan)
    async with aiohttp.ClientSession() as session:

        async def sender() -> None:
            for message_id, phone in pending:
                started[message_id] = time.monotonic_ns()
                await send_ciphertext(
                    session,
                    url,
                    token=phone.sender_token,
                    case_id=phone.case_id,
                    message_id=message_id,
                    device_id=phone.device_id,
                    body=body,
                )

        await asyncio.gather(*(sender() for _ in range(in_flight)))
    return started


def measure(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    fd_limit = raise_fd_limit()
    data_dir = tmp / "server-0"
    seed_started = time.monotonic()
    phones = seed_phones(data_dir, args.phones)
    seed_s = time.monotonic() - seed_started
    with server_instances(tmp, data_dir=data_dir) as instances:
        url = instances.urls[0]
        pids = instances.pids
        rss_before = rss_bytes(pids)
        context = multiprocessing.get_context("spawn")
        controls: list[Connection] = []
        processes = []
        connect_started = time.monotonic()
        for number in range(args.workers):
            share = [p.token for p in phones[number :: args.workers]]
            parent_end, child_end = context.Pipe()
            process = context.Process(
                target=load_generator, args=(url, share, args.heartbeat, child_end)
            )
            process.start()
            controls.append(parent_end)
            processes.append(process)
        connected = failures = 0
        for control in controls:
            _, ok, failed = control.recv()
            connected += ok
            failures += failed
        connect_s = time.monotonic() - connect_started

        cpu_before = cpu_seconds(pids)
        idle_started = time.monotonic()
        time.sleep(args.idle_seconds)  # a benchmark: the idle window is what is measured
        idle_cpu = cpu_seconds(pids) - cpu_before
        idle_s = time.monotonic() - idle_started
        rss_connected = rss_bytes(pids)

        worker_of = {p.device_id: n % args.workers for n, p in enumerate(phones)}
        plan = [(f"conn-{n:08d}", random.choice(phones)) for n in range(args.messages)]
        send_started = time.monotonic()
        started = run_loop(send_messages(url, plan, args.in_flight))
        send_s = time.monotonic() - send_started
        receipts: dict[str, int] = {}
        duplicates = closed = 0
        for number, control in enumerate(controls):
            # Each generator waits until its phones have every copy addressed to them.
            control.send(sum(1 for _, p in plan if worker_of[p.device_id] == number))
        for control in controls:
            _, got, doubled, lost = control.recv()
            receipts.update(got)
            duplicates += doubled
            closed += lost
        for process in processes:
            process.join(30)
    latencies = sorted((receipts[m] - t0) / 1e9 for m, t0 in started.items() if m in receipts)
    return {
        "benchmark": "connected",
        "backend": "sqlite",
        "phones": args.phones,
        "connected": connected,
        "connect_failures": failures,
        "disconnected_during_run": closed,
        "load_generator_processes": args.workers,
        "heartbeat_s": args.heartbeat,
        "fd_limit": fd_limit,
        "seed_s": round(seed_s, 1),
        "connect_s": round(connect_s, 1),
        "server_rss_mib_before": round(rss_before / 2**20, 1),
        "server_rss_mib_connected": round(rss_connected / 2**20, 1),
        "idle_window_s": round(idle_s, 1),
        "idle_server_cpu_percent": round(idle_cpu / idle_s * 100, 2),
        "messages": args.messages,
        "messages_received": len(latencies),
        "duplicate_pushes": duplicates,
        "send_window_s": round(send_s, 1),
        "p50_ms": percentile_ms(latencies, 0.5),
        "p99_ms": percentile_ms(latencies, 0.99),
        "cpu_count": os.cpu_count() or 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phones", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=0, help="load generators (default N/2500)")
    parser.add_argument("--heartbeat", type=float, default=30.0)
    parser.add_argument("--idle-seconds", type=float, default=35.0)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--in-flight", type=int, default=16)
    args = parser.parse_args()
    args.workers = args.workers or max(1, -(-args.phones // 2500))
    with tempfile.TemporaryDirectory() as tmp_name:
        result = measure(args, Path(tmp_name))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
