"""Signed key material the server keeps and hands out unchanged: device objects,
identities with their device lists, staff identity backups, case rosters, and the key
bundle a case's members fetch before they encrypt.

The server checks what it can (signatures, that an object fits its caller, versions
that only go up) to refuse mistakes early; clients trust none of it. What it must get
right is who may publish and read what, that two concurrent publishers never both win,
and that the case's devices hear ``keys_changed`` whenever what they would encrypt to
may have changed.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from client_sdk.identity import PersonalIdentity
from server.domain.models import Role
from tests.api.helpers import (
    RawDevice,
    RawLogin,
    RawPhone,
    audit_entries,
    expect_problem,
    publish_raw_identity,
    raw_case,
    raw_claim,
    raw_device_object,
    raw_enrolment,
    raw_login,
    raw_witness,
)
from tests.court.helpers import raw_socket
from tests.support.world import World
from wire.encoding import b64
from wire.keys import RosterMember, device_object, object_hash, signed

Member = RawLogin | RawPhone

# --------------------------------------------------------------------------- set-up


@dataclass
class RawTeam:
    """A case with a raw officer and support worker (identities published), a roster
    of the two signed by the officer, and a witness phone that claimed its code and
    published its own identity."""

    officer: RawLogin
    worker: RawLogin
    phone: RawPhone
    case_id: str
    roster: dict[str, Any]


def entry(member: Member, role: str, identity: PersonalIdentity | None = None) -> RosterMember:
    key = (identity or member.identity or PersonalIdentity.generate()).public_key
    return RosterMember(member.owner, key, role, member.owner.partition(":")[2][:64])


def roster_of(
    signer: Member, case_id: str, version: int, *members: tuple[Member, str]
) -> dict[str, Any]:
    """A roster of ``members`` (each with its role) signed by ``signer``'s identity."""
    assert signer.identity is not None
    return signer.identity.roster(
        case_id, version, [entry(m, role) for m, role in members], datetime.now(UTC)
    )


async def assign(
    http: aiohttp.ClientSession, manager: RawLogin, case_id: str, staff_id: str
) -> None:
    async with http.post(
        f"/v1/cases/{case_id}/staff", json={"staff_id": staff_id}, headers=manager.headers
    ) as response:
        assert response.status == 201, await response.text()


async def unassign(
    http: aiohttp.ClientSession, manager: RawLogin, case_id: str, staff_id: str
) -> None:
    async with http.delete(
        f"/v1/cases/{case_id}/staff/{staff_id}", headers=manager.headers
    ) as response:
        assert response.status == 200, await response.text()


async def put_roster(
    http: aiohttp.ClientSession, caller: Member, case_id: str, roster: dict[str, Any]
) -> aiohttp.ClientResponse:
    return await http.put(
        f"/v1/cases/{case_id}/roster", json={"roster": roster}, headers=caller.headers
    )


async def raw_team(
    world: World, http: aiohttp.ClientSession, reference: str = "DE-2026-0300"
) -> RawTeam:
    officer = await raw_login(http, "officer")
    worker = await raw_login(http, "worker")
    for login in (officer, worker):
        await publish_raw_identity(http, login)
    case_id = await raw_case(world, http, officer, reference)
    await assign(http, officer, case_id, worker.staff_id)
    roster = roster_of(officer, case_id, 1, (officer, "officer"), (worker, "support_worker"))
    async with await put_roster(http, officer, case_id, roster) as response:
        assert response.status == 200, await response.text()
    witness_id = await raw_witness(http, officer, case_id)
    enrolment = await raw_enrolment(http, officer, case_id, witness_id)
    phone = await raw_claim(http, enrolment.text)
    await publish_raw_identity(http, phone)
    return RawTeam(officer, worker, phone, case_id, roster)


async def get_json(http: aiohttp.ClientSession, path: str, member: Member) -> dict[str, Any]:
    async with http.get(path, headers=member.headers) as response:
        assert response.status == 200, await response.text()
        body: dict[str, Any] = await response.json()
        return body


async def key_bundle(http: aiohttp.ClientSession, member: Member, case_id: str) -> dict[str, Any]:
    return await get_json(http, f"/v1/cases/{case_id}/keys", member)


