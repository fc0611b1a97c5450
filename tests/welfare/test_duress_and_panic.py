"""Safety on the phone: a duress PIN that opens the ordinary app while every level of
the team is alerted at once, and a panic button. (Wrong PINs, wipes and the duress
PIN's indistinguishability are specified in ``tests/vault``.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from client_sdk import CheckInResult, IncomingMessage, WitnessClient
from client_sdk.errors import ApiError
from client_sdk.events import AlertNotice, CheckInAnswered
from client_sdk.vault import VaultWiped
from tests.support.kdf import DURESS_PIN, WITNESS_PIN
from tests.support.welfare import (
    OFFICER_PHONE,
    SUPERVISOR_PHONE,
    WORKER_PHONE,
    advance_to,
    catch_up,
    sms_to,
    with_phones_and_supervisor,
)
from tests.support.world import World, open_conversation
from tests.vault.helpers import copy_folder
from tests.welfare.helpers import (
    alerts_of,
    checkin_row,
    next_event,
    open_case,
    start_and_connect,
    utc,
)

PIN = WITNESS_PIN
EVERY_DAY = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DUE = utc("2026-01-06 08:00")  # Tuesday 10:00 in Bucharest
NEXT_DUE = utc("2026-01-07 08:00")


async def _open(world: World, store: Path, pin: str) -> WitnessClient:
    phone = await WitnessClient.open(store, pin, clock=world.clock)
    world.clients.append(phone)
    return phone


# ---------------------------------------------------------------- duress


async def test_the_duress_pin_alerts_every_level_at_once(sms_world: World) -> None:
    world = sms_world
    talk, store = await open_case(world, duress_pin=DURESS_PIN)
    await with_phones_and_supervisor(world, talk)
    await talk.witness.close()

    phone = await _open(world, store, DURESS_PIN)
    (alert,) = await talk.worker.alerts()
    assert (alert["kind"], alert["severity"], alert["status"]) == ("duress", "critical", "open")
    assert alert["level"] == 3  # the default policy's last level: nobody waits
    assert (alert["case_id"], alert["witness_id"]) == (talk.case_id, talk.witness_id)

    # No time passes: the worker, the supervisor and the officer are all texted now.
    await catch_up(world)
    for number in (WORKER_PHONE, SUPERVISOR_PHONE, OFFICER_PHONE):
        assert len(sms_to(world, number)) == 1, number
    detail = await talk.officer.alert(alert["alert_id"])
    sms = [n for n in detail["notifications"] if n["channel"] == "sms"]
    assert {(n["recipient_id"], n["level"]) for n in sms} == {
        (world.staff["worker"], 1),
        (world.staff["supervisor"], 2),
        (world.staff["officer"], 3),
    }
    assert {n["status"] for n in sms} == {"sent"}

    # The phone keeps reporting from the same duress session: still one alert.
    await phone.heartbeat()
    assert len(await alerts_of(talk.worker, "duress")) == 1


async def test_opened_with_the_duress_pin_the_app_looks_ordinary(world: World) -> None:
    """The phone does not know it was the duress PIN, so it shows what the PIN shows:
    the same history, the same answers. Only the server, and so the team, knows."""
    talk, store = await open_case(world, duress_pin=DURESS_PIN)
    await talk.officer.set_checkin_plan(talk.witness_id, weekdays=EVERY_DAY, times=["10:00"])
    await talk.officer.send("see you on Thursday", case_id=talk.case_id)
    await talk.witness.sync()
    real_view = [(m.text, m.direction) for m in await talk.witness.messages()]
    assert real_view == [("see you on Thursday", "in")]
    await talk.witness.close()

    phone = await _open(world, store, DURESS_PIN)
    await start_and_connect(world, talk.officer)
    assert [(m.text, m.direction) for m in await phone.messages()] == real_view

    await advance_to(world, DUE)
    result = await phone.check_in("ok", note="all fine")
    # Exactly what an "ok" shows.
    assert result == CheckInResult(recorded=True, next_due_at=NEXT_DUE)

    # The team sees the truth.
    answered = await next_event(talk.officer, CheckInAnswered)
    assert (answered.case_id, answered.status) == (talk.case_id, "duress")
    stored = await checkin_row(world, answered.checkin_id)
    assert (stored.state.value, stored.response) == ("answered", "duress")
    duress = await alerts_of(talk.worker, "duress")
    assert {(a["severity"], a["level"]) for a in duress} == {("critical", 3)}

    # What the team sends after the alarm is held for the phone: whoever forced it open
    # does not read it.
    await talk.officer.send("are you safe?", case_id=talk.case_id)
    assert await phone.sync() == 0
    assert [e for e in phone.pending_events() if isinstance(e, IncomingMessage)] == []


async def test_wipe_on_duress_erases_the_store_key_while_the_session_looks_usual(
    world: World,
) -> None:
    talk, store = await open_case(world, duress_pin=DURESS_PIN, wipe_on_duress=True)
    await talk.officer.send("see you on Thursday", case_id=talk.case_id)
    await talk.witness.sync()
    await talk.witness.close()
    copied = copy_folder(store, world.tmp / "copied")

    phone = await _open(world, store, DURESS_PIN)
    (alert,) = await talk.worker.alerts()
    assert (alert["kind"], alert["level"]) == ("duress", 3)
    # The session carries on as usual ...
    assert [m.text for m in await phone.messages()] == ["see you on Thursday"]
    await phone.send("all good here")
    await phone.close()
    # ... but the store never opens again, with either PIN (nor does a copy of it).
    for where, pin in ((store, PIN), (copied, DURESS_PIN)):
        with pytest.raises(VaultWiped):
            await _open(world, where, pin)
        assert not list(where.parent.glob(where.name + "*"))


# ---------------------------------------------------------------- panic


async def test_panic_raises_a_critical_alert_at_once(sms_world: World) -> None:
    world = sms_world
    talk = await open_conversation(world)
    await with_phones_and_supervisor(world, talk)
    await start_and_connect(world, talk.worker)
    # No plan, no deadline: panic does not wait for anything.
    await talk.witness.panic()

    notice = await next_event(talk.worker, AlertNotice, lambda e: e.event == "raised")
    assert (notice.kind, notice.severity, notice.case_id) == ("panic", "critical", talk.case_id)
    (alert,) = await talk.worker.alerts()
    assert (alert["kind"], alert["severity"], alert["level"]) == ("panic", "critical", 1)
    assert alert["created_at"] == "2026-01-05T09:00:00.000Z"
    await catch_up(world)
    assert len(sms_to(world, WORKER_PHONE)) == 1
    assert sms_to(world, SUPERVISOR_PHONE) == []  # level 2 comes after 15 minutes


async def test_panic_is_idempotent_per_request(world: World) -> None:
    talk = await open_conversation(world)
    body = {"request_id": "panic-request-0001"}
    for _ in range(3):
        reply = await talk.witness.transport.request("POST", "/v1/panic", json=body)
        assert reply == {"ok": True}
    assert len(await alerts_of(talk.worker, "panic")) == 1
    await talk.witness.transport.request(
        "POST", "/v1/panic", json={"request_id": "panic-request-0002"}
    )
    assert len(await alerts_of(talk.worker, "panic")) == 2


async def test_staff_cannot_press_a_witnesss_panic_button(world: World) -> None:
    talk = await open_conversation(world)
    with pytest.raises(ApiError) as refused:
        await talk.officer.transport.request(
            "POST", "/v1/panic", json={"request_id": "panic-request-0001"}
        )
    assert refused.value.status == 403
    assert await talk.worker.alerts() == []
