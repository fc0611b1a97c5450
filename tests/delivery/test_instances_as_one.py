"""Two ``witnesslink serve`` processes on one PostgreSQL database behave as one:

* sign-in guesses spread over both instances are limited as if made at one (the
  buckets are rows in the shared database, not each process's memory);
* a message sent through instance A to a phone connected to instance B is pushed to
  it exactly once;
* a few hundred messages sent through both instances, acknowledged partly over B's
  WebSocket and partly through A's REST endpoint while they arrive, are each pushed
  exactly once (the re-reads that B's notes from A start overlap those
  acknowledgements: the race that once pushed 130 of 5,047 copies twice).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import secrets
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from server.domain.login_throttle import BY_ACCOUNT_AT_ADDRESS
from tests.api.helpers import RawDevice
from tests.conftest import postgres_dsn
from tests.support.processes import enrol_pair, seed

from .helpers import ClockFile, ServerProcess, fresh_database, poll

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MESSAGES = 300


def instance_env(tmp: Path, name: str, dsn: str, key: str, clock: ClockFile) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WITNESSLINK_")}
    env.update(
        WITNESSLINK_DATA_DIR=str(tmp / name),
        WITNESSLINK_DATABASE_URL=dsn,
        WITNESSLINK_SECRET_KEY=key,
        WITNESSLINK_TEST_CLOCK_FILE=str(clock.path),
    )
    return env


@asynccontextmanager
async def two_instances(tmp: Path) -> AsyncIterator[tuple[ServerProcess, ServerProcess, Any]]:
    """Instances A and B (same database, same server key, one clock file), seeded with
    the benchmark's agencies and officer; yields them and the support agency's id."""
    clock = ClockFile(tmp / "clock.txt", START)
    key = base64.b64encode(os.urandom(32)).decode()
    async with fresh_database(postgres_dsn()) as dsn:
        envs = [instance_env(tmp, name, dsn, key, clock) for name in ("a", "b")]
        support_id = await asyncio.to_thread(seed, tmp / "a", envs[0])
        servers = [ServerProcess(env, Path(env["WITNESSLINK_DATA_DIR"])) for env in envs]
        try:
            await asyncio.gather(*(server.start() for server in servers))
            yield servers[0], servers[1], (support_id, clock)
        finally:
            for server in servers:
                await server.stop()


async def wrong_password(http: aiohttp.ClientSession, url: str) -> int:
    body = RawDevice().login_body("officer", one_time_keys=0, fallback=False)
    body["password"] = "definitely wrong password"
    async with http.post(f"{url}/v1/auth/login", json=body) as response:
        return response.status


class Phone:
    """The witness's phone, connected to one instance by WebSocket: counts what is
    pushed, and acknowledges each copy either on the socket or by REST elsewhere."""

    def __init__(self, token: str, ack_by_rest_at: str) -> None:
        self.headers = {"Authorization": f"Bearer {token}"}
        self.ack_by_rest_at = ack_by_rest_at
        self.received: Counter[str] = Counter()

    async def listen(self, http: aiohttp.ClientSession, url: str, ready: asyncio.Event) -> None:
        async with http.ws_connect(f"{url}/v1/ws", headers=self.headers) as ws:
            ready.set()
            async for frame in ws:
                if frame.type is not aiohttp.WSMsgType.TEXT:
                    return
                data = frame.json()
                if data.get("type") != "message":
                    continue
                self.received[data["message_id"]] += 1
                if data["copy_id"] % 2:
                    await ws.send_json({"copy_ids": [data["copy_id"]]})
                else:
                    async with http.post(
                        f"{self.ack_by_rest_at}/v1/messages/ack",
                        json={"copy_ids": [data["copy_id"]]},
                        headers=self.headers,
                    ) as response:
                        assert response.status == 200, await response.text()


async def send(
    http: aiohttp.ClientSession, url: str, token: str, case_id: str, to: str, message_id: str
) -> None:
    body = base64.b64encode(secrets.token_bytes(64)).decode()
    async with http.put(
        f"{url}/v1/cases/{case_id}/messages/{message_id}",
        json={"ciphertexts": [{"device_id": to, "type": 1, "body": body}]},
        headers={"Authorization": f"Bearer {token}"},
    ) as response:
        assert response.status == 201, await response.text()


async def test_two_instances_limit_guesses_and_push_each_copy_once(tmp_path: Path) -> None:
    async with (
        two_instances(tmp_path) as (a, b, (support_id, clock)),
        aiohttp.ClientSession() as http,
    ):
        # Guesses alternating between the instances are counted in one bucket.
        statuses = [await wrong_password(http, (a, b)[i % 2].url) for i in range(8)]
        capacity = BY_ACCOUNT_AT_ADDRESS.capacity
        assert statuses == [401] * capacity + [429] * (8 - capacity)
        clock.advance(timedelta(seconds=BY_ACCOUNT_AT_ADDRESS.full_after_s))

        officer, witness, case_id = await enrol_pair(a.url, tmp_path, support_id)
        try:
            phone = Phone(witness.transport.token or "", ack_by_rest_at=a.url)
            officer_token = officer.transport.token or ""
            ready = asyncio.Event()
            listener = asyncio.create_task(phone.listen(http, b.url, ready))
            await asyncio.wait_for(ready.wait(), 10)

            # One message through A to the phone on B: pushed once.
            await send(http, a.url, officer_token, case_id, witness.device_id, "single-message")
            await poll(lambda: phone.received["single-message"] >= 1, "the message through A")

            # Hundreds through both instances, eight at a time, acknowledged as they
            # arrive (odd copy ids on B's socket, even ones by REST on A).
            ids = iter(range(MESSAGES))

            async def sender() -> None:
                for n in ids:
                    url = (a, b)[n % 3 == 0].url
                    await send(
                        http, url, officer_token, case_id, witness.device_id, f"message-{n:05d}"
                    )

            await asyncio.gather(*(sender() for _ in range(8)))
            await poll(
                lambda: (
                    sum(1 for n in range(MESSAGES) if phone.received[f"message-{n:05d}"])
                    == MESSAGES
                ),
                "every message to arrive",
                timeout_s=40,
            )
            # A last message through A, after every other acknowledgement was given:
            # re-reads it starts on B find nothing else to send.
            await send(http, a.url, officer_token, case_id, witness.device_id, "fence-message")
            await poll(lambda: phone.received["fence-message"] >= 1, "the fence")
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
        finally:
            await officer.close()
            await witness.close()

    twice = {message_id: n for message_id, n in phone.received.items() if n != 1}
    assert twice == {}, f"{len(twice)} of {len(phone.received)} messages pushed more than once"
    assert len(phone.received) == MESSAGES + 2