def devices_by_owner(bundle: dict[str, Any]) -> dict[str, set[str]]:
    return {m["owner"]: {d["device_id"] for d in m["devices"]} for m in bundle["members"]}


async def put_device(
    http: aiohttp.ClientSession, caller: Member, obj: dict[str, Any]
) -> aiohttp.ClientResponse:
    return await http.put("/v1/me/device-keys", json={"device": obj}, headers=caller.headers)


async def put_identity(
    http: aiohttp.ClientSession, caller: Member, device_list: dict[str, Any]
) -> aiohttp.ClientResponse:
    return await http.put(
        "/v1/me/identity", json={"device_list": device_list}, headers=caller.headers
    )


def device_list(
    member: Member,
    version: int,
    devices: dict[str, str] | None = None,
    *,
    identity: PersonalIdentity | None = None,
    owner: str | None = None,
    issued_in: int = 2026,
) -> dict[str, Any]:
    """A device list signed by ``identity`` (the member's own by default), vouching for
    the member's own device unless ``devices`` is given."""
    signer = identity or member.identity
    assert signer is not None
    listed = {member.device_id: object_hash(raw_device_object(member))}
    return signer.device_list(
        owner or member.owner,
        version,
        listed if devices is None else devices,
        datetime(issued_in, 1, 5, tzinfo=UTC),
    )


# --------------------------------------------------------------------------- device objects


async def test_a_device_object_is_kept_and_handed_out_unchanged(
    world: World, http: aiohttp.ClientSession
) -> None:
    team = await raw_team(world, http)
    # Keys in another order than canonical JSON's: still the same signed object.
    uploaded = dict(reversed(list(raw_device_object(team.worker).items())))
    async with await put_device(http, team.worker, uploaded) as response:
        assert response.status == 200, await response.text()
    for reader in (team.officer, team.phone):
        bundle = await key_bundle(http, reader, team.case_id)
        (worker,) = [m for m in bundle["members"] if m["owner"] == team.worker.owner]
        assert worker["devices"] == [
            {"device_id": team.worker.device_id, "name": "raw", "key_object": uploaded}
        ]
        listed = await get_json(http, f"/v1/cases/{team.case_id}/devices", reader)
        (device,) = [d for d in listed["devices"] if d["device_id"] == team.worker.device_id]
        assert device["key_object"] == uploaded


def forged_device_objects(team: RawTeam) -> dict[str, dict[str, Any]]:
    """Device objects the worker's device must not get kept as its own, by what is wrong."""
    me = team.worker
    stranger = RawDevice()

    def made(sign: Callable[[bytes], str] = me.device.sign, **change: Any) -> dict[str, Any]:
        body = device_object(me.device_id, me.owner, me.device.curve25519, me.device.ed25519)
        return signed({**body, **change}, sign)

    keys = {"curve25519": me.device.curve25519, "ed25519": me.device.ed25519}
    return {
        "another device id": made(device_id=team.officer.device_id),
        "another owner": made(owner=team.officer.owner),
        "another curve25519": made(keys={**keys, "curve25519": stranger.curve25519}),
        # Correctly self-signed, but with a key that is not this device's.
        "another ed25519": made(stranger.sign, keys={**keys, "ed25519": stranger.ed25519}),
        "bad signature": {**made(), "signature": b64(b"\x00" * 64)},
        "extra field": made(trusted=True),
        "wrong type": made(type="wl.device.v0"),
        "wrong algorithm": made(algorithms=["m.megolm.v1.aes-sha2"]),
        "too deep": made(algorithms=[[[[[[[[["olm"]]]]]]]]]),
        # Genuine, and replayed by someone else.
        "another device's object": raw_device_object(team.officer),
    }


async def test_a_device_object_must_describe_the_calling_device_and_be_self_signed(
    world: World, http: aiohttp.ClientSession
) -> None:
    team = await raw_team(world, http)
    before = await key_bundle(http, team.officer, team.case_id)
    for change, obj in forged_device_objects(team).items():
        async with await put_device(http, team.worker, obj) as response:
            problem = await expect_problem(response, 422, "invalid-key-object")
            assert problem["detail"], change
    assert await key_bundle(http, team.officer, team.case_id) == before


