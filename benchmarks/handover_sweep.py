"""How long the handover-and-review sweep takes for a wave of due rows.

Seeds N cases through the real services (a police agency, a support agency, one
witness per case), sends a handover request and records an assessment for each, then
moves the manual clock so that all N acceptance deadlines and all N review reminders
fall due at once, and times one run of ``WelfareSweeps.handover_reviews`` (N
``handover_not_accepted`` alerts with their first notifications, N content-free
reminders), then the overdue reviews (N ``review_overdue`` alerts).

    .venv/bin/python -m benchmarks.handover_sweep 1000                 # SQLite
    .venv/bin/python -m benchmarks.handover_sweep 1000 postgresql://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import asyncio
import secrets
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from scheduler.jobs import WelfareSweeps
from server.clock import ManualClock
from server.config import Settings
from server.domain.audit import Actor
from server.domain.events import NullEventSink
from server.domain.models import AgencyKind, Role
from server.domain.risk_levels import RiskLevel
from server.services import open_services
from server.storage.opening import open_database

START = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)


async def main(count: int, url: str | None) -> None:
    clock = ManualClock(START)
    with tempfile.TemporaryDirectory() as tmp:
        database_url = url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        schema = f"bench_{int(time.time())}" if url else None
        settings = Settings(
            data_dir=Path(tmp), database_url=database_url, postgres_schema=schema
        ).with_overrides(password_time_cost=1, password_memory_kib=8192)
        if schema is not None:
            import asyncpg

            conn = await asyncpg.connect(url)
            await conn.execute(f"CREATE SCHEMA {schema}")
            await conn.close()
        db = await open_database(database_url, clock, schema=schema)
        services = await open_services(settings, clock, db, hub=None, events=NullEventSink())
        system = Actor.system("bench")
        police = await services.accounts.create_agency(
            system, name="Police", country="DE", kind=AgencyKind.POLICE
        )
        support = await services.accounts.create_agency(
            system, name="Support", country="RO", kind=AgencyKind.SUPPORT
        )
        made = await services.accounts.create_staff(
            system,
            agency_id=police.id,
            username="officer",
            display_name="Officer",
            role=Role.OFFICER,
            password=secrets.token_urlsafe(16),
        )
        officer = made.staff
        return_on = (START + timedelta(days=10)).date()
        for i in range(count):
            case = await services.cases.create_case(
                officer, reference=f"DE-{i:06d}", support_agency_id=support.id
            )
            await services.cases.add_witness(
                officer, case.id, alias=f"W{i}", language="ro", timezone="Europe/Bucharest"
            )
            await services.handovers.request(officer, case.id, return_on)
            await services.assessments.record(officer, case.id, RiskLevel.SEVERE, [], None)
        sweeps = WelfareSweeps(services)
        clock.set(START + timedelta(days=14))  # past accept-by (day 3) and review (day 14)
        began = time.perf_counter()
        done = await sweeps.handover_reviews()
        first = time.perf_counter() - began
        clock.set(START + timedelta(days=17))  # past the grace: overdue reviews
        began = time.perf_counter()
        overdue = await sweeps.handover_reviews()
        second = time.perf_counter() - began
        async with services.store.read() as uow:
            alerts = await uow.alerts.list_for_cases(
                [c.id for c in await uow.cases.list_for_agency(police.id)],
                statuses=["open"],
                limit=10 * count,
            )
        print(
            f"{'PostgreSQL' if url else 'SQLite'}, {count} cases: "
            f"{done} due rows (handover deadlines + review reminders) in {first:.2f} s; "
            f"{overdue} overdue reviews in {second:.2f} s; {len(alerts)} alerts open"
        )
        await db.close()
        if schema is not None:
            import asyncpg

            conn = await asyncpg.connect(url)
            await conn.execute(f"DROP SCHEMA {schema} CASCADE")
            await conn.close()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000, (sys.argv[2:] or [None])[0]))
