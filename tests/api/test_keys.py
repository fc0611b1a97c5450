"""One-time and fallback keys: signed uploads, counts, claims that hand each one-time
key out exactly once (also under heavy concurrency), the fallback when they run out,
claims limited to the devices of the claimer's own cases, a claim rate limit, and an
allowance of one-time keys per claimer and target so that no member drains a device."""

from __future__ import annotations

import asyncio
import base64
from collections import Counter
from datetime import timedelta
from typing import Any

import aiohttp

from client_sdk.crypto import verify_signature
from server.domain.keys import OneTimeKeyAllowance
from tests.api.helpers import (
    RawDevice,
    RawLogin,
    audit_entries,
    bearer,
    expect_problem,
    one_time_key_count,
    raw_enrolment_code,
    raw_login,
)
from tests.support.world import World
from wire.keys import fallback_key_payload, one_time_key_payload


async def keyed_case(
    world: World, http: aiohttp.ClientSession, *, officer_keys: int = 5, **officer: Any
) -> tuple[RawLogin, RawLogin, str]:
    """An officer device with ``officer_keys`` one-time keys, a worker, and their case."""
    officer_login = await raw_login(http, "officer", one_time_keys=officer_keys, **officer)
    worker = await raw_login(http, "worker")
    async with http.post(
        "/v1/cases",
        json={"reference": "DE-2026-0200", "support_agency_id": world.agencies["support"]},
        headers=officer_login.headers,
    ) as response:
        case_id = (await response.json())["case_id"]
    async with http.post(
        f"/v1/cases/{case_id}/staff",
        json={"staff_id": worker.staff_id},
        headers=officer_login.headers,
    ) as response:
        assert response.status == 201
    return officer_login, worker, case_id


async def claim(
    http: aiohttp.ClientSession, claimer: dict[str, str], case_id: str, *device_ids: str
) -> aiohttp.ClientResponse:
    return await http.post(
        "/v1/keys/claim", json={"case_id": case_id, "device_ids": list(device_ids)}, headers=claimer
    )


async def claimed(
    http: aiohttp.ClientSession, claimer: dict[str, str], case_id: str, device_id: str
) -> dict[str, Any]:
    async with await claim(http, claimer, case_id, device_id) as response:
        assert response.status == 200, await response.text()
        (item,) = (await response.json())["keys"]
        return dict(item)


async def upload(
    http: aiohttp.ClientSession, device: RawLogin, body: dict[str, Any]
) -> aiohttp.ClientResponse:
    return await http.post("/v1/keys", json=body, headers=device.headers)


# --------------------------------------------------------------------------- upload


async def test_uploaded_keys_are_counted(world: World, http: aiohttp.ClientSession) -> None:
    officer = await raw_login(http, "officer", one_time_keys=5)
    async with http.get("/v1/keys/count", headers=officer.headers) as response:
        assert await response.json() == {"one_time_keys": 5}
    async with await upload(
        http, officer, {"one_time_keys": officer.device.one_time_keys(10)}
    ) as response:
        assert response.status == 200, await response.text()
        assert await response.json() == {"one_time_keys": 15}
    async with http.get("/v1/keys/count", headers=officer.headers) as response:
        assert await response.json() == {"one_time_keys": 15}


async def test_uploading_the_same_key_ids_again_adds_nothing(
    world: World, http: aiohttp.ClientSession
) -> None:
    officer = await raw_login(http, "officer", one_time_keys=0)
    keys = officer.device.one_time_keys(10)
    for _ in range(2):
        async with await upload(http, officer, {"one_time_keys": keys}) as response:
            assert await response.json() == {"one_time_keys": 10}


async def test_one_bad_signature_refuses_the_whole_upload(
    world: World, http: aiohttp.ClientSession
) -> None:
    officer = await raw_login(http, "officer", one_time_keys=5)
    forged = RawDevice().one_time_keys(1)
    batch = officer.device.one_time_keys(3) + forged
    async with await upload(http, officer, {"one_time_keys": batch}) as response:
        await expect_problem(response, 422, "signature-invalid")
    assert await one_time_key_count(world, officer.device_id) == 5


async def test_a_key_signature_is_bound_to_its_key_id(
    world: World, http: aiohttp.ClientSession
) -> None:
    officer = await raw_login(http, "officer", one_time_keys=0)
    key = officer.device.one_time_keys(1)[0]
    key["key_id"] = key["key_id"] + "x"
    async with await upload(http, officer, {"one_time_keys": [key]}) as response:
        await expect_problem(response, 422, "signature-invalid")


