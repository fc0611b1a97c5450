"""Reminders reach the witness's phone at the right minute of the witness's own clock —
whole-day offsets at the same local time of day across a DST change, the two-hour one
as elapsed time — as content-free pushes the phone turns into a full reminder in the
witness's language from the details it keeps; an offline phone gets one neutral SMS.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest

from client_sdk import AppointmentReminder, WitnessClient
from tests.court.helpers import (
    DAY,
    HEARING_DETAILS,
    VIDEO_DETAILS,
    add_party,
    connect,
    reminder_exactly_at,
    reminders_now,
    set_reminder_offsets,
    settle,
    utc,
)
from tests.support.kdf import WITNESS_PIN
from tests.support.welfare import WITNESS_PHONE, catch_up, sms_to, with_phones_and_supervisor
from tests.support.world import World, open_conversation
from wire.i18n import texts

RO_VIDEO_BODY = (
    "Găsește un loc liniștit, unde să nu te audă nimeni, și asigură-te că telefonul este încărcat."
)
RO_TEST_CALL_BODY = (
    "Un apel scurt ca să verificăm că sunetul și imaginea merg. Alege un loc liniștit și "
    "asigură-te că telefonul este încărcat."
)
SQ_HEARING_BODY = (
    "Ora dhe vendi janë në mesazhet e tua. Nëse të duhet ndihmë për të shkuar atje, na shkruaj."
)


async def test_a_bucharest_witness_is_reminded_at_the_same_local_time_across_the_eu_change(
    world: World,
) -> None:
    world.clock.set(utc("2026-03-10 12:00"))
    talk = await open_conversation(world)  # Sparrow: Romanian, Europe/Bucharest
    # 09:00 in Berlin on Tuesday 31 March 2026, 10:00 in Bucharest: 07:00 UTC. The
    # clocks went forward in the EU on Sunday 29 March.
    start = utc("2026-03-31 07:00")
    appointment = await talk.officer.schedule_video_link(
        talk.case_id,
        starts_at=start,
        ends_at=start + timedelta(hours=2),
        timezone="Europe/Berlin",
        location_kind="support_office",
        interpreter_language="ro",
        details=VIDEO_DETAILS,
    )
    await talk.witness.sync()
    await connect(world, talk.witness)

    expected = [
        # 14 days before: 10:00 in Bucharest is still winter time (UTC+2).
        (utc("2026-03-17 08:00"), "Programarea ta prin video este peste 14 zile"),
        # 2 days before, on the very day the clocks change: 10:00 is now UTC+3.
        (utc("2026-03-29 07:00"), "Programarea ta prin video este peste 2 zile"),
        (utc("2026-03-30 07:00"), "Programarea ta prin video este mâine"),
        # 2 hours before is elapsed time.
        (utc("2026-03-31 05:00"), "Programarea ta prin video este peste 2 ore"),
    ]
    for when, title in expected:
        reminder = await reminder_exactly_at(world, talk.witness, when)
        assert reminder.appointment_id == appointment["appointment_id"]
        assert reminder.kind == "video_link"
        assert reminder.title == title
        assert reminder.body == RO_VIDEO_BODY
        assert reminder.starts_at == start
        assert reminder.local_time == "2026-03-31 10:00 (Europe/Bucharest)"
        assert reminder.details == VIDEO_DETAILS

    # Nothing else is a reminder, up to and past the start.
    world.clock.set(start + timedelta(hours=3))
    assert await reminders_now(world, talk.witness) == []


async def test_a_new_york_witness_of_a_berlin_court_is_reminded_on_new_york_time(
    world: World,
) -> None:
    """Between the US change (8 March) and the EU one (29 March) New York is five hours
    behind Berlin instead of six: the reminders follow the witness's clock, not the
    court's."""
    world.clock.set(utc("2026-02-01 12:00"))
    officer = await world.login("officer")
    party = await add_party(
        world, officer, alias="Heron", language="en", timezone="America/New_York"
    )
    # 15:00 in Berlin (winter time) on Thursday 12 March, 10:00 in New York (summer
    # time since Sunday): 14:00 UTC.
    start = utc("2026-03-12 14:00")
    await officer.schedule_video_link(
        party.case_id,
        starts_at=start,
        ends_at=start + timedelta(hours=3),
        timezone="Europe/Berlin",
        location_kind="embassy",
        interpreter_language="ro",
        details=VIDEO_DETAILS,
    )
    await party.phone.sync()
    await connect(world, party.phone)

    expected = [
        # 10:00 in New York on 26 February is 15:00 UTC (EST); the court's 15:00 CET
        # (14:00 UTC) is not a reminder time: the minute before 15:00 UTC was silent.
        (utc("2026-02-26 15:00"), "Your video link appointment is in 14 days"),
        (utc("2026-03-10 14:00"), "Your video link appointment is in 2 days"),
        (utc("2026-03-11 14:00"), "Your video link appointment is tomorrow"),
        (utc("2026-03-12 12:00"), "Your video link appointment is in 2 hours"),
    ]
    for when, title in expected:
        reminder = await reminder_exactly_at(world, party.phone, when)
        assert reminder.title == title
        assert reminder.body == "Find a quiet, private place and make sure your phone is charged."
        assert reminder.local_time == "2026-03-12 10:00 (America/New_York)"
        assert reminder.details == VIDEO_DETAILS


