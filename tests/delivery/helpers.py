"""Helpers for the delivery tests: a staffed case load whose check-ins lapse together,
reading the outbox back, and running real ``witnesslink serve`` processes against a
clock file and a fake Twilio.

In-process tests move the manual clock and run the sweeps (``catch_up``); subprocess
tests move the clock file and wait for observable state (the fake's ``sent`` list, the
database, ``/healthz``) with a deadline.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from client_sdk import StaffClient
from server.clock import FileClock, ManualClock
from server.domain.models import Role
from tests.fakes.twilio_server import FakeMessage, FakeTwilio
from tests.support.kdf import FAST_KDF
from tests.support.processes import PASSWORD, admin, enrol_pair, free_port, seed, wait_healthy
from tests.support.world import World, running_world, standard_cast

ALL_DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WINDOW_MINUTES = 60
GRACE_MINUTES = 30
LAPSE_AFTER = timedelta(minutes=WINDOW_MINUTES + GRACE_MINUTES)

# Ordinary numbers in Twilio's test range (the fake accepts them as mobiles).
WORKER_PHONE = "+15005550011"
WORKER2_PHONE = "+15005550015"
SUPERVISOR_PHONE = "+15005550012"
OFFICER_PHONE = "+15005550013"
WITNESS_PHONE = "+15005550014"
#: One number per witness where several witnesses need phones.
WITNESS_PHONES = tuple(f"+1500555{2000 + i}" for i in range(20))
#: Twilio's magic numbers that are refused at creation (21211 invalid, 21614 landline).
FAILING_PHONES = ("+15005550001", "+15005550009")

_NOTIFICATION_FIELDS = (
    "id",
    "purpose",
    "alert_id",
    "channel",
    "recipient_kind",
    "recipient_id",
    "level",
    "round",
    "body",
    "status",
    "attempts",
    "next_attempt_at",
    "lease_until",
    "group_ref",
    "provider_id",
    "error_code",
    "created_at",
    "sent_at",
    "delivered_at",
)
NOTIFICATION_SELECT = f"SELECT {', '.join(_NOTIFICATION_FIELDS)} FROM notifications"


# --------------------------------------------------------------------- in-process


@dataclass
class Team:
    """The people around a support organisation's cases, logged in."""

    officer: StaffClient
    worker: StaffClient
    supervisor: StaffClient
    extra: dict[str, StaffClient] = field(default_factory=dict)


@dataclass(frozen=True)
class Lapse:
    """A case with a witness whose first check-in lapses at ``deadline``."""

    case_id: str
    witness_id: str
    deadline: datetime


async def staffed(
    world: World,
    *,
    worker_phone: str | None = WORKER_PHONE,
    supervisor_phone: str | None = SUPERVISOR_PHONE,
    officer_phone: str | None = OFFICER_PHONE,
) -> Team:
    """Log in the standard cast plus a support supervisor (level 2 of the default
    policy) and give them phones (``None`` leaves a person without a number)."""
    await world.add_staff("supervisor", "support", Role.SUPERVISOR)
    team = Team(
        officer=await world.login("officer"),
        worker=await world.login("worker"),
        supervisor=await world.login("supervisor"),
    )
    for client, number in (
        (team.worker, worker_phone),
        (team.supervisor, supervisor_phone),
        (team.officer, officer_phone),
    ):
        if number is not None:
            await client.set_my_phone(number)
    return team


async def add_worker(world: World, team: Team, username: str, phone: str | None) -> StaffClient:
    """Another support worker of the support organisation, logged in, with a phone."""
    await world.add_staff(username, "support", Role.SUPPORT_WORKER)
    client = await world.login(username)
    if phone is not None:
        await client.set_my_phone(phone)
    team.extra[username] = client
    return client