async def test_a_one_time_key_signature_is_not_a_fallback_key_signature(
    world: World, http: aiohttp.ClientSession
) -> None:
    officer = await raw_login(http, "officer")
    fallback = officer.device.fallback_key()
    fallback["signature"] = officer.device.sign(
        one_time_key_payload(officer.device.curve25519, fallback["key_id"], fallback["key"])
    )
    async with await upload(http, officer, {"fallback_key": fallback}) as response:
        await expect_problem(response, 422, "signature-invalid")
    key = officer.device.one_time_keys(1)[0]
    key["signature"] = officer.device.sign(
        fallback_key_payload(officer.device.curve25519, key["key_id"], key["key"])
    )
    async with await upload(http, officer, {"one_time_keys": [key]}) as response:
        await expect_problem(response, 422, "signature-invalid")


async def test_keys_that_are_not_curve25519_keys_are_refused(
    world: World, http: aiohttp.ClientSession
) -> None:
    officer = await raw_login(http, "officer", one_time_keys=0)
    key = officer.device.one_time_keys(1)[0]
    key["key"] = base64.b64encode(b"\x07" * 33).decode().rstrip("=")
    key["signature"] = officer.device.sign(
        one_time_key_payload(officer.device.curve25519, key["key_id"], key["key"])
    )
    async with await upload(http, officer, {"one_time_keys": [key]}) as response:
        await expect_problem(response, 422, "invalid-input")
    key["key"] = "!" * 43
    async with await upload(http, officer, {"one_time_keys": [key]}) as response:
        await expect_problem(response, 422, "invalid-input")


async def test_an_upload_carries_at_most_100_keys(
    world: World, http: aiohttp.ClientSession
) -> None:
    officer = await raw_login(http, "officer", one_time_keys=0)
    async with await upload(
        http, officer, {"one_time_keys": officer.device.one_time_keys(101)}
    ) as response:
        await expect_problem(response, 422, "invalid-body")
    assert await one_time_key_count(world, officer.device_id) == 0


async def test_a_device_holds_at_most_200_keys(world: World, http: aiohttp.ClientSession) -> None:
    officer = await raw_login(http, "officer", one_time_keys=5)
    async with await upload(
        http, officer, {"one_time_keys": officer.device.one_time_keys(100)}
    ) as response:
        assert (await response.json())["one_time_keys"] == 105
    async with await upload(
        http, officer, {"one_time_keys": officer.device.one_time_keys(96)}
    ) as response:
        await expect_problem(response, 422, "invalid-input")
    assert await one_time_key_count(world, officer.device_id) == 105
    async with await upload(
        http, officer, {"one_time_keys": officer.device.one_time_keys(95)}
    ) as response:
        assert (await response.json())["one_time_keys"] == 200


# --------------------------------------------------------------------------- claim


async def test_a_claim_returns_a_signed_key_and_the_identity_keys(
    world: World, http: aiohttp.ClientSession
) -> None:
    officer, worker, case_id = await keyed_case(world, http)
    item = await claimed(http, worker.headers, case_id, officer.device_id)
    assert item["device_id"] == officer.device_id
    assert item["curve25519"] == officer.device.curve25519
    assert item["ed25519"] == officer.device.ed25519
    assert item["fallback"] is False
    key = item["key"]
    assert verify_signature(
        officer.device.ed25519,
        one_time_key_payload(officer.device.curve25519, key["key_id"], key["key"]),
        key["signature"],
    )
    assert await one_time_key_count(world, officer.device_id) == 4
    async with http.get("/v1/keys/count", headers=officer.headers) as response:
        assert await response.json() == {"one_time_keys": 4}


async def test_a_claim_falls_back_to_the_fallback_key_when_keys_run_out(
    world: World, http: aiohttp.ClientSession
) -> None:
    officer, worker, case_id = await keyed_case(world, http, officer_keys=2)
    first = await claimed(http, worker.headers, case_id, officer.device_id)
    second = await claimed(http, worker.headers, case_id, officer.device_id)
    assert not first["fallback"]
    assert not second["fallback"]
    assert first["key"]["key_id"] != second["key"]["key_id"]
    third = await claimed(http, worker.headers, case_id, officer.device_id)
    fourth = await claimed(http, worker.headers, case_id, officer.device_id)
    assert third["fallback"] is True
    assert fourth == third, "the fallback key is reusable until the device replaces it"
    key = third["key"]
    assert verify_signature(
        officer.device.ed25519,
        fallback_key_payload(officer.device.curve25519, key["key_id"], key["key"]),
        key["signature"],
    )