async def test_a_tirane_witness_of_a_berlin_hearing_is_reminded_in_albanian(
    world: World,
) -> None:
    world.clock.set(utc("2026-03-01 12:00"))
    officer = await world.login("officer")
    party = await add_party(world, officer, alias="Lark", language="sq", timezone="Europe/Tirane")
    start = utc("2026-04-02 07:00")  # 09:00 in Berlin and in Tirana (summer time)
    await officer.schedule_hearing(
        party.case_id,
        starts_at=start,
        ends_at=start + timedelta(hours=4),
        timezone="Europe/Berlin",
        interpreter_language="sq",
        details=HEARING_DETAILS,
    )
    await party.phone.sync()
    await connect(world, party.phone)

    expected = [
        (utc("2026-03-19 08:00"), "Seanca jote është pas 14 ditësh"),  # 09:00 CET
        (utc("2026-03-31 07:00"), "Seanca jote është pas 2 ditësh"),  # 09:00 CEST
        (utc("2026-04-01 07:00"), "Seanca jote është nesër"),
        (utc("2026-04-02 05:00"), "Seanca jote është pas 2 orësh"),
    ]
    for when, title in expected:
        reminder = await reminder_exactly_at(world, party.phone, when)
        assert (reminder.kind, reminder.title, reminder.body) == ("hearing", title, SQ_HEARING_BODY)
        assert reminder.local_time == "2026-04-02 09:00 (Europe/Tirane)"
        assert reminder.details == HEARING_DETAILS


@pytest.mark.parametrize(
    ("zone", "language", "court_zone", "start", "one_day", "two_hours", "titles"),
    [
        pytest.param(
            "America/New_York",
            "en",
            "Europe/Berlin",
            # 04:00 EDT on Sunday 8 March, the night the US clocks go forward at 02:00.
            utc("2026-03-08 08:00"),
            utc("2026-03-07 09:00"),  # 04:00 EST: 23 hours before
            utc("2026-03-08 06:00"),  # 01:00 EST: two real hours before, not 02:00
            (
                "Your video link appointment is tomorrow",
                "Your video link appointment is in 2 hours",
            ),
            id="us-change",
        ),
        pytest.param(
            "Europe/Bucharest",
            "ro",
            "America/New_York",
            # 04:30 EEST on Sunday 29 March, the night the EU clocks go forward at 03:00.
            utc("2026-03-29 01:30"),
            utc("2026-03-28 02:30"),  # 04:30 EET: 23 hours before
            utc("2026-03-28 23:30"),  # 01:30 EET: two real hours before, not 02:30
            ("Programarea ta prin video este mâine", "Programarea ta prin video este peste 2 ore"),
            id="eu-change",
        ),
    ],
)
async def test_the_two_hour_reminder_is_elapsed_time_on_the_night_the_clocks_change(
    world: World,
    zone: str,
    language: str,
    court_zone: str,
    start: datetime,
    one_day: datetime,
    two_hours: datetime,
    titles: tuple[str, str],
) -> None:
    world.clock.set(start - timedelta(days=20))
    officer = await world.login("officer")
    party = await add_party(world, officer, alias="Finch", language=language, timezone=zone)
    await officer.schedule_video_link(
        party.case_id,
        starts_at=start,
        ends_at=start + timedelta(hours=1),
        timezone=court_zone,
        location_kind="home",
        details=VIDEO_DETAILS,
    )
    await party.phone.sync()
    await connect(world, party.phone)
    world.clock.set(start - timedelta(days=2, hours=1))
    assert len(await reminders_now(world, party.phone)) == 1  # the 14-day one

    world.clock.set(start - timedelta(days=1, hours=2))
    assert len(await reminders_now(world, party.phone)) == 1  # the 2-day one
    tomorrow = await reminder_exactly_at(world, party.phone, one_day)
    assert start - one_day == timedelta(hours=23)
    soon = await reminder_exactly_at(world, party.phone, two_hours)
    assert start - two_hours == timedelta(hours=2)
    assert (tomorrow.title, soon.title) == titles


