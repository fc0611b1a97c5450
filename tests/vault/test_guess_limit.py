"""PIN guesses only through the server, and only a few: the server counts evaluations
that no confirmed unlock followed and erases the phone's OPRF key after N of them; a
crash is not a wrong PIN; a wipe, a remote revocation and a closed case erase the key
too. After an erasure the right PIN fails for ever — also on a copy of the files taken
before (crypto-shredding, which also defeats flash remnants)."""

from __future__ import annotations

import asyncio
import signal
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from client_sdk import ApiError, VaultWiped, WrongSecret
from client_sdk.transport import Transport
from client_sdk.vault import KdfParams
from tests.support.kdf import WITNESS_PIN
from tests.support.world import World
from tests.vault.helpers import (
    RATE_WINDOW_S,
    confirm_keys,
    copy_folder,
    open_phone,
    unlock_state,
)
from tests.welfare.helpers import alerts_of, audit_entries, open_case

REPO_ROOT = Path(__file__).resolve().parents[2]
WRONG_PINS = [f"{n:06d}" for n in range(500001, 500031)]


async def _wrong(world: World, store: Path, pin: str) -> WrongSecret:
    world.clock.advance(timedelta(seconds=RATE_WINDOW_S))  # a person's pace, not a script's
    with pytest.raises(WrongSecret) as wrong:
        await open_phone(world, store, pin)
    return wrong.value


async def _dead_credential(world: World, token: str) -> ApiError:
    transport = Transport(world.url, token)
    try:
        with pytest.raises(ApiError) as refused:
            await transport.request("GET", "/v1/checkins/current")
    finally:
        await transport.close()
    return refused.value


async def test_the_nth_wrong_pin_erases_the_key_and_the_right_pin_fails_for_ever(
    world: World,
) -> None:
    talk, store = await open_case(world)
    device_id, token = talk.witness.device_id, talk.witness.identity.token
    limit = world.services.unlock.max_unconfirmed
    await talk.witness.close()
    stolen = copy_folder(store, world.tmp / "copied-before")

    for attempt in range(1, limit):
        wrong = await _wrong(world, store, WRONG_PINS[attempt])
        assert wrong.attempts_left == limit - attempt
        assert (await unlock_state(world, device_id)).unconfirmed == attempt
    assert await talk.worker.alerts() == []

    world.clock.advance(timedelta(seconds=RATE_WINDOW_S))
    with pytest.raises(VaultWiped):
        await open_phone(world, store, WRONG_PINS[0])
    # Erased on the server, at once: the key, the confirmation keys, the device.
    state = await unlock_state(world, device_id)
    assert (state.seed_sealed, state.erased_reason) == (None, "wrong-pins")
    assert await confirm_keys(world, device_id) == []
    (alert,) = await talk.worker.alerts()
    assert (alert["kind"], alert["severity"]) == ("store_wiped", "high")
    assert (alert["case_id"], alert["witness_id"]) == (talk.case_id, talk.witness_id)
    (entry,) = await audit_entries(world, action="device.wiped_after_wrong_pins")
    assert entry.subject_id == device_id
    refused = await _dead_credential(world, token)
    assert (refused.status, refused.code) == (401, "device-revoked")
    # Nothing is left on the phone ...
    assert list(store.parent.glob(store.name + "*")) == []
    # ... and the copy taken before the guessing does not open with the right PIN.
    world.clock.advance(timedelta(seconds=RATE_WINDOW_S))
    with pytest.raises(VaultWiped):
        await open_phone(world, stolen, WITNESS_PIN)
    assert len(await alerts_of(talk.worker, "store_wiped")) == 1


async def test_a_confirmed_unlock_resets_the_count(world: World) -> None:
    talk, store = await open_case(world)
    device_id = talk.witness.device_id
    await talk.witness.close()
    for pin in WRONG_PINS[:3]:
        await _wrong(world, store, pin)
    assert (await unlock_state(world, device_id)).unconfirmed == 3

    world.clock.advance(timedelta(seconds=RATE_WINDOW_S))
    phone = await open_phone(world, store, WITNESS_PIN)
    assert (await unlock_state(world, device_id)).unconfirmed == 0
    await phone.close()
    wrong = await _wrong(world, store, WRONG_PINS[4])
    assert wrong.attempts_left == world.services.unlock.max_unconfirmed - 1


