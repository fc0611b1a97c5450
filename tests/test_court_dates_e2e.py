"""End to end: a video-link appointment is scheduled with private details, reminders
reach the witness's phone at the right local times across a DST change, and the server
never holds the details."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from client_sdk import AppointmentDetailsReceived, AppointmentReminder
from tests.support.welfare import catch_up
from tests.support.world import World, open_conversation

DETAILS = {
    "court": "LANDGERICHT-KOELN-SAAL-7",
    "link": "https://video.example/join/8842-SECRET",
    "pin": "PIN-482193",
    "interpreter": "INTERPRETER-IOANA-POPESCU",
}


async def _reminder(world: World, client: object) -> AppointmentReminder:
    await catch_up(world)
    async with asyncio.timeout(10):
        while True:
            event = await client.receive()  # type: ignore[attr-defined]
            if isinstance(event, AppointmentReminder):
                return event


async def test_reminders_follow_the_witness_clock_across_dst_and_carry_local_details(
    world: World,
) -> None:
    world.clock.set(datetime(2026, 3, 10, 12, 0, tzinfo=UTC))
    talk = await open_conversation(world)  # the witness lives in Europe/Bucharest
    # 09:00 in Cologne on Monday 30 March 2026 (after both DST changes): 07:00 UTC.
    await talk.officer.schedule_video_link(
        talk.case_id,
        starts_at=datetime(2026, 3, 30, 7, 0, tzinfo=UTC),
        ends_at=datetime(2026, 3, 30, 9, 0, tzinfo=UTC),
        timezone="Europe/Berlin",
        location_kind="support_office",
        interpreter_language="ro",
        details=DETAILS,
    )
    await talk.witness.sync()
    assert any(isinstance(e, AppointmentDetailsReceived) for e in talk.witness.pending_events())
    (upcoming,) = await talk.witness.upcoming()
    assert upcoming.details == DETAILS
    assert upcoming.local_start == "2026-03-30 10:00 (Europe/Bucharest)"

    talk.witness.start()
    async with asyncio.timeout(10):
        await talk.witness.connected.wait()
    # 14 days before at the same local time (10:00 Bucharest = 08:00 UTC before DST).
    world.clock.set(datetime(2026, 3, 16, 7, 59, tzinfo=UTC))
    await catch_up(world)
    assert not [e for e in talk.witness.pending_events() if isinstance(e, AppointmentReminder)]
    world.clock.set(datetime(2026, 3, 16, 8, 0, tzinfo=UTC))
    reminder = await _reminder(world, talk.witness)
    assert reminder.kind == "video_link"
    assert reminder.details == DETAILS
    assert "14" in reminder.title  # "... în 14 zile" in Romanian
    # 1 day before: 10:00 Bucharest on 29 March is 07:00 UTC (after the change).
    world.clock.set(datetime(2026, 3, 29, 6, 59, tzinfo=UTC))
    await catch_up(world)
    world.clock.set(datetime(2026, 3, 29, 7, 0, tzinfo=UTC))
    tomorrow = await _reminder(world, talk.witness)
    assert tomorrow.starts_at == datetime(2026, 3, 30, 7, 0, tzinfo=UTC)

    # The server holds times and kinds only.
    async with world.services.db.transaction() as conn:
        rows = await conn.fetch("SELECT * FROM appointments")
    flat = repr([tuple(r) for r in rows])
    for secret in DETAILS.values():
        assert secret not in flat
    assert world.clock.now() - timedelta(days=1) < datetime(2026, 3, 30, tzinfo=UTC)
