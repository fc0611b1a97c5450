"""A server killed with SIGKILL while messages are being sent loses no message whose
send it had acknowledged: the acknowledgement is only given after a durable commit; and
the SDK's outbox, flushed across such kills, delivers every message once and in order."""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import signal
from pathlib import Path

import aiohttp
import pytest

from client_sdk import DecryptionFailure, IncomingMessage, MessageStatusChanged, WitnessClient
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


class _Server:
    """The real server in its own process, killed with SIGKILL and started again."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = start_server(data_dir, self.port)

    async def started(self) -> None:
        await wait_healthy(self.url)

    async def kill_and_restart(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)
        self.process = start_server(self.data_dir, self.port)
        await self.started()


async def _until_sent(client: WitnessClient, count: int) -> None:
    """Wait until a flush has reported ``count`` queued messages sent."""
    seen = 0
    async with asyncio.timeout(60):
        while seen < count:
            event = await client.receive()
            if isinstance(event, MessageStatusChanged) and event.status == "sent":
                seen += 1


def test_an_sdk_outbox_flushed_while_the_server_is_killed_delivers_once_in_order(
    tmp_path: Path,
) -> None:
    """The phone's queue is being flushed when the server is SIGKILLed, twice: every
    message arrives once and in order (retries carry the same ids), none is lost."""
    data_dir = tmp_path / "server"
    support_id = seed(data_dir)
    server = _Server(data_dir)

    async def scenario() -> tuple[list[str], list[str]]:
        await server.started()
        officer, phone, _case_id = await enrol_pair(server.url, tmp_path, support_id)
        try:
            await phone.send("hello")
            await officer.sync()
            os.kill(server.process.pid, signal.SIGKILL)
            server.process.wait(10)
            texts = [f"queued {n:03d}" for n in range(300)]
            for text in texts:
                await phone.send(text)
            server.process = start_server(data_dir, server.port)
            await server.started()
            for _ in range(2):
                flushing = asyncio.create_task(phone.flush_outbox(force=True))
                await _until_sent(phone, 80)
                await server.kill_and_restart()
                await flushing
            while await phone.pending_outbox():
                await phone.flush_outbox(force=True)
            await officer.sync()
            events = officer.pending_events()
            assert not [e for e in events if isinstance(e, DecryptionFailure)]
            got = [e.text for e in events if isinstance(e, IncomingMessage)]
            return ["hello", *texts], got
        finally:
            await officer.close()
            await phone.close()

    try:
        expected, got = asyncio.run(scenario())
    finally:
        stop(server.process)
    assert got == expected
