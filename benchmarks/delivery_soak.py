"""Delivery soak: many messages both ways across outages and SIGKILLed server restarts.

A witness phone and an officer (the real SDK, real Olm, real encrypted stores) write to
each other through ``witnesslink serve`` on SQLite in its own process. In every round
each side queues messages while the server is down, the server comes back, both flush
and keep sending, and the server is killed with SIGKILL in the middle of it. At the end
each side must hold every message of the other exactly once and in order. Prints one
JSON line; exits non-zero if anything was lost, doubled, reordered or undecryptable.

    python benchmarks/delivery_soak.py --messages 100000 --restarts 50
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from client_sdk import (
    DecryptionFailure,
    IncomingMessage,
    MessageStatusChanged,
    MessageUnavailable,
    ReplayRejected,
    StaffClient,
    WitnessClient,
)
from tests.support.processes import enrol_pair, free_port, seed, start_server, wait_healthy


class Server:
    """``witnesslink serve`` that can be killed and started again on the same port."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.kills = 0

    async def start(self) -> None:
        self.process = start_server(self.data_dir, self.port)
        await wait_healthy(self.url)

    def kill(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)
        self.process = None
        self.kills += 1


class Side:
    """One device: what it sent, what it received, what went wrong."""

    def __init__(self, name: str, client: StaffClient | WitnessClient, case_id: str) -> None:
        self.name = name
        self.client = client
        self.case_id = case_id
        self.sent = 0
        self.received: list[str] = []
        self.failures = 0
        self.unavailable = 0
        self.replays = 0
        self.sent_events = 0

    async def send(self, count: int) -> None:
        for _ in range(count):
            text = f"{self.name} {self.sent:07d}"
            self.sent += 1
            if isinstance(self.client, WitnessClient):
                await self.client.send(text)
            else:
                await self.client.send(text, case_id=self.case_id)

    def take_events(self) -> None:
        for event in self.client.pending_events():
            if isinstance(event, IncomingMessage):
                self.received.append(event.text)
            elif isinstance(event, DecryptionFailure):
                self.failures += 1
            elif isinstance(event, MessageUnavailable):
                self.unavailable += 1
            elif isinstance(event, ReplayRejected):
                self.replays += 1
            elif isinstance(event, MessageStatusChanged) and event.status == "sent":
                self.sent_events += 1


async def flush_until_killed(server: Server, sides: list[Side], kill_after: int) -> None:
    """Flush both outboxes and keep sending until ``kill_after`` queued messages went
    out, then kill the server in the middle of it."""
    flushing = [asyncio.create_task(s.client.flush_outbox(force=True)) for s in sides]
    start = sum(s.sent_events for s in sides)
    while sum(s.sent_events for s in sides) - start < kill_after and not all(
        f.done() for f in flushing
    ):
        await asyncio.sleep(0.005)
        for side in sides:
            side.take_events()
    server.kill()
    await asyncio.gather(*flushing, return_exceptions=True)


async def settle(sides: list[Side]) -> None:
    """Deliver everything queued and receive everything waiting, repairs included."""
    for _ in range(20):
        for side in sides:
            while await side.client.pending_outbox():
                await side.client.flush_outbox(force=True)
        for side in sides:
            await side.client.sync()
            await side.client.request_repairs(force=True)
            side.take_events()
        waiting = [len(await s.client.awaited_messages()) for s in sides]
        pending = [await s.client.pending_outbox() for s in sides]
        if not any(waiting) and not any(pending):
            return


async def run(tmp: Path, messages: int, restarts: int) -> dict[str, object]:
    data_dir = tmp / "server"
    support_id = seed(data_dir)
    server = Server(data_dir)
    await server.start()
    officer, phone, case_id = await enrol_pair(server.url, tmp, support_id)
    sides = [Side("phone", phone, case_id), Side("officer", officer, case_id)]
    per_round = max(2, messages // (2 * max(1, restarts)))
    t0 = time.perf_counter()
    try:
        while min(s.sent for s in sides) < messages // 2:
            remaining = [messages // 2 - s.sent for s in sides]
            server.kill()  # an outage: both keep writing
            for side, left in zip(sides, remaining, strict=True):
                await side.send(min(left, per_round // 2))
            await server.start()
            sending = [
                asyncio.create_task(side.send(max(0, min(left, per_round) - per_round // 2)))
                for side, left in zip(sides, remaining, strict=True)
            ]
            await flush_until_killed(server, sides, per_round // 2)
            await asyncio.gather(*sending)
            await server.start()
            for side in sides:
                await side.client.sync()
                side.take_events()
        await settle(sides)
        elapsed = time.perf_counter() - t0
    finally:
        await officer.close()
        await phone.close()
        if server.process is not None:
            server.process.terminate()
            server.process.wait(10)
    result: dict[str, object] = {
        "benchmark": "delivery_soak",
        "backend": "sqlite",
        "messages": sum(s.sent for s in sides),
        "server_kills": server.kills,
        "elapsed_s": round(elapsed, 1),
        "messages_per_s": round(sum(s.sent for s in sides) / elapsed, 1),
        "cpu_count": os.cpu_count() or 0,
    }
    ok = True
    for side, other in ((sides[0], sides[1]), (sides[1], sides[0])):
        expected = [f"{other.name} {n:07d}" for n in range(other.sent)]
        lost = len(set(expected) - set(side.received))
        doubled = len(side.received) - len(set(side.received))
        in_order = side.received == expected
        result[f"{side.name}_received"] = len(side.received)
        result[f"{side.name}_lost"] = lost
        result[f"{side.name}_doubled"] = doubled
        result[f"{side.name}_in_order"] = in_order
        result[f"{side.name}_decryption_failures"] = side.failures
        result[f"{side.name}_unavailable"] = side.unavailable
        ok = ok and not lost and not doubled and in_order and not side.unavailable
    result["ok"] = ok
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000, help="both ways together")
    parser.add_argument("--restarts", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        result = asyncio.run(run(Path(tmp_name), args.messages, args.restarts))
    print(json.dumps(result), flush=True)
    sys.exit(0 if result["ok"] else 1)


if __name__ == "__main__":
    main()
