"""Seed a witnesslink SQLite database for the lapse benchmark, directly and fast.

The schema comes from the real migrations (:func:`server.storage.opening.open_database`);
the rows are then written with plain ``executemany`` in one transaction, shaped exactly
as the server's own code writes them:

* agencies (police and support), staff (``stf_`` ids, a real Argon2id hash shared by
  all, phone numbers sealed with the server key as ``WelfareSettings.set_own_phone``
  does), cases opened by an officer (``CaseService.create_case`` adds the creator to
  ``case_staff``) with one support worker assigned, one witness per case;
* one phone (device) per witness and one staff-app device per support worker and
  supervisor, with random keys and token hashes;
* one check-in plan per witness (calendar or interval, as ``PlanService._record``
  builds them) and its current occurrence from the product's own ``next_checkin``,
  at least two hours away;
* ``witness_contact`` rows with a recent heartbeat and a silence deadline 30 days
  away, so no "device silent" alert interferes.

The *wave* — the occurrences whose deadline passes at the same instant ``T0`` — is
written separately by :func:`write_wave`, immediately before the server starts, as
occurrences that were prompted and reminded and now wait for their miss step
(``state='open'``, ``step='miss'``, ``next_action_at = deadline_at = T0``), which is
what ``CheckInService._step`` leaves behind.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import secrets
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from server.clock import SystemClock, to_ms
from server.domain.welfare.plans import next_checkin
from server.domain.welfare_models import CheckInPlanRecord
from server.ids import b64, new_id
from server.security.passwords import PasswordHashing
from server.security.phones import PhoneBook
from server.security.sealing import Sealer, load_or_create_key
from server.storage.opening import open_database

# (name, country, timezone, witness language) of the home-country support agencies.
SUPPORT_AGENCIES = (
    ("Lapses Support Romania", "RO", "Europe/Bucharest", "ro"),
    ("Lapses Support Bulgaria", "BG", "Europe/Sofia", "bg"),
    ("Lapses Support Albania", "AL", "Europe/Tirane", "sq"),
)
POLICE_AGENCIES = (
    ("Lapses Police Germany", "DE"),
    ("Lapses Police France", "FR"),
    ("Lapses Police Spain", "ES"),
)
CASES_PER_OFFICER = 500
WINDOW_MINUTES = 60
GRACE_MINUTES = 30
REMINDER_MINUTES = 15
# Twilio's magic "To" numbers fail on purpose; never hand one to a staff member.
_MAGIC = {f"+1500555000{d}" for d in range(10)}


@dataclass
class Seeded:
    """What the benchmark needs to know about the seeded world."""

    witnesses: int
    support_workers: int
    supervisors: int
    officers: int
    devices: int
    # (checkin row fields needed for the wave) per witness, indexed by witness number
    witness_ids: list[str] = field(default_factory=list)
    case_ids: list[str] = field(default_factory=list)
    plans: list[CheckInPlanRecord] = field(default_factory=list)
    checkin_ids: list[str] = field(default_factory=list)


def _phone_numbers() -> Iterator[str]:
    """Unique, valid E.164 numbers the fake accepts (+15005xxxxxx, magic ones skipped)."""
    for n in range(100000, 1000000):
        number = f"+15005{n:06d}"
        if number not in _MAGIC:
            yield number


def _device_row(owner_kind: str, owner_id: str, name: str, now_ms: int) -> tuple[object, ...]:
    return (
        new_id("dev"),
        owner_kind,
        owner_id,
        name,
        b64(secrets.token_bytes(32)),
        b64(secrets.token_bytes(32)),
        hashlib.sha256(secrets.token_bytes(32)).digest(),
        now_ms - 86_400_000,
        now_ms - random.randint(60_000, 600_000),
    )


def _plan(
    rng: random.Random,
    witness_id: str,
    case_id: str,
    timezone: str,
    officer_id: str,
    now: datetime,
) -> CheckInPlanRecord:
    """A plan shaped as ``PlanService._record`` shapes it (calendar or interval)."""
    common = {
        "witness_id": witness_id,
        "case_id": case_id,
        "timezone": timezone,
        "window_minutes": WINDOW_MINUTES,
        "grace_minutes": GRACE_MINUTES,
        "reminder_minutes": REMINDER_MINUTES,
        "paused_reason": None,
        "paused_until": None,
        "version": 1,
        "updated_by": officer_id,
        "updated_at": now - timedelta(days=rng.randint(1, 90)),
    }
    if rng.random() < 0.5:
        days = sorted(rng.sample(range(7), rng.choice((1, 2, 3, 7))))
        times = sorted(
            rng.sample(["08:00", "10:00", "12:30", "18:00", "20:00"], rng.choice((1, 2)))
        )
        return CheckInPlanRecord(
            kind="calendar",
            every_hours=None,
            anchor_local=None,
            weekdays=",".join(str(d) for d in days),
            times=",".join(times),
            **common,  # type: ignore[arg-type]
        )
    anchor = datetime(2026, 1, 5, rng.choice((7, 8, 9, 19)), rng.choice((0, 30)))
    return CheckInPlanRecord(
        kind="interval",
        every_hours=rng.choice((12, 24, 48)),
        anchor_local=anchor.isoformat(),
        weekdays=None,
        times=None,
        **common,  # type: ignore[arg-type]
    )


async def _migrate(data_dir: Path) -> Path:
    db_path = (data_dir / "witnesslink.db").resolve()
    db = await open_database(f"sqlite:///{db_path}", SystemClock())
    await db.close()
    return db_path


def seed(
    data_dir: Path,
    *,
    witnesses: int,
    cases_per_worker: int,
    devices: bool = True,
    rng_seed: int = 1,
) -> Seeded:
    """Create the schema and every row except the wave's occurrences (see the module).

    Every witness gets a scheduled occurrence at least two hours away; the wave's
    witnesses get theirs replaced by :func:`write_wave`.
    """
    rng = random.Random(rng_seed)
    random.seed(rng_seed)
    data_dir.mkdir(parents=True, exist_ok=True)
    key = load_or_create_key(data_dir / "server.key", None)
    phones = PhoneBook(Sealer(key), key)
    db_path = asyncio.run(_migrate(data_dir))
    password_hash = asyncio.run(
        PasswordHashing(time_cost=1, memory_cost_kib=8192).hash("lapses benchmark password")
    )

    now = datetime.now(UTC)
    now_ms = to_ms(now)
    numbers = _phone_numbers()

    agencies: list[tuple[object, ...]] = []
    support_ids: list[str] = []
    police_ids: list[str] = []
    for name, country, _tz, _lang in SUPPORT_AGENCIES:
        support_ids.append(new_id("agn"))
        agencies.append((support_ids[-1], name, country, "support", False, now_ms))
    for name, country in POLICE_AGENCIES:
        police_ids.append(new_id("agn"))
        agencies.append((police_ids[-1], name, country, "police", False, now_ms))

    staff: list[tuple[object, ...]] = []
    device_rows: list[tuple[object, ...]] = []

    def add_staff(agency_id: str, role: str, username: str, *, app: bool) -> str:
        staff_id = new_id("stf")
        staff.append(
            (
                staff_id,
                agency_id,
                username,
                username.replace("-", " ").title(),
                role,
                password_hash,
                now_ms,
                phones.seal(next(numbers))[0],
                True,
            )
        )
        if app and devices:
            device_rows.append(_device_row("staff", staff_id, "Staff app", now_ms))
        return staff_id

    n_workers = max(1, -(-witnesses // cases_per_worker))
    n_officers = max(1, -(-witnesses // CASES_PER_OFFICER))
    workers = [
        add_staff(support_ids[w % len(support_ids)], "support_worker", f"worker-{w:05d}", app=True)
        for w in range(n_workers)
    ]
    supervisors = [
        add_staff(agency_id, "supervisor", f"supervisor-{i}", app=True)
        for i, agency_id in enumerate(support_ids)
    ]
    officers = [
        add_staff(police_ids[o % len(police_ids)], "officer", f"officer-{o:04d}", app=False)
        for o in range(n_officers)
    ]

    cases: list[tuple[object, ...]] = []
    case_staff: list[tuple[object, ...]] = []
    witness_rows: list[tuple[object, ...]] = []
    plan_rows: list[tuple[object, ...]] = []
    checkin_rows: list[tuple[object, ...]] = []
    contact_rows: list[tuple[object, ...]] = []
    seeded = Seeded(
        witnesses=witnesses,
        support_workers=n_workers,
        supervisors=len(supervisors),
        officers=n_officers,
        devices=0,
    )
    horizon = now + timedelta(hours=2)
    for i in range(witnesses):
        worker_number = i % n_workers
        worker = workers[worker_number]
        support_number = worker_number % len(support_ids)
        _name, _country, timezone, language = SUPPORT_AGENCIES[support_number]
        officer_number = i % n_officers
        officer = officers[officer_number]
        police = police_ids[officer_number % len(police_ids)]
        created = now_ms - rng.randint(86_400_000, 200 * 86_400_000)
        case_id = new_id("case")
        witness_id = new_id("wit")
        cases.append(
            (case_id, f"LAP-{i:07d}", police, support_ids[support_number], officer, created)
        )
        case_staff.append((case_id, officer, officer, created))
        case_staff.append((case_id, worker, officer, created + 60_000))
        witness_rows.append(
            (witness_id, case_id, f"W{i:07d}", language, timezone, officer, created + 120_000)
        )
        if devices:
            device_rows.append(_device_row("witness", witness_id, "Phone", now_ms))
        plan = _plan(rng, witness_id, case_id, timezone, officer, now)
        plan_rows.append(
            (
                plan.witness_id,
                plan.case_id,
                plan.kind,
                plan.every_hours,
                plan.anchor_local,
                plan.weekdays,
                plan.times,
                plan.timezone,
                plan.window_minutes,
                plan.grace_minutes,
                plan.reminder_minutes,
                None,
                None,
                plan.version,
                plan.updated_by,
                to_ms(plan.updated_at),
            )
        )
        upcoming = next_checkin(plan, horizon)
        checkin_rows.append(
            (
                upcoming.id,
                upcoming.witness_id,
                upcoming.case_id,
                upcoming.plan_version,
                to_ms(upcoming.due_at),
                to_ms(upcoming.closes_at),
                to_ms(upcoming.deadline_at),
                None if upcoming.remind_at is None else to_ms(upcoming.remind_at),
                upcoming.state.value,
                None if upcoming.step is None else upcoming.step.value,
                None if upcoming.next_action_at is None else to_ms(upcoming.next_action_at),
                upcoming.nonce,
            )
        )
        heard = now_ms - rng.randint(60_000, 3_600_000)
        contact_rows.append(
            (witness_id, case_id, heard, heard, heard + 30 * 86_400_000, rng.randint(20, 100))
        )
        seeded.witness_ids.append(witness_id)
        seeded.case_ids.append(case_id)
        seeded.plans.append(plan)
        seeded.checkin_ids.append(upcoming.id)
    seeded.devices = len(device_rows)

    conn = sqlite3.connect(db_path, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "INSERT INTO agencies (id, name, country, kind, requires_reason, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            agencies,
        )
        conn.executemany(
            "INSERT INTO staff (id, agency_id, username, display_name, role, password_hash,"
            " created_at, phone_sealed, on_duty) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            staff,
        )
        conn.executemany(
            "INSERT INTO cases (id, reference, police_agency_id, support_agency_id,"
            " created_by, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            cases,
        )
        conn.executemany(
            "INSERT INTO case_staff (case_id, staff_id, added_by, added_at) VALUES (?, ?, ?, ?)",
            case_staff,
        )
        conn.executemany(
            "INSERT INTO witnesses (id, case_id, alias, language, timezone, created_by,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            witness_rows,
        )
        conn.executemany(
            "INSERT INTO devices (id, owner_kind, owner_id, name, curve25519, ed25519,"
            " token_hash, created_at, last_seen_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            device_rows,
        )
        conn.executemany(
            "INSERT INTO checkin_plans (witness_id, case_id, kind, every_hours, anchor_local,"
            " weekdays, times, timezone, window_minutes, grace_minutes, reminder_minutes,"
            " paused_reason, paused_until, version, updated_by, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            plan_rows,
        )
        conn.executemany(
            "INSERT INTO checkins (id, witness_id, case_id, plan_version, due_at, closes_at,"
            " deadline_at, remind_at, state, step, next_action_at, nonce)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            checkin_rows,
        )
        conn.executemany(
            "INSERT INTO witness_contact (witness_id, case_id, last_heartbeat_at,"
            " last_contact_at, silent_deadline_at, battery) VALUES (?, ?, ?, ?, ?, ?)",
            contact_rows,
        )
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return seeded


def write_wave(db_path: Path, seeded: Seeded, wave: Sequence[int], t0_ms: int) -> list[str]:
    """Turn the chosen witnesses' occurrences into open ones whose deadline is ``t0_ms``.

    The occurrence was due ``window + grace`` minutes before T0, was prompted then,
    reminded ``reminder`` minutes before its window closed, and now waits for the miss
    step at its deadline, exactly the state ``CheckInService._step`` leaves. Returns
    the wave's occurrence ids.
    """
    rows = []
    ids = []
    for number in wave:
        plan = seeded.plans[number]
        deadline = t0_ms
        closes = deadline - plan.grace_minutes * 60_000
        due = closes - plan.window_minutes * 60_000
        remind = closes - plan.reminder_minutes * 60_000
        rows.append(
            (due, closes, deadline, remind, deadline, due, remind, seeded.checkin_ids[number])
        )
        ids.append(seeded.checkin_ids[number])
    conn = sqlite3.connect(db_path, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "UPDATE checkins SET due_at = ?, closes_at = ?, deadline_at = ?, remind_at = ?,"
            " state = 'open', step = 'miss', next_action_at = ?,"
            " prompted_at = ?, reminded_at = ?, version = version + 2 WHERE id = ?",
            rows,
        )
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return ids