async def test_per_case_offsets_replace_the_defaults_for_that_case_only(world: World) -> None:
    world.clock.set(utc("2026-04-01 08:00"))
    talk = await open_conversation(world)
    other = await add_party(
        world, talk.officer, alias="Wren", language="ro", timezone="Europe/Bucharest"
    )
    settings = await set_reminder_offsets(talk.officer, talk.case_id, [30, 3 * DAY, 360])
    assert settings["reminder_offsets_minutes"] == [3 * DAY, 360, 30]
    start = utc("2026-04-20 07:00")  # 10:00 in Bucharest
    for case_id in (talk.case_id, other.case_id):
        await talk.officer.schedule_hearing(
            case_id,
            starts_at=start,
            ends_at=start + timedelta(hours=3),
            timezone="Europe/Berlin",
            details=HEARING_DETAILS,
        )
    for phone in (talk.witness, other.phone):
        await phone.sync()
        await connect(world, phone)

    # The default 14-day reminder: only the other case has it.
    world.clock.set(utc("2026-04-06 07:00"))
    assert await reminders_now(world, talk.witness) == []
    (fourteen,) = await reminders_now(world, other.phone)
    assert fourteen.title == "Audierea ta este peste 14 zile"

    three_days = await reminder_exactly_at(world, talk.witness, utc("2026-04-17 07:00"))
    assert three_days.title == "Audierea ta este peste 3 zile"
    assert three_days.details == HEARING_DETAILS
    for default in (utc("2026-04-18 07:00"), utc("2026-04-19 07:00")):
        world.clock.set(default)
        assert await reminders_now(world, talk.witness) == []
        assert len(await reminders_now(world, other.phone)) == 1
    six_hours = await reminder_exactly_at(world, talk.witness, utc("2026-04-20 01:00"))
    assert six_hours.title == "Audierea ta este peste 6 ore"
    world.clock.set(utc("2026-04-20 05:00"))
    assert await reminders_now(world, talk.witness) == []
    assert len(await reminders_now(world, other.phone)) == 1
    half_hour = await reminder_exactly_at(world, talk.witness, utc("2026-04-20 06:30"))
    assert half_hour.title == "Audierea ta începe în curând"


async def test_changing_the_nudge_text_through_the_sdk_keeps_the_custom_offsets(
    world: World,
) -> None:
    """``StaffClient.set_welfare_settings`` has no parameter for the reminder offsets and
    PUTs the whole settings object, so a staff member who only changes the SMS nudge
    text silently puts every future appointment of the case back on the defaults."""
    talk = await open_conversation(world)
    await set_reminder_offsets(talk.officer, talk.case_id, [3 * DAY, 360])
    await talk.officer.set_welfare_settings(talk.case_id, nudge_text="Hi, call me back")
    settings = await talk.officer.transport.request(
        "GET", f"/v1/cases/{talk.case_id}/welfare-settings"
    )
    assert settings["nudge_text"] == "Hi, call me back"
    assert settings["reminder_offsets_minutes"] == [3 * DAY, 360]


async def test_test_call_reminders_come_a_day_before_on_local_time_and_an_hour_before(
    world: World,
) -> None:
    world.clock.set(utc("2026-03-20 12:00"))
    talk = await open_conversation(world)
    start = utc("2026-03-31 07:00")
    test_call = (utc("2026-03-29 07:00"), utc("2026-03-29 07:30"))  # 10:00 EEST, day of change
    appointment = await talk.officer.schedule_video_link(
        talk.case_id,
        starts_at=start,
        ends_at=start + timedelta(hours=2),
        timezone="Europe/Berlin",
        location_kind="court",
        interpreter_language="ro",
        test_call=test_call,
        details=VIDEO_DETAILS,
    )
    await talk.witness.sync()
    await connect(world, talk.witness)

    # A day before at the same local time (10:00 EET, still winter time).
    tomorrow = await reminder_exactly_at(world, talk.witness, utc("2026-03-28 08:00"))
    assert tomorrow.appointment_id == appointment["appointment_id"]
    assert tomorrow.kind == "test_call"
    assert tomorrow.title == "Apelul tău de probă este mâine"
    assert tomorrow.body == RO_TEST_CALL_BODY
    assert tomorrow.starts_at == test_call[0]
    assert tomorrow.local_time == "2026-03-29 10:00 (Europe/Bucharest)"
    assert tomorrow.details == VIDEO_DETAILS
    # An hour before, elapsed.
    hour = await reminder_exactly_at(world, talk.witness, utc("2026-03-29 06:00"))
    assert (hour.kind, hour.title) == ("test_call", "Apelul tău de probă este peste 1 oră")
    # The appointment's own 2-day reminder is a separate one.
    two_days = await reminder_exactly_at(world, talk.witness, utc("2026-03-29 07:00"))
    assert (two_days.kind, two_days.starts_at) == ("video_link", start)


