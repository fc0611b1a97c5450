"""``lapses.py --sender-rate R``: duress alerts raised while a lapse wave's backlog
drains through senders limited to R SMS a second (issue 14).

The same seeded world as the unpaced benchmark (``_lapses_seed.py``); the wave's
check-ins lapse at T0 and the real check-in sweep raises their alerts and queues their
SMS (one per support worker: about 2,000 for a wave of 10,000). Then the real
dispatcher, paced by the real token buckets in the real SQLite database, sends through
the real ``twilio`` client to the Twilio-shaped fake, which accepts everything at once
but sends each sender's messages at R a second in arrival order (as Twilio does) and
records when each would reach the phone.

Time is virtual: one :class:`~server.clock.ManualClock` is the server's clock, the
database's (leases, buckets) and the fake Twilio's. The loop drains the outbox and then
moves the clock by ``--step-s`` (0.25 s), so a drain of ~2,000 s of sending runs in a
few minutes; nothing sleeps. 20 duress alerts (``--duress``) are raised at random
moments while the backlog drains (the same path the check-in service takes: the alert
engine raises them and queues their SMS). Escalation sweeps do not run (the wave's
alerts are not escalated during the drain), so the backlog is the wave's first SMS only.

Reported: each duress alert's delay from being raised to its first SMS reaching a
phone at the fake (p50, p99, max), and the time from T0 until the last SMS of the wave
reached its phone; the fake's longest queue per sender (pacing keeps it at 1 or less).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks._lapses_seed import Seeded, seed, write_wave
from scheduler.jobs import WelfareSweeps
from server.clock import ManualClock, to_ms
from server.config import Settings
from server.domain.effects import Effects
from server.domain.events import NullEventSink
from server.domain.welfare.alerts import AlertSpec
from server.domain.welfare_models import AlertKind
from server.services import open_services
from server.storage.opening import open_database
from tests.fakes.twilio_server import DEFAULT_ACCOUNT_SID as ACCOUNT_SID
from tests.fakes.twilio_server import DEFAULT_AUTH_TOKEN as AUTH_TOKEN
from tests.fakes.twilio_server import FakeTwilio

SENDER = "+15005550006"
TARGET_DURESS_P99_S = 2.0


def _percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run_paced(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """Seed (synchronously, as the seeder runs its own event loop), then drain."""
    data_dir = tmp / "server"
    started = time.perf_counter()
    seeded = seed(
        data_dir, witnesses=args.witnesses, cases_per_worker=args.cases_per_worker, devices=False
    )
    db_path = data_dir / "witnesslink.db"
    key_b64 = (data_dir / "server.key").read_text().strip()
    assert len(base64.b64decode(key_b64)) == 32
    rng = random.Random(7)
    wave_numbers = rng.sample(range(args.witnesses), args.wave)
    t0 = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=5)
    write_wave(db_path, seeded, wave_numbers, to_ms(t0))
    seed_s = time.perf_counter() - started
    result = asyncio.run(_drain(args, data_dir, seeded, t0, rng))
    result["seed_s"] = round(seed_s, 1)
    return result


async def _drain(
    args: argparse.Namespace, data_dir: Path, seeded: Seeded, t0: datetime, rng: random.Random
) -> dict[str, Any]:
    db_path = data_dir / "witnesslink.db"
    key_b64 = (data_dir / "server.key").read_text().strip()
    clock = ManualClock(t0)
    fake = FakeTwilio(clock=clock.now, sender_rate=args.sender_rate)
    await fake.start()
    settings = Settings(
        data_dir=data_dir,
        database_url=f"sqlite:///{db_path}",
        run_scheduler=False,
        secret_key_b64=key_b64,
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        twilio_sender=SENDER,
        twilio_base_url=fake.base_url,
        sms_per_second=args.sender_rate,
        calls_per_second=args.sender_rate,
    )
    db = await open_database(settings.database_url, clock)
    services = await open_services(settings, clock, db, hub=None, events=NullEventSink())
    real_started = time.perf_counter()
    try:
        await WelfareSweeps(services).checkins()  # the wave: alerts and their SMS queued
        backlog = await services.backlog.read()
        wave_alert_rows = backlog.depth["alert"] + backlog.depth["critical"]
        # The wave's SMS (its alerts fold, one SMS per support worker) at the rate:
        # the duress alerts are raised while they drain.
        horizon_s = backlog.routine_sms_wait_s
        duress_moments = sorted(
            t0 + timedelta(seconds=rng.uniform(1.0, max(2.0, 0.9 * horizon_s)))
            for _ in range(args.duress)
        )
        raised: list[tuple[str, datetime]] = []
        during_drain = 0
        step = timedelta(seconds=args.step_s)
        deadline = t0 + timedelta(seconds=horizon_s * 3 + 600)
        while clock.now() < deadline:
            while duress_moments and duress_moments[0] <= clock.now():
                # Timed from the random moment, so the loop's step counts in the delay.
                moment = duress_moments.pop(0)
                if (await services.backlog.read()).depth["alert"] > 0:
                    during_drain += 1
                number = rng.randrange(args.witnesses)
                async with services.store.write() as uow:
                    alerts = await services.alerts.raise_alerts(
                        uow,
                        [
                            AlertSpec(
                                seeded.case_ids[number],
                                seeded.witness_ids[number],
                                AlertKind.DURESS,
                                f"bench-duress-{len(raised)}",
                            )
                        ],
                        clock.now(),
                        Effects(),
                    )
                raised += [(a.id, moment) for a in alerts]
            await services.dispatcher.drain()
            if not duress_moments and (await services.backlog.read()).total == 0:
                break
            clock.advance(step)
        delays = []
        async with services.store.read() as uow:
            for alert_id, at in raised:
                rows = await uow.notifications.for_alert(alert_id)
                received = [
                    fake.message(r.provider_id).received_at
                    for r in rows
                    if r.channel == "sms" and r.provider_id
                ]
                times = [moment for moment in received if moment is not None]
                if times:
                    delays.append((min(times) - at).total_seconds())
        duress_sids = set()
        async with services.store.read() as uow:
            for alert_id, _at in raised:
                duress_sids |= {r.provider_id for r in await uow.notifications.for_alert(alert_id)}
        wave_received = [
            m.received_at for m in fake.sent if m.sid not in duress_sids and m.received_at
        ]
        delays.sort()
        result: dict[str, Any] = {
            "benchmark": "lapses --sender-rate",
            "witnesses": args.witnesses,
            "wave": args.wave,
            "sender_rate_per_s": args.sender_rate,
            "wave_alert_sms_rows": wave_alert_rows,
            "expected_drain_s": round(horizon_s, 1),
            "wave_sms_sent": len(wave_received),
            "duress_raised": len(raised),
            "duress_raised_while_wave_waited": during_drain,
            "duress_delivered": len(delays),
            "duress_delay_p50_s": round(statistics.median(delays), 3) if delays else None,
            "duress_delay_p99_s": round(_percentile(delays, 0.99), 3) if delays else None,
            "duress_delay_max_s": round(delays[-1], 3) if delays else None,
            "wave_drain_s": round((max(wave_received) - t0).total_seconds(), 1)
            if wave_received
            else None,
            "twilio_queue_peak": max(fake.queue_peak.values(), default=0),
            "step_s": args.step_s,
            "real_s": round(time.perf_counter() - real_started, 1),
            "targets": {"duress_delay_p99_s": TARGET_DURESS_P99_S},
        }
        p99 = result["duress_delay_p99_s"]
        result["meets_targets"] = p99 is not None and p99 <= TARGET_DURESS_P99_S
        return result
    finally:
        for gateway in services.dispatcher.senders.values():
            await gateway.close()
        await db.close()
        await fake.stop()
