"""The duress PIN cannot be told from the PIN — not by watching the phone, not from its
files, not with a PIN in hand — while the server learns of it at once.

The phone does not know which PIN it was given: both take the same path (Argon2id, one
evaluation, one confirmation, then the store), wait for the same things, and get the
same bytes back. Only the confirmation key that signed tells the server.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import msgspec
import pytest

from client_sdk import CheckInResult, Offline, VaultWiped, WitnessClient, WrongSecret
from client_sdk import _vault_format as fmt
from client_sdk import _vault_header as hdr
from client_sdk.unlock import UnlockServer, derive_keys, stretch
from client_sdk.vault import default_wrapper
from tests.support.kdf import DURESS_PIN, WITNESS_PIN
from tests.support.proxy import RecordingProxy
from tests.support.welfare import advance_to
from tests.support.world import World
from tests.vault.helpers import RATE_WINDOW_S, argon2_spy, open_phone, unlock_state
from tests.welfare.helpers import (
    alerts_of,
    audit_entries,
    checkin_row,
    open_case,
    utc,
)

EVERY_DAY = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DUE = utc("2026-01-06 08:00")  # Tuesday 10:00 in Bucharest


async def _traced_open(
    world: World, proxy: RecordingProxy, store: Path, pin: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[list[str], WitnessClient | Offline]:
    """Open the phone, recording what is done and waited for, in order: each Argon2id
    derivation, each request to the server and its answer, and the opening of the
    store file."""
    events: list[str] = []
    real_connect = fmt.connect

    def connect(path: Path) -> object:
        events.append("open store")
        return real_connect(path)

    proxy.listeners.append(events)
    outcome: WitnessClient | Offline
    with monkeypatch.context() as patch, argon2_spy(patch) as spy:
        patch.setattr(fmt, "connect", connect)
        spy.events = events
        try:
            outcome = await open_phone(world, store, pin)
        except Offline as offline:
            outcome = offline
    proxy.listeners.remove(events)
    return events, outcome


async def test_both_pins_take_the_same_path_with_the_server_reachable(
    world: World, proxy: RecordingProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    talk, store = await open_case(world, duress_pin=DURESS_PIN, server_url=proxy.url)
    device = talk.witness.device_id
    await talk.witness.close()

    traces, confirmations = [], []
    for pin in (WITNESS_PIN, DURESS_PIN, WITNESS_PIN):
        world.clock.advance(timedelta(seconds=RATE_WINDOW_S))
        proxy.exchanges.clear()
        events, phone = await _traced_open(world, proxy, store, pin, monkeypatch)
        assert isinstance(phone, WitnessClient)
        traces.append(events)
        (confirm,) = [e for e in proxy.exchanges if e.path.endswith("/confirm")]
        confirmations.append(confirm.body)
        await phone.close()

    assert traces[0] == [
        "argon2id",
        f"POST /v1/vault/unlock/{device}/evaluate -> 200",
        f"POST /v1/vault/unlock/{device}/confirm -> 200",
        "open store",
    ]
    assert traces[1] == traces[0] == traces[2]
    assert confirmations[0] == confirmations[1] == confirmations[2] == b'{"confirmed":true}'
    # The server knew: the duress unlock raised the alarm; the PIN afterwards ended it.
    assert len(await alerts_of(talk.worker, "duress")) == 1
    assert (await unlock_state(world, device)).duress_since is None


async def test_both_pins_take_the_same_path_with_the_server_unreachable(
    world: World, proxy: RecordingProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    talk, store = await open_case(world, duress_pin=DURESS_PIN, server_url=proxy.url)
    device = talk.witness.device_id
    await talk.witness.close()
    proxy.reachable = False

    traces = []
    for pin in (WITNESS_PIN, DURESS_PIN, "590417"):  # the PIN, the duress PIN, a wrong one
        events, outcome = await _traced_open(world, proxy, store, pin, monkeypatch)
        assert isinstance(outcome, Offline)
        traces.append(events)
    expected = ["argon2id", f"POST /v1/vault/unlock/{device}/evaluate -> dropped"]
    assert traces == [expected, expected, expected]
    assert (await unlock_state(world, device)).unconfirmed == 0
    assert await talk.worker.alerts() == []


def _header_plain(store: Path) -> hdr.Header:
    header, _seq = hdr.read(store, default_wrapper(store))
    return header


async def test_the_files_do_not_say_whether_there_is_a_duress_pin_or_which_slot(
    world: World,
) -> None:
    talk, with_duress = await open_case(world, duress_pin=DURESS_PIN)
    await talk.witness.close()
    other, without = await open_case(world, reference="DE-2026-0077", name="other-phone")
    await other.witness.close()

    for store in (with_duress, without):
        assert hdr.header_path(store).stat().st_size == hdr.HEADER_FILE_BYTES
    a, b = _header_plain(with_duress), _header_plain(without)
    # Even unwrapped, the headers have the same shape: eight slots of one size, nothing
    # named, nothing counted — a second PIN adds no byte and marks no slot.
    assert len(msgspec.msgpack.encode(a)) == len(msgspec.msgpack.encode(b))
    assert {len(s) for s in a.slots} == {len(s) for s in b.slots} == {fmt.SLOT_BLOB_BYTES}
    assert len(a.slots) == len(b.slots) == fmt.SLOT_CAPACITY
    for name in (b"primary", b"duress"):
        assert name not in msgspec.msgpack.encode(a)

    # Opening with either PIN writes nothing that could tell later which one was used.
    phone = await open_phone(world, with_duress, WITNESS_PIN)
    await phone.close()
    before = {f.name: f.read_bytes() for f in with_duress.parent.glob(with_duress.name + "*")}
    for pin in (DURESS_PIN, WITNESS_PIN):
        world.clock.advance(timedelta(seconds=RATE_WINDOW_S))
        phone = await open_phone(world, with_duress, pin)
        await phone.close()
        after = {f.name: f.read_bytes() for f in with_duress.parent.glob(with_duress.name + "*")}
        assert after == before, pin


async def test_with_the_pin_in_hand_the_slots_still_say_nothing(world: World) -> None:
    """Someone who knows one PIN (and has the server's help) finds the slot it opens;
    the other seven are alike — random bytes, or the other PIN's slot."""
    talk, store = await open_case(world, duress_pin=DURESS_PIN)
    await talk.witness.close()
    header = _header_plain(store)
    assert header.locator is not None
    server = UnlockServer(header.locator)
    try:
        stretched = await stretch(DURESS_PIN, header)
        evaluation = await server.evaluate(stretched)
        keys = derive_keys(stretched, evaluation.output)
        await server.confirm(keys, evaluation.attempt_id, evaluation.challenge)
    finally:
        await server.close()
    found = fmt.open_slots(keys.slot_key, header.slots)
    assert found is not None
    position, data_key = found
    others = [s for i, s in enumerate(header.slots) if i != position]
    # Nothing in the opened slot names it: it holds the data key and nothing else.
    assert len(data_key) == fmt.KEY_BYTES
    assert {len(s) for s in others} == {fmt.SLOT_BLOB_BYTES}


async def test_the_server_raises_the_alarm_holds_messages_and_records_duress(
    world: World,
) -> None:
    talk, store = await open_case(world, duress_pin=DURESS_PIN)
    device = talk.witness.device_id
    await talk.officer.set_checkin_plan(talk.witness_id, weekdays=EVERY_DAY, times=["10:00"])
    await talk.witness.close()

    phone = await open_phone(world, store, DURESS_PIN)
    # At the unlock, before anything else: the alarm, at the last level (everyone).
    (alert,) = await alerts_of(talk.worker, "duress")
    assert (alert["severity"], alert["level"], alert["witness_id"]) == (
        "critical",
        3,
        talk.witness_id,
    )
    (entry,) = await audit_entries(world, action="device.unlocked_under_duress")
    assert entry.subject_id == device
    # Messages the team sends now are held for the phone, not pushed nor fetched.
    await talk.officer.send("where are you?", case_id=talk.case_id)
    assert await phone.sync() == 0
    async with world.services.store.read() as uow:
        assert await uow.messages.count_pending(device) == 1
    # Its check-ins are recorded as duress whatever it sends; it sees an ordinary "ok".
    await advance_to(world, DUE)
    result = await phone.check_in("ok")
    assert result == CheckInResult(recorded=True, next_due_at=utc("2026-01-07 08:00"))
    stored = await checkin_row(world, (await _last_checkin(world, talk.witness_id)))
    assert stored.response == "duress"
    await phone.close()

    # The witness's own PIN ends the duress: the held message arrives, check-ins are
    # what she says again.
    world.clock.advance(timedelta(seconds=RATE_WINDOW_S))
    phone = await open_phone(world, store, WITNESS_PIN)
    assert (await unlock_state(world, device)).duress_since is None
    assert await phone.sync() == 1
    assert [m.text for m in await phone.messages()] == ["where are you?"]
    await advance_to(world, utc("2026-01-07 08:00"))
    await phone.check_in("ok")
    stored = await checkin_row(world, (await _last_checkin(world, talk.witness_id)))
    assert stored.response == "ok"
    # Panic stays panic, in duress or not.
    await phone.panic()
    assert len(await alerts_of(talk.worker, "panic")) == 1


async def _last_checkin(world: World, witness_id: str) -> str:
    async with world.services.store.read() as uow:
        rows = await uow.checkins.history(witness_id, limit=10)
    answered = [c for c in rows if c.response is not None]
    return max(answered, key=lambda c: c.due_at).id


async def test_the_duress_pin_cannot_reset_the_count_against_the_real_pin(
    world: World,
) -> None:
    """Whoever was given the duress PIN could try real-PIN guesses between duress
    unlocks, each of which resets the visible count. A second count, cleared only by
    the real PIN, still ends it after N guesses."""
    talk, store = await open_case(world, duress_pin=DURESS_PIN)
    device = talk.witness.device_id
    limit = world.services.unlock.max_unconfirmed
    await talk.witness.close()
    await (await open_phone(world, store, DURESS_PIN)).close()
    guesses = 0
    erased = False
    while not erased:
        for _ in range(3):
            world.clock.advance(timedelta(seconds=RATE_WINDOW_S))
            try:
                await open_phone(world, store, f"{600000 + guesses:06d}")
            except WrongSecret:
                guesses += 1
            except VaultWiped:
                erased = True  # the Nth guess was reported wrong, and erased at once
                break
        else:
            world.clock.advance(timedelta(seconds=RATE_WINDOW_S))
            await (await open_phone(world, store, DURESS_PIN)).close()
    assert guesses == limit - 1
    assert (await unlock_state(world, device)).erased_reason == "wrong-pins"