LANGUAGES = [
    # language, zone, "in 14 days", "tomorrow", body opening
    (
        "ro",
        "Europe/Bucharest",
        "Audierea ta este peste 14 zile",
        "Audierea ta este mâine",
        "Ora și",
    ),
    ("bg", "Europe/Sofia", "Изслушването ти е след 14 дни", "Изслушването ти е утре", "Часът и"),  # noqa: RUF001
    (
        "sq",
        "Europe/Tirane",
        "Seanca jote është pas 14 ditësh",
        "Seanca jote është nesër",
        "Ora dhe",
    ),
    (
        "fr",
        "Europe/Paris",
        "Ton audience a lieu dans 14 jours",
        "Ton audience a lieu demain",
        "L'he",
    ),
    (
        "es",
        "Europe/Madrid",
        "Tu audiencia es dentro de 14 días",
        "Tu audiencia es mañana",
        "La hora",
    ),
    # Unsupported: English.
    ("de", "Europe/Berlin", "Your hearing is in 14 days", "Your hearing is tomorrow", "The time"),
]


async def test_each_witness_is_reminded_in_their_language_with_english_as_the_fallback(
    world: World,
) -> None:
    world.clock.set(utc("2026-03-01 12:00"))
    officer = await world.login("officer")
    start = utc("2026-03-20 09:00")  # no DST change between 6 and 20 March in Europe
    phones: dict[str, WitnessClient] = {}
    for language, zone, _days, _tomorrow, _body in LANGUAGES:
        party = await add_party(
            world, officer, alias=f"Bird{language.upper()}", language=language, timezone=zone
        )
        await officer.schedule_hearing(
            party.case_id,
            starts_at=start,
            ends_at=start + timedelta(hours=2),
            timezone="Europe/Berlin",
            details=HEARING_DETAILS,
        )
        await party.phone.sync()
        await connect(world, party.phone)
        phones[language] = party.phone

    for when, column in ((utc("2026-03-06 09:00"), 2), (utc("2026-03-19 09:00"), 3)):
        if column == 3:  # the 2-day reminders first
            world.clock.set(utc("2026-03-18 09:00"))
            await catch_up(world)
            for phone in phones.values():
                assert (
                    len(
                        [
                            e
                            for e in await settle(world, phone)
                            if isinstance(e, AppointmentReminder)
                        ]
                    )
                    == 1
                )
        world.clock.set(when - timedelta(minutes=1))
        await catch_up(world)
        for phone in phones.values():
            assert not [e for e in await settle(world, phone) if isinstance(e, AppointmentReminder)]
        world.clock.set(when)
        await catch_up(world)
        for row in LANGUAGES:
            events = await settle(world, phones[row[0]])
            (reminder,) = [e for e in events if isinstance(e, AppointmentReminder)]
            assert reminder.title == row[column], row[0]
            assert reminder.body.startswith(row[4]), (row[0], reminder.body)
            assert reminder.details == HEARING_DETAILS


FORBIDDEN_IN_SMS = [
    "Sparrow",
    "Crane",
    "DE-2026",
    "court",
    "hearing",
    "case",
    "witness",
    "police",
    "video",
    "instanț",
    "audier",
    "tribunal",
    "dosar",
    "poliț",
    "съд",
    "дело",
    "изслушване",
    "полиц",
    *HEARING_DETAILS.values(),
]


