"""Each staff member's court dates as an iCalendar (RFC 5545) feed behind a secret,
revocable URL: aliases, kinds, times and statuses only; every fetch audited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import aiohttp
import icalendar

from server.domain.models import Role
from tests.court.helpers import (
    HEARING_DETAILS,
    VIDEO_DETAILS,
    add_party,
    audit_entries,
    utc,
)
from tests.support.world import Conversation, World, open_conversation

HEARING_START = utc("2026-04-20 07:00")
VIDEO_START = utc("2026-04-22 07:00")
TEST_CALL = (utc("2026-04-21 12:00"), utc("2026-04-21 12:30"))
CANCELLED_START = utc("2026-04-27 07:00")
BERLIN = ZoneInfo("Europe/Berlin")


async def _fetch(url: str) -> tuple[int, bytes, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.read(), response.content_type


async def _feed(url: str) -> tuple[bytes, dict[str, icalendar.Event]]:
    status, body, content_type = await _fetch(url)
    assert status == 200, body
    assert content_type == "text/calendar"
    calendar = icalendar.Calendar.from_ical(body)
    events = {str(e["uid"]): e for e in calendar.walk("VEVENT")}
    return body, events


async def _court_dates(talk: Conversation) -> dict[str, str]:
    hearing = await talk.officer.schedule_hearing(
        talk.case_id,
        starts_at=HEARING_START,
        ends_at=HEARING_START + timedelta(hours=4),
        timezone="Europe/Berlin",
        interpreter_language="ro",
        details=HEARING_DETAILS,
    )
    video = await talk.officer.schedule_video_link(
        talk.case_id,
        # Given in Berlin's offset; the feed says UTC.
        starts_at=VIDEO_START.astimezone(BERLIN),
        ends_at=(VIDEO_START + timedelta(hours=2)).astimezone(BERLIN),
        timezone="Europe/Berlin",
        location_kind="embassy",
        test_call=TEST_CALL,
        details=VIDEO_DETAILS,
    )
    dropped = await talk.officer.schedule_hearing(
        talk.case_id,
        starts_at=CANCELLED_START,
        ends_at=CANCELLED_START + timedelta(hours=3),
        timezone="Europe/Berlin",
        details=HEARING_DETAILS,
    )
    await talk.officer.cancel_appointment(dropped["appointment_id"], "second day not needed")
    return {
        "hearing": hearing["appointment_id"],
        "video": video["appointment_id"],
        "cancelled": dropped["appointment_id"],
    }


def _when(event: icalendar.Event, name: str) -> datetime:
    value = event.decoded(name)
    assert isinstance(value, datetime)
    assert value.utcoffset() == timedelta(0), (name, value)
    return value.astimezone(UTC)


async def test_the_feed_lists_the_teams_court_dates_by_alias_kind_and_time_only(
    world: World,
) -> None:
    world.clock.set(utc("2026-04-01 08:00"))
    talk = await open_conversation(world)
    ids = await _court_dates(talk)
    outsider = await world.login("outsider")
    elsewhere = await add_party(
        world, outsider, alias="Kestrel", language="fr", timezone="Europe/Paris"
    )
    theirs = await outsider.schedule_hearing(
        elsewhere.case_id,
        starts_at=HEARING_START,
        ends_at=HEARING_START + timedelta(hours=2),
        timezone="Europe/Paris",
        details={"court": "TRIBUNAL-JUDICIAIRE-DE-LILLE-SALLE-3"},
    )

    url = await talk.officer.calendar_feed_url()
    assert url.startswith(world.url + "/v1/calendar/")
    assert url.endswith(".ics")
    body, events = await _feed(url)
    assert set(events) == {
        f"{ids['hearing']}@witnesslink",
        f"{ids['video']}@witnesslink",
        f"{ids['video']}-test@witnesslink",
        f"{ids['cancelled']}@witnesslink",
    }
    expected = {
        f"{ids['hearing']}@witnesslink": (
            "Hearing — Sparrow",
            HEARING_START,
            HEARING_START + timedelta(hours=4),
            "CONFIRMED",
        ),
        f"{ids['video']}@witnesslink": (
            "Video link — Sparrow",
            VIDEO_START,
            VIDEO_START + timedelta(hours=2),
            "CONFIRMED",
        ),
        f"{ids['video']}-test@witnesslink": ("Test call — Sparrow", *TEST_CALL, "CONFIRMED"),
        f"{ids['cancelled']}@witnesslink": (
            "Hearing — Sparrow",
            CANCELLED_START,
            CANCELLED_START + timedelta(hours=3),
            "CANCELLED",
        ),
    }
    for uid, (summary, start, end, status) in expected.items():
        event = events[uid]
        assert str(event["summary"]) == summary
        assert (_when(event, "dtstart"), _when(event, "dtend")) == (start, end)
        assert str(event["status"]) == status
        for private in ("location", "description", "url", "attendee", "organizer", "geo"):
            assert private not in event, (uid, private)
    assert b"DTSTART:20260420T070000Z" in body
    assert b"DTSTART:20260422T070000Z" in body

    # Aliases only: no details, no case reference, no other team's witness.
    for secret in [*HEARING_DETAILS.values(), *VIDEO_DETAILS.values()]:
        assert secret.encode() not in body
    for other in (b"DE-2026", b"Kestrel", b"TRIBUNAL", theirs["appointment_id"].encode()):
        assert other not in body

    # The support worker on the case sees the same dates; the other agency's officer
    # only their own case.
    _worker_body, worker_events = await _feed(await talk.worker.calendar_feed_url())
    assert set(worker_events) == set(events)
    outsider_body, outsider_events = await _feed(await outsider.calendar_feed_url())
    assert set(outsider_events) == {f"{theirs['appointment_id']}@witnesslink"}
    assert b"Sparrow" not in outsider_body
    assert str(outsider_events[f"{theirs['appointment_id']}@witnesslink"]["summary"]) == (
        "Hearing — Kestrel"
    )


async def test_a_colleague_not_on_the_case_does_not_get_its_dates(world: World) -> None:
    world.clock.set(utc("2026-04-01 08:00"))
    talk = await open_conversation(world)
    await _court_dates(talk)
    await world.add_staff("supervisor", "support", Role.SUPERVISOR)
    supervisor = await world.login("supervisor")
    body, events = await _feed(await supervisor.calendar_feed_url())
    assert events == {}
    assert b"Sparrow" not in body


async def test_revoking_or_reissuing_the_url_makes_the_old_one_404(world: World) -> None:
    world.clock.set(utc("2026-04-01 08:00"))
    talk = await open_conversation(world)
    await _court_dates(talk)
    first = await talk.officer.calendar_feed_url()
    assert (await _fetch(first))[0] == 200

    assert await talk.officer.revoke_calendar_feed() is True
    assert (await _fetch(first))[0] == 404
    assert await talk.officer.revoke_calendar_feed() is False

    second = await talk.officer.calendar_feed_url()
    third = await talk.officer.calendar_feed_url()
    assert len({first, second, third}) == 3
    assert (await _fetch(first))[0] == 404
    assert (await _fetch(second))[0] == 404
    _body, events = await _feed(third)
    assert len(events) == 4

    # Guessing does not help either.
    token = third.rsplit("/", 1)[1].removesuffix(".ics")
    guessed = third.replace(token, token[:-1] + ("A" if token[-1] != "A" else "B"))
    assert (await _fetch(guessed))[0] == 404


async def test_a_disabled_account_feed_is_gone(world: World) -> None:
    world.clock.set(utc("2026-04-01 08:00"))
    talk = await open_conversation(world)
    await _court_dates(talk)
    url = await talk.worker.calendar_feed_url()
    assert (await _fetch(url))[0] == 200
    async with world.services.store.write() as uow:
        await uow.staff.set_active(world.staff["worker"], False)
    assert (await _fetch(url))[0] == 404
    # The officer's own feed is unaffected.
    _body, events = await _feed(await talk.officer.calendar_feed_url())
    assert len(events) == 4


async def test_feed_fetches_are_audited(world: World) -> None:
    world.clock.set(utc("2026-04-01 08:00"))
    talk = await open_conversation(world)
    await _court_dates(talk)
    url = await talk.officer.calendar_feed_url()
    await _feed(url)
    world.clock.set(utc("2026-04-02 08:00"))
    await _feed(url)
    officer_id = world.staff["officer"]
    fetched = await audit_entries(world, action="calendar.feed_fetched", actor_id=officer_id)
    assert sorted(e.at for e in fetched) == [utc("2026-04-01 08:00"), utc("2026-04-02 08:00")]
    assert all(e.subject_id == officer_id for e in fetched)
    assert len(await audit_entries(world, action="calendar.feed_issued", actor_id=officer_id)) == 1
    await talk.officer.revoke_calendar_feed()
    assert (await _fetch(url))[0] == 404
    assert len(await audit_entries(world, action="calendar.feed_revoked")) == 1
    assert len(await audit_entries(world, action="calendar.feed_fetched")) == 2
