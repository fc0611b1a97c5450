"""Relay throughput and latency: one sender device, recipients on WebSockets.

The server runs in its own process (``witnesslink serve``, durable commits), reached
over real HTTP on 127.0.0.1: by default one instance on SQLite; with ``--instances 2
--database postgresql://…`` two instances sharing a fresh database on that PostgreSQL
server, with the recipients' WebSockets and the sends spread over both (so half of the
copies are stored by one instance and pushed by the other). The sender keeps
``--in-flight`` sends of ~400 bytes of ciphertext in flight, each to one recipient in
turn; every recipient acknowledges each copy it receives. Latency is measured from the
start of a send to its receipt (both ends in this process, one monotonic clock).

Also counted: duplicate pushes (a copy received twice on one connection) and copies
received out of copy-id order on a connection; both must be 0. Prints one JSON line.

    python benchmarks/relay.py --messages 20000 --in-flight 64
    python benchmarks/relay.py --instances 2 \
        --database postgresql://postgres@127.0.0.1:5432/test --messages 20000
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
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._servers import (
    Instances,
    cpu_seconds,
    percentile_ms,
    run_loop,
    send_ciphertext,
    server_instances,
)
from client_sdk import StaffClient, WitnessClient
from tests.support.kdf import FAST_KDF, WITNESS_PIN
from tests.support.processes import PASSWORD
from tests.support.world import finish_in_person


@dataclass
class Recipient:
    """One witness phone: its case, device, credential and what it received."""

    case_id: str
    device_id: str
    token: str
    url: str
    copies_seen: set[str] = field(default_factory=set)
    last_copy_id: int = 0
    duplicates: int = 0
    out_of_order: int = 0


async def enrol_recipients(
    instances: Instances, tmp: Path, count: int
) -> tuple[str, list[Recipient]]:
    """The officer (real SDK) opens ``count`` cases and enrols a witness phone in each;
    phone ``n`` will connect to instance ``n mod instances``. Returns the officer's
    device credential and the recipients."""
    urls = instances.urls
    officer = await StaffClient.login(
        urls[0], "officer", PASSWORD, tmp / "officer.store", "officer passphrase", kdf=FAST_KDF
    )
    recipients: list[Recipient] = []
    for number in range(count):
        case = await officer.create_case(f"BENCH-{number + 1}", instances.support_id)
        enrolment = await officer.add_witness(
            case["case_id"], alias=f"Bench {number}", language="en", timezone="Europe/Berlin"
        )
        pending = await WitnessClient.enroll(
            urls[0], enrolment.code, tmp / f"witness-{number}.store", WITNESS_PIN, kdf=FAST_KDF
        )
        witness = await finish_in_person(officer, enrolment, pending)
        recipients.append(
            Recipient(
                case["case_id"],
                witness.device_id,
                witness.identity.token,
                urls[number % len(urls)],
            )
        )
        await witness.close()
    token = officer.identity.token
    await officer.close()
    return token, recipients


async def run(
    instances: Instances, tmp: Path, messages: int, in_flight: int, recipient_count: int
) -> dict[str, float | int | str]:
    sender_token, recipients = await enrol_recipients(instances, tmp, recipient_count)
    urls = instances.urls
    body = base64.b64encode(secrets.token_bytes(300)).decode()  # 400 characters
    started: dict[str, float] = {}
    latencies: list[float] = []
    all_received = asyncio.Event()
    connector = aiohttp.TCPConnector(limit=in_flight + 8 + len(recipients))
    async with aiohttp.ClientSession(connector=connector) as session:

        async def receive(recipient: Recipient, ws: aiohttp.ClientWebSocketResponse) -> None:
            async for frame in ws:
                data = json.loads(frame.data)
                if data.get("type") != "message":
                    continue
                now = time.perf_counter()
                copy_id = data["copy_id"]
                await ws.send_str(json.dumps({"type": "ack", "copy_ids": [copy_id]}))
                if data["message_id"] in recipient.copies_seen:
                    recipient.duplicates += 1
                    continue
                if copy_id < recipient.last_copy_id:
                    recipient.out_of_order += 1
                recipient.last_copy_id = max(recipient.last_copy_id, copy_id)
                recipient.copies_seen.add(data["message_id"])
                latencies.append(now - started[data["message_id"]])
                if len(latencies) >= messages:
                    all_received.set()

        sockets = [
            await session.ws_connect(
                r.url + "/v1/ws", headers={"Authorization": f"Bearer {r.token}"}
            )
            for r in recipients
        ]
        receivers = [
            asyncio.create_task(receive(r, ws)) for r, ws in zip(recipients, sockets, strict=True)
        ]
        numbers = iter(range(messages))

        async def sender() -> None:
            for i in numbers:
                # Alternate the instance and, within it, the recipient: with two
                # instances and two phones, half the copies cross between instances.
                url = urls[i % len(urls)]
                recipient = recipients[(i // len(urls)) % len(recipients)]
                message_id = f"bench-{i:08d}"
                started[message_id] = time.perf_counter()
                await send_ciphertext(
                    session,
                    url,
                    token=sender_token,
                    case_id=recipient.case_id,
                    message_id=message_id,
                    device_id=recipient.device_id,
                    body=body,
                )

        cpu_before = cpu_seconds(instances.pids)
        t0 = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(in_flight)))
        await asyncio.wait_for(all_received.wait(), timeout=600)
        elapsed = time.perf_counter() - t0
        server_cpu = cpu_seconds(instances.pids) - cpu_before
        for task in receivers:
            task.cancel()
        for ws in sockets:
            await ws.close()
    ordered = sorted(latencies)
    return {
        "benchmark": "relay",
        "backend": "sqlite"
        if len(urls) == 1 and "WITNESSLINK_DATABASE_URL" not in instances.env
        else "postgres",
        "instances": len(urls),
        "recipients": len(recipients),
        "messages": messages,
        "in_flight": in_flight,
        "ciphertext_bytes": len(body),
        "elapsed_s": round(elapsed, 3),
        "messages_per_s": round(messages / elapsed, 1),
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p99_ms": percentile_ms(ordered, 0.99),
        "duplicate_pushes": sum(r.duplicates for r in recipients),
        "out_of_order": sum(r.out_of_order for r in recipients),
        "server_cpu_s": round(server_cpu, 2),
        "server_cpu_ms_per_message": round(server_cpu * 1000 / messages, 3),
        "cpu_count": os.cpu_count() or 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--in-flight", type=int, default=64)
    parser.add_argument("--instances", type=int, default=1)
    parser.add_argument(
        "--database", default="sqlite", help="sqlite (default) or a postgresql:// DSN"
    )
    parser.add_argument(
        "--recipients", type=int, default=0, help="witness phones (default: one per instance)"
    )
    args = parser.parse_args()
    recipients = args.recipients or args.instances
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        with server_instances(tmp, count=args.instances, database=args.database) as instances:
            result = run_loop(run(instances, tmp, args.messages, args.in_flight, recipients))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