async def test_a_replaced_fallback_key_is_handed_out_from_then_on(
    world: World, http: aiohttp.ClientSession
) -> None:
    officer, worker, case_id = await keyed_case(world, http, officer_keys=0)
    old = await claimed(http, worker.headers, case_id, officer.device_id)
    new_fallback = officer.device.fallback_key()
    async with await upload(http, officer, {"fallback_key": new_fallback}) as response:
        assert response.status == 200, await response.text()
    item = await claimed(http, worker.headers, case_id, officer.device_id)
    assert item["fallback"] is True
    assert item["key"] == new_fallback != old["key"]
    (entry,) = await audit_entries(world, action="device.fallback_key_replaced")
    assert entry.subject_id == officer.device_id


async def test_a_device_with_no_keys_at_all_yields_no_key(
    world: World, http: aiohttp.ClientSession
) -> None:
    officer, worker, case_id = await keyed_case(world, http, officer_keys=0, fallback=False)
    item = await claimed(http, worker.headers, case_id, officer.device_id)
    assert item["key"] is None


async def test_claims_are_only_for_devices_of_the_case(
    world: World, http: aiohttp.ClientSession
) -> None:
    _officer, worker, case_id = await keyed_case(world, http)
    outsider = await raw_login(http, "outsider")
    revoked = await raw_login(http, "worker")
    async with http.post(f"/v1/devices/{revoked.device_id}/revoke", headers=revoked.headers) as r:
        assert r.status == 200
    for device_id in (outsider.device_id, revoked.device_id, "dev_doesnotexist"):
        async with await claim(http, worker.headers, case_id, device_id) as response:
            await expect_problem(response, 404, "not-found")
    assert await one_time_key_count(world, outsider.device_id) == 5


async def test_a_claim_with_one_bad_device_claims_nothing(
    world: World, http: aiohttp.ClientSession
) -> None:
    officer, worker, case_id = await keyed_case(world, http)
    outsider = await raw_login(http, "outsider")
    async with await claim(
        http, worker.headers, case_id, officer.device_id, outsider.device_id
    ) as response:
        await expect_problem(response, 404, "not-found")
    assert await one_time_key_count(world, officer.device_id) == 5


async def test_a_claim_names_each_device_once(world: World, http: aiohttp.ClientSession) -> None:
    officer, worker, case_id = await keyed_case(world, http)
    async with await claim(
        http, worker.headers, case_id, officer.device_id, officer.device_id
    ) as response:
        await expect_problem(response, 422, "invalid-input")
    async with await claim(http, worker.headers, case_id) as response:
        await expect_problem(response, 422, "invalid-body")
    assert await one_time_key_count(world, officer.device_id) == 5


async def test_claims_are_rate_limited_per_device(
    world: World, http: aiohttp.ClientSession
) -> None:
    officer, worker, case_id = await keyed_case(world, http, officer_keys=0)
    answers = await asyncio.gather(
        *(claimed(http, worker.headers, case_id, officer.device_id) for _ in range(200))
    )
    assert all(a["fallback"] for a in answers)
    async with await claim(http, worker.headers, case_id, officer.device_id) as response:
        problem = await expect_problem(response, 429, "rate-limited")
        assert int(response.headers["Retry-After"]) == problem["retry_after"] >= 1
    # The limit is the claimer's, not the target's.
    await claimed(http, officer.headers, case_id, worker.device_id)
    world.clock.advance(timedelta(seconds=problem["retry_after"]))
    await claimed(http, worker.headers, case_id, officer.device_id)


