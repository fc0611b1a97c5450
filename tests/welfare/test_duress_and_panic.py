"""Safety on the phone: a duress PIN that opens an ordinary-looking app while every
level of the team is alerted at once; a panic button; and a store that wipes itself
after too many wrong PINs and still tells the server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from client_sdk import CheckInResult, IncomingMessage, WitnessClient
from client_sdk.beacon import beacon_path, report_wipe
from client_sdk.errors import ApiError
from client_sdk.events import AlertNotice, CheckInAnswered
from client_sdk.transport import Transport
from client_sdk.vault import VaultWiped, WrongSecret
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
from tests.welfare.helpers import (
    alerts_of,
    audit_entries,
    checkin_row,
    next_event,
    open_case,
    start_and_connect,
    utc,
)

PIN = "2468"
DURESS_PIN = "1357"
WRONG_PIN = "0000"
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
    talk, store = await open_case(world, duress_pin=DURESS_PIN)
    await talk.officer.set_checkin_plan(talk.witness_id, weekdays=EVERY_DAY, times=["10:00"])
    await talk.officer.send("see you on Thursday", case_id=talk.case_id)
    await talk.witness.sync()
    assert [m.text for m in await talk.witness.messages()] == ["see you on Thursday"]
    await talk.witness.close()

    phone = await _open(world, store, DURESS_PIN)
    assert phone.in_duress
    await start_and_connect(world, talk.officer)
    # Nothing of the conversation shows while someone may be watching the screen.
    assert await phone.messages() == []

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
    assert duress
    assert {(a["severity"], a["level"]) for a in duress} == {("critical", 3)}
    # The note typed under duress is not sent (someone may have dictated it): the
    # worker, offline all along, still has only the officer's message waiting.
    async with world.services.store.read() as uow:
        assert await uow.messages.count_pending(talk.worker.device_id) == 1

    # New messages reach the phone but are not shown.
    await talk.officer.send("are you safe?", case_id=talk.case_id)
    assert await phone.sync() == 1
    assert [e for e in phone.pending_events() if isinstance(e, IncomingMessage)] == []
    assert await phone.messages() == []


async def test_wipe_on_duress_wipes_the_phone_once_the_alert_is_out(world: World) -> None:
    talk, store = await open_case(world, duress_pin=DURESS_PIN, wipe_on_duress=True)
    await talk.witness.close()
    assert store.exists()
    assert beacon_path(store).exists()

    await _open(world, store, DURESS_PIN)
    (alert,) = await talk.worker.alerts()
    assert (alert["kind"], alert["level"]) == ("duress", 3)
    assert not store.exists()
    assert not beacon_path(store).exists()
    assert not list(store.parent.glob(store.name + "*"))


async def test_wipe_on_duress_still_wipes_when_the_alert_gets_out_late(world: World) -> None:
    """Opened with the duress PIN while the server is unreachable, the phone cannot wipe
    yet (the alarm is not out). Once the heartbeat carrying the duress session reaches
    the server, it must wipe, as promised "once the alert is out"."""
    talk, store = await open_case(world, duress_pin=DURESS_PIN, wipe_on_duress=True)
    await talk.witness.close()
    await world.stop_server()
    phone = await _open(world, store, DURESS_PIN)
    assert store.exists(), "the alarm has not been raised yet: keep the phone as it is"

    await world.start_server_again()
    await phone.heartbeat()  # what the heartbeat loop sends next
    assert len(await alerts_of(talk.worker, "duress")) == 1
    assert not store.exists()


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


# ---------------------------------------------------------------- wrong PINs


async def test_too_many_wrong_pins_wipe_the_phone_and_tell_the_server(world: World) -> None:
    talk, store = await open_case(world, max_failed_unlocks=3)
    device_id, token = talk.witness.device_id, talk.witness.identity.token
    await talk.witness.close()

    with pytest.raises(WrongSecret) as wrong:
        await _open(world, store, WRONG_PIN)
    assert wrong.value.attempts_left == 2
    with pytest.raises(WrongSecret) as wrong:
        await _open(world, store, WRONG_PIN)
    assert wrong.value.attempts_left == 1
    assert await talk.worker.alerts() == []
    with pytest.raises(VaultWiped):
        await _open(world, store, WRONG_PIN)

    assert not store.exists()
    assert not beacon_path(store).exists(), "the report was delivered"
    (alert,) = await talk.worker.alerts()
    assert (alert["kind"], alert["severity"]) == ("store_wiped", "high")
    assert (alert["case_id"], alert["witness_id"]) == (talk.case_id, talk.witness_id)
    (entry,) = await audit_entries(world, action="device.wiped_after_wrong_pins")
    assert entry.subject_id == device_id

    # The phone's credential is dead.
    transport = Transport(world.url, token)
    try:
        with pytest.raises(ApiError) as refused:
            await transport.request("GET", "/v1/checkins/current")
    finally:
        await transport.close()
    assert (refused.value.status, refused.value.code) == (401, "device-revoked")


async def test_the_right_pin_resets_the_count_of_wrong_ones(world: World) -> None:
    talk, store = await open_case(world, max_failed_unlocks=3)
    await talk.witness.close()
    for _ in range(2):
        with pytest.raises(WrongSecret):
            await _open(world, store, WRONG_PIN)
    phone = await _open(world, store, PIN)
    await phone.close()
    with pytest.raises(WrongSecret) as wrong:
        await _open(world, store, WRONG_PIN)
    assert wrong.value.attempts_left == 2
    assert store.exists()
    assert await talk.worker.alerts() == []


async def test_a_wipe_while_the_server_is_down_is_reported_later(world: World) -> None:
    talk, store = await open_case(world, max_failed_unlocks=1)
    await talk.witness.close()
    await world.stop_server()
    with pytest.raises(VaultWiped):
        await _open(world, store, WRONG_PIN)
    assert not store.exists()
    assert beacon_path(store).exists(), "kept until the server has heard"

    await world.start_server_again()
    assert await report_wipe(store) is True
    assert not beacon_path(store).exists()
    (alert,) = await talk.worker.alerts()
    assert alert["kind"] == "store_wiped"
    assert await report_wipe(store) is False  # nothing left to report


async def test_a_beacon_token_reports_one_wipe_and_nothing_more(world: World) -> None:
    """Whoever finds the beacon file beside a wiped store can raise that one alert, and
    nothing else: once used, the token is unknown (the documented contract of
    ``report_wiped``: NotFound for "an unknown (or already used) beacon token")."""
    talk, store = await open_case(world, max_failed_unlocks=1)
    await talk.witness.close()
    token = json.loads(beacon_path(store).read_text())["token"]
    with pytest.raises(VaultWiped):
        await _open(world, store, WRONG_PIN)
    assert len(await alerts_of(talk.worker, "store_wiped")) == 1

    transport = Transport(world.url)
    try:
        with pytest.raises(ApiError) as used:
            await transport.request("POST", "/v1/beacon/wiped", json={"token": token})
    finally:
        await transport.close()
    assert used.value.status == 404
    assert len(await alerts_of(talk.worker, "store_wiped")) == 1
    assert len(await audit_entries(world, action="device.wiped_after_wrong_pins")) == 1


async def test_an_unknown_beacon_token_is_refused(world: World) -> None:
    talk = await open_conversation(world)
    transport = Transport(world.url)
    try:
        with pytest.raises(ApiError) as unknown:
            await transport.request(
                "POST", "/v1/beacon/wiped", json={"token": "not-a-real-beacon-token-at-all"}
            )
    finally:
        await transport.close()
    assert unknown.value.status == 404
    await catch_up(world)
    assert await talk.worker.alerts() == []
