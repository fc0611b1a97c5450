"""A malicious server in the middle of an enrolment in person.

Without the code, it cannot make the MACs: a team roster it changed is refused by the
phone, a phone identity it swapped is refused by the officer's client. With the code
(someone read the typed code over the witness's shoulder), it can make the MACs, but
not the comparison numbers: the two screens differ and both people refuse. The typed
code and the QR code give the same protection."""

from __future__ import annotations

import dataclasses
import json

import pytest

from client_sdk import EnrolmentRefused, StaffClient
from client_sdk.identity import PersonalIdentity
from client_sdk.officer_enrolment import Enrolment
from tests.adversary.server import attacker_roster
from tests.support.world import World
from wire.encoding import b64, canonical_json
from wire.enrolment import (
    enrolment_keys,
    new_nonce,
    parse_enrolment_code,
    phone_mac,
    team_mac,
)
from wire.keys import RosterMember, object_hash


async def _officer_and_code(world: World, form: str) -> tuple[StaffClient, Enrolment, str]:
    officer = await world.login("officer")
    worker = await world.login("worker")
    case = await officer.create_case("DE-2026-0400", world.agencies["support"])
    await officer.assign(case["case_id"], worker.staff_id)
    enrolment = await officer.add_witness(
        case["case_id"], alias="Sparrow", language="ro", timezone="Europe/Bucharest"
    )
    return officer, enrolment, enrolment.code if form == "typed" else enrolment.qr_payload


async def _rewrite_enrolment(world: World, enrolment: Enrolment, **columns: str) -> None:
    sets = ", ".join(f"{name} = ${i + 2}" for i, name in enumerate(columns))
    async with world.services.db.transaction() as conn:
        await conn.execute(
            f"UPDATE enrolments SET {sets} WHERE id = $1",
            enrolment.enrolment_id,
            *columns.values(),
        )


async def _enrolment_row(world: World, enrolment: Enrolment) -> dict[str, str]:
    async with world.services.db.transaction() as conn:
        row = await conn.fetchrow(
            "SELECT roster, device_id, state FROM enrolments WHERE id = $1",
            enrolment.enrolment_id,
        )
    assert row is not None
    return {"roster": row["roster"], "device_id": row["device_id"], "state": row["state"]}


@pytest.mark.parametrize("form", ["typed", "qr"])
async def test_a_roster_the_server_changed_is_refused_by_the_phone(world: World, form: str) -> None:
    officer, enrolment, code = await _officer_and_code(world, form)
    real = json.loads((await _enrolment_row(world, enrolment))["roster"])
    intruder = PersonalIdentity.generate()
    forged = attacker_roster(
        real, RosterMember("staff:stf_intruder00", intruder.public_key, "officer", "Officer")
    )
    await _rewrite_enrolment(world, enrolment, roster=canonical_json(forged).decode())
    store = world.tmp / "witness.store"

    with pytest.raises(EnrolmentRefused, match="do not match"):
        await world.start_enrolment(dataclasses.replace(enrolment, code=code))

    assert not store.exists()
    row = await _enrolment_row(world, enrolment)
    assert row["state"] == "aborted"  # the phone said so; its device is revoked
    async with world.services.store.read() as uow:
        device = await uow.devices.get(row["device_id"])
    assert device is not None
    assert device.revoked_at is not None
    assert await officer.phone_for(enrolment) is None


async def test_a_phone_identity_the_server_swapped_is_refused_by_the_officer(
    world: World,
) -> None:
    officer, enrolment, _code = await _officer_and_code(world, "typed")
    pending = await world.start_enrolment(enrolment)
    swapped = PersonalIdentity.generate().public_key
    await _rewrite_enrolment(world, enrolment, phone_identity=swapped)

    with pytest.raises(EnrolmentRefused, match="did not prove"):
        await officer.phone_for(enrolment)

    assert (await _enrolment_row(world, enrolment))["state"] == "aborted"
    with pytest.raises(EnrolmentRefused, match="refused"):
        await pending.sas()  # the officer's client never revealed its nonce


@pytest.mark.parametrize("form", ["typed", "qr"])
async def test_with_the_code_seen_the_server_still_cannot_make_both_screens_agree(
    world: World, form: str
) -> None:
    officer, enrolment, code = await _officer_and_code(world, form)
    # Someone read the code: the server can now make both MACs. It hands the phone a
    # roster of its own (with a valid MAC), and the officer's client a phone identity
    # of its own (with a valid MAC).
    keys = enrolment_keys(parse_enrolment_code(code).secret)
    real = json.loads((await _enrolment_row(world, enrolment))["roster"])
    intruder = PersonalIdentity.generate()
    forged = attacker_roster(
        real, RosterMember("staff:stf_intruder00", intruder.public_key, "officer", "Officer")
    )
    await _rewrite_enrolment(
        world,
        enrolment,
        roster=canonical_json(forged).decode(),
        team_mac=team_mac(keys.team, object_hash(forged)),
    )
    # The MAC checks: it was made with the code.
    pending = await world.start_enrolment(dataclasses.replace(enrolment, code=code))
    attacker_identity = PersonalIdentity.generate().public_key
    await _rewrite_enrolment(
        world,
        enrolment,
        phone_identity=attacker_identity,
        phone_mac=phone_mac(keys.phone, attacker_identity),
    )

    enroling = await officer.phone_for(enrolment)
    assert enroling is not None
    on_phone = await pending.sas()

    assert on_phone is not None
    assert on_phone != enroling.sas  # the people compare, see two numbers, and refuse
    await officer.reject_phone(enrolment)
    await pending.reject()
    assert (await _enrolment_row(world, enrolment))["state"] == "aborted"
    assert not (world.tmp / "witness.store").exists()


async def test_a_revealed_nonce_the_server_swapped_is_refused_by_the_phone(world: World) -> None:
    officer, enrolment, _code = await _officer_and_code(world, "typed")
    pending = await world.start_enrolment(enrolment)
    assert await officer.phone_for(enrolment) is not None  # the officer's client reveals
    # The server swaps the revealed nonce for one that suits it: the phone holds the
    # officer's commitment from before it sent its own nonce.
    other = new_nonce()
    await _rewrite_enrolment(world, enrolment, reveal=b64(other))

    with pytest.raises(EnrolmentRefused, match="tampered"):
        await pending.sas()
    with pytest.raises(EnrolmentRefused):
        await pending.confirm()
