"""A server killed with SIGKILL while messages are being sent loses no message whose
send it had acknowledged: the acknowledgement is only given after a durable commit."""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import signal
from pathlib import Path

import aiohttp
import pytest

from tests.support.processes import enrol_pair, free_port, seed, start_server, stop, wait_healthy

pytestmark = pytest.mark.slow


async def _send_until_killed(
    url: str, case_id: str, token: str, recipient: str, pid: int, kill_after: int
) -> set[str]:
    """Keep 32 sends in flight; SIGKILL the server after ``kill_after`` acknowledgements.
    Returns the ids the server acknowledged (201 or 200-duplicate)."""
    acknowledged: set[str] = set()
    body = base64.b64encode(secrets.token_bytes(300)).decode()
    headers = {"Authorization": f"Bearer {token}"}
    killed = asyncio.Event()

    async def sender(session: aiohttp.ClientSession, worker: int) -> None:
        n = 0
        while not killed.is_set() or n == 0:
            message_id = f"crash-{worker:02d}-{n:05d}-{secrets.token_hex(2)}"
            n += 1
            payload = {"ciphertexts": [{"device_id": recipient, "type": 1, "body": body}]}
            try:
                async with session.put(
                    f"{url}/v1/cases/{case_id}/messages/{message_id}", json=payload, headers=headers
                ) as response:
                    if response.status in (200, 201):
                        acknowledged.add(message_id)
                        if len(acknowledged) >= kill_after and not killed.is_set():
                            os.kill(pid, signal.SIGKILL)
                            killed.set()
            except (aiohttp.ClientError, ConnectionError):
                if killed.is_set():
                    return

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(sender(session, w) for w in range(32)))
    return acknowledged


async def _received_ids(url: str, token: str) -> set[str]:
    received: set[str] = set()
    after = 0
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as session:
        while True:
            async with session.get(
                f"{url}/v1/messages", params={"after": after, "limit": 500}
            ) as r:
                frames = (await r.json())["messages"]
            if not frames:
                return received
            received.update(f["message_id"] for f in frames)
            after = max(f["copy_id"] for f in frames)


def test_no_acknowledged_message_is_lost_when_the_server_is_killed(tmp_path: Path) -> None:
    data_dir = tmp_path / "server"
    support_id = seed(data_dir)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = start_server(data_dir, port)
    try:
        asyncio.run(wait_healthy(url))

        async def enrol() -> tuple[str, str, str, str]:
            officer, witness, case_id = await enrol_pair(url, tmp_path, support_id)
            ids = (case_id, officer.identity.token, witness.identity.token, witness.device_id)
            await officer.close()
            await witness.close()
            return ids

        case_id, sender_token, recipient_token, recipient = asyncio.run(enrol())
        all_acknowledged: set[str] = set()
        for round_number in range(3):
            acknowledged = asyncio.run(
                _send_until_killed(
                    url, case_id, sender_token, recipient, process.pid, 150 + 100 * round_number
                )
            )
            process.wait(10)
            assert process.returncode == -signal.SIGKILL
            all_acknowledged |= acknowledged
            process = start_server(data_dir, port)
            asyncio.run(wait_healthy(url))
            received = asyncio.run(_received_ids(url, recipient_token))
            missing = all_acknowledged - received
            assert not missing, f"round {round_number}: {len(missing)} acknowledged messages lost"
        assert len(all_acknowledged) >= 150 + 250 + 350
    finally:
        stop(process)