async def test_a_device_object_that_is_not_an_object_is_refused(
    world: World, http: aiohttp.ClientSession
) -> None:
    officer = await raw_login(http, "officer")
    for body, code in [
        ({"device": "signed"}, "invalid-body"),
        ({"device": [1, 2]}, "invalid-body"),
        ({}, "invalid-body"),
        ({"device": {"type": "wl.device.v1", "version": 1.5}}, "invalid-key-object"),
    ]:
        async with http.put("/v1/me/device-keys", json=body, headers=officer.headers) as r:
            await expect_problem(r, 422, code)


# --------------------------------------------------------------------------- identities


async def test_an_identity_is_published_with_its_device_list_and_audited(
    world: World, http: aiohttp.ClientSession
) -> None:
    officer = await raw_login(http, "officer")
    async with http.get("/v1/me/identity", headers=officer.headers) as response:
        await expect_problem(response, 404, "not-found")
    identity = await publish_raw_identity(http, officer)
    mine = await get_json(http, "/v1/me/identity", officer)
    assert mine["device_list"]["identity_key"] == identity.public_key
    assert mine["device_list"]["devices"] == {
        officer.device_id: object_hash(raw_device_object(officer))
    }
    worker = await raw_login(http, "worker")
    theirs = await get_json(http, f"/v1/staff/{officer.staff_id}/identity", worker)
    assert theirs == mine
    (entry,) = await audit_entries(world, action="identity.published")
    assert (entry.actor_id, entry.subject_kind, entry.subject_id) == (
        officer.staff_id,
        "staff",
        officer.staff_id,
    )
    assert json.loads(entry.details) == {"version": 1, "devices": 1}


async def test_a_device_list_is_published_only_by_its_owner(
    world: World, http: aiohttp.ClientSession
) -> None:
    team = await raw_team(world, http)
    for caller, owner in [
        (team.worker, team.officer.owner),
        (team.phone, team.worker.owner),
        (team.worker, team.phone.owner),
    ]:
        forged = device_list(caller, 2, owner=owner)
        async with await put_identity(http, caller, forged) as response:
            await expect_problem(response, 422, "invalid-key-object")
    assert not await audit_entries(world, action="identity.replaced")


async def test_a_device_list_names_only_the_callers_own_active_devices(
    world: World, http: aiohttp.ClientSession
) -> None:
    team = await raw_team(world, http)
    me = team.officer
    second = await raw_login(http, "officer")
    retired = await raw_login(http, "officer")
    async with http.post(
        f"/v1/devices/{retired.device_id}/revoke", headers=retired.headers
    ) as response:
        assert response.status == 200
    own = {me.device_id: object_hash(raw_device_object(me))}
    for stranger in (team.worker.device_id, team.phone.device_id, retired.device_id, "dev_none"):
        listed = device_list(me, 2, {**own, stranger: object_hash(raw_device_object(me))})
        async with await put_identity(http, me, listed) as response:
            await expect_problem(response, 422, "invalid-key-object")
    both = {**own, second.device_id: object_hash(raw_device_object(second))}
    async with await put_identity(http, me, device_list(me, 2, both)) as response:
        assert response.status == 200, await response.text()
        assert await response.json() == {"version": 2}


async def test_a_device_list_for_the_same_key_must_carry_a_higher_version(
    world: World, http: aiohttp.ClientSession
) -> None:
    team = await raw_team(world, http)
    me = team.worker
    async with await put_identity(http, me, device_list(me, 1)) as response:
        problem = await expect_problem(response, 409, "version-conflict")
        assert problem["current_version"] == 1
    async with await put_identity(http, me, device_list(me, 3)) as response:
        assert response.status == 200, await response.text()
    async with await put_identity(http, me, device_list(me, 2)) as response:
        problem = await expect_problem(response, 409, "version-conflict")
        assert problem["current_version"] == 3
    async with await put_identity(http, me, device_list(me, 0)) as response:
        await expect_problem(response, 422, "invalid-key-object")
    kept = await get_json(http, "/v1/me/identity", me)
    assert kept["device_list"]["version"] == 3


