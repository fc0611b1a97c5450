"""After the retention period a closed case's personal data is gone from the database
file itself (SQLite: the .db and -wal bytes; PostgreSQL: every table's rows), the audit
chain still verifies, other cases are untouched, and the erasure is idempotent and
crash-safe."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from server.domain.audit import verify_chain
from server.storage.repos import case_erasure
from server.storage.repos.case_erasure import ERASED_ALIAS
from tests.support.welfare import WITNESS_PHONE
from tests.support.world import Conversation, World
from tests.welfare.helpers import audit_entries, open_case, open_second_case, server_bytes

ALIAS = "Quillfeather"
NOTE = "Visited at the blue house near the river"
NUMBER = "+40712345678"
INSTRUCTIONS = "Call her aunt Ileana first"


def encodings(number: str) -> list[bytes]:
    """A phone number as it might be stored: E.164, digits, national, UTF-16."""
    digits = number.lstrip("+")
    return [
        number.encode(),
        digits.encode(),
        ("0" + digits[2:]).encode(),
        number.encode("utf-16-le"),
        digits.encode("utf-16-le"),
    ]


async def _sealed_values(world: World, witness_id: str) -> list[bytes]:
    async with world.services.store.read() as uow:
        phone = await uow.witnesses.phone(witness_id)
        words = await uow.witnesses.sms_words(witness_id)
    return [v for v in (phone, *words) if v]


async def _a_full_case(world: World) -> Conversation:
    talk, _store = await open_case(world, alias=ALIAS)
    await talk.officer.set_witness_phone(talk.witness_id, NUMBER)
    await talk.officer.set_checkin_plan(talk.witness_id, every_hours=24)
    await talk.witness.sync()
    await talk.witness.send("I am fine, thank you")
    await talk.witness.panic()
    await talk.worker.sync()
    (alert,) = await talk.worker.alerts()
    await talk.worker.acknowledge(alert["alert_id"])
    await talk.worker.resolve(alert["alert_id"], "reached", NOTE)
    await world.services.alert_guidance.set_instructions(
        await _staff(world, "officer"), talk.witness_id, INSTRUCTIONS
    )
    return talk


async def _staff(world: World, name: str):  # type: ignore[no-untyped-def]
    async with world.services.store.read() as uow:
        return await uow.staff.get(world.staff[name])


async def _close_and_expire(world: World, talk: Conversation) -> None:
    await talk.officer.close_case(talk.case_id, "convicted")
    await talk.officer.sync()
    await talk.worker.sync()
    await talk.witness.sync()
    await talk.witness.close()
    lifecycle = world.services.case_lifecycle
    assert await lifecycle.retire_due_phones() == 1
    world.clock.advance(lifecycle.retention - timedelta(minutes=1))
    assert await lifecycle.erase_due() == 0
    world.clock.advance(timedelta(minutes=2))


async def test_after_retention_a_byte_scan_finds_nothing_of_the_case_and_the_audit_verifies(
    world: World, backend: str
) -> None:
    talk = await _a_full_case(world)
    other = await open_second_case(world, talk)
    await talk.officer.set_witness_phone(other.witness_id, WITNESS_PHONE)
    sealed = await _sealed_values(world, talk.witness_id)
    assert sealed
    before = await server_bytes(world, backend)
    assert ALIAS.encode() in before  # the scan can see what it looks for
    await _close_and_expire(world, talk)

    assert await world.services.case_lifecycle.erase_due() == 1
    found = await server_bytes(world, backend)
    for secret in [ALIAS.encode(), NOTE.encode(), INSTRUCTIONS.encode(), *encodings(NUMBER)]:
        assert secret not in found, secret
    for value in sealed:  # deleted, not merely left under the key
        assert value not in found
    assert (await verify_chain(world.services.store)).ok
    (entry,) = await audit_entries(world, action="case.erased")
    assert entry.case_id == talk.case_id
    assert ALIAS not in entry.details

    # The other case is untouched; the erased one keeps only a placeholder.
    async with world.services.store.read() as uow:
        erased = await uow.witnesses.get(talk.witness_id)
        kept = await uow.witnesses.get(other.witness_id)
        assert await uow.witnesses.phone(other.witness_id) is not None
        case = await uow.cases.get(talk.case_id)
    assert erased is not None
    assert kept is not None
    assert case is not None
    assert (erased.alias, kept.alias) == (ERASED_ALIAS, "Heron")
    assert case.reference == f"erased-{talk.case_id}"
    assert other.witness.device_id in {d.id for d in await _devices(world, other.case_id)}


async def _devices(world: World, case_id: str):  # type: ignore[no-untyped-def]
    async with world.services.store.read() as uow:
        return await uow.devices.list_for_case(case_id)


async def test_the_audit_log_of_a_whole_case_holds_no_alias_number_or_note(
    world: World,
) -> None:
    talk = await _a_full_case(world)
    await _close_and_expire(world, talk)
    await world.services.case_lifecycle.erase_due()
    for entry in await audit_entries(world, case_id=talk.case_id):
        text = json.dumps([entry.details, entry.reason, entry.subject_id])
        for secret in (ALIAS, NOTE, INSTRUCTIONS, NUMBER, NUMBER.lstrip("+")):
            assert secret not in text, (entry.action, secret)


async def test_an_erasure_that_crashes_half_way_changes_nothing_and_the_next_sweep_finishes(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    talk = await _a_full_case(world)
    await _close_and_expire(world, talk)

    async def power_cut(conn: object, case_id: str) -> int:
        raise RuntimeError("power cut")

    steps = list(case_erasure.ERASURE_STEPS)
    # Half-way: after the messages, alerts and check-ins, before the witness row.
    monkeypatch.setattr(case_erasure, "ERASURE_STEPS", [*steps[:12], power_cut, *steps[12:]])
    lifecycle = world.services.case_lifecycle
    with pytest.raises(RuntimeError):
        await lifecycle.erase_due()
    async with world.services.store.read() as uow:
        witness = await uow.witnesses.get(talk.witness_id)
        alerts = await uow.alerts.list_for_cases([talk.case_id], statuses=["resolved"], limit=5)
    assert witness is not None
    assert witness.alias == ALIAS  # rolled back as a whole
    assert len(alerts) == 1
    assert await audit_entries(world, action="case.erased") == []

    monkeypatch.setattr(case_erasure, "ERASURE_STEPS", steps)
    assert await lifecycle.erase_due() == 1
    assert await lifecycle.erase_due() == 0  # idempotent: nothing left to do
    async with world.services.store.write() as uow:
        assert await uow.case_erasure.erase(talk.case_id) == {}
    assert len(await audit_entries(world, action="case.erased")) == 1


async def test_the_witnesss_call_steps_go_and_another_witnesss_stay(world: World) -> None:
    talk = await _a_full_case(world)
    other = await open_second_case(world, talk)
    now_ms = 0
    async with world.services.store.write() as uow:
        await uow.voice_steps.claim("CA-ours", "start", now_ms, f"{talk.witness_id}|ok")
        await uow.voice_steps.claim("CA-ours-2", "start", now_ms, talk.witness_id)
        await uow.voice_steps.claim("CA-theirs", "start", now_ms, f"{other.witness_id}|ok")
    await _close_and_expire(world, talk)
    assert await world.services.case_lifecycle.erase_due() == 1
    async with world.services.store.read() as uow:
        assert await uow.voice_steps.context("CA-ours", "start") is None
        assert await uow.voice_steps.context("CA-ours-2", "start") is None
        assert await uow.voice_steps.context("CA-theirs", "start") == f"{other.witness_id}|ok"
