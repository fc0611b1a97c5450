"""Offline, the phone still serves: locked and write-only, it takes messages and
check-in answers into a sealed outbox, and after the next unlock they are sent once
each — also when the app is killed half-way through moving them."""

from __future__ import annotations

import asyncio
import signal
import sys
import textwrap
from pathlib import Path

import pytest

from client_sdk import IncomingMessage, Offline, StaffClient, WitnessClient
from client_sdk.locked import LockedPhone
from tests.support.kdf import WITNESS_PIN
from tests.support.proxy import RecordingProxy
from tests.support.welfare import advance_to
from tests.support.world import World
from tests.vault.helpers import folder_bytes, open_phone
from tests.welfare.helpers import checkin_row, open_case, utc

REPO_ROOT = Path(__file__).resolve().parents[2]
EVERY_DAY = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DUE = utc("2026-01-06 08:00")  # Tuesday 10:00 in Bucharest


async def _locked(world: World, store: Path, proxy: RecordingProxy) -> LockedPhone:
    proxy.reachable = False
    with pytest.raises(Offline) as offline:
        await open_phone(world, store, WITNESS_PIN)
    return offline.value.phone


async def _received(staff: StaffClient) -> list[IncomingMessage]:
    await staff.sync()
    return [e for e in staff.pending_events() if isinstance(e, IncomingMessage)]


async def test_written_offline_sent_after_the_next_unlock_once_each(
    world: World, proxy: RecordingProxy
) -> None:
    talk, store = await open_case(world, server_url=proxy.url)
    await talk.officer.set_checkin_plan(talk.witness_id, weekdays=EVERY_DAY, times=["10:00"])
    await advance_to(world, DUE)
    await talk.witness.close()
    await _received(talk.officer)

    locked = await _locked(world, store, proxy)
    first = await locked.write("The phone has no signal here")
    await locked.write("I will walk to the station tomorrow")
    await locked.check_in("ok", note="all fine, written offline")
    with pytest.raises(ValueError, match="status"):
        await locked.check_in("duress")
    assert b"The phone has no signal here" not in folder_bytes(store)
    with pytest.raises(Offline):
        await locked.unlock()  # still no network: still locked, same answer

    proxy.reachable = True
    phone = await locked.unlock()
    world.clients.append(phone)
    assert await phone.flush_outbox(force=True) == 3
    received = await _received(talk.officer)
    assert sorted(m.text for m in received) == [
        "I will walk to the station tomorrow",
        "The phone has no signal here",
        "all fine, written offline",
    ]
    assert {m.written_locked for m in received} == {True}
    assert first in {m.message_id for m in received}
    # The check-in answered the prompt it was written for.
    async with world.services.store.read() as uow:
        current = await uow.checkins.history(talk.witness_id, limit=5)
    answered = [c for c in current if c.response is not None]
    assert [(c.response, c.response_channel) for c in answered] == [("ok", "app")]
    assert (await checkin_row(world, answered[0].id)).state.value == "answered"

    # Nothing is sent twice: not by this session, nor by the next one.
    assert await phone.flush_outbox(force=True) == 0
    await phone.close()
    again = await open_phone(world, store, WITNESS_PIN)
    assert await again.flush_outbox(force=True) == 0
    assert await again.deliver_offline_checkins() == 0
    assert await _received(talk.officer) == []


async def test_a_help_written_offline_with_no_prompt_open_presses_panic(
    world: World, proxy: RecordingProxy
) -> None:
    talk, store = await open_case(world, server_url=proxy.url)
    await talk.witness.close()
    locked = await _locked(world, store, proxy)
    await locked.check_in("help")
    proxy.reachable = True
    phone = await locked.unlock()
    world.clients.append(phone)
    (alert,) = await talk.worker.alerts()
    assert (alert["kind"], alert["severity"]) == ("panic", "critical")
    await phone.flush_outbox(force=True)
    (note,) = await _received(talk.officer)
    assert note.written_locked


_KILLED_WHILE_MOVING = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from client_sdk.vault import Vault

    real = Vault.write

    async def write(self, puts=(), deletes=(), *, sealed_done=()):
        await real(self, puts, deletes, sealed_done=sealed_done)
        if sealed_done:
            print("moved", flush=True)
            sys.stdin.readline()  # the test kills us here, after the first entry moved

    Vault.write = write
    from client_sdk import WitnessClient

    asyncio.run(WitnessClient.open(Path(sys.argv[1]), sys.argv[2]))
    """
)


async def test_a_crash_while_moving_the_entries_sends_each_once(
    world: World, proxy: RecordingProxy
) -> None:
    talk, store = await open_case(world, server_url=proxy.url)
    await talk.witness.close()
    locked = await _locked(world, store, proxy)
    written = [f"written offline, number {n}" for n in range(3)]
    for text in written:
        await locked.write(text)
    proxy.reachable = True

    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _KILLED_WHILE_MOVING,
        str(store),
        WITNESS_PIN,
        cwd=REPO_ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    assert await asyncio.wait_for(proc.stdout.readline(), timeout=60) == b"moved\n"
    proc.send_signal(signal.SIGKILL)
    assert await asyncio.wait_for(proc.wait(), timeout=60) == -signal.SIGKILL

    phone: WitnessClient = await open_phone(world, store, WITNESS_PIN)
    assert await phone.flush_outbox(force=True) == 3
    received = await _received(talk.officer)
    assert sorted(m.text for m in received) == written
    assert await phone.flush_outbox(force=True) == 0
    assert await _received(talk.officer) == []