async def test_a_new_identity_key_replaces_the_old_and_is_audited(
    world: World, http: aiohttp.ClientSession
) -> None:
    team = await raw_team(world, http)
    me = team.worker
    replacement = PersonalIdentity.generate()
    async with await put_identity(http, me, device_list(me, 1, identity=replacement)) as r:
        assert r.status == 200, await r.text()
    kept = await get_json(http, f"/v1/staff/{me.staff_id}/identity", team.officer)
    assert kept["device_list"]["identity_key"] == replacement.public_key
    (replaced,) = await audit_entries(world, action="identity.replaced")
    assert (replaced.actor_id, replaced.subject_id) == (me.staff_id, me.staff_id)
    bundle = await key_bundle(http, team.officer, team.case_id)
    (worker,) = [m for m in bundle["members"] if m["owner"] == me.owner]
    assert worker["device_list"]["identity_key"] == replacement.public_key


async def test_of_concurrent_device_lists_of_one_version_exactly_one_is_kept(
    world: World, http: aiohttp.ClientSession
) -> None:
    team = await raw_team(world, http)
    me = team.worker
    lists = [device_list(me, 2, issued_in=2026 + n) for n in range(6)]
    statuses = await asyncio.gather(*(status_of(put_identity(http, me, x)) for x in lists))
    assert sorted(statuses) == [200] + [409] * 5, statuses
    winner = lists[statuses.index(200)]
    assert (await get_json(http, "/v1/me/identity", me))["device_list"] == winner


async def test_of_concurrent_first_identities_exactly_one_is_kept(
    world: World, http: aiohttp.ClientSession
) -> None:
    officer = await raw_login(http, "officer")
    officer.identity = PersonalIdentity.generate()
    async with await put_device(http, officer, raw_device_object(officer)) as response:
        assert response.status == 200
    lists = [device_list(officer, 1, issued_in=2026 + n) for n in range(6)]
    statuses = await asyncio.gather(*(status_of(put_identity(http, officer, x)) for x in lists))
    assert sorted(statuses) == [200] + [409] * 5, statuses
    kept = await get_json(http, "/v1/me/identity", officer)
    assert kept["device_list"] == lists[statuses.index(200)]
    assert len(await audit_entries(world, action="identity.published")) == 1


async def status_of(request: Awaitable[aiohttp.ClientResponse]) -> int:
    async with await request as response:
        await response.read()
        return response.status


# --------------------------------------------------------------------------- backups


async def test_a_staff_member_keeps_one_sealed_backup_of_their_identity(
    world: World, http: aiohttp.ClientSession
) -> None:
    officer = await raw_login(http, "officer")
    async with http.get("/v1/me/identity-backup", headers=officer.headers) as response:
        await expect_problem(response, 404, "not-found")
    key = PersonalIdentity.generate().public_key
    for sealed in ("first-sealed-blob", "second-sealed-blob"):
        async with http.put(
            "/v1/me/identity-backup",
            json={"identity_key": key, "sealed": sealed},
            headers=officer.headers,
        ) as response:
            assert response.status == 200, await response.text()
    another_device = await raw_login(http, "officer")
    backup = await get_json(http, "/v1/me/identity-backup", another_device)
    assert backup == {"identity_key": key, "sealed": "second-sealed-blob"}
    stored = await audit_entries(world, action="identity.backup_stored")
    assert [e.subject_id for e in stored] == [officer.staff_id] * 2
    assert all("sealed-blob" not in repr(e) for e in await audit_entries(world))
    # Nobody else reads it.
    worker = await raw_login(http, "worker")
    async with http.get("/v1/me/identity-backup", headers=worker.headers) as response:
        await expect_problem(response, 404, "not-found")


async def test_a_witness_phone_keeps_no_backup(world: World, http: aiohttp.ClientSession) -> None:
    team = await raw_team(world, http)
    async with http.put(
        "/v1/me/identity-backup",
        json={"identity_key": team.phone.identity_key, "sealed": "sealed"},
        headers=team.phone.headers,
    ) as response:
        await expect_problem(response, 403, "forbidden")
    async with http.get("/v1/me/identity-backup", headers=team.phone.headers) as response:
        await expect_problem(response, 404, "not-found")


