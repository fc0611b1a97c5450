"""Moving and cancelling court dates: old reminders and checks never fire, the witness
is told and must confirm again, nothing fires twice across a restart, and impossible or
foreign changes are refused."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from client_sdk import (
    AppointmentChanged,
    AppointmentDetailsReceived,
    AppointmentReminder,
    WitnessClient,
)
from tests.court.helpers import (
    HEARING_DETAILS,
    VIDEO_DETAILS,
    api_error,
    appointment_alerts,
    connect,
    next_event,
    reminder_exactly_at,
    reminders_now,
    settle,
    utc,
)
from tests.support.kdf import WITNESS_PIN
from tests.support.welfare import WITNESS_PHONE, catch_up, sms_to, with_phones_and_supervisor
from tests.support.world import Conversation, World, open_conversation

MOVED_DETAILS = {**HEARING_DETAILS, "court": "LANDGERICHT-KOELN-SAAL-12-MOVED"}


async def _hearing(talk: Conversation, start: datetime, **extra: Any) -> dict[str, Any]:
    return await talk.officer.schedule_hearing(
        talk.case_id,
        starts_at=start,
        ends_at=start + timedelta(hours=3),
        timezone="Europe/Berlin",
        details=HEARING_DETAILS,
        **extra,
    )


async def _appointment_alerts(talk: Conversation) -> list[dict[str, Any]]:
    return await appointment_alerts(talk.worker)


async def test_rescheduling_supersedes_the_old_reminders_and_asks_for_a_new_confirmation(
    world: World,
) -> None:
    world.clock.set(utc("2026-04-01 08:00"))
    talk = await open_conversation(world)
    first = utc("2026-04-20 07:00")  # 10:00 in Bucharest
    appointment = await _hearing(talk, first)
    appointment_id = appointment["appointment_id"]
    await talk.witness.sync()
    await connect(world, talk.witness)
    await talk.witness.confirm(appointment_id)
    (seen,) = await talk.officer.appointments(talk.case_id)
    assert seen["confirmation"] == "confirmed"
    assert (await reminder_exactly_at(world, talk.witness, utc("2026-04-06 07:00"))).starts_at == (
        first
    )

    # Moved by a week, with a new room.
    second = utc("2026-04-27 07:00")
    moved = await talk.officer.reschedule(
        appointment_id,
        starts_at=second,
        ends_at=second + timedelta(hours=3),
        timezone="Europe/Berlin",
        details=MOVED_DETAILS,
    )
    assert moved["starts_at"] == "2026-04-27T07:00:00.000Z"
    assert (moved["status"], moved["confirmation"]) == ("scheduled", "pending")
    changed = await next_event(
        talk.witness, AppointmentChanged, lambda e: e.change == "rescheduled"
    )
    assert (changed.appointment_id, changed.starts_at) == (appointment_id, second)
    assert (changed.status, changed.confirmation) == ("scheduled", "pending")
    await next_event(talk.witness, AppointmentDetailsReceived)
    (upcoming,) = await talk.witness.upcoming()
    assert (upcoming.confirmation, upcoming.details) == ("pending", MOVED_DETAILS)
    (seen,) = await talk.officer.appointments(talk.case_id)
    assert (seen["confirmation"], seen["confirm_by"]) == ("pending", "2026-04-25T07:00:00.000Z")

    # The new 14-day reminder comes at its time, with the new details.
    new_fourteen = await reminder_exactly_at(world, talk.witness, utc("2026-04-13 07:00"))
    assert (new_fourteen.starts_at, new_fourteen.details) == (second, MOVED_DETAILS)
    assert new_fourteen.title == "Audierea ta este peste 14 zile"

    # The old ones (2 days, 1 day, 2 hours, confirmation and readiness checks) are gone.
    for old in (
        utc("2026-04-18 07:00"),
        utc("2026-04-19 07:00"),
        utc("2026-04-20 05:00"),
        utc("2026-04-20 07:00"),
        utc("2026-04-21 07:00"),
    ):
        world.clock.set(old)
        assert await reminders_now(world, talk.witness) == [], old
    assert await _appointment_alerts(talk) == []

    # The new confirmation deadline: not confirmed again, so the team is alerted.
    two_days = await reminder_exactly_at(world, talk.witness, utc("2026-04-25 07:00"))
    assert two_days.starts_at == second
    (alert,) = await _appointment_alerts(talk)
    assert alert["kind"] == "no_confirmation"
    await talk.witness.confirm(appointment_id)
    (seen,) = await talk.officer.appointments(talk.case_id)
    assert seen["confirmation"] == "confirmed"
    one_day = await reminder_exactly_at(world, talk.witness, utc("2026-04-26 07:00"))
    assert one_day.title == "Audierea ta este mâine"


async def test_cancelling_supersedes_every_reminder_and_check_and_tells_the_witness(
    world: World,
) -> None:
    world.clock.set(utc("2026-04-01 08:00"))
    talk = await open_conversation(world)
    start = utc("2026-04-20 07:00")
    appointment = await talk.officer.schedule_video_link(
        talk.case_id,
        starts_at=start,
        ends_at=start + timedelta(hours=2),
        timezone="Europe/Berlin",
        location_kind="support_office",
        test_call=(utc("2026-04-17 07:00"), utc("2026-04-17 07:30")),
        details=VIDEO_DETAILS,
    )
    appointment_id = appointment["appointment_id"]
    await talk.witness.sync()
    talk.witness.pending_events()  # the details and the "scheduled" notice
    await connect(world, talk.witness)

    cancelled = await talk.officer.cancel_appointment(appointment_id, "trial adjourned")
    assert cancelled["status"] == "cancelled"
    changed = await next_event(talk.witness, AppointmentChanged)
    assert (changed.appointment_id, changed.change, changed.status) == (
        appointment_id,
        "cancelled",
        "cancelled",
    )
    (seen,) = await talk.officer.appointments(talk.case_id)
    assert seen["status"] == "cancelled"
    (upcoming,) = await talk.witness.upcoming()
    assert upcoming.status == "cancelled"

    # Past every reminder (14 days, test call, 2 days, 1 day, 2 hours), the confirmation
    # deadline, the test call and the start: nothing reaches the phone, nobody is alerted.
    for when in (
        utc("2026-04-06 07:00"),
        utc("2026-04-16 07:00"),
        utc("2026-04-17 07:00"),
        utc("2026-04-18 07:00"),
        utc("2026-04-19 07:00"),
        utc("2026-04-20 05:00"),
        utc("2026-04-20 07:00"),
        utc("2026-04-20 10:00"),
    ):
        world.clock.set(when)
        await catch_up(world)
        events = await settle(world, talk.witness)
        assert not [e for e in events if isinstance(e, AppointmentReminder)], when
    assert await _appointment_alerts(talk) == []

    # A cancelled appointment takes no answers and no second cancellation.
    assert (await api_error(talk.witness.confirm(appointment_id))).status == 409
    assert (await api_error(talk.witness.ready(appointment_id))).status == 409
    again = await api_error(talk.officer.cancel_appointment(appointment_id, "again"))
    assert again.status == 409


async def test_a_cancelled_appointment_cannot_be_rescheduled_or_marked(world: World) -> None:
    world.clock.set(utc("2026-04-01 08:00"))
    talk = await open_conversation(world)
    start = utc("2026-04-20 07:00")
    appointment = await _hearing(talk, start)
    await talk.officer.cancel_appointment(appointment["appointment_id"], "witness unwell")
    error = await api_error(
        talk.officer.reschedule(
            appointment["appointment_id"],
            starts_at=start + timedelta(days=7),
            ends_at=start + timedelta(days=7, hours=3),
            timezone="Europe/Berlin",
        )
    )
    assert error.status == 409
    world.clock.set(start + timedelta(minutes=5))
    marked = await api_error(
        talk.officer.mark_attendance(appointment["appointment_id"], attended=False)
    )
    assert marked.status == 409
    (seen,) = await talk.officer.appointments(talk.case_id)
    assert (seen["status"], seen["starts_at"]) == ("cancelled", "2026-04-20T07:00:00.000Z")


async def test_each_due_reminder_arrives_exactly_once_across_a_restart(world: World) -> None:
    world.clock.set(utc("2026-04-01 08:00"))
    talk = await open_conversation(world)
    start = utc("2026-04-20 07:00")
    appointment = await _hearing(talk, start)
    await talk.witness.sync()
    await connect(world, talk.witness)
    await reminder_exactly_at(world, talk.witness, utc("2026-04-06 07:00"))

    # The server is down while the 2-day and 1-day reminders and the confirmation
    # deadline come due.
    store = talk.witness._store.vault.path
    await talk.witness.close()
    await world.stop_server()
    world.clock.set(utc("2026-04-19 08:00"))
    await world.start_server_again()
    phone = await WitnessClient.open(store, WITNESS_PIN, clock=world.clock)
    world.clients.append(phone)
    await connect(world, phone)

    late = await reminders_now(world, phone)
    assert len(late) == 2
    assert {r.appointment_id for r in late} == {appointment["appointment_id"]}
    assert all(r.details == HEARING_DETAILS for r in late)
    (alert,) = await _appointment_alerts(talk)
    assert alert["kind"] == "no_confirmation"

    # Running the sweeps again, or a little later, sends nothing more.
    assert await reminders_now(world, phone) == []
    world.clock.set(utc("2026-04-19 12:00"))
    assert await reminders_now(world, phone) == []
    soon = await reminder_exactly_at(world, phone, utc("2026-04-20 05:00"))
    assert soon.title == "Audierea ta este peste 2 ore"
    world.clock.set(utc("2026-04-20 12:00"))
    assert await reminders_now(world, phone) == []
    assert [a["kind"] for a in await _appointment_alerts(talk)] == ["not_ready", "no_confirmation"]


async def test_nobody_outside_the_case_team_can_move_or_cancel_its_court_dates(
    world: World,
) -> None:
    world.clock.set(utc("2026-04-01 08:00"))
    talk = await open_conversation(world)
    outsider = await world.login("outsider")
    start = utc("2026-04-20 07:00")
    appointment = await _hearing(talk, start)
    appointment_id = appointment["appointment_id"]
    body = {
        "kind": "hearing",
        "starts_at": (start + timedelta(days=1)).isoformat(),
        "ends_at": (start + timedelta(days=1, hours=3)).isoformat(),
        "timezone": "Europe/Berlin",
    }
    attempts = [
        ("POST", f"/v1/appointments/{appointment_id}/reschedule", body),
        ("POST", f"/v1/appointments/{appointment_id}/cancel", {"reason": "not mine"}),
        ("GET", f"/v1/appointments/{appointment_id}", None),
        ("POST", f"/v1/cases/{talk.case_id}/appointments", body),
        ("GET", f"/v1/cases/{talk.case_id}/appointments", None),
    ]
    for method, path, json in attempts:
        error = await api_error(outsider.transport.request(method, path, json=json))
        assert error.status == 404, (method, path, error)
    assert (await api_error(outsider.cancel_appointment(appointment_id, "not mine"))).status == 404
    (seen,) = await talk.officer.appointments(talk.case_id)
    assert (seen["status"], seen["version"], seen["starts_at"]) == (
        "scheduled",
        1,
        "2026-04-20T07:00:00.000Z",
    )


async def test_appointments_that_cannot_work_are_refused(world: World) -> None:
    world.clock.set(utc("2026-04-01 08:00"))
    talk = await open_conversation(world)
    start = utc("2026-04-20 07:00")

    def body(**changes: Any) -> dict[str, Any]:
        video = {
            "kind": "video_link",
            "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(hours=2)).isoformat(),
            "timezone": "Europe/Berlin",
            "location_kind": "home",
        }
        return {k: v for k, v in {**video, **changes}.items() if v is not None}

    refused = {
        "ends before it starts": body(ends_at=(start - timedelta(hours=1)).isoformat()),
        "ends as it starts": body(ends_at=start.isoformat()),
        "starts in the past": body(
            starts_at=utc("2026-03-31 07:00").isoformat(),
            ends_at=utc("2026-03-31 09:00").isoformat(),
        ),
        "video link without location kind": body(location_kind=None),
        "hearing with a test call": body(
            kind="hearing",
            location_kind=None,
            test_call_at=(start - timedelta(days=1)).isoformat(),
            test_call_ends_at=(start - timedelta(days=1) + timedelta(minutes=30)).isoformat(),
        ),
        "hearing with a remote location": body(kind="hearing"),
        "test call after the start": body(
            test_call_at=(start + timedelta(hours=1)).isoformat(),
            test_call_ends_at=(start + timedelta(hours=2)).isoformat(),
        ),
        "test call running into the start": body(
            test_call_at=(start - timedelta(minutes=15)).isoformat(),
            test_call_ends_at=(start + timedelta(minutes=15)).isoformat(),
        ),
        "test call without an end": body(test_call_at=(start - timedelta(days=1)).isoformat()),
        "interpreter language without booking": body(interpreter_language="ro"),
        "interpreter booked without language": body(interpreter_booked=True),
        "time without an offset": body(
            starts_at="2026-04-20T07:00:00", ends_at="2026-04-20T09:00:00"
        ),
        "unknown timezone": body(timezone="Mars/Olympus_Mons"),
        "confirmation due after the start": body(
            confirm_by=(start + timedelta(minutes=1)).isoformat()
        ),
        "longer than a day": body(ends_at=(start + timedelta(days=1, hours=1)).isoformat()),
    }
    for what, attempt in refused.items():
        error = await api_error(
            talk.officer.transport.request(
                "POST", f"/v1/cases/{talk.case_id}/appointments", json=attempt
            )
        )
        assert error.status == 422, (what, error)
    # The SDK's own checks agree (end before start, past start).
    sdk_error = await api_error(
        talk.officer.schedule_hearing(
            talk.case_id,
            starts_at=start,
            ends_at=start - timedelta(hours=1),
            timezone="Europe/Berlin",
            details=HEARING_DETAILS,
        )
    )
    assert sdk_error.status == 422
    assert await talk.officer.appointments(talk.case_id, include_past=True) == []

    # Moving one into the past, or into another kind, is refused the same way.
    appointment = await _hearing(talk, start)
    past = await api_error(
        talk.officer.reschedule(
            appointment["appointment_id"],
            starts_at=utc("2026-03-30 07:00"),
            ends_at=utc("2026-03-30 09:00"),
            timezone="Europe/Berlin",
        )
    )
    assert past.status == 422
    other_kind = await api_error(
        talk.officer.transport.request(
            "POST", f"/v1/appointments/{appointment['appointment_id']}/reschedule", json=body()
        )
    )
    assert other_kind.status == 422
    (seen,) = await talk.officer.appointments(talk.case_id)
    assert (seen["version"], seen["starts_at"]) == (1, "2026-04-20T07:00:00.000Z")


async def test_an_offline_phone_hears_about_a_cancellation_by_a_neutral_sms(
    sms_world: World,
) -> None:
    """A cancellation push reaches only a connected phone. A witness whose phone has been
    off for days would set out for a hearing that is no longer happening: like a
    reminder, the change must come with the neutral SMS nudge."""
    world = sms_world
    world.clock.set(utc("2026-04-01 08:00"))
    talk = await open_conversation(world)
    await with_phones_and_supervisor(world, talk)
    appointment = await _hearing(talk, utc("2026-04-20 07:00"))
    await talk.witness.sync()
    world.clock.set(utc("2026-04-19 09:00"))  # past the 2-day reminder's nudge
    await catch_up(world)
    nudges = len(sms_to(world, WITNESS_PHONE))
    await talk.officer.cancel_appointment(appointment["appointment_id"], "trial adjourned")
    await catch_up(world)
    assert len(sms_to(world, WITNESS_PHONE)) == nudges + 1


async def test_sweeps_running_at_once_send_each_due_reminder_once(world: World) -> None:
    """Two schedulers (or two instances) sweeping together: each row is claimed once."""
    world.clock.set(utc("2026-04-01 08:00"))
    talk = await open_conversation(world)
    await _hearing(talk, utc("2026-04-20 07:00"))
    await talk.witness.sync()
    await connect(world, talk.witness)
    world.clock.set(utc("2026-04-19 07:00"))  # 14-day, 2-day, 1-day and the confirmation
    claimed = await asyncio.gather(*(world.services.appointments.process_due() for _ in range(4)))
    assert sum(claimed) == 4
    reminders = [e for e in await settle(world, talk.witness) if isinstance(e, AppointmentReminder)]
    assert len(reminders) == 3
    assert [a["kind"] for a in await _appointment_alerts(talk)] == ["no_confirmation"]


async def test_rescheduling_through_the_sdk_keeps_the_test_call_unless_told_otherwise(
    world: World,
) -> None:
    """``StaffClient.reschedule`` keeps the location kind and the interpreter when they
    are not given, but silently drops the test call — and with it the test-call reminders
    and the "ready for the test call" check."""
    world.clock.set(utc("2026-04-01 08:00"))
    talk = await open_conversation(world)
    start = utc("2026-04-20 07:00")
    appointment = await talk.officer.schedule_video_link(
        talk.case_id,
        starts_at=start,
        ends_at=start + timedelta(hours=2),
        timezone="Europe/Berlin",
        location_kind="support_office",
        interpreter_language="ro",
        test_call=(utc("2026-04-17 07:00"), utc("2026-04-17 07:30")),
        details=VIDEO_DETAILS,
    )
    moved = await talk.officer.reschedule(
        appointment["appointment_id"],
        starts_at=start + timedelta(hours=1),
        ends_at=start + timedelta(hours=3),
        timezone="Europe/Berlin",
    )
    assert (moved["location_kind"], moved["interpreter_language"]) == ("support_office", "ro")
    assert (moved["test_call_at"], moved["test_call_ends_at"]) == (
        "2026-04-17T07:00:00.000Z",
        "2026-04-17T07:30:00.000Z",
    )