async def lapsing_cases(
    world: World,
    team: Team,
    count: int,
    *,
    workers: Iterable[str] = ("worker",),
    witness_phones: Sequence[str] = (),
    first: int = 1,
    **plan: Any,
) -> list[Lapse]:
    """``count`` cases assigned to ``workers``, each with a witness on a daily 10:00
    check-in plan (no reminder unless ``plan`` says so) that nobody will answer; all
    lapse at the same moment. Witness ``i`` gets ``witness_phones[i]`` if there is one."""
    assigned = list(workers)
    lapses = []
    for index, number in enumerate(range(first, first + count)):
        case = await team.officer.create_case(f"DE-2026-{number:04d}", world.agencies["support"])
        for username in assigned:
            await team.officer.assign(case["case_id"], world.staff[username])
        enrolment = await team.officer.add_witness(
            case["case_id"], alias=f"Wren {number}", language="ro", timezone="Europe/Bucharest"
        )
        if index < len(witness_phones):
            await team.officer.set_witness_phone(enrolment.witness_id, witness_phones[index])
        settings = {
            "weekdays": ALL_DAYS,
            "times": ["10:00"],
            "window_minutes": WINDOW_MINUTES,
            "grace_minutes": GRACE_MINUTES,
            "reminder_minutes": 0,
            **plan,
        }
        made = await team.officer.set_checkin_plan(enrolment.witness_id, **settings)
        due = datetime.fromisoformat(made["current"]["due_at"].replace("Z", "+00:00"))
        deadline = due + timedelta(minutes=settings["window_minutes"] + settings["grace_minutes"])
        lapses.append(Lapse(case["case_id"], enrolment.witness_id, deadline))
    assert len({lapse.deadline for lapse in lapses}) == 1, "the cases should lapse together"
    return lapses


def _row_dict(row: Any) -> dict[str, Any]:
    return {name: row[index] for index, name in enumerate(_NOTIFICATION_FIELDS)}


async def notifications(world: World, *, channel: str | None = "sms") -> list[dict[str, Any]]:
    """Every notification row (of one channel by default), oldest first."""
    async with world.services.store.read() as uow:
        rows = await uow.conn.fetch(f"{NOTIFICATION_SELECT} ORDER BY created_at, id")
    found = [_row_dict(row) for row in rows]
    return [r for r in found if channel is None or r["channel"] == channel]


async def alert_rows(world: World, staff_id: str, *, level: int | None = None) -> list[dict]:
    """The alert SMS rows addressed to one staff member (optionally one level)."""
    return [
        r
        for r in await notifications(world)
        if r["purpose"] == "alert"
        and r["recipient_id"] == staff_id
        and (level is None or r["level"] == level)
    ]


async def alert_levels(world: World) -> dict[str, int]:
    """alert id -> current escalation level."""
    async with world.services.store.read() as uow:
        rows = await uow.conn.fetch("SELECT id, level FROM alerts")
    return {row[0]: int(row[1]) for row in rows}


@asynccontextmanager
async def world_with_twilio(
    backend: str, tmp_path: Path, clock: ManualClock, fake: FakeTwilio
) -> AsyncIterator[World]:
    """Like the ``sms_world`` fixture, with a fake Twilio the test configured itself."""
    from tests.conftest import create_pg_schema, drop_pg_schema, postgres_dsn

    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'server.db'}"
        async with running_world(tmp_path, url, clock, twilio=fake) as world:
            await standard_cast(world)
            yield world
        return
    dsn = postgres_dsn()
    schema = await create_pg_schema(dsn)
    try:
        async with running_world(tmp_path, dsn, clock, schema, twilio=fake) as world:
            await standard_cast(world)
            yield world
    finally:
        await drop_pg_schema(dsn, schema)


# ---------------------------------------------------------------------- subprocess


async def poll(
    condition: Callable[[], Awaitable[bool] | bool],
    what: str,
    *,
    timeout_s: float = 20.0,
    every_s: float = 0.02,
) -> None:
    """Wait until ``condition()`` is true; fail with ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = condition()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        await asyncio.sleep(every_s)


class ClockFile:
    """The clock every server process (and the fake) reads: a file we move forward.

    Each write gets a strictly newer modification time, because ``FileClock`` only
    re-reads the file when its mtime changes.
    """

    def __init__(self, path: Path, start: datetime) -> None:
        self.path = path
        self._stamp = 0
        self._now = start
        self.set(start)

    @property
    def now(self) -> datetime:
        return self._now

    def set(self, when: datetime) -> datetime:
        if when < self._now:
            raise ValueError("time never runs backwards")
        FileClock.write(str(self.path), when)
        self._stamp = max(self._stamp + 1_000_000, time.time_ns())
        os.utime(self.path, ns=(self._stamp, self._stamp))
        self._now = when
        return when

    def advance(self, delta: timedelta) -> datetime:
        return self.set(self._now + delta)

    def reader(self) -> Callable[[], datetime]:
        """A ``now()`` that reads the file, for the fake Twilio's resource dates."""
        return FileClock(str(self.path)).now


