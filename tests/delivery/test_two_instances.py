"""Two ``witnesslink serve`` processes on one PostgreSQL database (the deployment's
"app x2"): both sweep check-ins and escalations and both run the dispatcher, sharing a
clock file and one fake Twilio. Whichever instance claims a row, every SMS that falls
due goes out exactly once.

A fresh database per run: the server has no environment variable for a PostgreSQL
schema (``Settings.postgres_schema`` is not read from the environment).
"""

from __future__ import annotations

import base64
import os
import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from server.notify.dispatcher import LEASE, UNCERTAIN_RECHECK
from tests.conftest import postgres_dsn
from tests.fakes.twilio_server import FakeTwilio

from .helpers import (
    CAST_PHONES,
    ClockFile,
    Outbox,
    ServerProcess,
    assert_every_notification_sent_exactly_once,
    fresh_database,
    phones_and_waves,
    poll,
    seed_agencies,
    server_env,
    sms_moments,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
WAVES = ("10:00", "10:04")
WAVE_WORKERS = ("worker1", "worker2", "worker3", "worker1", "worker2", "worker1")


async def test_two_instances_on_one_database_send_every_sms_exactly_once(
    tmp_path: Path,
) -> None:
    base_dsn = postgres_dsn()
    seed = int(os.environ.get("WITNESSLINK_CRASH_SEED") or random.randrange(2**32))
    print(f"WITNESSLINK_CRASH_SEED={seed}")
    rng = random.Random(seed)
    clock = ClockFile(tmp_path / "clock.txt", START)
    key = base64.b64encode(os.urandom(32)).decode()
    async with (
        fresh_database(base_dsn) as dsn,
        FakeTwilio.running(clock=clock.reader()) as fake,
    ):
        envs = [
            server_env(
                clock=clock,
                fake=fake,
                data_dir=tmp_path / name,
                database_url=dsn,
                secret_key_b64=key,
            )
            for name in ("a", "b")
        ]
        seeded = seed_agencies(envs[0], tmp_path / "a")
        servers = [ServerProcess(env, Path(env["WITNESSLINK_DATA_DIR"])) for env in envs]
        outbox = Outbox(dsn=dsn)
        try:
            for server in servers:
                await server.start()
            phones, dues = await phones_and_waves(
                servers[0].url,
                tmp_path,
                seeded,
                WAVES,
                WAVE_WORKERS,
                witness_phone_for=lambda worker: True,
            )

            dead: set[str] = set()

            async def settle(what: str) -> None:
                async def idle() -> bool:
                    return not await outbox.backlog(clock.now, dead)

                await poll(idle, f"both servers to finish {what}", timeout_s=30)

            *moments, last = sms_moments(dues)
            for at in moments:
                # Now and then Twilio drops an answer or fails: the row is reconciled,
                # possibly by the other instance.
                fault = rng.choice([None, None, "drop", "503", "429"])
                if fault == "drop":
                    fake.hang_next(mode="drop")
                elif fault is not None:
                    fake.fail_next(status=int(fault))
                clock.set(at)
                await settle(f"the moment {at:%H:%M}")
                clock.advance(UNCERTAIN_RECHECK + timedelta(seconds=1))
                await settle(f"the recheck after {at:%H:%M}")

            # Failover: the last level-3 SMS (one, to the officer) hangs inside Twilio
            # after Twilio recorded it; the instance sending it dies. When its lease
            # runs out, the other instance finds the message instead of sending again.
            fake.hang_next(mode="stall")
            clock.set(last)
            await poll(lambda: fake.stalled >= 1, "the officer's SMS to stall")
            stuck = fake.sent[-1]
            (victim,) = [s for s in servers if s.callback_url == stuck.status_callback]
            await victim.kill()
            fake.release_stalled()
            dead |= await outbox.sending_owners()
            clock.advance(LEASE + timedelta(seconds=1))
            await settle("the dead instance's send")
            await victim.start()
            clock.advance(UNCERTAIN_RECHECK + timedelta(seconds=1))
            await settle("the end")
            assert [m for m in fake.sent if m.to == stuck.to and m.body == stuck.body] == [stuck]
            levels = await outbox.alert_levels()
            rows = await outbox.rows()
        finally:
            for server in servers:
                await server.stop()

        counts = assert_every_notification_sent_exactly_once(rows, fake.sent, phones)
        by_instance = Counter(
            next(s.url for s in servers if m.status_callback == s.callback_url) for m in fake.sent
        )

    print(f"{len(fake.sent)} SMS {counts}; by instance {dict(by_instance)}; {dict(fake.injected)}")
    assert len(levels) == len(WAVES) * len(WAVE_WORKERS) + 1  # + the enrolled witness
    assert set(levels.values()) == {3}
    assert not fake.sent_to(CAST_PHONES["worker3"])
    assert sum(by_instance.values()) == len(fake.sent)
