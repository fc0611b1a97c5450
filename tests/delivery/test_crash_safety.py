"""A real ``witnesslink serve`` process is SIGKILLed again and again while a wave of
missed check-ins fires alerts and escalates them level by level (and witnesses' phones
get nudges): after every restart the outbox picks up where the dead process stopped,
and in the end every SMS that fell due went out exactly once.

The server reads "now" from a clock file the test moves; SMS go through the real
twilio client to a fake Twilio in this process that reads the same file. Kills happen
at random points: right after the clock moves (sweeps and sends under way), after the
fake has received k messages for a random k, while Twilio holds a create it has
already recorded (``hang_next(mode="stall")``), after a dropped answer, and while the
restarted server is asking Twilio what it already has (a stalled list). The random
seed is printed; set ``WITNESSLINK_CRASH_SEED`` to replay a run.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from server.notify.dispatcher import LEASE, UNCERTAIN_RECHECK
from tests.fakes.twilio_server import FakeTwilio

from .helpers import (
    CAST_PHONES,
    OFFICER_PHONE,
    SUPERVISOR_PHONE,
    WORKER2_PHONE,
    WORKER_PHONE,
    ClockFile,
    Outbox,
    ServerProcess,
    assert_every_notification_sent_exactly_once,
    phones_and_waves,
    poll,
    seed_agencies,
    server_env,
    sms_moments,
)

pytestmark = pytest.mark.slow

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # Monday, 11:00 in Bucharest
#: Three waves of four cases, five minutes apart (local check-in times), so that the
#: recovery after each moment (up to two leases and rechecks) ends before the next.
#: Each wave has a case of worker3, whose number Twilio refuses.
WAVES = ("10:00", "10:05", "10:10")
WAVE_WORKERS = ("worker1", "worker2", "worker3", "worker1")
MIN_KILLS = 10
#: Beyond this, faults are still injected but the server is left alive (run time).
MAX_KILLS = 13
EVENT_ACTIONS = ("stall", "after-k", "after-k", "at-once", "drop", "503", "429")


class CrashHarness:
    """The server process, the clock, the fake, and the random choices."""

    def __init__(
        self, server: ServerProcess, clock: ClockFile, fake: FakeTwilio, outbox: Outbox, seed: int
    ) -> None:
        self.server = server
        self.clock = clock
        self.fake = fake
        self.outbox = outbox
        self.rng = random.Random(seed)
        self.dead_owners: set[str] = set()
        self.actions: list[str] = []

    async def kill_and_restart(self, why: str) -> None:
        await self.server.kill()
        self.fake.release_stalled()
        self.dead_owners |= await self.outbox.sending_owners()
        self.actions.append(f"kill ({why}) at {self.clock.now:%H:%M:%S}")
        await self.server.start()

    async def settle(self, what: str) -> None:
        """Wait until the server has done everything due at the current time."""

        async def idle() -> bool:
            return not await self.outbox.backlog(self.clock.now, self.dead_owners)

        try:
            await poll(idle, f"the server to finish {what}", timeout_s=30)
        except AssertionError as error:
            left = await self.outbox.backlog(self.clock.now, self.dead_owners)
            raise AssertionError(
                f"{error}; still due: {left[:10]}\n{self.server.log_tail()}"
            ) from None

    async def event(self, at: datetime, *, must_kill: bool) -> None:
        """SMS fall due at ``at``: inject a fault, move the clock, maybe kill."""
        action = "after-k" if must_kill else self.rng.choice(EVENT_ACTIONS)
        if self.server.kills >= MAX_KILLS and action in ("stall", "after-k", "at-once"):
            action = self.rng.choice(("drop", "503", "429"))
        fake, before = self.fake, len(self.fake.sent)
        injected = sum(fake.injected.values())
        if action == "stall":
            fake.hang_next(mode="stall")
        elif action == "drop":
            fake.hang_next(mode="drop")
        elif action in ("503", "429"):
            fake.fail_next(status=int(action))
        self.clock.set(at)
        if action == "stall":
            await poll(lambda: fake.stalled >= 1, "a create to stall")
            await self.kill_and_restart("Twilio holds a recorded create")
        elif action == "after-k":
            k = before + self.rng.randint(0, 3)

            async def enough() -> bool:
                return len(fake.sent) >= k or not await self.outbox.backlog(
                    self.clock.now, self.dead_owners
                )

            await poll(enough, f"{k - before} SMS (or an idle server)")
            await self.kill_and_restart(f"after {len(fake.sent) - before} SMS")
        elif action == "at-once":
            # A random instant in the first half second: sweeps and sends under way.
            await asyncio.sleep(self.rng.uniform(0, 0.5))
            await self.kill_and_restart("at a random instant")
        else:
            await poll(lambda: sum(fake.injected.values()) > injected, f"the {action} fault")
            if action == "drop" and self.rng.random() < 0.5 and self.server.kills < MAX_KILLS:
                await asyncio.sleep(self.rng.uniform(0, 0.2))
                await self.kill_and_restart("after a dropped answer")
            else:
                self.actions.append(f"{action} at {at:%H:%M:%S}")
        await self.settle(f"the event at {at:%H:%M}")

    async def recover(self, at: datetime, *, may_kill: bool) -> None:
        """Move the clock to ``at`` (past a lease or a recheck); sometimes kill the
        server while it asks Twilio what it already has."""
        if (
            may_kill
            and self.server.kills < MAX_KILLS
            and self.rng.random() < 0.4
            and await self.outbox.reconcilable(at, self.dead_owners)
        ):
            self.fake.hang_next(kind="list", mode="stall")
            self.clock.set(at)
            await poll(lambda: self.fake.stalled >= 1, "a reconciliation to stall")
            await self.kill_and_restart("while reconciling")
        else:
            self.clock.set(at)
        await self.settle(f"recovery at {at:%H:%M:%S}")

    async def recover_fully(self, after: datetime) -> None:
        """Let time pass as it would: past the dead dispatcher's lease, past the
        uncertain recheck and the retry backoff, until nothing waits any more (a
        kill during the first recovery needs a second one)."""
        at = after
        for attempt in range(3):
            at += LEASE + timedelta(seconds=1)
            await self.recover(at, may_kill=attempt == 0)
            at += UNCERTAIN_RECHECK + timedelta(seconds=1)
            await self.recover(at, may_kill=False)
            if not await self.outbox.waiting(self.dead_owners):
                return
        raise AssertionError(f"rows still waiting after recovery from {after:%H:%M:%S}")


async def test_every_due_sms_is_sent_exactly_once_however_often_the_server_dies(
    tmp_path: Path,
) -> None:
    seed = int(os.environ.get("WITNESSLINK_CRASH_SEED") or random.randrange(2**32))
    print(f"WITNESSLINK_CRASH_SEED={seed}")
    started = time.monotonic()
    clock = ClockFile(tmp_path / "clock.txt", START)
    data_dir = tmp_path / "server"
    async with FakeTwilio.running(clock=clock.reader()) as fake:
        env = server_env(clock=clock, fake=fake, data_dir=data_dir)
        seeded = seed_agencies(env, data_dir)
        server = ServerProcess(env, data_dir)
        outbox = Outbox(sqlite_path=data_dir / "witnesslink.db")
        await server.start()
        try:
            phones, dues = await phones_and_waves(server.url, tmp_path, seeded, WAVES, WAVE_WORKERS)
            harness = CrashHarness(server, clock, fake, outbox, seed)
            events = sms_moments(dues)
            for index, at in enumerate(events):
                remaining = len(events) - index
                await harness.event(at, must_kill=server.kills + remaining <= MIN_KILLS)
                await harness.recover_fully(at)
                assert clock.now < (events[index + 1 :] or [clock.now + LEASE])[0]
            levels = await outbox.alert_levels()
        finally:
            await server.stop()

        rows = await outbox.rows()
        print(
            f"{server.kills} kills, {server.starts} starts, {len(fake.sent)} SMS,"
            f" faults {dict(fake.injected)}, requests {dict(fake.requests)},"
            f" {time.monotonic() - started:.1f}s"
        )
        print("\n".join(harness.actions))
        assert_every_notification_sent_exactly_once(rows, fake.sent, phones)

    assert server.kills >= MIN_KILLS
    assert len(levels) == len(WAVES) * len(WAVE_WORKERS) + 1  # + the enrolled witness
    assert set(levels.values()) == {3}, levels
    # Level 1 reached the two workers with good numbers; levels 2 and 3 everyone.
    assert {m.to for m in fake.sent} >= {
        WORKER_PHONE,
        WORKER2_PHONE,
        SUPERVISOR_PHONE,
        OFFICER_PHONE,
    }
    assert not fake.sent_to(CAST_PHONES["worker3"])
    failed = [r for r in rows if r["status"] == "failed"]
    assert failed
    assert {r["recipient_id"] for r in failed} == {seeded.staff["worker3"]}