async def test_concurrent_claims_never_hand_out_a_key_twice(
    world: World, http: aiohttp.ClientSession
) -> None:
    # Many claimers racing for the same keys is what this is about, not the allowance.
    world.services.keys.allowance = OneTimeKeyAllowance(limit=1000)
    target, worker, case_id = await keyed_case(world, http, officer_keys=50)
    async with await upload(
        http, target, {"one_time_keys": target.device.one_time_keys(100)}
    ) as response:
        assert (await response.json())["one_time_keys"] == 150
    second_officer_device = await raw_login(http, "officer")
    async with http.post(
        f"/v1/cases/{case_id}/witness",
        json={"alias": "Sparrow", "language": "ro", "timezone": "Europe/Bucharest"},
        headers=target.headers,
    ) as response:
        witness = await response.json()
    code = await raw_enrolment_code(http, target, case_id, witness["witness_id"])
    async with http.post("/v1/enrol", json=RawDevice().enrol_body(code)) as response:
        witness_token = (await response.json())["token"]
    claimers = [worker.headers, second_officer_device.headers, bearer(witness_token)]

    async def one_claim(i: int) -> dict[str, Any]:
        return await claimed(http, claimers[i % len(claimers)], case_id, target.device_id)

    answers = await asyncio.gather(*(one_claim(i) for i in range(200)))
    one_time = [a["key"]["key_id"] for a in answers if not a["fallback"]]
    fallback = [a["key"]["key_id"] for a in answers if a["fallback"]]
    duplicates = [key_id for key_id, n in Counter(one_time).items() if n > 1]
    assert duplicates == []
    assert len(one_time) + await one_time_key_count(world, target.device_id) == 150
    assert len(one_time) == 150
    assert len(set(fallback)) == 1
    assert len(fallback) == 50


# --------------------------------------------------------------------------- allowance


async def test_one_member_claiming_in_a_loop_takes_no_more_than_its_allowance(
    world: World, http: aiohttp.ClientSession
) -> None:
    officer, worker, case_id = await keyed_case(world, http, officer_keys=50)
    limit = world.services.keys.allowance.limit
    answers = [await claimed(http, worker.headers, case_id, officer.device_id) for _ in range(40)]
    assert [a["fallback"] for a in answers] == [False] * limit + [True] * (40 - limit)
    assert len({a["key"]["key_id"] for a in answers[:limit]}) == limit
    assert {a["key"]["key_id"] for a in answers[limit:]} == {answers[-1]["key"]["key_id"]}
    assert await one_time_key_count(world, officer.device_id) == 50 - limit

    # Another member of the case still gets one-time keys of its own.
    other = await raw_login(http, "worker")
    item = await claimed(http, other.headers, case_id, officer.device_id)
    assert item["fallback"] is False
    # The allowance is per target: the worker can still open a session with the new device.
    assert (await claimed(http, worker.headers, case_id, other.device_id))["fallback"] is False
    # And it comes back once the window has passed.
    world.clock.advance(world.services.keys.allowance.window)
    assert (await claimed(http, worker.headers, case_id, officer.device_id))["fallback"] is False


async def test_concurrent_claims_by_one_member_cannot_exceed_the_allowance(
    world: World, http: aiohttp.ClientSession
) -> None:
    officer, worker, case_id = await keyed_case(world, http, officer_keys=50)
    limit = world.services.keys.allowance.limit
    answers = await asyncio.gather(
        *(claimed(http, worker.headers, case_id, officer.device_id) for _ in range(60))
    )
    one_time = [a["key"]["key_id"] for a in answers if not a["fallback"]]
    assert len(one_time) == len(set(one_time)) == limit
    assert await one_time_key_count(world, officer.device_id) == 50 - limit


async def test_the_allowance_counts_each_target_of_a_claim_for_several_devices(
    world: World, http: aiohttp.ClientSession
) -> None:
    officer, worker, case_id = await keyed_case(world, http, officer_keys=50)
    second = await raw_login(http, "officer")
    limit = world.services.keys.allowance.limit
    for round_ in range(limit + 2):
        async with await claim(
            http, worker.headers, case_id, officer.device_id, second.device_id
        ) as response:
            items = (await response.json())["keys"]
        expected = round_ >= limit
        assert [i["fallback"] for i in items] == [expected, expected]
    assert await one_time_key_count(world, officer.device_id) == 50 - limit
    assert await one_time_key_count(world, second.device_id) == 5 - limit


async def test_ended_allowance_windows_are_forgotten(
    world: World, http: aiohttp.ClientSession
) -> None:
    officer, worker, case_id = await keyed_case(world, http)
    await claimed(http, worker.headers, case_id, officer.device_id)
    assert await world.services.keys.forget_old_allowances() == 0
    world.clock.advance(world.services.keys.allowance.window + timedelta(seconds=1))
    assert await world.services.keys.forget_old_allowances() == 1