async def test_a_backup_is_an_identity_key_and_a_bounded_sealed_blob(
    world: World, http: aiohttp.ClientSession
) -> None:
    officer = await raw_login(http, "officer")
    good = {"identity_key": PersonalIdentity.generate().public_key, "sealed": "s" * 512}
    for change, code in [
        ({"sealed": "x" * 513}, "invalid-body"),
        ({"sealed": ""}, "invalid-body"),
        ({"identity_key": "A" * 40}, "invalid-key-object"),
        ({"identity_key": "%" * 43}, "invalid-key-object"),
        ({"note": "hello"}, "invalid-body"),
    ]:
        async with http.put(
            "/v1/me/identity-backup", json={**good, **change}, headers=officer.headers
        ) as response:
            await expect_problem(response, 422, code)
    async with http.get("/v1/me/identity-backup", headers=officer.headers) as response:
        await expect_problem(response, 404, "not-found")
    async with http.put("/v1/me/identity-backup", json=good, headers=officer.headers) as r:
        assert r.status == 200, await r.text()


# --------------------------------------------------------------------------- colleagues


async def test_a_colleagues_identity_is_for_staff_and_only_for_active_staff_with_one(
    world: World, http: aiohttp.ClientSession
) -> None:
    team = await raw_team(world, http)
    path = f"/v1/staff/{team.officer.staff_id}/identity"
    async with http.get(path, headers=team.phone.headers) as response:
        await expect_problem(response, 403, "forbidden")
    await world.add_staff("newcomer", "police", Role.OFFICER)
    newcomer = await raw_login(http, "newcomer")  # no identity yet
    for staff_id in ("staff_nobody", newcomer.staff_id):
        async with http.get(
            f"/v1/staff/{staff_id}/identity", headers=team.worker.headers
        ) as response:
            await expect_problem(response, 404, "not-found")
    assert (await get_json(http, path, team.worker))["device_list"]["owner"] == team.officer.owner
    async with world.services.store.write() as uow:
        await uow.staff.set_active(team.officer.staff_id, False)
    async with http.get(path, headers=team.worker.headers) as response:
        await expect_problem(response, 404, "not-found")


# --------------------------------------------------------------------------- the key bundle


async def test_the_key_bundle_lists_exactly_the_active_members_and_their_active_devices(
    world: World, http: aiohttp.ClientSession
) -> None:
    team = await raw_team(world, http)
    second = await raw_login(http, "officer")
    retired = await raw_login(http, "worker")
    async with http.post(
        f"/v1/devices/{retired.device_id}/revoke", headers=retired.headers
    ) as response:
        assert response.status == 200
    await raw_login(http, "outsider")  # not on the case: not in its bundle
    bundle = await key_bundle(http, team.phone, team.case_id)
    assert bundle["case_id"] == team.case_id
    assert bundle["roster"] == team.roster
    assert devices_by_owner(bundle) == {
        team.officer.owner: {team.officer.device_id, second.device_id},
        team.worker.owner: {team.worker.device_id},
        team.phone.owner: {team.phone.device_id},
    }
    members = {m["owner"]: m for m in bundle["members"]}
    assert members[team.officer.owner]["role"] == "officer"
    assert members[team.worker.owner]["role"] == "support_worker"
    assert (members[team.phone.owner]["role"], members[team.phone.owner]["name"]) == (
        "witness",
        "Sparrow",
    )
    assert members[team.phone.owner]["device_list"]["identity_key"] == team.phone.identity_key
    assert await key_bundle(http, team.officer, team.case_id) == bundle


async def test_removed_members_and_revoked_devices_leave_the_key_bundle(
    world: World, http: aiohttp.ClientSession
) -> None:
    team = await raw_team(world, http)
    second = await raw_login(http, "officer")
    await unassign(http, team.officer, team.case_id, team.worker.staff_id)
    async with http.post(
        f"/v1/devices/{second.device_id}/revoke", headers=team.officer.headers
    ) as response:
        assert response.status == 200
    assert devices_by_owner(await key_bundle(http, team.phone, team.case_id)) == {
        team.officer.owner: {team.officer.device_id},
        team.phone.owner: {team.phone.device_id},
    }
    async with http.post(
        f"/v1/devices/{team.phone.device_id}/revoke", headers=team.officer.headers
    ) as response:
        assert response.status == 200
    assert devices_by_owner(await key_bundle(http, team.officer, team.case_id)) == {
        team.officer.owner: {team.officer.device_id},
        team.phone.owner: set(),
    }


