"""Relay throughput and latency: one sender device, one recipient on a WebSocket.

The server runs in its own process (``witnesslink serve`` on SQLite, durable commits),
reached over real HTTP on 127.0.0.1. The sender keeps ``--in-flight`` sends of ~400
bytes of ciphertext in flight; the recipient receives each copy over the WebSocket and
acknowledges it. Latency is measured from the start of a send to its receipt (both ends
in this process, so one monotonic clock). Prints one JSON line.

    python benchmarks/relay.py --messages 20000 --in-flight 64
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.processes import enrol_pair, free_port, seed, server_process


async def run(
    url: str, tmp: Path, support_id: str, messages: int, in_flight: int
) -> dict[str, float | int | str]:
    officer, witness, case_id = await enrol_pair(url, tmp, support_id)
    sender_token = officer.identity.token
    recipient_token = witness.identity.token
    recipient_device = witness.device_id
    await officer.close()
    await witness.close()

    body = base64.b64encode(secrets.token_bytes(300)).decode()  # 400 characters
    started: dict[str, float] = {}
    latencies: list[float] = []
    all_received = asyncio.Event()
    connector = aiohttp.TCPConnector(limit=in_flight + 8)
    async with aiohttp.ClientSession(connector=connector) as session:
        ws = await session.ws_connect(
            url + "/v1/ws", headers={"Authorization": f"Bearer {recipient_token}"}
        )

        async def receive() -> None:
            async for frame in ws:
                data = json.loads(frame.data)
                if data.get("type") != "message":
                    continue
                now = time.perf_counter()
                latencies.append(now - started[data["message_id"]])
                await ws.send_str(json.dumps({"type": "ack", "copy_ids": [data["copy_id"]]}))
                if len(latencies) >= messages:
                    all_received.set()
                    return

        receiver = asyncio.create_task(receive())
        headers = {"Authorization": f"Bearer {sender_token}", "Content-Type": "application/json"}
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(messages):
            queue.put_nowait(i)

        async def sender() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                message_id = f"bench-{i:08d}"
                payload = json.dumps(
                    {"ciphertexts": [{"device_id": recipient_device, "type": 1, "body": body}]}
                )
                started[message_id] = time.perf_counter()
                async with session.put(
                    f"{url}/v1/cases/{case_id}/messages/{message_id}", data=payload, headers=headers
                ) as response:
                    if response.status != 201:
                        raise RuntimeError(
                            f"send failed: {response.status} {await response.text()}"
                        )
                    await response.read()

        t0 = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(in_flight)))
        await asyncio.wait_for(all_received.wait(), timeout=300)
        elapsed = time.perf_counter() - t0
        receiver.cancel()
        await ws.close()
    ordered = sorted(latencies)
    return {
        "benchmark": "relay",
        "backend": "sqlite",
        "messages": messages,
        "in_flight": in_flight,
        "ciphertext_bytes": len(body),
        "elapsed_s": round(elapsed, 3),
        "messages_per_s": round(messages / elapsed, 1),
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 2),
        "cpu_count": os.cpu_count() or 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--in-flight", type=int, default=64)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        data_dir = tmp / "server"
        support_id = seed(data_dir)
        port = free_port()
        with server_process(data_dir, port):
            url = f"http://127.0.0.1:{port}"
            result = asyncio.run(run(url, tmp, support_id, args.messages, args.in_flight))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
