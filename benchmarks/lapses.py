"""Lapse wave: how fast a wave of missed check-ins becomes alerts and staff SMS.

100,000 witnesses with check-in plans on SQLite (seeded directly, see
``benchmarks/_lapses_seed.py``); 10,000 of their deadlines pass at the same instant T0.
The real server (``witnesslink serve``) runs in its own process with its real
APScheduler sweeps, and sends SMS with the real ``twilio`` client to the Twilio-shaped
fake (``tests/fakes/twilio_server.py``) on 127.0.0.1, which runs in a third process.

Measured:

* ``startup_s``: from spawning the server to ``/healthz`` answering 200, with the whole
  world already in the database;
* deadline -> alert: ``alerts.created_at`` minus the occurrence's ``deadline_at``.
  ``created_at`` is the clock reading at the *start* of the sweep batch, so the alert is
  also timed when it became visible (committed), by polling the database every
  ``--poll-s``: ``deadline_to_alert_visible_*``;
* deadline -> SMS: when the fake received the SMS that told the case's support worker
  (``notifications.provider_id`` is the SID; one SMS may cover several alerts of one
  worker, and counts for each) minus the deadline;
* ``peak_rss_mb``: the server's VmHWM at the end.

The fake's API reports dates to the second only, so it runs here under a thin wrapper
(``lapses.py _fake``) around the unchanged ``FakeTwilio`` that writes each message's
``date_created`` with full resolution to a file when it stops.

Prints one JSON line::

    python benchmarks/lapses.py                       # 100,000 witnesses, wave 10,000
    python benchmarks/lapses.py --witnesses 20000 --wave 2000
    python benchmarks/lapses.py --profile /tmp/lapses.svg   # py-spy on the server
    python benchmarks/lapses.py --sender-rate 1   # paced senders, duress during the drain
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import http.client
import json
import os
import random
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


from tests.fakes.twilio_server import DEFAULT_ACCOUNT_SID as ACCOUNT_SID  # noqa: E402
from tests.fakes.twilio_server import DEFAULT_AUTH_TOKEN as AUTH_TOKEN  # noqa: E402

SENDER = "+15005550006"  # Twilio's valid magic From number
TARGETS = {
    "deadline_to_alert_p99_ms": 1000.0,
    "deadline_to_sms_p99_ms": 2000.0,
    "startup_s": 5.0,
    "peak_rss_mb": 300.0,
}
_OPEN_STATUSES = ("pending", "sending", "uncertain")


# ------------------------------------------------------------------ the fake, wrapped


async def _serve_fake(port: int) -> list[dict[str, Any]]:
    """FakeTwilio in this process until SIGTERM; returns each message's arrival."""
    from server.clock import to_ms
    from tests.fakes.twilio_server import FakeTwilio

    fake = FakeTwilio(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN)
    base_url = await fake.start(port)
    print(json.dumps({"event": "listening", "port": fake.port, "base_url": base_url}), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    parent = os.getppid()
    try:
        while not stop.is_set() and os.getppid() == parent:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)
    finally:
        await fake.stop()
        messages = [
            {"sid": m.sid, "to": m.to, "at_ms": to_ms(m.date_created), "body": m.body}
            for m in fake.sent
        ]
        print(
            json.dumps(
                {"event": "stopped", "requests": dict(fake.requests), "messages": len(messages)}
            ),
            flush=True,
        )
    return messages


def _fake_main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="lapses.py _fake")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--record", type=Path, required=True)
    args = parser.parse_args(argv)
    args.record.write_text(json.dumps(asyncio.run(_serve_fake(args.port))))


# ------------------------------------------------------------------ processes


