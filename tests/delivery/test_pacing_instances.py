"""Two real ``witnesslink serve`` processes on one PostgreSQL database, each paced at
one SMS a second (issue 14): together they never send faster than one a second, and
when one is SIGKILLed while Twilio holds its request, nothing is sent twice and
nothing is lost.

The servers read "now" from a clock file the test moves one second at a time; their
database clock (leases, token buckets) follows it, and so does the fake Twilio's, so
each message's ``date_created`` says in which second it was submitted.
"""

from __future__ import annotations

import base64
import os
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from server.clock import to_ms
from server.ids import new_id
from server.notify.dispatcher import LEASE
from tests.conftest import postgres_dsn
from tests.fakes.twilio_server import FakeTwilio

from .helpers import (
    ClockFile,
    Outbox,
    ServerProcess,
    fresh_database,
    phones_and_waves,
    poll,
    seed_agencies,
    server_env,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
ROUTINE = 10
KILL_AT = 4  # the second in which the instance holding Twilio's request is killed


async def queue_routine(dsn: str, witness_id: str, count: int) -> list[str]:
    """``count`` pending SMS to the witness, oldest first, due now."""
    bodies = [f"Routine {i}" for i in range(count)]
    connection = await asyncpg.connect(dsn)
    try:
        await connection.executemany(
            "INSERT INTO notifications (id, purpose, channel, recipient_kind, recipient_id,"
            " language, body, status, attempts, next_attempt_at, created_at, urgency)"
            " VALUES ($1, 'checkin_nudge', 'sms', 'witness', $2, 'ro', $3, 'pending', 0,"
            " $4, $5, 4)",
            [
                (new_id("ntf"), witness_id, body, to_ms(START), to_ms(START) - count + i)
                for i, body in enumerate(bodies)
            ],
        )
    finally:
        await connection.close()
    return bodies


async def test_two_paced_instances_stay_within_the_limit_and_survive_a_kill(
    tmp_path: Path,
) -> None:
    clock = ClockFile(tmp_path / "clock.txt", START)
    key = base64.b64encode(os.urandom(32)).decode()
    async with (
        fresh_database(postgres_dsn()) as dsn,
        FakeTwilio.running(clock=clock.reader()) as fake,
    ):
        fake.sender_rate = 1.0
        envs = [
            server_env(
                clock=clock,
                fake=fake,
                data_dir=tmp_path / name,
                database_url=dsn,
                secret_key_b64=key,
                sms_per_second=1,
            )
            for name in ("a", "b")
        ]
        seeded = seed_agencies(envs[0], tmp_path / "a")
        servers = [ServerProcess(env, Path(env["WITNESSLINK_DATA_DIR"])) for env in envs]
        outbox = Outbox(dsn=dsn)
        try:
            for server in servers:
                await server.start()
            phones, _dues = await phones_and_waves(
                servers[0].url,
                tmp_path,
                seeded,
                ("10:00",),
                ("worker1",),
                witness_phone_for=lambda worker: True,
            )
            witness_id = next(p for p in phones if p.startswith("wit"))
            bodies = await queue_routine(dsn, witness_id, ROUTINE)

            victim = None
            for second in range(ROUTINE + 2):
                before = len(fake.sent)
                if second == KILL_AT:
                    fake.hang_next(mode="stall")
                clock.advance(timedelta(seconds=1))
                if second == KILL_AT:
                    await poll(lambda: fake.stalled >= 1, "a send to stall", timeout_s=30)
                    stuck = fake.sent[-1]
                    (victim,) = [s for s in servers if s.callback_url == stuck.status_callback]
                    await victim.kill()
                    fake.release_stalled()
                elif len(set(bodies) - {m.body for m in fake.sent}) > 0:
                    await poll(
                        lambda before=before: len(fake.sent) > before,
                        f"one send in second {second}",
                        timeout_s=30,
                    )
            # The dead instance's lease runs out: the survivor takes the row, finds
            # the message at Twilio, and records it instead of sending it again.
            clock.advance(LEASE + timedelta(seconds=1))

            async def all_sent() -> bool:
                return {r["status"] for r in await outbox.rows()} == {"sent"}

            await poll(all_sent, "every row recorded as sent", timeout_s=30)
            assert victim is not None
            await victim.start()
            clock.advance(timedelta(seconds=2))
            rows = await outbox.rows()
        finally:
            for server in servers:
                await server.stop()

    assert sorted(m.body for m in fake.sent) == sorted(bodies), "each exactly once"
    assert fake.requests["create"] == ROUTINE
    assert len({r["provider_id"] for r in rows}) == ROUTINE
    per_second = Counter(m.date_created for m in fake.sent)
    assert max(per_second.values()) == 1, per_second
    assert fake.queue_peak[envs[0]["WITNESSLINK_TWILIO_SENDER"]] <= 1
    by_instance = Counter(m.status_callback for m in fake.sent)
    assert len(by_instance) == 2, "both instances sent"