def server_env(
    *,
    clock: ClockFile,
    fake: FakeTwilio,
    data_dir: Path,
    database_url: str | None = None,
    secret_key_b64: str | None = None,
    sender: str = "+15005550006",
    sms_per_second: float = 0,
) -> dict[str, str]:
    """Environment for ``witnesslink serve``/``admin``: test clock, fake Twilio, and a
    server key given explicitly (as every instance of one deployment must share it)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("WITNESSLINK_")}
    env.update(
        WITNESSLINK_DATA_DIR=str(data_dir),
        WITNESSLINK_TEST_CLOCK_FILE=str(clock.path),
        WITNESSLINK_TWILIO_ACCOUNT_SID=fake.account_sid,
        WITNESSLINK_TWILIO_AUTH_TOKEN=fake.auth_token,
        WITNESSLINK_TWILIO_SENDER=sender,
        WITNESSLINK_TWILIO_BASE_URL=fake.base_url,
        WITNESSLINK_SECRET_KEY=secret_key_b64 or base64.b64encode(os.urandom(32)).decode(),
        # 0: unpaced, as the timings of these tests assume (issue 14 paces explicitly).
        WITNESSLINK_SMS_PER_SECOND=str(sms_per_second),
        WITNESSLINK_CALLS_PER_SECOND="0",
    )
    if database_url is not None:
        env["WITNESSLINK_DATABASE_URL"] = database_url
    return env


@dataclass
class Agencies:
    support_id: str
    staff: dict[str, str]  # username -> staff id


def seed_agencies(env: Mapping[str, str], data_dir: Path) -> Agencies:
    """The benchmark seed (police agency with the officer, a support organisation in
    Romania) through the real admin command, plus the support organisation's
    supervisor and three support workers (``witnesslink admin create-staff``)."""
    environment = dict(env)
    support_id = seed(data_dir, environment)
    for username, role in (
        ("supervisor", "supervisor"),
        ("worker1", "support_worker"),
        ("worker2", "support_worker"),
        ("worker3", "support_worker"),
    ):
        admin(
            data_dir,
            "create-staff",
            "--agency",
            "Bench Support",
            "--username",
            username,
            "--display-name",
            username.title(),
            "--role",
            role,
            "--password-stdin",
            stdin=PASSWORD + "\n",
            env=environment,
        )
    staff = {}
    for agency in ("Bench Police", "Bench Support"):
        for line in admin(data_dir, "list-staff", "--agency", agency, env=environment).splitlines():
            staff_id, _role, username = line.split("\t")
            staff[username] = staff_id
    assert set(CAST) <= set(staff), staff
    return Agencies(support_id, staff)


@asynccontextmanager
async def fresh_database(dsn: str) -> AsyncIterator[str]:
    """CREATE DATABASE wl_two_<hex> on the test server; its DSN; DROP it afterwards."""
    import asyncpg

    name = f"wl_two_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(dsn)
    try:
        await admin.execute(f"CREATE DATABASE {name}")
    finally:
        await admin.close()
    parts = urlsplit(dsn)
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        admin = await asyncpg.connect(dsn)
        try:
            await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        finally:
            await admin.close()


class ServerProcess:
    """One ``witnesslink serve`` process that can be killed and started again."""

    def __init__(self, env: Mapping[str, str], data_dir: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.env = dict(env)
        self.env["WITNESSLINK_PUBLIC_URL"] = self.url
        self.data_dir = data_dir
        self.process: subprocess.Popen[bytes] | None = None
        self.log = data_dir.parent / f"serve-{self.port}.log"
        self.kills = 0
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def callback_url(self) -> str:
        return f"{self.url}/v1/twilio/status"

    def _spawn(self) -> subprocess.Popen[bytes]:
        with open(self.log, "ab") as log:
            return subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "server",
                    "serve",
                    "--data-dir",
                    str(self.data_dir),
                    "--port",
                    str(self.port),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
            )

    async def start(self) -> None:
        """Start the process and wait until ``/healthz`` answers."""
        assert self.process is None or self.process.poll() is not None
        self.process = await asyncio.to_thread(self._spawn)
        self.starts += 1
        try:
            await wait_healthy(self.url)
        except RuntimeError as error:
            raise AssertionError(f"{error}:\n{self.log_tail()}") from None

    async def kill(self) -> None:
        """SIGKILL: no clean-up, no last writes."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await poll(lambda: self.process is not None and self.process.poll() is not None, "death")
        assert self.process.returncode == -signal.SIGKILL
        self.kills += 1

    async def stop(self) -> None:
        """SIGTERM and wait (aiohttp shuts down cleanly)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            await poll(
                lambda: self.process is not None and self.process.poll() is not None,
                "clean shutdown",
                timeout_s=15,
            )
        except AssertionError:
            self.process.kill()
            self.process.wait()

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


async def login(url: str, username: str, tmp: Path) -> StaffClient:
    return await StaffClient.login(
        url,
        username,
        PASSWORD,
        tmp / f"{username}.store",
        "staff passphrase",
        kdf=FAST_KDF,
    )


async def create_lapsing_cases(
    officer: StaffClient,
    support_id: str,
    assignments: Sequence[str],
    *,
    first: int = 1,
    time_local: str = "10:00",
    witness_phones: Sequence[str | None] = (),
) -> list[tuple[str, datetime]]:
    """One case per entry of ``assignments`` (the support worker's staff id), each with a
    witness on a daily plan nobody answers (reminder 15 minutes before the window
    closes). Returns (witness id, due time) per case."""
    made = []
    for offset, worker_id in enumerate(assignments):
        number = first + offset
        case = await officer.create_case(f"DE-2026-{number:04d}", support_id)
        await officer.assign(case["case_id"], worker_id)
        enrolment = await officer.add_witness(
            case["case_id"], alias=f"Finch {number}", language="ro", timezone="Europe/Bucharest"
        )
        phone = witness_phones[offset] if offset < len(witness_phones) else None
        if phone is not None:
            await officer.set_witness_phone(enrolment.witness_id, phone)
        plan = await officer.set_checkin_plan(
            enrolment.witness_id,
            weekdays=ALL_DAYS,
            times=[time_local],
            window_minutes=WINDOW_MINUTES,
            grace_minutes=GRACE_MINUTES,
        )
        made.append((enrolment.witness_id, utc(plan["current"]["due_at"])))
    return made


class Outbox:
    """Reads a server's database from outside (SQLite read-only, or PostgreSQL)."""

    def __init__(self, *, sqlite_path: Path | None = None, dsn: str | None = None) -> None:
        assert (sqlite_path is None) != (dsn is None)
        self._sqlite_path = sqlite_path
        self._dsn = dsn

    async def _fetch(self, sql: str) -> list[Any]:
        if self._sqlite_path is not None:
            connection = sqlite3.connect(f"file:{self._sqlite_path}?mode=ro", uri=True)
            try:
                return list(connection.execute(sql))
            finally:
                connection.close()
        import asyncpg

        connection = await asyncpg.connect(self._dsn)
        try:
            return list(await connection.fetch(sql))
        finally:
            await connection.close()

    async def rows(self) -> list[dict[str, Any]]:
        """Every notification row."""
        return [_row_dict(row) for row in await self._fetch(NOTIFICATION_SELECT)]

    async def sending_owners(self) -> set[str]:
        """Lease owners of rows currently claimed (after a kill: the dead dispatcher's)."""
        rows = await self._fetch(
            "SELECT DISTINCT lease_owner FROM notifications WHERE status = 'sending'"
        )
        return {row[0] for row in rows if row[0]}

    async def alert_levels(self) -> dict[str, int]:
        return {row[0]: int(row[1]) for row in await self._fetch("SELECT id, level FROM alerts")}

    async def backlog(self, now: datetime, dead_owners: Iterable[str] = ()) -> list[str]:
        """What the server still has to do at ``now``: due check-in steps, due
        escalations, claimable or in-flight notifications. Rows claimed by a killed
        process whose lease has not run out yet are not work anyone can do."""
        at = int(now.timestamp() * 1000)
        dead = set(dead_owners)
        work = [
            f"checkin {row[0]}"
            for row in await self._fetch(f"SELECT id FROM checkins WHERE next_action_at <= {at}")
        ]
        work += [
            f"alert {row[0]}"
            for row in await self._fetch(
                "SELECT id FROM alerts WHERE (status = 'open' AND next_escalation_at <= "
                f"{at}) OR (status = 'acknowledged' AND ack_expires_at <= {at})"
            )
        ]
        for row in await self._fetch(
            "SELECT id, status, next_attempt_at, lease_until, lease_owner FROM notifications"
            " WHERE status IN ('pending', 'uncertain', 'sending')"
        ):
            ident, status, next_attempt, lease_until, owner = row[0], row[1], row[2], row[3], row[4]
            if status == "sending":
                if lease_until <= at or owner not in dead:
                    work.append(f"notification {ident} sending")
            elif next_attempt is not None and next_attempt <= at:
                work.append(f"notification {ident} {status}")
        return work

    async def waiting(self, dead_owners: Iterable[str]) -> list[str]:
        """Rows that still wait for a later attempt, or are held by a dead process."""
        dead = set(dead_owners)
        return [
            f"notification {row[0]} {row[1]}"
            for row in await self._fetch(
                "SELECT id, status, lease_owner FROM notifications"
                " WHERE status IN ('pending', 'uncertain', 'sending')"
            )
            if row[1] != "sending" or row[2] in dead
        ]

    async def reconcilable(self, at: datetime, dead_owners: Iterable[str]) -> bool:
        """Will some row be claimed *again* and reconciled first at ``at``? That is a
        row whose earlier attempt's outcome is unknown: uncertain, marked for
        reconciling, or held by a dead server whose lease has run out."""
        moment = int(at.timestamp() * 1000)
        dead = set(dead_owners)
        for row in await self._fetch(
            "SELECT status, next_attempt_at, lease_until, lease_owner, reconcile_since"
            " FROM notifications WHERE status IN ('pending', 'uncertain', 'sending')"
        ):
            status, next_attempt, lease_until, owner, reconcile_since = (
                row[0],
                row[1],
                row[2],
                row[3],
                row[4],
            )
            if status == "sending" and owner in dead and lease_until <= moment:
                return True
            unknown = status == "uncertain" or reconcile_since is not None
            if status != "sending" and unknown and next_attempt <= moment:
                return True
        return False


def assert_every_notification_sent_exactly_once(
    rows: list[dict[str, Any]],
    sent: list[FakeMessage],
    phones: Mapping[str, str],
    *,
    failing: Iterable[str] = FAILING_PHONES,
) -> dict[str, int]:
    """The end state after any number of crashes: every SMS row was sent exactly once.

    ``phones`` maps staff id -> number. Returns SMS count per number.
    """
    failing = set(failing)
    sms = [r for r in rows if r["channel"] == "sms"]
    assert sms, "no SMS notification was ever queued"
    problems = []
    for row in sms:
        number = phones[row["recipient_id"]]
        if number in failing:
            if row["status"] != "failed":
                problems.append(f"{row['id']} to a failing number is {row['status']}")
        elif row["status"] not in ("sent", "delivered"):
            problems.append(
                f"{row['id']} (level {row['level']}) is {row['status']}"
                f" ({row['error_code']}, attempts {row['attempts']})"
            )
        elif not row["provider_id"]:
            problems.append(f"{row['id']} is {row['status']} without a provider id")
    assert not problems, "\n".join(problems)

    # Alert SMS carry a fresh reference each, so none may repeat a (to, body) pair.
    # (Nudges to a witness legitimately repeat their neutral text.)
    alert_bodies = {r["body"] for r in sms if r["purpose"] == "alert"}
    pairs = Counter((m.to, m.body) for m in sent if m.body in alert_bodies)
    duplicates = {pair: n for pair, n in pairs.items() if n > 1}
    assert not duplicates, f"the same alert SMS went out more than once: {duplicates}"

    by_sid = {m.sid: m for m in sent}
    per_group: dict[tuple[str, str], set[str]] = defaultdict(set)
    for row in sms:
        if row["status"] in ("sent", "delivered"):
            per_group[(row["recipient_id"], row["group_ref"] or row["id"])].add(row["provider_id"])
    split = {group: sids for group, sids in per_group.items() if len(sids) > 1}
    assert not split, f"rows of one SMS recorded under different messages: {split}"
    groups: dict[str, set[str]] = defaultdict(set)  # provider id -> group refs
    expected: Counter[str] = Counter()
    seen_groups: set[tuple[str, str]] = set()
    for row in sms:
        if row["status"] not in ("sent", "delivered"):
            continue
        message = by_sid.get(row["provider_id"])
        assert message is not None, f"{row['id']} names {row['provider_id']}, unknown to Twilio"
        number = phones[row["recipient_id"]]
        assert message.to == number, f"{row['id']} was recorded against a message to another number"
        assert message.body == row["body"], f"{row['id']}: recorded body differs from Twilio's"
        groups[row["provider_id"]].add(row["group_ref"] or row["id"])
        key = (row["recipient_id"], row["group_ref"] or row["id"])
        if key not in seen_groups:
            seen_groups.add(key)
            expected[number] += 1
    shared = {sid: refs for sid, refs in groups.items() if len(refs) > 1}
    assert not shared, "one Twilio message recorded for several groups: " + "; ".join(
        f"{sid} ({by_sid[sid].to}, created {by_sid[sid].date_created:%H:%M:%S}) <- "
        + ", ".join(
            f"{r['purpose']} row created {_hms(r['created_at'])} attempts {r['attempts']}"
            for r in sms
            if r["provider_id"] == sid
        )
        for sid in shared
    )
    recorded = {row["provider_id"] for row in sms}
    unrecorded = [m for m in sent if m.sid not in recorded]
    assert not unrecorded, (
        f"{len(unrecorded)} SMS went out that no notification row accounts for: "
        + json.dumps([(m.to, m.body) for m in unrecorded])
    )
    actual = Counter(m.to for m in sent)
    assert actual == expected, f"SMS per number {dict(actual)} != groups {dict(expected)}"
    return dict(actual)


def _hms(ms: int) -> str:
    return f"{datetime.fromtimestamp(ms / 1000, UTC):%H:%M:%S}"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


#: The people of the subprocess tests (usernames; see ``seed_agencies``) and phones.
CAST = ("officer", "supervisor", "worker1", "worker2", "worker3")
CAST_PHONES = {
    "officer": OFFICER_PHONE,
    "supervisor": SUPERVISOR_PHONE,
    "worker1": WORKER_PHONE,
    "worker2": WORKER2_PHONE,
    "worker3": FAILING_PHONES[1],  # Twilio refuses it: level 1 fails, level 2 at once
}


async def phones_and_waves(
    url: str,
    tmp: Path,
    agencies: Agencies,
    waves: Sequence[str],
    wave_workers: Sequence[str],
    *,
    witness_phone_for: Callable[[str], bool] = lambda worker: worker == "worker2",
) -> tuple[dict[str, str], list[datetime]]:
    """Give the cast their phones and open one wave of cases per local check-in time
    in ``waves`` (one case per entry of ``wave_workers``, assigned to that worker; the
    witness gets a phone number if ``witness_phone_for(worker)``). Returns recipient
    id -> number, and each wave's due time."""
    staff = agencies.staff
    phones = {staff[username]: number for username, number in CAST_PHONES.items()}
    # The officer opens a first case and enrols the witness's phone (real keys); that
    # witness is in Berlin and checks in at 09:00 there, with the first wave.
    officer, witness, case_id = await enrol_pair(url, tmp, agencies.support_id)
    await witness.close()
    clients = {"officer": officer}
    try:
        for username in CAST:
            if username != "officer":
                clients[username] = await login(url, username, tmp)
        for username, number in CAST_PHONES.items():
            await clients[username].set_my_phone(number)
        await officer.assign(case_id, staff[wave_workers[0]])
        enrolled = (await officer.case(case_id))["witness"]
        plan = await officer.set_checkin_plan(
            enrolled["witness_id"],
            weekdays=ALL_DAYS,
            times=["09:00"],
            window_minutes=WINDOW_MINUTES,
            grace_minutes=GRACE_MINUTES,
        )
        first_due = utc(plan["current"]["due_at"])
        dues = []
        witness_numbers = iter(WITNESS_PHONES)
        for wave, local in enumerate(waves):
            numbers = [
                next(witness_numbers) if witness_phone_for(w) else None for w in wave_workers
            ]
            made = await create_lapsing_cases(
                officer,
                agencies.support_id,
                [staff[w] for w in wave_workers],
                first=1 + wave * len(wave_workers),
                time_local=local,
                witness_phones=numbers,
            )
            for (witness_id, _due), number in zip(made, numbers, strict=True):
                if number is not None:
                    phones[witness_id] = number
            assert len({due for _, due in made}) == 1
            dues.append(made[0][1])
        assert first_due == dues[0], (first_due, dues[0])
        return phones, dues
    finally:
        for client in clients.values():
            await client.close()


def sms_moments(dues: Iterable[datetime]) -> list[datetime]:
    """Every moment at which SMS fall due for waves due at ``dues`` (default policy,
    reminder 15 minutes before the window closes): prompt nudges, reminder nudges,
    the lapse (level 1, and level 2 at once where level 1 fails), level 2, level 3."""
    offsets = (
        timedelta(0),
        timedelta(minutes=WINDOW_MINUTES - 15),
        LAPSE_AFTER,
        LAPSE_AFTER + timedelta(minutes=15),
        LAPSE_AFTER + timedelta(minutes=30),
    )
    return sorted({due + offset for due in dues for offset in offsets})