class Children:
    """Subprocesses this benchmark started; all stopped on exit, whatever happens."""

    def __init__(self) -> None:
        self._procs: list[subprocess.Popen[Any]] = []

    def start(self, args: list[str], **kwargs: Any) -> subprocess.Popen[Any]:
        proc = subprocess.Popen(args, cwd=ROOT, **kwargs)
        self._procs.append(proc)
        return proc

    @staticmethod
    def stop(proc: subprocess.Popen[Any], sig: int = signal.SIGTERM, wait_s: float = 15) -> None:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(sig)
            try:
                proc.wait(wait_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def stop_all(self) -> None:
        for proc in reversed(self._procs):
            self.stop(proc, wait_s=5)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _healthy(url: str) -> bool:
    connection = http.client.HTTPConnection(url.removeprefix("http://"), timeout=2)
    try:
        connection.request("GET", "/healthz")
        return connection.getresponse().status == 200
    except (ConnectionError, OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


def _proc_status(pid: int) -> dict[str, int]:
    """VmHWM / VmRSS (kB) of a live process."""
    out: dict[str, int] = {}
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as handle:
        for line in handle:
            name, _, value = line.partition(":")
            if name in ("VmHWM", "VmRSS"):
                out[name] = int(value.split()[0])
    return out


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time a live process has used."""
    with contextlib.suppress(OSError), open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return 0.0


# ------------------------------------------------------------------ measurement


def _percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def _progress(db: sqlite3.Connection) -> tuple[int, int, int]:
    """(missed-check-in alerts, their level-1 SMS rows, of which still open)."""
    alerts = db.execute("SELECT count(*) FROM alerts WHERE kind = 'missed_checkin'").fetchone()[0]
    sms, open_sms = db.execute(
        "SELECT count(*), coalesce(sum(status IN (?, ?, ?)), 0) FROM notifications"
        " WHERE purpose = 'alert' AND channel = 'sms' AND level = 1",
        _OPEN_STATUSES,
    ).fetchone()
    return int(alerts), int(sms), int(open_sms)


def _measure(
    db: sqlite3.Connection, wave_ids: set[str], arrivals: dict[str, int], seen_ms: dict[str, int]
) -> dict[str, Any]:
    rows = db.execute(
        "SELECT a.id, a.created_at, c.id, c.deadline_at FROM alerts a"
        " JOIN checkins c ON c.id = substr(a.source, 9)"
        " WHERE a.kind = 'missed_checkin' AND a.source LIKE 'checkin:%'"
    ).fetchall()
    deadline_of = {}
    to_alert: list[float] = []
    to_visible: list[float] = []
    batches: Counter[int] = Counter()
    for alert_id, created_at, checkin_id, deadline_at in rows:
        if checkin_id not in wave_ids:
            continue
        deadline_of[alert_id] = deadline_at
        to_alert.append(created_at - deadline_at)
        if alert_id in seen_ms:
            to_visible.append(seen_ms[alert_id] - deadline_at)
        batches[created_at] += 1
    sms_rows = db.execute(
        "SELECT alert_id, provider_id, status, sent_at, claimed_at, group_ref FROM notifications"
        " WHERE purpose = 'alert' AND channel = 'sms' AND level = 1"
    ).fetchall()
    to_sms: list[float] = []
    to_sent_at: list[float] = []
    missing = 0
    statuses: Counter[str] = Counter()
    sids = set()
    for alert_id, provider_id, status, sent_at, _claimed, _ref in sms_rows:
        if alert_id not in deadline_of:
            continue
        statuses[status] += 1
        deadline = deadline_of[alert_id]
        if sent_at is not None:
            to_sent_at.append(sent_at - deadline)
        if provider_id in arrivals:
            sids.add(provider_id)
            to_sms.append(arrivals[provider_id] - deadline)
        else:
            missing += 1
    app_statuses: Counter[str] = Counter()
    to_app: list[float] = []
    for alert_id, status, sent_at in db.execute(
        "SELECT alert_id, status, sent_at FROM notifications WHERE purpose = 'alert'"
        " AND channel = 'app' AND level = 1"
    ):
        if alert_id in deadline_of:
            app_statuses[status] += 1
            if sent_at is not None:
                to_app.append(sent_at - deadline_of[alert_id])
    to_alert.sort()
    to_visible.sort()
    to_app.sort()
    to_sms.sort()
    to_sent_at.sort()
    stamps = sorted(batches)
    out: dict[str, Any] = {
        "alerts": len(to_alert),
        "deadline_to_alert_p50_ms": round(statistics.median(to_alert), 1) if to_alert else None,
        "deadline_to_alert_p99_ms": round(_percentile(to_alert, 0.99), 1) if to_alert else None,
        "deadline_to_alert_max_ms": round(to_alert[-1], 1) if to_alert else None,
        "deadline_to_alert_visible_p50_ms": round(statistics.median(to_visible), 1)
        if to_visible
        else None,
        "deadline_to_alert_visible_p99_ms": round(_percentile(to_visible, 0.99), 1)
        if to_visible
        else None,
        "deadline_to_app_push_p99_ms": round(_percentile(to_app, 0.99), 1) if to_app else None,
        "deadline_to_sms_p50_ms": round(statistics.median(to_sms), 1) if to_sms else None,
        "deadline_to_sms_p99_ms": round(_percentile(to_sms, 0.99), 1) if to_sms else None,
        "deadline_to_sms_max_ms": round(to_sms[-1], 1) if to_sms else None,
        "deadline_to_sent_at_p99_ms": round(_percentile(to_sent_at, 0.99), 1)
        if to_sent_at
        else None,
        "sms_sent": len(sids),
        "sms_rows": sum(statuses.values()),
        "sms_rows_by_status": dict(statuses),
        "sms_rows_without_arrival": missing,
        "app_rows_by_status": dict(app_statuses),
        "alert_batches": len(stamps),
        "alert_batch_sizes": [batches[s] for s in stamps][:40],
        "alert_batch_offsets_ms": [s - stamps[0] for s in stamps][:40] if stamps else [],
        "first_alert_ms": (stamps[0] - next(iter(deadline_of.values()))) if stamps else None,
    }
    return out


# ------------------------------------------------------------------ the run


def run(args: argparse.Namespace, tmp: Path, children: Children) -> dict[str, Any]:
    from benchmarks._lapses_seed import seed, write_wave

    data_dir = tmp / "server"
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    seeded = seed(
        data_dir,
        witnesses=args.witnesses,
        cases_per_worker=args.cases_per_worker,
        devices=not args.no_devices,
    )
    db_path = data_dir / "witnesslink.db"
    key_b64 = (data_dir / "server.key").read_text().strip()
    assert len(base64.b64decode(key_b64)) == 32
    wave_numbers = random.Random(7).sample(range(args.witnesses), args.wave)
    seed_s = time.perf_counter() - started

    record = tmp / "fake-messages.json"
    fake = children.start(
        [sys.executable, str(Path(__file__).resolve()), "_fake", "--record", str(record)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert fake.stdout is not None
    listening = json.loads(fake.stdout.readline())
    base_url = listening["base_url"]

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WITNESSLINK_", "TWILIO_"))}
    env.update(
        {
            "WITNESSLINK_SECRET_KEY": key_b64,
            "WITNESSLINK_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "WITNESSLINK_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "WITNESSLINK_TWILIO_SENDER": SENDER,
            # Unpaced: this measures the server against a sender that takes everything
            # at once (--sender-rate measures pacing, in virtual time).
            "WITNESSLINK_SMS_PER_SECOND": "0",
            "WITNESSLINK_TWILIO_BASE_URL": base_url,
        }
    )
    # The deadline is decided before the server starts: T0 = now + lead.
    t0_ms = int(time.time() * 1000) + int(args.lead_s * 1000)
    wave_ids = set(write_wave(db_path, seeded, wave_numbers, t0_ms))
    server_log = (tmp / "server.log").open("w")
    spawned = time.perf_counter()
    server = children.start(
        [
            sys.executable,
            "-m",
            "server",
            "serve",
            "--data-dir",
            str(data_dir),
            "--port",
            str(port),
        ],
        stdout=server_log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    while not _healthy(url):
        if server.poll() is not None:
            raise RuntimeError(f"server exited with {server.returncode}; see {tmp}/server.log")
        if time.perf_counter() - spawned > 120:
            raise RuntimeError("server did not become healthy in 120 s")
        time.sleep(0.02)
    startup_s = time.perf_counter() - spawned
    healthy_ms = int(time.time() * 1000)
    rss_idle = _proc_status(server.pid)
    cpu_before = _cpu_seconds(server.pid)

    profiler = None
    if args.profile:
        fmt = {".svg": "flamegraph", ".json": "speedscope"}.get(Path(args.profile).suffix, "raw")
        profiler = children.start(
            [
                str(Path(sys.executable).parent / "py-spy"),
                "record",
                "--pid",
                str(server.pid),
                "--rate",
                str(args.profile_rate),
                "--format",
                fmt,
                "--output",
                args.profile,
                "--nonblocking",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    reader = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
    deadline = time.monotonic() + args.timeout_s
    done = False
    progress = (0, 0, 0)
    # When each alert became visible to a reader (committed), to within the poll period:
    # alerts.created_at is the clock reading at the start of the sweep batch, which can
    # be well before the batch commits.
    seen_ms: dict[str, int] = {}
    last_rowid = 0
    polls = 0
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"server exited with {server.returncode}; see {tmp}/server.log")
        now_ms = int(time.time() * 1000)
        if now_ms > t0_ms - 500:
            for rowid, alert_id in reader.execute(
                "SELECT rowid, id FROM alerts WHERE rowid > ? ORDER BY rowid", (last_rowid,)
            ):
                last_rowid = rowid
                seen_ms.setdefault(alert_id, now_ms)
            polls += 1
            if polls % 5 == 0:
                progress = _progress(reader)
                alerts, sms, open_sms = progress
                if alerts >= args.wave and sms >= alerts and open_sms == 0:
                    done = True
                    break
        time.sleep(args.poll_s)
    finished_ms = int(time.time() * 1000)
    status = _proc_status(server.pid)
    cpu_wave = _cpu_seconds(server.pid) - cpu_before
    if profiler is not None:
        children.stop(profiler, signal.SIGINT, wait_s=60)
    children.stop(server)
    children.stop(fake)
    fake_stopped = json.loads(fake.stdout.readline() or "{}") if fake.stdout else {}
    arrivals = {m["sid"]: m["at_ms"] for m in json.loads(record.read_text())}
    measured = _measure(reader, wave_ids, arrivals, seen_ms)
    reader.close()

    result: dict[str, Any] = {
        "benchmark": "lapses",
        "backend": "sqlite",
        "deadline_to_alert_p50_ms": measured.pop("deadline_to_alert_p50_ms"),
        "deadline_to_alert_p99_ms": measured.pop("deadline_to_alert_p99_ms"),
        "deadline_to_sms_p99_ms": measured.pop("deadline_to_sms_p99_ms"),
        "startup_s": round(startup_s, 3),
        "peak_rss_mb": round(status.get("VmHWM", 0) / 1024, 1),
        "witnesses": args.witnesses,
        "wave": args.wave,
        "support_workers": seeded.support_workers,
        "cases_per_worker": args.cases_per_worker,
        "devices": seeded.devices,
        **measured,
        "completed": done,
        "progress_at_end": {"alerts": progress[0], "sms_rows": progress[1], "open": progress[2]},
        "healthy_before_t0_s": round((t0_ms - healthy_ms) / 1000, 3),
        "wave_elapsed_s": round((finished_ms - t0_ms) / 1000, 3),
        "server_cpu_s_during_wave": round(cpu_wave, 2),
        "rss_after_startup_mb": round(rss_idle.get("VmRSS", 0) / 1024, 1),
        "fake_requests": fake_stopped.get("requests"),
        "seed_s": round(seed_s, 2),
        "cpu_count": os.cpu_count() or 0,
        "loadavg_1m_before": round(load_before, 2),
        "sqlite_version": sqlite3.sqlite_version,
        "python": sys.version.split()[0],
    }
    if healthy_ms >= t0_ms - 500:
        result["warning"] = "the server became healthy less than 0.5 s before T0; raise --lead-s"
    result["targets_met"] = {
        name: result.get(name) is not None and result[name] <= limit
        for name, limit in TARGETS.items()
    }
    if args.profile:
        result["profile"] = args.profile
    return result


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_fake":
        _fake_main(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--witnesses", type=int, default=100_000)
    parser.add_argument("--wave", type=int, default=10_000)
    parser.add_argument(
        "--cases-per-worker", type=int, default=50, help="cases assigned to each support worker"
    )
    parser.add_argument(
        "--no-devices", action="store_true", help="no witness phones or staff app devices"
    )
    parser.add_argument(
        "--lead-s", type=float, default=8.0, help="T0 = this many seconds after the spawn"
    )
    parser.add_argument("--timeout-s", type=float, default=300.0)
    parser.add_argument(
        "--poll-s", type=float, default=0.05, help="how often the database is polled"
    )
    parser.add_argument(
        "--profile", help="py-spy the server during the wave (.svg, .json speedscope, else raw)"
    )
    parser.add_argument("--profile-rate", type=int, default=200)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument(
        "--sender-rate",
        type=float,
        help="pace the senders at this many SMS a second and raise duress alerts while"
        " the wave drains (virtual time, in-process; see benchmarks/_paced_lapses.py)",
    )
    parser.add_argument("--duress", type=int, default=20, help="with --sender-rate")
    parser.add_argument(
        "--step-s", type=float, default=0.25, help="with --sender-rate: virtual time step"
    )
    args = parser.parse_args()
    if not 0 < args.wave <= args.witnesses:
        parser.error("--wave must be between 1 and --witnesses")

    children = Children()

    def on_term(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_term)
    tmp_name = tempfile.mkdtemp(prefix="witnesslink-lapses-")
    tmp = Path(tmp_name)
    try:
        if args.sender_rate is not None:
            from benchmarks._paced_lapses import run_paced

            result = run_paced(args, tmp)
        else:
            result = run(args, tmp, children)
    finally:
        children.stop_all()
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
