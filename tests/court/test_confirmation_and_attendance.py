"""The witness confirms (or asks to rearrange) and says "I'm ready"; staff record
attendance. Silence where an answer was due, and a missed appointment, raise alerts that
escalate like any other."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from client_sdk import AppointmentChanged, IncomingMessage
from tests.court.helpers import (
    HEARING_DETAILS,
    VIDEO_DETAILS,
    add_party,
    alerts_of,
    api_error,
    appointment_alerts,
    connect,
    next_event,
    quiet_phone_alerts,
    raw_socket,
    settle,
    utc,
)
from tests.support.welfare import (
    SUPERVISOR_PHONE,
    WORKER_PHONE,
    advance,
    catch_up,
    sms_to,
    with_phones_and_supervisor,
)
from tests.support.world import Conversation, World, open_conversation

START = utc("2026-04-20 07:00")  # 09:00 in Berlin, 10:00 in Bucharest


async def _hearing(talk: Conversation, start: datetime = START, **extra: Any) -> dict[str, Any]:
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


async def _at(world: World, when: datetime) -> None:
    world.clock.set(when)
    await catch_up(world)


async def test_a_confirmation_is_visible_to_staff_and_pushed_to_their_devices(
    world: World,
) -> None:
    world.clock.set(utc("2026-04-01 08:00"))
    talk = await open_conversation(world)
    appointment = await _hearing(talk)
    appointment_id = appointment["appointment_id"]
    assert appointment["confirmation"] == "pending"
    assert appointment["confirm_by"] == "2026-04-18T07:00:00.000Z"  # 48 hours before

    async with (
        raw_socket(world, talk.officer.identity.token) as officer_socket,
        raw_socket(world, talk.worker.identity.token) as worker_socket,
    ):
        await officer_socket.settle(world, talk.officer.device_id)
        world.clock.set(utc("2026-04-02 10:00"))
        await talk.witness.confirm(appointment_id)
        for socket, device_id in (
            (officer_socket, talk.officer.device_id),
            (worker_socket, talk.worker.device_id),
        ):
            frames = [
                f for f in await socket.settle(world, device_id) if f["type"] == "appointment"
            ]
            assert [(f["appointment_id"], f["change"], f["confirmation"]) for f in frames][-1] == (
                appointment_id,
                "confirmation",
                "confirmed",
            )

    for staff in (talk.officer, talk.worker):
        (seen,) = await staff.appointments(talk.case_id)
        assert (seen["confirmation"], seen["confirmed_at"]) == (
            "confirmed",
            "2026-04-02T10:00:00.000Z",
        )
    (upcoming,) = await talk.witness.upcoming()
    assert upcoming.confirmation == "confirmed"

    # Confirmed in time: the deadline passes without an alert.
    await _at(world, utc("2026-04-18 07:00"))
    await _at(world, utc("2026-04-18 09:00"))
    assert await _appointment_alerts(talk) == []


async def test_staff_clients_surface_a_confirmation_as_an_event(world: World) -> None:
    """The server pushes the change to staff devices, but ``StaffClient`` drops every
    frame that is not an alert or a check-in answer, so a staff app never hears of it."""
    world.clock.set(utc("2026-04-01 08:00"))
    talk = await open_conversation(world)
    appointment = await _hearing(talk)
    await connect(world, talk.officer)
    await settle(world, talk.officer)
    await talk.witness.confirm(appointment["appointment_id"])
    events = await settle(world, talk.officer)
    changes = [e for e in events if isinstance(e, AppointmentChanged)]
    assert [(c.appointment_id, c.change, c.confirmation) for c in changes] == [
        (appointment["appointment_id"], "confirmation", "confirmed")
    ]


async def test_asking_to_rearrange_is_visible_and_is_not_a_confirmation(world: World) -> None:
    world.clock.set(utc("2026-04-01 08:00"))
    talk = await open_conversation(world)
    appointment = await _hearing(talk)
    await talk.witness.ask_to_rearrange(
        appointment["appointment_id"], note="I have to take my mother to hospital that day"
    )
    (seen,) = await talk.officer.appointments(talk.case_id)
    assert seen["confirmation"] == "rearrange_requested"
    await talk.officer.sync()
    notes = [e for e in talk.officer.pending_events() if isinstance(e, IncomingMessage)]
    assert [n.text for n in notes] == ["I have to take my mother to hospital that day"]

    # Still not confirmed when the deadline comes: the team is alerted.
    await _at(world, utc("2026-04-18 06:59"))
    assert await _appointment_alerts(talk) == []
    await _at(world, utc("2026-04-18 07:00"))
    assert [a["kind"] for a in await _appointment_alerts(talk)] == ["no_confirmation"]


async def test_no_confirmation_by_the_default_deadline_raises_an_alert_that_escalates(
    sms_world: World,
) -> None:
    world = sms_world
    world.clock.set(utc("2026-04-01 08:00"))
    talk = await open_conversation(world)
    await with_phones_and_supervisor(world, talk)
    await _hearing(talk)

    await _at(world, utc("2026-04-18 06:59"))
    assert await _appointment_alerts(talk) == []
    await quiet_phone_alerts(world, talk.worker, talk.witness)
    to_worker = len(sms_to(world, WORKER_PHONE))
    to_supervisor = len(sms_to(world, SUPERVISOR_PHONE))
    await _at(world, utc("2026-04-18 07:00"))
    (alert,) = await _appointment_alerts(talk)
    assert (alert["kind"], alert["severity"], alert["level"], alert["status"]) == (
        "no_confirmation",
        "normal",
        1,
        "open",
    )
    assert len(sms_to(world, WORKER_PHONE)) == to_worker + 1
    assert len(sms_to(world, SUPERVISOR_PHONE)) == to_supervisor

    # Level 2 after 15 minutes: the support organisation's supervisor, by SMS too.
    await advance(world, timedelta(minutes=14))
    assert len(sms_to(world, SUPERVISOR_PHONE)) == to_supervisor
    await advance(world, timedelta(minutes=1))
    assert len(sms_to(world, SUPERVISOR_PHONE)) == to_supervisor + 1
    assert (await talk.worker.alert(alert["alert_id"]))["level"] == 2
    for body in sms_to(world, WORKER_PHONE) + sms_to(world, SUPERVISOR_PHONE):
        assert "Sparrow" not in body
        assert "DE-2026-0042" not in body


async def test_an_explicit_confirmation_deadline_is_kept(world: World) -> None:
    world.clock.set(utc("2026-04-01 08:00"))
    talk = await open_conversation(world)
    appointment = await _hearing(talk, confirm_by=utc("2026-04-15 12:00"))
    assert appointment["confirm_by"] == "2026-04-15T12:00:00.000Z"
    await _at(world, utc("2026-04-15 11:59"))
    assert await _appointment_alerts(talk) == []
    await _at(world, utc("2026-04-15 12:00"))
    (alert,) = await _appointment_alerts(talk)
    assert alert["kind"] == "no_confirmation"
    # A late confirmation is recorded; the alert stays for the team to resolve, and the
    # default 48-hour deadline is not a second one.
    await talk.witness.confirm(appointment["appointment_id"])
    await _at(world, utc("2026-04-18 07:00"))
    assert len(await _appointment_alerts(talk)) == 1


async def test_ready_for_the_test_call_and_for_the_appointment(world: World) -> None:
    """Witness A presses "ready" for the test call only, witness B for the appointment
    only: B is missing at the test call, A at the start."""
    world.clock.set(utc("2026-04-01 08:00"))
    talk = await open_conversation(world)
    other = await add_party(
        world,
        talk.officer,
        alias="Wren",
        language="ro",
        timezone="Europe/Bucharest",
        worker=talk.worker,
    )
    test_call = (utc("2026-04-17 07:00"), utc("2026-04-17 07:30"))
    ids = {}
    for case_id, phone in ((talk.case_id, talk.witness), (other.case_id, other.phone)):
        appointment = await talk.officer.schedule_video_link(
            case_id,
            starts_at=START,
            ends_at=START + timedelta(hours=2),
            timezone="Europe/Berlin",
            location_kind="support_office",
            test_call=test_call,
            details=VIDEO_DETAILS,
        )
        ids[case_id] = appointment["appointment_id"]
        await phone.confirm(appointment["appointment_id"])

    await _at(world, utc("2026-04-17 06:55"))
    await talk.witness.ready(ids[talk.case_id], test_call=True)
    await other.phone.ready(ids[other.case_id])  # the appointment, not the test call
    (a,) = await talk.officer.appointments(talk.case_id)
    (b,) = await talk.officer.appointments(other.case_id)
    assert (a["test_ready_at"], a["ready_at"]) == ("2026-04-17T06:55:00.000Z", None)
    assert (b["test_ready_at"], b["ready_at"]) == (None, "2026-04-17T06:55:00.000Z")

    await _at(world, utc("2026-04-17 06:59"))
    assert await _appointment_alerts(talk) == []
    await _at(world, test_call[0])
    (missing,) = await _appointment_alerts(talk)
    assert (missing["kind"], missing["case_id"], missing["severity"]) == (
        "not_ready",
        other.case_id,
        "high",
    )
    # It escalates like any alert.
    await advance(world, timedelta(minutes=15))
    assert (await talk.worker.alert(missing["alert_id"]))["level"] == 2

    await _at(world, START - timedelta(minutes=1))
    assert len(await alerts_of(talk.worker, "not_ready")) == 1
    await _at(world, START)
    not_ready = await alerts_of(talk.worker, "not_ready")
    assert sorted(a["case_id"] for a in not_ready) == sorted([talk.case_id, other.case_id])


async def test_pressing_ready_in_time_for_both_steps_raises_nothing(world: World) -> None:
    world.clock.set(utc("2026-04-01 08:00"))
    talk = await open_conversation(world)
    appointment = await talk.officer.schedule_video_link(
        talk.case_id,
        starts_at=START,
        ends_at=START + timedelta(hours=2),
        timezone="Europe/Berlin",
        location_kind="embassy",
        test_call=(utc("2026-04-17 07:00"), utc("2026-04-17 07:30")),
        details=VIDEO_DETAILS,
    )
    await talk.witness.confirm(appointment["appointment_id"])
    await _at(world, utc("2026-04-17 06:58"))
    await talk.witness.ready(appointment["appointment_id"], test_call=True)
    await _at(world, utc("2026-04-17 08:00"))
    await _at(world, START - timedelta(minutes=10))
    await talk.witness.ready(appointment["appointment_id"])
    await _at(world, START + timedelta(hours=3))
    assert await _appointment_alerts(talk) == []


async def test_a_hearing_has_no_test_call_to_be_ready_for(world: World) -> None:
    world.clock.set(utc("2026-04-01 08:00"))
    talk = await open_conversation(world)
    appointment = await _hearing(talk)
    error = await api_error(talk.witness.ready(appointment["appointment_id"], test_call=True))
    assert error.status == 404


async def test_a_missed_appointment_raises_an_alert_that_escalates(sms_world: World) -> None:
    world = sms_world
    world.clock.set(utc("2026-04-01 08:00"))
    talk = await open_conversation(world)
    await with_phones_and_supervisor(world, talk)
    appointment = await _hearing(talk)
    appointment_id = appointment["appointment_id"]
    await talk.witness.confirm(appointment_id)
    await talk.witness.sync()
    await connect(world, talk.witness)
    await _at(world, START - timedelta(minutes=5))
    await talk.witness.ready(appointment_id)
    await _at(world, START + timedelta(minutes=40))
    assert await _appointment_alerts(talk) == []
    await quiet_phone_alerts(world, talk.worker, talk.witness)
    to_worker = len(sms_to(world, WORKER_PHONE))
    to_supervisor = len(sms_to(world, SUPERVISOR_PHONE))

    marked = await talk.officer.mark_attendance(appointment_id, attended=False)
    assert marked["status"] == "missed"
    changed = await next_event(talk.witness, AppointmentChanged, lambda e: e.change == "attendance")
    assert changed.status == "missed"
    await catch_up(world)
    (alert,) = await _appointment_alerts(talk)
    assert (alert["kind"], alert["severity"], alert["level"]) == ("missed_appointment", "high", 1)
    assert len(sms_to(world, WORKER_PHONE)) == to_worker + 1
    assert len(sms_to(world, SUPERVISOR_PHONE)) == to_supervisor
    await advance(world, timedelta(minutes=14))
    assert len(sms_to(world, SUPERVISOR_PHONE)) == to_supervisor
    await advance(world, timedelta(minutes=1))
    assert len(sms_to(world, SUPERVISOR_PHONE)) == to_supervisor + 1
    assert (await talk.worker.alert(alert["alert_id"]))["level"] == 2

    # Marking it missed again does not raise a second alert.
    await talk.officer.mark_attendance(appointment_id, attended=False)
    await catch_up(world)
    assert len(await alerts_of(talk.worker, "missed_appointment")) == 1


async def test_attendance_is_recorded_once_started_and_attended_raises_nothing(
    world: World,
) -> None:
    world.clock.set(utc("2026-04-01 08:00"))
    talk = await open_conversation(world)
    appointment = await _hearing(talk)
    appointment_id = appointment["appointment_id"]
    await talk.witness.confirm(appointment_id)

    await _at(world, START - timedelta(minutes=1))
    early = await api_error(talk.officer.mark_attendance(appointment_id, attended=True))
    assert early.status == 409
    (seen,) = await talk.officer.appointments(talk.case_id)
    assert seen["status"] == "scheduled"
    await talk.witness.ready(appointment_id)

    await _at(world, START + timedelta(minutes=30))
    marked = await talk.officer.mark_attendance(appointment_id, attended=True)
    assert marked["status"] == "attended"
    await _at(world, START + timedelta(hours=5))
    assert await _appointment_alerts(talk) == []
    (seen,) = await talk.officer.appointments(talk.case_id)
    assert seen["status"] == "attended"


async def test_a_witness_cannot_answer_for_another_witness(world: World) -> None:
    world.clock.set(utc("2026-04-01 08:00"))
    talk = await open_conversation(world)
    other = await add_party(
        world, talk.officer, alias="Wren", language="ro", timezone="Europe/Bucharest"
    )
    appointment = await _hearing(talk)
    appointment_id = appointment["appointment_id"]
    for attempt in (
        other.phone.confirm(appointment_id),
        other.phone.ask_to_rearrange(appointment_id),
        other.phone.ready(appointment_id),
    ):
        assert (await api_error(attempt)).status == 404
    assert [a.appointment_id for a in await other.phone.upcoming()] == []
    (seen,) = await talk.officer.appointments(talk.case_id)
    assert (seen["confirmation"], seen["ready_at"], seen["version"]) == ("pending", None, 1)
    # Staff cannot answer in the witness's place.
    staff_answer = await api_error(
        talk.officer.transport.request(
            "POST", f"/v1/appointments/{appointment_id}/answer", json={"answer": "confirm"}
        )
    )
    assert staff_answer.status == 403
