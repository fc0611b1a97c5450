"""The timeline merges check-ins, alerts, court dates and device events, newest first,
and never carries what was said (a check-in note travels end to end encrypted)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from tests.console_witness.conftest import SignIn
from tests.console_witness.helpers import back_on_page, officer_on_page
from tests.support.welfare import advance_to
from tests.support.world import World

NOTE = "NOTE-A-GREY-CAR-IS-OUTSIDE"
ITEM = re.compile(r'<li class="timeline-\w+" data-kind="(\w+)" data-what="([\w.]+)">')


async def test_the_timeline_merges_everything_newest_first(world: World, console: SignIn) -> None:
    talk, officer, path = await officer_on_page(world, console)  # 09:00 UTC, 11:00 Bucharest
    back_on_page(
        await officer.post(
            path + "/plan",
            {
                "mode": "interval",
                "every_hours": "1",
                "start_local": "10:00",
                "window_minutes": "30",
                "grace_minutes": "10",
                "reminder_minutes": "0",
            },
        ),
        talk.case_id,
        "saved",
    )
    back_on_page(
        await officer.post(
            path + "/appointments",
            {
                "kind": "hearing",
                "timezone": "Europe/Berlin",
                "starts_at": "2026-03-02T09:00",
                "ends_at": "2026-03-02T12:00",
            },
        ),
        talk.case_id,
        "scheduled",
    )

    # 10:00 UTC: answered, with a note for the team; 11:00 UTC: not answered.
    await advance_to(world, datetime(2026, 1, 5, 10, 0, tzinfo=UTC))
    assert (await talk.witness.check_in("ok", note=NOTE)).recorded
    for minute in (0, 30, 41):  # prompted, window closed, grace over
        await advance_to(world, datetime(2026, 1, 5, 11, minute, tzinfo=UTC))

    officer = await console("officer")  # the first session went idle meanwhile
    page = (await officer.get(path)).text

    items = ITEM.findall(page)
    assert items == [
        ("alert", "missed_checkin"),
        ("checkin", "missed"),
        ("checkin", "answered"),
        ("appointment", "scheduled"),
        ("device", "device.enrolled"),
    ]
    assert "Check-in answered: <strong>OK</strong>" in page
    assert "2026-01-05 10:00 UTC · 2026-01-05 12:00 (Europe/Bucharest)" in page
    assert NOTE not in page
