"""Prompts reach the witness's phone over the WebSocket; answers are signed by the phone,
bound to one prompt, accepted once; "contact" and "help" alert the team at once; a note
goes to the team end to end encrypted and never to the server."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from client_sdk import CheckInResult, IncomingMessage
from client_sdk.errors import ApiError, WitnesslinkError
from client_sdk.events import AlertNotice, CheckInAnswered, CheckInClosed, CheckInPrompt
from tests.support.welfare import advance_to, catch_up
from tests.support.world import Conversation, World, open_conversation
from tests.welfare.helpers import (
    alerts_of,
    checkin_row,
    next_event,
    open_second_case,
    post_answer,
    server_bytes,
    signed_answer,
    start_and_connect,
    utc,
)
from wire.checkins import checkin_response_payload

EVERY_DAY = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
FIRST_DUE = utc("2026-01-06 08:00")  # Tuesday 10:00 in Bucharest
NEXT_DUE = utc("2026-01-07 08:00")


async def _daily_plan(talk: Conversation) -> dict[str, Any]:
    plan = await talk.officer.set_checkin_plan(
        talk.witness_id,
        weekdays=EVERY_DAY,
        times=["10:00"],
        window_minutes=60,
        grace_minutes=30,
        reminder_minutes=15,
    )
    assert plan["current"]["due_at"] == "2026-01-06T08:00:00.000Z"
    return plan


async def _open_prompt(world: World, talk: Conversation) -> dict[str, Any]:
    """Set a daily plan and move to its first due time; returns the prompt as the phone
    fetches it (with its one-time nonce)."""
    await _daily_plan(talk)
    await advance_to(world, FIRST_DUE)
    reply = await talk.witness.transport.request("GET", "/v1/checkins/current")
    prompt: dict[str, Any] = reply["checkin"]
    assert prompt["state"] == "open"
    return prompt


async def test_the_phone_is_prompted_reminded_and_its_answer_recorded(world: World) -> None:
    talk = await open_conversation(world)
    await start_and_connect(world, talk.witness)
    await _daily_plan(talk)

    await advance_to(world, FIRST_DUE - timedelta(minutes=1))
    await advance_to(world, FIRST_DUE)
    prompt = await next_event(talk.witness, CheckInPrompt)
    assert prompt.reminder is False
    assert (prompt.due_at, prompt.closes_at, prompt.deadline_at) == (
        FIRST_DUE,
        FIRST_DUE + timedelta(minutes=60),
        FIRST_DUE + timedelta(minutes=90),
    )

    # Fifteen minutes before the window closes, the same prompt again as a reminder.
    await advance_to(world, FIRST_DUE + timedelta(minutes=45))
    reminder = await next_event(talk.witness, CheckInPrompt)
    assert reminder.reminder is True
    assert reminder.checkin_id == prompt.checkin_id

    await advance_to(world, FIRST_DUE + timedelta(minutes=50))
    result = await talk.witness.check_in("ok")
    assert result == CheckInResult(recorded=True, next_due_at=NEXT_DUE)

    stored = await checkin_row(world, prompt.checkin_id)
    assert (stored.state.value, stored.response, stored.response_channel) == (
        "answered",
        "ok",
        "app",
    )
    assert stored.answered_at == FIRST_DUE + timedelta(minutes=50)
    current = (await talk.officer.checkin_plan(talk.witness_id))["current"]
    assert current["state"] == "scheduled"
    assert current["due_at"] == "2026-01-07T08:00:00.000Z"
    assert current["checkin_id"] != prompt.checkin_id
    # "ok" worries nobody.
    assert await talk.worker.alerts() == []


async def test_an_unanswered_prompt_is_taken_down_when_it_closes(world: World) -> None:
    talk = await open_conversation(world)
    await start_and_connect(world, talk.witness)
    await _daily_plan(talk)
    await advance_to(world, FIRST_DUE)
    prompt = await next_event(talk.witness, CheckInPrompt)
    await advance_to(world, FIRST_DUE + timedelta(minutes=45))
    await advance_to(world, FIRST_DUE + timedelta(minutes=90))
    closed = await next_event(talk.witness, CheckInClosed)
    assert closed.checkin_id == prompt.checkin_id
    with pytest.raises(WitnesslinkError):
        await talk.witness.check_in("ok")


@pytest.mark.parametrize(
    ("status", "kind", "severity"),
    [("contact", "contact_requested", "normal"), ("help", "help", "high")],
)
async def test_contact_me_and_help_alert_the_team_at_once(
    world: World, status: str, kind: str, severity: str
) -> None:
    talk = await open_conversation(world)
    await start_and_connect(world, talk.worker)
    await _open_prompt(world, talk)

    result = await talk.witness.check_in(status)
    assert result == CheckInResult(recorded=True, next_due_at=NEXT_DUE)

    notice = await next_event(talk.worker, AlertNotice, lambda e: e.event == "raised")
    assert (notice.kind, notice.severity, notice.case_id) == (kind, severity, talk.case_id)
    assert (notice.status, notice.level) == ("open", 1)
    for staff in (talk.worker, talk.officer):
        (alert,) = await staff.alerts()
        assert alert["alert_id"] == notice.alert_id
        assert (alert["kind"], alert["severity"], alert["status"]) == (kind, severity, "open")
        assert (alert["case_id"], alert["witness_id"]) == (talk.case_id, talk.witness_id)


async def test_a_missed_check_in_reaches_the_team_at_once(world: World) -> None:
    talk = await open_conversation(world)
    await start_and_connect(world, talk.worker)
    await _daily_plan(talk)
    for minutes in (0, 45, 89):
        await advance_to(world, FIRST_DUE + timedelta(minutes=minutes))
    assert await alerts_of(talk.worker, "missed_checkin") == []
    await advance_to(world, FIRST_DUE + timedelta(minutes=90))
    notice = await next_event(talk.worker, AlertNotice, lambda e: e.event == "raised")
    assert (notice.kind, notice.severity, notice.case_id) == (
        "missed_checkin",
        "high",
        talk.case_id,
    )
    (alert,) = await alerts_of(talk.worker, "missed_checkin")
    assert alert["alert_id"] == notice.alert_id


async def test_the_team_sees_each_answer_as_it_comes(world: World) -> None:
    talk = await open_conversation(world)
    await start_and_connect(world, talk.officer)
    prompt = await _open_prompt(world, talk)
    await talk.witness.check_in("ok")
    answered = await next_event(talk.officer, CheckInAnswered)
    assert answered == CheckInAnswered(talk.case_id, prompt["checkin_id"], "ok")

    await advance_to(world, NEXT_DUE)
    await talk.witness.check_in("contact")
    answered = await next_event(talk.officer, CheckInAnswered)
    assert (answered.status, answered.case_id) == ("contact", talk.case_id)
    assert answered.checkin_id != prompt["checkin_id"]


async def test_a_note_reaches_the_team_encrypted_and_the_server_keeps_no_trace(
    world: World, backend: str
) -> None:
    talk = await open_conversation(world)
    prompt = await _open_prompt(world, talk)
    note = "my-uncle-VASILE-came-back-to-the-village"
    await talk.witness.check_in("contact", note=note)

    for staff in (talk.officer, talk.worker):
        await staff.sync()
        notes = [e for e in staff.pending_events() if isinstance(e, IncomingMessage)]
        assert [m.text for m in notes] == [note]
        assert notes[0].sender_device_id == talk.witness.device_id

    stored = await checkin_row(world, prompt["checkin_id"])
    assert stored.response == "contact"
    everything = await server_bytes(world, backend)
    assert everything, "the scan must have read something"
    assert note.encode() not in everything
    assert note.encode("utf-16-le") not in everything
    assert b"VASILE" not in everything


# ---------------------------------------------------------------- refusals


async def test_a_forged_answer_is_refused_and_changes_nothing(world: World) -> None:
    talk = await open_conversation(world)
    other = await open_second_case(world, talk)
    prompt = await _open_prompt(world, talk)
    checkin_id, nonce = prompt["checkin_id"], prompt["nonce"]

    forgeries = {
        # Signed "ok", sent as "help" (or the other way round).
        "status swapped": {
            "status": "help",
            "signature": signed_answer(talk.witness, checkin_id, nonce, "ok")["signature"],
        },
        "another nonce": signed_answer(talk.witness, checkin_id, "not-the-nonce", "ok"),
        "another prompt": signed_answer(talk.witness, "chk_somethingelse", nonce, "ok"),
        # Right prompt, right status, but another phone's key.
        "another key": {
            "status": "ok",
            "signature": other.witness._olm.sign(
                checkin_response_payload(checkin_id, nonce, talk.witness.device_id, "ok")
            ),
        },
        "garbage": {"status": "ok", "signature": "A" * 86},
    }
    for why, body in forgeries.items():
        answer = await post_answer(world, talk.witness, checkin_id, body)
        assert (answer.status, answer.body.get("code")) == (422, "signature-invalid"), why

    stored = await checkin_row(world, checkin_id)
    assert (stored.state.value, stored.response) == ("open", None)
    assert await talk.worker.alerts() == []
    # The genuine answer still goes through.
    assert (await talk.witness.check_in("ok")).recorded


async def test_a_replayed_answer_is_refused(world: World) -> None:
    talk = await open_conversation(world)
    prompt = await _open_prompt(world, talk)
    body = signed_answer(talk.witness, prompt["checkin_id"], prompt["nonce"], "help")

    first = await post_answer(world, talk.witness, prompt["checkin_id"], body)
    assert first.status == 200
    assert first.body == {"recorded": True, "next_due_at": "2026-01-07T08:00:00.000Z"}
    again = await post_answer(world, talk.witness, prompt["checkin_id"], body)
    assert (again.status, again.body["code"]) == (409, "conflict")
    assert len(await alerts_of(talk.worker, "help")) == 1

    # Nor does it fit the next prompt: the answer is bound to one prompt and its nonce.
    await advance_to(world, NEXT_DUE)
    following = (await talk.witness.transport.request("GET", "/v1/checkins/current"))["checkin"]
    replayed = await post_answer(world, talk.witness, following["checkin_id"], body)
    assert (replayed.status, replayed.body["code"]) == (422, "signature-invalid")
    stored = await checkin_row(world, following["checkin_id"])
    assert (stored.state.value, stored.response) == ("open", None)
    assert len(await alerts_of(talk.worker, "help")) == 1


async def test_a_phone_cannot_answer_another_witnesss_prompt(world: World) -> None:
    talk = await open_conversation(world)
    other = await open_second_case(world, talk)
    prompt = await _open_prompt(world, talk)

    body = signed_answer(other.witness, prompt["checkin_id"], prompt["nonce"], "ok")
    answer = await post_answer(world, other.witness, prompt["checkin_id"], body)
    assert (answer.status, answer.body["code"]) == (404, "not-found")
    stored = await checkin_row(world, prompt["checkin_id"])
    assert (stored.state.value, stored.response) == ("open", None)
    # The other phone has no prompt of its own to answer either.
    assert await other.witness.current_prompt() is None
    with pytest.raises(WitnesslinkError):
        await other.witness.check_in("ok")


async def test_answering_when_nothing_is_waiting_raises(world: World) -> None:
    talk = await open_conversation(world)
    with pytest.raises(WitnesslinkError):
        await talk.witness.check_in("ok")  # no plan at all
    await _daily_plan(talk)
    await advance_to(world, FIRST_DUE - timedelta(minutes=1))
    with pytest.raises(WitnesslinkError):
        await talk.witness.check_in("ok")  # scheduled, not yet due
    with pytest.raises(ValueError, match="status"):
        await talk.witness.check_in("fine")  # not a status the phone can send
    await catch_up(world)
    current = (await talk.officer.checkin_plan(talk.witness_id))["current"]
    assert current["state"] == "scheduled"


async def test_staff_devices_cannot_answer_check_ins(world: World) -> None:
    talk = await open_conversation(world)
    prompt = await _open_prompt(world, talk)
    with pytest.raises(ApiError) as refused:
        await talk.officer.transport.request("GET", "/v1/checkins/current")
    assert refused.value.status == 403
    payload_body = {"status": "ok", "signature": "A" * 86}
    with pytest.raises(ApiError) as refused:
        await talk.officer.transport.request(
            "POST", f"/v1/checkins/{prompt['checkin_id']}/response", json=payload_body
        )
    assert refused.value.status == 403
    stored = await checkin_row(world, prompt["checkin_id"])
    assert stored.state.value == "open"
