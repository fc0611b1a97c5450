"""Enrolling a witness's phone: a one-time code handed over in person, valid for 24
hours, in a typed or a QR form; rate-limited; the server's answer carries exactly the
team identities that the code's fingerprint covers."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import aiohttp
import pytest

from client_sdk import EnrolmentRefused, WitnessClient
from client_sdk.errors import ApiError
from client_sdk.staff import Enrolment
from server.domain.models import Role
from tests.api.helpers import (
    RawDevice,
    audit_entries,
    bearer,
    expect_problem,
    raw_login,
)
from tests.support.kdf import FAST_KDF, WITNESS_PIN
from tests.support.world import World
from wire.protocol import TeamDevice, parse_enrolment_code, team_fingerprint


async def _new_witness(
    world: World, http: aiohttp.ClientSession, reference: str = "DE-2026-0100"
) -> tuple[dict[str, str], dict[str, Any]]:
    """An officer (raw login), a case and its witness; returns headers and the issued code."""
    officer = await raw_login(http, "officer")
    async with http.post(
        "/v1/cases",
        json={"reference": reference, "support_agency_id": world.agencies["support"]},
        headers=officer.headers,
    ) as response:
        case = await response.json()
    async with http.post(
        f"/v1/cases/{case['case_id']}/witness",
        json={"alias": "Sparrow", "language": "ro", "timezone": "Europe/Bucharest"},
        headers=officer.headers,
    ) as response:
        assert response.status == 201, await response.text()
        issued = await response.json()
    return officer.headers, issued


def secret_of(issued: dict[str, Any]) -> str:
    return parse_enrolment_code(issued["code"]).secret


async def _enrol(http: aiohttp.ClientSession, secret: str) -> aiohttp.ClientResponse:
    return await http.post("/v1/enrol", json=RawDevice().enrol_body(secret))


# --------------------------------------------------------------------------- single use


async def test_an_enrolment_code_works_once(world: World, http: aiohttp.ClientSession) -> None:
    _officer, issued = await _new_witness(world, http)
    async with await _enrol(http, secret_of(issued)) as response:
        assert response.status == 201, await response.text()
        first = await response.json()
    assert first["witness"]["witness_id"] == issued["witness"]["witness_id"]
    async with http.get("/v1/me", headers=bearer(first["token"])) as response:
        me = await response.json()
    assert me["witness"]["alias"] == "Sparrow"
    assert me["staff"] is None

    async with await _enrol(http, secret_of(issued)) as response:
        await expect_problem(response, 403, "enrolment-code-invalid")
    (refused,) = await audit_entries(world, action="enrolment.refused")
    assert refused.actor_kind == "anonymous"
    assert secret_of(issued) not in refused.details
    (enrolled,) = await audit_entries(world, action="device.enrolled")
    assert enrolled.subject_id == first["device_id"]


async def test_a_code_used_by_the_sdk_cannot_be_used_again_by_the_sdk(
    world: World, http: aiohttp.ClientSession
) -> None:
    officer = await world.login("officer")
    case = await officer.create_case("DE-2026-0101", world.agencies["support"])
    enrolment = await officer.add_witness(
        case["case_id"], alias="Sparrow", language="ro", timezone="Europe/Bucharest"
    )
    await world.enrol(enrolment, name="first-phone")
    with pytest.raises(EnrolmentRefused) as refused:
        await world.enrol(enrolment, name="second-phone")
    assert isinstance(refused.value.__cause__, ApiError)
    assert refused.value.__cause__.code == "enrolment-code-invalid"
    assert not (world.tmp / "second-phone.store").exists()


async def test_a_wrong_code_is_refused_and_audited(
    world: World, http: aiohttp.ClientSession
) -> None:
    async with await _enrol(http, "A" * 32) as response:
        problem = await expect_problem(response, 403, "enrolment-code-invalid")
        assert "token" not in problem
    (entry,) = await audit_entries(world, action="enrolment.refused")
    assert entry.actor_kind == "anonymous"


async def test_a_registration_that_fails_its_checks_does_not_use_up_the_code(
    world: World, http: aiohttp.ClientSession
) -> None:
    _officer, issued = await _new_witness(world, http)
    device = RawDevice()
    body = device.enrol_body(secret_of(issued))
    body["device"]["proof"] = device.sign(b"something else entirely")
    async with http.post("/v1/enrol", json=body) as response:
        await expect_problem(response, 422, "signature-invalid")
    async with await _enrol(http, secret_of(issued)) as response:
        assert response.status == 201, await response.text()


async def test_a_proof_made_for_another_code_is_refused(
    world: World, http: aiohttp.ClientSession
) -> None:
    """The proof is bound to the code it was made for: a registration captured on the
    way to one enrolment cannot be replayed with another code."""
    _officer, issued = await _new_witness(world, http)
    device = RawDevice()
    body = device.enrol_body("B" * 32)
    body["code"] = secret_of(issued)
    async with http.post("/v1/enrol", json=body) as response:
        await expect_problem(response, 422, "signature-invalid")


async def test_the_code_can_be_typed_in_any_grouping_and_case(
    world: World, http: aiohttp.ClientSession
) -> None:
    _officer, issued = await _new_witness(world, http)
    secret = secret_of(issued)
    typed = " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)).lower()
    body = RawDevice().enrol_body(typed)
    async with http.post("/v1/enrol", json=body) as response:
        assert response.status == 201, await response.text()


# --------------------------------------------------------------------------- expiry


async def test_a_code_is_valid_for_just_under_24_hours(
    world: World, http: aiohttp.ClientSession
) -> None:
    _officer, issued = await _new_witness(world, http)
    world.clock.advance(timedelta(hours=24) - timedelta(seconds=1))
    async with await _enrol(http, secret_of(issued)) as response:
        assert response.status == 201, await response.text()


async def test_a_code_expires_after_24_hours(world: World, http: aiohttp.ClientSession) -> None:
    officer, issued = await _new_witness(world, http)
    world.clock.advance(timedelta(hours=24))
    async with await _enrol(http, secret_of(issued)) as response:
        await expect_problem(response, 403, "enrolment-code-invalid")
    # A new code, issued in person, works.
    async with http.post(
        f"/v1/witnesses/{issued['witness']['witness_id']}/enrolments", headers=officer
    ) as response:
        assert response.status == 201
        fresh = await response.json()
    async with await _enrol(http, secret_of(fresh)) as response:
        assert response.status == 201, await response.text()


async def test_the_issued_code_says_when_it_expires(
    world: World, http: aiohttp.ClientSession
) -> None:
    _officer, issued = await _new_witness(world, http)
    expected = world.clock.now() + timedelta(hours=24)
    assert issued["expires_at"] == expected.isoformat(timespec="milliseconds").replace(
        "+00:00", "Z"
    )


# --------------------------------------------------------------------------- forms


async def _sdk_enrol(world: World, code: str, name: str) -> WitnessClient:
    client = await WitnessClient.enroll(
        world.url,
        code,
        world.tmp / f"{name}.store",
        WITNESS_PIN,
        kdf=FAST_KDF,
        clock=world.clock,
    )
    world.clients.append(client)
    return client


async def test_the_text_form_enrols_a_phone(world: World) -> None:
    officer = await world.login("officer")
    case = await officer.create_case("DE-2026-0102", world.agencies["support"])
    enrolment = await officer.add_witness(
        case["case_id"], alias="Sparrow", language="ro", timezone="Europe/Bucharest"
    )
    assert "-" in enrolment.code
    phone = await _sdk_enrol(world, enrolment.code, "text-phone")
    assert phone.case_id == case["case_id"]
    assert [d.device_id for d in phone.known_devices(case["case_id"])] == [officer.device_id]
    await phone.send("arrived")
    assert await officer.sync() == 1


async def test_the_qr_payload_enrols_a_phone(world: World) -> None:
    officer = await world.login("officer")
    case = await officer.create_case("DE-2026-0103", world.agencies["support"])
    enrolment = await officer.add_witness(
        case["case_id"], alias="Sparrow", language="ro", timezone="Europe/Bucharest"
    )
    assert enrolment.qr_payload.startswith("witnesslink://enrol?")
    assert "<svg" in enrolment.qr_svg
    phone = await _sdk_enrol(world, enrolment.qr_payload, "qr-phone")
    assert phone.case_id == case["case_id"]
    await phone.send("arrived")
    assert await officer.sync() == 1


# --------------------------------------------------------------------------- rate limit


async def test_enrolment_attempts_are_rate_limited_per_address(
    world: World, http: aiohttp.ClientSession
) -> None:
    _officer, issued = await _new_witness(world, http)
    for i in range(10):
        async with await _enrol(http, "A" * 31 + "BCDEFGHIJK"[i]) as response:
            await expect_problem(response, 403, "enrolment-code-invalid")
    async with await _enrol(http, secret_of(issued)) as response:
        problem = await expect_problem(response, 429, "rate-limited")
        retry_after = int(response.headers["Retry-After"])
        assert retry_after == problem["retry_after"] > 0
    # A forged X-Forwarded-For does not help.
    async with http.post(
        "/v1/enrol",
        json=RawDevice().enrol_body(secret_of(issued)),
        headers={"X-Forwarded-For": "198.51.100.9"},
    ) as response:
        await expect_problem(response, 429, "rate-limited")
    world.clock.advance(timedelta(seconds=retry_after))
    async with await _enrol(http, secret_of(issued)) as response:
        assert response.status == 201, await response.text()


# --------------------------------------------------------------------------- the witness


async def test_a_case_has_only_one_witness(world: World, http: aiohttp.ClientSession) -> None:
    officer, issued = await _new_witness(world, http)
    case_id = issued["witness"]["case_id"]
    async with http.post(
        f"/v1/cases/{case_id}/witness",
        json={"alias": "Robin", "language": "ro", "timezone": "Europe/Bucharest"},
        headers=officer,
    ) as response:
        await expect_problem(response, 409, "conflict")
    assert len(await audit_entries(world, action="witness.added")) == 1


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("timezone", "Mars/Olympus_Mons", "invalid-input"),
        ("timezone", "Bucharest", "invalid-input"),
        ("timezone", "../../../../etc/passwd", "invalid-input"),
        ("timezone", "/etc/localtime", "invalid-input"),
        ("timezone", "", "invalid-body"),
        ("language", "Romanian", "invalid-input"),
        ("language", "r", "invalid-body"),
        ("alias", "", "invalid-body"),
        ("alias", "   ", "invalid-input"),
        ("alias", "Line\nbreak", "invalid-input"),
        ("alias", "x" * 65, "invalid-body"),
    ],
)
async def test_witness_details_are_validated(
    world: World, http: aiohttp.ClientSession, field: str, value: str, code: str
) -> None:
    officer = await raw_login(http, "officer")
    async with http.post(
        "/v1/cases",
        json={"reference": "DE-2026-0104", "support_agency_id": world.agencies["support"]},
        headers=officer.headers,
    ) as response:
        case_id = (await response.json())["case_id"]
    body = {"alias": "Sparrow", "language": "ro", "timezone": "Europe/Bucharest", field: value}
    async with http.post(
        f"/v1/cases/{case_id}/witness", json=body, headers=officer.headers
    ) as response:
        await expect_problem(response, 422, code)
    async with world.services.store.read() as uow:
        assert await uow.witnesses.get_by_case(case_id) is None


async def test_valid_witness_details_are_kept_as_given(
    world: World, http: aiohttp.ClientSession
) -> None:
    officer = await raw_login(http, "officer")
    async with http.post(
        "/v1/cases",
        json={"reference": "DE-2026-0105", "support_agency_id": world.agencies["support"]},
        headers=officer.headers,
    ) as response:
        case_id = (await response.json())["case_id"]
    async with http.post(
        f"/v1/cases/{case_id}/witness",
        json={"alias": "  Kestrel ", "language": "sq-AL", "timezone": "UTC"},
        headers=officer.headers,
    ) as response:
        assert response.status == 201, await response.text()
        witness = (await response.json())["witness"]
    assert witness == {
        "witness_id": witness["witness_id"],
        "case_id": case_id,
        "alias": "Kestrel",
        "language": "sq-AL",
        "timezone": "UTC",
    }


# --------------------------------------------------------------------------- pinned team


async def test_the_enrol_answer_carries_exactly_the_team_the_fingerprint_covers(
    world: World, http: aiohttp.ClientSession
) -> None:
    officer = await world.login("officer")
    worker = await world.login("worker")
    second_officer_device = await raw_login(http, "officer")
    case = await officer.create_case("DE-2026-0106", world.agencies["support"])
    await officer.assign(case["case_id"], world.staff["worker"])
    enrolment: Enrolment = await officer.add_witness(
        case["case_id"], alias="Sparrow", language="ro", timezone="Europe/Bucharest"
    )
    # Someone joins after the code was issued: the code does not vouch for them.
    await world.add_staff("latecomer", "support", Role.SUPPORT_WORKER)
    latecomer = await world.login("latecomer")
    await officer.assign(case["case_id"], world.staff["latecomer"])

    secret = parse_enrolment_code(enrolment.code).secret
    async with await _enrol(http, secret) as response:
        assert response.status == 201, await response.text()
        reply = await response.json()
    team = [
        TeamDevice(d["device_id"], d["curve25519"], d["ed25519"]) for d in reply["team_devices"]
    ]
    assert team_fingerprint(team) == enrolment.team_fingerprint
    assert {d.device_id for d in team} == {
        officer.device_id,
        worker.device_id,
        second_officer_device.device_id,
    }
    assert latecomer.device_id not in {d.device_id for d in team}
    identities = {d.device_id: (d.curve25519, d.ed25519) for d in team}
    assert identities[second_officer_device.device_id] == (
        second_officer_device.device.curve25519,
        second_officer_device.device.ed25519,
    )
    # Only staff devices are pinned; the phone itself is not in its own team.
    assert reply["device_id"] not in identities