async def test_a_deactivated_member_leaves_the_key_bundle(
    world: World, http: aiohttp.ClientSession
) -> None:
    team = await raw_team(world, http)
    async with world.services.store.write() as uow:
        await uow.staff.set_active(team.worker.staff_id, False)
    bundle = await key_bundle(http, team.officer, team.case_id)
    assert team.worker.owner not in devices_by_owner(bundle)


async def test_outsiders_get_no_key_bundle_and_their_attempt_is_audited(
    world: World, http: aiohttp.ClientSession
) -> None:
    team = await raw_team(world, http)
    await world.add_staff("colleague", "police", Role.OFFICER)
    await world.add_staff("chief", "police", Role.SUPERVISOR)
    outsiders = {name: await raw_login(http, name) for name in ("outsider", "colleague", "chief")}
    other = await raw_team(world, http, reference="DE-2026-0301")
    for login in [*outsiders.values(), other.phone]:
        for path in (f"/v1/cases/{team.case_id}/keys", f"/v1/cases/{team.case_id}/roster"):
            async with http.get(path, headers=login.headers) as response:
                await expect_problem(response, 404, "not-found")
    for name, login in outsiders.items():
        entries = await audit_entries(world, action="access.denied", actor_id=login.staff_id)
        attempts = sorted(json.loads(e.details)["attempted"] for e in entries)
        assert attempts == ["case keys", "read roster"], name
        assert {e.case_id for e in entries} == {team.case_id}
    phone_entries = await audit_entries(
        world, action="access.denied", actor_id=other.phone.witness_id
    )
    assert len(phone_entries) == 2


# --------------------------------------------------------------------------- rosters


async def test_a_case_manager_publishes_the_next_roster_and_it_is_audited(
    world: World, http: aiohttp.ClientSession
) -> None:
    team = await raw_team(world, http)
    roster = roster_of(
        team.officer,
        team.case_id,
        2,
        (team.officer, "officer"),
        (team.worker, "support_worker"),
        (team.phone, "witness"),
    )
    async with await put_roster(http, team.officer, team.case_id, roster) as response:
        assert response.status == 200, await response.text()
        assert await response.json() == {"version": 2}
    for reader in (team.officer, team.worker, team.phone):
        kept = await get_json(http, f"/v1/cases/{team.case_id}/roster", reader)
        assert kept == {"roster": roster}
    published = await audit_entries(world, action="roster.published", case_id=team.case_id)
    assert [json.loads(e.details) for e in published] == [
        {"version": 2, "members": 3},
        {"version": 1, "members": 2},
    ]
    assert {e.actor_id for e in published} == {team.officer.staff_id}


async def test_a_case_without_a_roster_reads_as_none(
    world: World, http: aiohttp.ClientSession
) -> None:
    officer = await raw_login(http, "officer")
    case_id = await raw_case(world, http, officer, "DE-2026-0302")
    assert await get_json(http, f"/v1/cases/{case_id}/roster", officer) == {"roster": None}
    assert (await key_bundle(http, officer, case_id))["roster"] is None


async def test_only_the_cases_managers_sign_its_roster(
    world: World, http: aiohttp.ClientSession
) -> None:
    team = await raw_team(world, http)
    outsider = await raw_login(http, "outsider")
    await publish_raw_identity(http, outsider)
    members = ((team.officer, "officer"), (team.worker, "support_worker"))
    for caller, status, code in [
        (team.worker, 403, "forbidden"),  # a support worker on the case
        (team.phone, 403, "forbidden"),  # the witness
        (outsider, 404, "not-found"),  # another agency
    ]:
        roster = roster_of(caller, team.case_id, 2, *members)
        async with await put_roster(http, caller, team.case_id, roster) as response:
            await expect_problem(response, status, code)
    denied = await audit_entries(world, action="access.denied", actor_id=outsider.staff_id)
    assert [json.loads(e.details)["attempted"] for e in denied] == ["sign roster"]
    assert len(await audit_entries(world, action="roster.published")) == 1
    kept = await get_json(http, f"/v1/cases/{team.case_id}/roster", team.officer)
    assert kept == {"roster": team.roster}


