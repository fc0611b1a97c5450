"""The page never contains message text, court or video-link details, or phone
numbers — even after all of them have passed through the system."""

from __future__ import annotations

from datetime import UTC, datetime

from client_sdk import IncomingMessage
from tests.console_witness.conftest import SignIn, audit_entries
from tests.console_witness.helpers import back_on_page, officer_on_page
from tests.support.world import World

PHONE = "+40 723 456 789"
PHONE_FORMS = ("+40723456789", "723 456 789", "723456789", "0723456789", "456 789", "456789")
MESSAGES = ("MEET-AT-THE-BLUE-DOOR-17", "I-AM-SAFE-AT-AUNT-MARIAS")
DETAILS = {
    "court": "LANDGERICHT-KOELN-SAAL-7",
    "address": "Luxemburger-Strasse-101",
    "link": "https://video.example/join/8842-SECRET",
    "pin": "PIN-482193",
    "interpreter": "INTERPRETER-IOANA-POPESCU",
}


async def test_the_page_never_shows_phone_numbers_messages_or_court_details(
    world: World, console: SignIn
) -> None:
    talk, officer, path = await officer_on_page(world, console)

    # The witness's number is set from the page: write-only.
    page = back_on_page(
        await officer.post(path + "/phone", {"number": PHONE}), talk.case_id, "saved"
    )
    assert 'data-sms="set"' in page
    async with world.services.store.read() as uow:
        assert await uow.witnesses.phone(talk.witness_id) is not None
    (changed,) = await audit_entries(world, action="witness.phone_changed")
    assert changed.actor_id == world.staff["officer"]
    # A number that is not international is refused without echoing it.
    refused = await officer.post(path + "/phone", {"number": "0712 999 888"})
    assert refused.status == 422
    assert "999" not in refused.text

    # Messages both ways, end to end.
    await talk.officer.send(MESSAGES[0], case_id=talk.case_id)
    assert await talk.witness.sync() == 1
    await talk.witness.send(MESSAGES[1])
    assert await talk.officer.sync() >= 1
    received = [e for e in talk.officer.pending_events() if isinstance(e, IncomingMessage)]
    assert MESSAGES[1] in [m.text for m in received]

    # A video link with private details, sent end to end by the staff client app.
    await talk.officer.schedule_video_link(
        talk.case_id,
        starts_at=datetime(2026, 2, 3, 8, 0, tzinfo=UTC),
        ends_at=datetime(2026, 2, 3, 10, 0, tzinfo=UTC),
        timezone="Europe/Berlin",
        location_kind="support_office",
        interpreter_language="ro",
        details=DETAILS,
        test_call=(
            datetime(2026, 2, 2, 14, 0, tzinfo=UTC),
            datetime(2026, 2, 2, 14, 30, tzinfo=UTC),
        ),
    )
    await talk.witness.sync()
    (upcoming,) = await talk.witness.upcoming()
    assert upcoming.details == DETAILS

    # The witness answers a check-in too, so every timeline source has something.
    back_on_page(
        await officer.post(
            path + "/plan",
            {
                "mode": "interval",
                "every_hours": "1",
                "window_minutes": "30",
                "grace_minutes": "10",
                "reminder_minutes": "5",
            },
        ),
        talk.case_id,
        "saved",
    )

    pages = [
        (await officer.get(path)).text,
        back_on_page(await officer.post(path + "/phone", {"number": PHONE}), talk.case_id, "saved"),
        (await (await console("worker")).get(path)).text,
    ]
    assert "2026-02-03 08:00 UTC" in pages[0]
    assert "2026-02-03 10:00 (Europe/Bucharest)" in pages[0]
    assert "From the support office" in pages[0]
    for html in pages:
        for number in (PHONE, *PHONE_FORMS):
            assert number not in html
        for text in MESSAGES:
            assert text not in html
        for secret in DETAILS.values():
            assert secret not in html
            assert secret.lower() not in html.lower()
        assert "SECRET" not in html
