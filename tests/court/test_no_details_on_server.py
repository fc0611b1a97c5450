"""The server knows when, never where or what: court names and addresses, video links
and PINs, instructions and interpreters' names reach the witness's phone end to end
encrypted, and appear nowhere on the server — not in its database, its logs, its API
answers or the pushes it sends."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from client_sdk import AppointmentDetailsReceived, AppointmentReminder
from tests.court.helpers import (
    HEARING_DETAILS,
    VIDEO_DETAILS,
    connect,
    raw_socket,
    reminder_exactly_at,
    server_bytes,
    utc,
)
from tests.support.welfare import catch_up
from tests.support.world import Conversation, World, open_conversation

NEW_VIDEO_DETAILS = {
    **VIDEO_DETAILS,
    "pin": "PIN-775511-MOVED",
    "link": "https://video.example/j/NEW-ROOM-99",
}
HEARING_START = utc("2026-04-20 07:00")
VIDEO_START = utc("2026-04-22 07:00")


def _secrets() -> list[str]:
    return sorted({*HEARING_DETAILS.values(), *VIDEO_DETAILS.values(), *NEW_VIDEO_DETAILS.values()})


def _assert_nothing_secret(data: bytes, where: str) -> None:
    assert data, f"nothing read from {where}"
    for secret in _secrets():
        assert secret.encode() not in data, (secret, where)
        assert secret.encode("utf-16-le") not in data, (secret, where)


async def _schedule_both(talk: Conversation) -> tuple[str, str]:
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
        starts_at=VIDEO_START,
        ends_at=VIDEO_START + timedelta(hours=2),
        timezone="Europe/Berlin",
        location_kind="support_office",
        interpreter_language="ro",
        test_call=(
            VIDEO_START - timedelta(days=2),
            VIDEO_START - timedelta(days=2) + timedelta(minutes=30),
        ),
        details=VIDEO_DETAILS,
    )
    return hearing["appointment_id"], video["appointment_id"]


def _client_files(tmp: Path) -> bytes:
    return b"".join(p.read_bytes() for p in tmp.glob("*.store*") if p.is_file())


async def test_the_server_stores_and_logs_none_of_the_details(
    world: World, backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    world.clock.set(utc("2026-04-01 08:00"))
    talk = await open_conversation(world)
    hearing_id, video_id = await _schedule_both(talk)
    # Moved, with a new link and PIN sent along.
    await talk.officer.reschedule(
        video_id,
        starts_at=VIDEO_START + timedelta(hours=1),
        ends_at=VIDEO_START + timedelta(hours=3),
        timezone="Europe/Berlin",
        test_call=(
            VIDEO_START - timedelta(days=1),
            VIDEO_START - timedelta(days=1) + timedelta(minutes=30),
        ),
        details=NEW_VIDEO_DETAILS,
    )
    await talk.witness.sync()
    await talk.worker.sync()
    received = [
        e.appointment_id
        for e in talk.witness.pending_events()
        if isinstance(e, AppointmentDetailsReceived)
    ]
    assert sorted(received) == sorted([hearing_id, video_id, video_id])
    details = {a.appointment_id: a.details for a in await talk.witness.upcoming()}
    assert details == {hearing_id: HEARING_DETAILS, video_id: NEW_VIDEO_DETAILS}

    # Reminders come and go; confirmations and readiness are recorded.
    await connect(world, talk.witness)
    reminder = await reminder_exactly_at(world, talk.witness, utc("2026-04-06 07:00"))
    assert reminder.details == HEARING_DETAILS
    await talk.witness.confirm(hearing_id)
    await talk.witness.ask_to_rearrange(video_id)
    world.clock.set(utc("2026-04-19 07:00"))
    await catch_up(world)

    stored = await server_bytes(world, backend)
    assert b"Sparrow" in stored, "the scan reads what the server does hold"
    _assert_nothing_secret(stored, "the server's database")

    # Neither what staff or the phone are told over the API ...
    answers: list[Any] = [
        await talk.officer.appointments(talk.case_id, include_past=True),
        await talk.witness.transport.request("GET", "/v1/me/appointments"),
        await talk.officer.transport.request("GET", f"/v1/appointments/{video_id}"),
    ]
    _assert_nothing_secret(json.dumps(answers, ensure_ascii=False).encode(), "API answers")
    # ... nor the logs (server and SDK) ...
    server_logs = "\n".join(r.getMessage() for r in caplog.records)
    for secret in _secrets():
        assert secret not in server_logs, secret
    # ... and the devices keep them encrypted at rest.
    _assert_nothing_secret(await asyncio.to_thread(_client_files, world.tmp), "device stores")


async def test_pushes_to_the_phone_and_to_staff_carry_no_details(world: World) -> None:
    world.clock.set(utc("2026-04-01 08:00"))
    talk = await open_conversation(world)
    async with (
        raw_socket(world, talk.witness.identity.token) as phone,
        raw_socket(world, talk.worker.identity.token) as worker,
    ):
        hearing_id, video_id = await _schedule_both(talk)
        await talk.witness.confirm(hearing_id)
        world.clock.set(utc("2026-04-06 07:00"))  # the hearing's 14-day reminder
        await catch_up(world)
        world.clock.set(utc("2026-04-19 07:00"))  # the rest, up to the test call's 1-day one
        await catch_up(world)
        phone_frames = await phone.settle(world, talk.witness.device_id)
        worker_frames = await worker.settle(world, talk.worker.device_id)

    for frames in (phone_frames, worker_frames):
        _assert_nothing_secret(
            "\n".join(json.dumps(f, ensure_ascii=False) for f in frames).encode(), "pushes"
        )
    kinds = [f["type"] for f in phone_frames]
    assert {"message", "appointment", "appointment_reminder"} <= set(kinds), kinds
    reminders = [f for f in phone_frames if f["type"] == "appointment_reminder"]
    assert {f["appointment_id"] for f in reminders} == {hearing_id, video_id}
    assert {f["for"] for f in reminders} == {"appointment", "test_call"}
    for frame in reminders:
        # event_id: durable delivery (the phone acknowledges it); nothing else extra.
        assert set(frame) - {"event_id"} == {
            "type",
            "appointment_id",
            "kind",
            "for",
            "starts_at",
            "test_call_at",
            "offset_minutes",
        }
    for frame in (f for f in phone_frames + worker_frames if f["type"] == "appointment"):
        assert set(frame) - {"event_id"} == {
            "type",
            "change",
            "appointment_id",
            "case_id",
            "kind",
            "starts_at",
            "ends_at",
            "test_call_at",
            "status",
            "confirmation",
            "version",
        }
    # The details travelled only as ciphertext, in messages.
    assert [f for f in worker_frames if f["type"] == "message"]


async def test_a_reminder_before_the_details_arrive_is_made_on_the_phone_without_them(
    world: World,
) -> None:
    """The push alone is a full reminder (kind, time, language) with no details; once the
    team's encrypted details are on the phone, the next reminder carries them."""
    world.clock.set(utc("2026-04-01 08:00"))
    talk = await open_conversation(world)
    body = {
        "kind": "hearing",
        "starts_at": HEARING_START.isoformat(),
        "ends_at": (HEARING_START + timedelta(hours=3)).isoformat(),
        "timezone": "Europe/Berlin",
    }
    appointment = await talk.officer.transport.request(
        "POST", f"/v1/cases/{talk.case_id}/appointments", json=body
    )
    await connect(world, talk.witness)
    bare = await reminder_exactly_at(world, talk.witness, utc("2026-04-06 07:00"))
    assert (bare.appointment_id, bare.kind) == (appointment["appointment_id"], "hearing")
    assert bare.title == "Audierea ta este peste 14 zile"
    assert bare.local_time == "2026-04-20 10:00 (Europe/Bucharest)"
    assert bare.details is None

    await talk.officer.send_appointment_details(
        talk.case_id, appointment["appointment_id"], HEARING_DETAILS
    )
    async with asyncio.timeout(10):
        while True:
            event = await talk.witness.receive()
            if isinstance(event, AppointmentDetailsReceived):
                break
    full = await reminder_exactly_at(world, talk.witness, utc("2026-04-18 07:00"))
    assert isinstance(full, AppointmentReminder)
    assert full.details == HEARING_DETAILS