async def test_a_roster_is_signed_with_the_callers_own_identity(
    world: World, http: aiohttp.ClientSession
) -> None:
    team = await raw_team(world, http)
    members = ((team.officer, "officer"), (team.worker, "support_worker"))
    someone = PersonalIdentity.generate()
    for signer in (someone, team.worker.identity):
        assert signer is not None
        roster = signer.roster(
            team.case_id, 2, [entry(m, role) for m, role in members], datetime.now(UTC)
        )
        async with await put_roster(http, team.officer, team.case_id, roster) as response:
            await expect_problem(response, 403, "forbidden")
    officer_without_identity = await raw_login(http, "officer")
    roster = roster_of(team.officer, team.case_id, 2, *members)
    async with await put_roster(http, officer_without_identity, team.case_id, roster) as r:
        assert r.status == 200, await r.text()  # the officer's identity, from another device


async def test_roster_members_are_on_the_case_with_their_own_identity_keys(
    world: World, http: aiohttp.ClientSession
) -> None:
    team = await raw_team(world, http)
    outsider = await raw_login(http, "outsider")
    await publish_raw_identity(http, outsider)
    await world.add_staff("newcomer", "support", Role.SUPPORT_WORKER)
    newcomer = await raw_login(http, "newcomer")  # assigned, but has no identity
    await assign(http, team.officer, team.case_id, newcomer.staff_id)
    own = (team.officer, "officer")
    wrong_key = RosterMember(
        team.worker.owner, PersonalIdentity.generate().public_key, "support_worker", "W"
    )
    assert team.officer.identity is not None
    for members in (
        [entry(*own), entry(outsider, "officer")],
        [entry(*own), wrong_key],
        [entry(*own), entry(newcomer, "support_worker")],
    ):
        roster = team.officer.identity.roster(team.case_id, 2, members, datetime.now(UTC))
        async with await put_roster(http, team.officer, team.case_id, roster) as response:
            await expect_problem(response, 422, "invalid-key-object")
    assert len(await audit_entries(world, action="roster.published")) == 1


async def test_a_roster_that_does_not_verify_or_fit_the_case_is_refused(
    world: World, http: aiohttp.ClientSession
) -> None:
    team = await raw_team(world, http)
    other_case = await raw_case(world, http, team.officer, "DE-2026-0303")
    members = [(team.officer, "officer"), (team.worker, "support_worker")]

    def next_roster(*extra: tuple[Member, str], case_id: str = team.case_id) -> dict[str, Any]:
        return roster_of(team.officer, case_id, 2, *members, *extra)

    tampered = next_roster()
    tampered["members"] = tampered["members"][:1]
    refused = {
        "for another case": next_roster(case_id=other_case),
        "tampered after signing": tampered,
        "a member twice": next_roster((team.worker, "support_worker")),
        "the witness as an officer": next_roster((team.phone, "officer")),
        "a float version": {**next_roster(), "version": 2.0},
        "an extra field": {**next_roster(), "note": "hello"},
    }
    for why, roster in refused.items():
        async with await put_roster(http, team.officer, team.case_id, roster) as response:
            problem = await expect_problem(response, 422, "invalid-key-object")
            assert problem["detail"], why
    assert len(await audit_entries(world, action="roster.published")) == 1


async def test_a_roster_version_must_be_exactly_the_next(
    world: World, http: aiohttp.ClientSession
) -> None:
    team = await raw_team(world, http)
    members = ((team.officer, "officer"), (team.worker, "support_worker"))
    for version in (1, 3):
        roster = roster_of(team.officer, team.case_id, version, *members)
        async with await put_roster(http, team.officer, team.case_id, roster) as response:
            problem = await expect_problem(response, 409, "version-conflict")
            assert problem["current_version"] == 1
    roster = roster_of(team.officer, team.case_id, 2, *members)
    async with await put_roster(http, team.officer, team.case_id, roster) as response:
        assert response.status == 200, await response.text()
    async with await put_roster(http, team.officer, team.case_id, roster) as response:
        problem = await expect_problem(response, 409, "version-conflict")
        assert problem["current_version"] == 2