_KILLED_DURING_ARGON2ID = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    import nacl.pwhash.argon2id as argon2id

    real = argon2id.kdf

    def announced(*args, **kwargs):
        print("deriving", flush=True)  # the test kills us as soon as it reads this
        return real(*args, **kwargs)

    argon2id.kdf = announced
    from client_sdk import WitnessClient

    asyncio.run(WitnessClient.open(Path(sys.argv[1]), sys.argv[2]))
    print("opened", flush=True)
    """
)


@pytest.mark.slow
async def test_crashes_during_correct_unlocks_erase_nothing(world: World) -> None:
    """The system may kill the app while Argon2id holds its memory (it is the slow,
    memory-heavy step). Killed N+1 times during the derivation, the phone still opens:
    nothing reached the server before the kill, so nothing was counted."""
    cost = KdfParams(opslimit=3, memlimit=64 * 1024 * 1024)  # long enough to be caught
    talk, store = await open_case(world, kdf=cost)
    device_id = talk.witness.device_id
    limit = world.services.unlock.max_unconfirmed
    await talk.witness.close()

    for _ in range(limit + 1):
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _KILLED_DURING_ARGON2ID,
            str(store),
            WITNESS_PIN,
            cwd=REPO_ROOT,
            stdout=asyncio.subprocess.PIPE,
        )
        assert proc.stdout is not None
        assert await asyncio.wait_for(proc.stdout.readline(), timeout=60) == b"deriving\n"
        proc.send_signal(signal.SIGKILL)
        assert await asyncio.wait_for(proc.wait(), timeout=60) == -signal.SIGKILL
        assert (await unlock_state(world, device_id)).unconfirmed == 0

    phone = await open_phone(world, store, WITNESS_PIN)
    assert phone.device_id == device_id
    state = await unlock_state(world, device_id)
    assert (state.unconfirmed, state.erased) == (0, False)
    assert await talk.worker.alerts() == []


async def test_wipe_erases_the_server_key_first(world: World) -> None:
    talk, store = await open_case(world)
    device_id, token = talk.witness.device_id, talk.witness.identity.token
    await talk.witness.close()
    phone = await open_phone(world, store, WITNESS_PIN)
    stolen = copy_folder(store, world.tmp / "copied-before")

    await phone.wipe()
    assert list(store.parent.glob(store.name + "*")) == []
    state = await unlock_state(world, device_id)
    assert (state.erased, state.erased_reason) == (True, "wiped")
    assert (await _dead_credential(world, token)).code == "device-revoked"
    (entry,) = await audit_entries(world, action="device.wiped_by_owner")
    assert entry.subject_id == device_id
    with pytest.raises(VaultWiped):
        await open_phone(world, stolen, WITNESS_PIN)


async def test_a_remote_revocation_makes_the_right_pin_fail_for_ever(world: World) -> None:
    talk, store = await open_case(world)
    device_id = talk.witness.device_id
    await talk.witness.close()
    stolen = copy_folder(store, world.tmp / "copied-before")

    await talk.officer.revoke_device(device_id)
    assert (await unlock_state(world, device_id)).erased_reason == "revoked"
    for copy in (store, stolen):
        with pytest.raises(VaultWiped):
            await open_phone(world, copy, WITNESS_PIN)
        assert list(copy.parent.glob(copy.name + "*")) == []


async def test_closing_the_case_makes_the_right_pin_fail_for_ever(world: World) -> None:
    talk, store = await open_case(world)
    device_id, token = talk.witness.device_id, talk.witness.identity.token
    await talk.witness.close()

    with pytest.raises(ApiError) as refused:
        await talk.worker.close_case(talk.case_id)
    assert (refused.value.status, refused.value.code) == (403, "forbidden")
    assert not (await unlock_state(world, device_id)).erased

    closed = await talk.officer.close_case(talk.case_id)
    assert (closed["closed"], closed["newly_closed"]) == (True, True)
    # The phone stays until the outcome reached it or the grace period ended.
    assert closed["revoked_devices"] == []
    assert not (await unlock_state(world, device_id)).erased
    world.clock.advance(world.services.case_lifecycle.phone_grace)
    assert await world.services.case_lifecycle.retire_due_phones() == 1
    assert (await unlock_state(world, device_id)).erased_reason == "case-closed"
    assert (await _dead_credential(world, token)).code == "device-revoked"
    (entry,) = await audit_entries(world, action="case.closed")
    assert (entry.actor_id, entry.case_id) == (world.staff["officer"], talk.case_id)
    again = await talk.officer.close_case(talk.case_id)
    assert (again["newly_closed"], again["revoked_devices"]) == (False, [])
    with pytest.raises(VaultWiped):
        await open_phone(world, store, WITNESS_PIN)


async def test_evaluations_are_rate_limited_per_device(world: World) -> None:
    talk, store = await open_case(world)
    device_id = talk.witness.device_id
    await talk.witness.close()
    for pin in WRONG_PINS[:5]:  # a burst, no time passing
        with pytest.raises(WrongSecret):
            await open_phone(world, store, pin)
    with pytest.raises(ApiError) as limited:
        await open_phone(world, store, WITNESS_PIN)
    assert (limited.value.status, limited.value.code) == (429, "rate-limited")
    assert (await unlock_state(world, device_id)).unconfirmed == 5  # refused: not counted
    world.clock.advance(timedelta(seconds=RATE_WINDOW_S))
    await open_phone(world, store, WITNESS_PIN)