async def test_an_offline_phone_gets_one_neutral_sms_nudge_in_the_witness_language(
    sms_world: World,
) -> None:
    world = sms_world
    world.clock.set(utc("2026-04-01 08:00"))
    talk = await open_conversation(world)
    await with_phones_and_supervisor(world, talk)
    bulgarian_phone = "+15005550021"
    other = await add_party(
        world, talk.officer, alias="Crane", language="bg", timezone="Europe/Sofia"
    )
    await talk.officer.set_witness_phone(other.witness_id, bulgarian_phone)
    start = utc("2026-04-20 07:00")
    for case_id in (talk.case_id, other.case_id):
        await talk.officer.schedule_hearing(
            case_id,
            starts_at=start,
            ends_at=start + timedelta(hours=2),
            timezone="Europe/Berlin",
            details=HEARING_DETAILS,
        )
    await talk.witness.sync()
    await other.phone.sync()

    # The phones stay switched off for days; the 14-day reminder comes due.
    world.clock.set(utc("2026-04-06 06:59"))
    await catch_up(world)
    assert sms_to(world, WITNESS_PHONE) == []
    world.clock.set(utc("2026-04-06 07:00"))
    await catch_up(world)
    assert sms_to(world, WITNESS_PHONE) == [texts.appointment_nudge("ro")]
    assert sms_to(world, WITNESS_PHONE) == ["Bună! Ai un memento nou. Deschide aplicația, te rog."]
    assert sms_to(world, bulgarian_phone) == [
        "Здравей! Имаш ново напомняне. Моля, отвори приложението."
    ]
    for body in sms_to(world, WITNESS_PHONE) + sms_to(world, bulgarian_phone):
        assert all(word.lower() not in body.lower() for word in FORBIDDEN_IN_SMS), body

    # One nudge for one reminder: nothing more while nothing else is due.
    world.clock.set(utc("2026-04-10 07:00"))
    await catch_up(world)
    assert len(sms_to(world, WITNESS_PHONE)) == 1

    # Back online (the app connected): the reminder missed while offline arrives now,
    # worded for now; the next one is a push at its time, and no SMS.
    await connect(world, talk.witness)
    late = [e for e in await settle(world, talk.witness) if isinstance(e, AppointmentReminder)]
    assert [r.title for r in late] == ["Audierea ta este peste 10 zile"]
    reminder = await reminder_exactly_at(world, talk.witness, utc("2026-04-18 07:00"))
    assert reminder.title == "Audierea ta este peste 2 zile"
    assert reminder.details == HEARING_DETAILS
    assert len(sms_to(world, WITNESS_PHONE)) == 1
    assert len(sms_to(world, bulgarian_phone)) == 2  # still offline


async def test_a_connected_phone_gets_the_push_and_no_sms(sms_world: World) -> None:
    world = sms_world
    world.clock.set(utc("2026-04-01 08:00"))
    talk = await open_conversation(world)
    await with_phones_and_supervisor(world, talk)
    start = utc("2026-04-20 07:00")
    await talk.officer.schedule_hearing(
        talk.case_id,
        starts_at=start,
        ends_at=start + timedelta(hours=2),
        timezone="Europe/Berlin",
        details=HEARING_DETAILS,
    )
    await talk.witness.sync()
    await connect(world, talk.witness)
    for when in (utc("2026-04-06 07:00"), utc("2026-04-18 07:00"), utc("2026-04-19 07:00")):
        reminder = await reminder_exactly_at(world, talk.witness, when)
        assert reminder.details == HEARING_DETAILS
    assert sms_to(world, WITNESS_PHONE) == []


async def test_a_reminder_due_while_the_phone_is_briefly_disconnected_still_reaches_it(
    world: World,
) -> None:
    """The phone was online a minute ago (so no SMS nudge) and is back a minute later:
    the reminder must not be lost in between."""
    world.clock.set(utc("2026-04-01 08:00"))
    talk = await open_conversation(world)
    start = utc("2026-04-20 07:00")
    await talk.officer.schedule_hearing(
        talk.case_id,
        starts_at=start,
        ends_at=start + timedelta(hours=2),
        timezone="Europe/Berlin",
        details=HEARING_DETAILS,
    )
    await talk.witness.sync()
    await connect(world, talk.witness)
    world.clock.set(utc("2026-04-20 04:59"))
    assert len(await reminders_now(world, talk.witness)) == 3  # 14 days, 2 days, 1 day

    # The phone reports in, then the network drops for a moment just as the 2-hour
    # reminder comes due.
    await talk.witness.heartbeat()
    store = talk.witness._store.vault.path
    await talk.witness.close()
    hub = world.services.hub
    assert hub is not None
    async with asyncio.timeout(10):
        while hub.is_connected(talk.witness.device_id):  # noqa: ASYNC110
            await asyncio.sleep(0)  # a yield to the server's handler, not a timed wait
    world.clock.set(utc("2026-04-20 05:00"))
    await catch_up(world)
    world.clock.set(utc("2026-04-20 05:01"))
    phone = await WitnessClient.open(store, WITNESS_PIN, clock=world.clock)
    world.clients.append(phone)
    await connect(world, phone)
    await catch_up(world)
    reminders = [e for e in await settle(world, phone) if isinstance(e, AppointmentReminder)]
    assert [r.title for r in reminders] == ["Audierea ta este peste 2 ore"]