async def test_of_concurrent_rosters_of_the_same_version_exactly_one_is_kept(
    world: World, http: aiohttp.ClientSession
) -> None:
    team = await raw_team(world, http)
    await world.add_staff("chief", "police", Role.SUPERVISOR)
    chief = await raw_login(http, "chief")
    await publish_raw_identity(http, chief)
    await assign(http, team.officer, team.case_id, chief.staff_id)
    members = [(team.officer, "officer"), (team.worker, "support_worker")]
    signers = [team.officer, chief] * 3
    rosters = [
        roster_of(signer, team.case_id, 2, *members[: 1 + n % 2], (team.phone, "witness"))
        for n, signer in enumerate(signers)
    ]
    statuses = await asyncio.gather(
        *(
            status_of(put_roster(http, s, team.case_id, r))
            for s, r in zip(signers, rosters, strict=True)
        )
    )
    assert sorted(statuses) == [200] + [409] * 5, statuses
    kept = await get_json(http, f"/v1/cases/{team.case_id}/roster", team.phone)
    assert kept["roster"] == rosters[statuses.index(200)]
    assert len(await audit_entries(world, action="roster.published")) == 2


# --------------------------------------------------------------------------- keys_changed


Change = Callable[[World, aiohttp.ClientSession, RawTeam], Awaitable[None]]


async def _publish_roster(world: World, http: aiohttp.ClientSession, team: RawTeam) -> None:
    roster = roster_of(
        team.officer, team.case_id, 2, (team.officer, "officer"), (team.phone, "witness")
    )
    async with await put_roster(http, team.officer, team.case_id, roster) as response:
        assert response.status == 200, await response.text()


async def _publish_device_list(world: World, http: aiohttp.ClientSession, team: RawTeam) -> None:
    async with await put_identity(http, team.worker, device_list(team.worker, 2)) as response:
        assert response.status == 200, await response.text()


async def _publish_device_object(world: World, http: aiohttp.ClientSession, team: RawTeam) -> None:
    async with await put_device(http, team.worker, raw_device_object(team.worker)) as response:
        assert response.status == 200, await response.text()


async def _add_member(world: World, http: aiohttp.ClientSession, team: RawTeam) -> None:
    await world.add_staff("newcomer", "support", Role.SUPPORT_WORKER)
    await assign(http, team.officer, team.case_id, world.staff["newcomer"])


async def _remove_member(world: World, http: aiohttp.ClientSession, team: RawTeam) -> None:
    await unassign(http, team.officer, team.case_id, team.worker.staff_id)


async def _revoke_device(world: World, http: aiohttp.ClientSession, team: RawTeam) -> None:
    async with http.post(
        f"/v1/devices/{team.worker.device_id}/revoke", headers=team.worker.headers
    ) as response:
        assert response.status == 200, await response.text()


CHANGES: dict[str, Change] = {
    "roster": _publish_roster,
    "device-list": _publish_device_list,
    "device-object": _publish_device_object,
    "member-added": _add_member,
    "member-removed": _remove_member,
    "device-revoked": _revoke_device,
}


@pytest.mark.parametrize("change", list(CHANGES))
async def test_the_cases_devices_hear_that_its_keys_changed(
    world: World, http: aiohttp.ClientSession, change: str
) -> None:
    team = await raw_team(world, http)
    elsewhere = await raw_login(http, "outsider")
    await raw_case(world, http, elsewhere, "FR-2026-0001")
    listeners = {"officer": team.officer, "phone": team.phone, "outsider": elsewhere}
    async with (
        raw_socket(world, team.officer.token) as officer_socket,
        raw_socket(world, team.phone.token) as phone_socket,
        raw_socket(world, elsewhere.token) as outsider_socket,
    ):
        sockets = {"officer": officer_socket, "phone": phone_socket, "outsider": outsider_socket}
        for name, socket in sockets.items():
            await socket.settle(world, listeners[name].device_id)  # connected, nothing yet
            socket.frames.clear()
        await CHANGES[change](world, http, team)
        heard = {
            name: [
                frame
                for frame in await socket.settle(world, listeners[name].device_id)
                if frame.get("type") == "keys_changed"
            ]
            for name, socket in sockets.items()
        }
    expected = {"type": "keys_changed", "case_id": team.case_id}
    assert heard["officer"], change
    assert heard["phone"], change
    assert all(frame == expected for frame in heard["officer"] + heard["phone"]), heard
    assert heard["outsider"] == []
