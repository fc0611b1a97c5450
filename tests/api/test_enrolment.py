"""Enrolling a witness's phone in person, over a server that only relays.

The officer's client makes the code and registers its hash, the roster it vouches for,
its MAC over that roster and a commitment to its SAS nonce (``issue``); the phone
claims the code with the server token derived from it (``POST /v1/enrol``), sends its
nonce, the issuing device reveals its own, and the officer completes or either side
aborts. The server keeps each step in order, lets only the right device take it, uses a
code up only when a phone is really registered with it, and writes no secret — code,
server token, nonce or MAC — into the audit log or into an error.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiohttp
import pytest

from client_sdk import EnrolmentRefused, StaffClient, WitnessClient
from client_sdk.errors import ApiError
from client_sdk.officer_enrolment import Enrolment
from scheduler.jobs import Maintenance
from server.domain.models import Role
from tests.api.helpers import (
    RawDevice,
    RawEnrolment,
    RawLogin,
    RawPhone,
    audit_entries,
    b64,
    bearer,
    ciphertexts,
    current_roster,
    expect_problem,
    one_time_key_count,
    pending_copies,
    publish_raw_identity,
    publish_raw_roster,
    raw_case,
    raw_claim,
    raw_enrolment,
    raw_login,
    raw_witness,
)
from tests.court.helpers import raw_socket
from tests.support.kdf import FAST_KDF, WITNESS_PIN
from tests.support.world import World, finish_in_person
from wire.enrolment import commitment, enrolment_keys, new_nonce, parse_enrolment_code
from wire.keys import check_roster

# --------------------------------------------------------------------------- set-up


@dataclass
class CaseWithWitness:
    """A case whose raw officer (with an identity) signed its first roster, and its
    witness, who has no phone yet."""

    officer: RawLogin
    case_id: str
    witness_id: str


async def case_with_witness(
    world: World, http: aiohttp.ClientSession, reference: str = "DE-2026-0100"
) -> CaseWithWitness:
    officer = await raw_login(http, "officer")
    case_id = await raw_case(world, http, officer, reference)
    await publish_raw_roster(http, officer, case_id)
    witness_id = await raw_witness(http, officer, case_id)
    return CaseWithWitness(officer, case_id, witness_id)


async def issue(http: aiohttp.ClientSession, case: CaseWithWitness) -> RawEnrolment:
    """The officer's client makes a code for the case's witness."""
    return await raw_enrolment(http, case.officer, case.case_id, case.witness_id)


async def submit(
    http: aiohttp.ClientSession, headers: dict[str, str], witness_id: str, body: dict[str, Any]
) -> aiohttp.ClientResponse:
    return await http.post(f"/v1/witnesses/{witness_id}/enrolments", json=body, headers=headers)


async def enrol(
    http: aiohttp.ClientSession, code: str, device: RawDevice | None = None
) -> aiohttp.ClientResponse:
    """A phone presents ``code`` (the typed or QR form) with a fresh device."""
    return await http.post("/v1/enrol", json=(device or RawDevice()).enrol_body(code))


async def send_nonce(
    http: aiohttp.ClientSession, headers: dict[str, str], nonce: bytes
) -> aiohttp.ClientResponse:
    return await http.put("/v1/me/enrolment/nonce", json={"nonce": b64(nonce)}, headers=headers)


async def officer_view(
    http: aiohttp.ClientSession, login: RawLogin, enrolment: RawEnrolment
) -> dict[str, Any]:
    async with http.get(f"/v1/enrolments/{enrolment.enrolment_id}", headers=login.headers) as r:
        assert r.status == 200, await r.text()
        view: dict[str, Any] = await r.json()
        return view


async def phone_view(http: aiohttp.ClientSession, phone: RawPhone) -> dict[str, Any]:
    async with http.get("/v1/me/enrolment", headers=phone.headers) as response:
        assert response.status == 200, await response.text()
        view: dict[str, Any] = await response.json()
        return view


async def step(
    http: aiohttp.ClientSession,
    login: RawLogin,
    enrolment: RawEnrolment,
    action: str,
    body: dict[str, Any] | None = None,
) -> aiohttp.ClientResponse:
    """The issuing side's ``reveal``, ``complete`` or ``abort``."""
    return await http.post(
        f"/v1/enrolments/{enrolment.enrolment_id}/{action}", json=body, headers=login.headers
    )


def reveal_body(enrolment: RawEnrolment) -> dict[str, str]:
    return {"nonce": b64(enrolment.nonce)}


async def until_revealed(
    http: aiohttp.ClientSession, case: CaseWithWitness, enrolment: RawEnrolment
) -> RawPhone:
    """Claim, the phone's nonce, and the officer's reveal."""
    phone = await raw_claim(http, enrolment.text)
    async with await send_nonce(http, phone.headers, new_nonce()) as response:
        assert response.status == 200, await response.text()
    async with await step(http, case.officer, enrolment, "reveal", reveal_body(enrolment)) as r:
        assert r.status == 200, await r.text()
    return phone


async def is_active(http: aiohttp.ClientSession, token: str) -> bool:
    async with http.get("/v1/me", headers=bearer(token)) as response:
        if response.status == 200:
            return True
        await expect_problem(response, 401, "device-revoked")
        return False


async def assert_audit_holds_none_of(world: World, *secrets: str) -> None:
    """No audit entry carries any of ``secrets`` in any of its fields."""
    for entry in await audit_entries(world):
        text = repr(entry)
        for secret in secrets:
            assert secret not in text, (secret, entry)


def secrets_of(enrolment: RawEnrolment) -> list[str]:
    """Everything about a code that must never be written down by the server."""
    keys = enrolment.keys
    text = enrolment.text
    return [
        text,
        text.replace("-", ""),
        b64(enrolment.code.secret),
        b64(keys.server_token),
        b64(keys.team),
        b64(keys.phone),
        b64(enrolment.nonce),
    ]


# --------------------------------------------------------------------------- issuing


async def test_a_case_manager_registers_an_enrolment_that_expires_in_24_hours(
    world: World, http: aiohttp.ClientSession
) -> None:
    case = await case_with_witness(world, http)
    enrolment = await issue(http, case)
    expires = (world.clock.now() + timedelta(hours=24)).isoformat(timespec="milliseconds")
    assert enrolment.issued == {
        "enrolment_id": enrolment.enrolment_id,
        "witness_id": case.witness_id,
        "state": "issued",
        "expires_at": expires.replace("+00:00", "Z"),
        "device_id": None,
        "phone_identity": None,
        "phone_mac": None,
        "phone_nonce": None,
    }
    (entry,) = await audit_entries(world, action="enrolment.issued")
    assert (entry.actor_id, entry.subject_id, entry.case_id) == (
        case.officer.staff_id,
        case.witness_id,
        case.case_id,
    )
    assert json.loads(entry.details) == {"roster_version": 1}
    await assert_audit_holds_none_of(world, *secrets_of(enrolment))


async def test_only_managers_of_the_case_may_issue_a_code(
    world: World, http: aiohttp.ClientSession
) -> None:
    case = await case_with_witness(world, http)
    worker = await raw_login(http, "worker")
    async with http.post(
        f"/v1/cases/{case.case_id}/staff",
        json={"staff_id": worker.staff_id},
        headers=case.officer.headers,
    ) as response:
        assert response.status == 201, await response.text()
    await world.add_staff("colleague", "police", Role.OFFICER)
    colleague = await raw_login(http, "colleague")
    outsider = await raw_login(http, "outsider")
    phone = await raw_claim(http, (await issue(http, case)).text)
    roster = await current_roster(http, case.officer.headers, case.case_id)
    assert roster is not None
    refusals = [
        (worker.headers, 403, "forbidden"),  # on the case, but does not manage it
        (colleague.headers, 404, "not-found"),  # same agency, not on the case
        (outsider.headers, 404, "not-found"),  # another agency
        (phone.headers, 403, "forbidden"),  # the witness's own phone
    ]
    for headers, status, code in refusals:
        body = RawEnrolment.over(roster).request()
        async with await submit(http, headers, case.witness_id, body) as response:
            await expect_problem(response, status, code)
    assert len(await audit_entries(world, action="enrolment.issued")) == 1
    await world.add_staff("chief", "police", Role.SUPERVISOR)
    chief = await raw_login(http, "chief")
    async with await submit(
        http, chief.headers, case.witness_id, RawEnrolment.over(roster).request()
    ) as response:
        assert response.status == 201, await response.text()


async def test_a_code_for_an_unknown_witness_is_not_found(
    world: World, http: aiohttp.ClientSession
) -> None:
    case = await case_with_witness(world, http)
    roster = await current_roster(http, case.officer.headers, case.case_id)
    assert roster is not None
    async with await submit(
        http, case.officer.headers, "wit_nobody", RawEnrolment.over(roster).request()
    ) as response:
        await expect_problem(response, 404, "not-found")


async def test_the_roster_handed_over_must_be_the_cases_current_roster(
    world: World, http: aiohttp.ClientSession
) -> None:
    case = await case_with_witness(world, http)
    first = await current_roster(http, case.officer.headers, case.case_id)
    assert first is not None
    second = await publish_raw_roster(http, case.officer, case.case_id, version=2)
    other = await case_with_witness(world, http, reference="DE-2026-0199")
    elsewhere = await current_roster(http, other.officer.headers, other.case_id)
    assert elsewhere is not None
    tampered = {**second, "issued_at": "2030-01-01T00:00:00Z"}  # signature no longer fits
    for stale in (first, elsewhere, tampered, {"type": "wl.roster.v1"}):
        body = RawEnrolment.over(stale).request()
        async with await submit(http, case.officer.headers, case.witness_id, body) as response:
            await expect_problem(response, 422, "invalid-key-object")
    assert not await audit_entries(world, action="enrolment.issued")
    # The same roster with its keys in another order is the same roster.
    reordered = dict(reversed(list(second.items())))
    body = RawEnrolment.over(reordered).request()
    async with await submit(http, case.officer.headers, case.witness_id, body) as response:
        assert response.status == 201, await response.text()


async def test_a_case_without_a_roster_cannot_hand_one_over(
    world: World, http: aiohttp.ClientSession
) -> None:
    officer = await raw_login(http, "officer")
    await publish_raw_identity(http, officer)
    case_id = await raw_case(world, http, officer, "DE-2026-0101")
    witness_id = await raw_witness(http, officer, case_id)
    assert officer.identity is not None
    unpublished = officer.identity.roster(case_id, 1, [], world.clock.now())
    body = RawEnrolment.over(unpublished).request()
    async with await submit(http, officer.headers, witness_id, body) as response:
        await expect_problem(response, 422, "invalid-key-object")


MALFORMED_32_BYTES = [
    ("!" * 43, "invalid-input"),  # not base64
    (b64(b"x" * 33), "invalid-input"),  # 33 bytes
    (b64(b"x" * 16), "invalid-body"),  # far too short
]


async def test_a_malformed_hash_mac_or_commitment_is_refused(
    world: World, http: aiohttp.ClientSession
) -> None:
    case = await case_with_witness(world, http)
    roster = await current_roster(http, case.officer.headers, case.case_id)
    assert roster is not None
    for field in ("code_hash", "team_mac", "commitment"):
        for value, code in MALFORMED_32_BYTES:
            body = {**RawEnrolment.over(roster).request(), field: value}
            async with await submit(http, case.officer.headers, case.witness_id, body) as r:
                problem = await expect_problem(r, 422, code)
                assert value not in json.dumps(problem)
    assert not await audit_entries(world, action="enrolment.issued")


async def test_a_code_hash_already_on_record_is_refused_and_the_first_code_still_works(
    world: World, http: aiohttp.ClientSession
) -> None:
    """A client that made the same code twice (or replays another's registration) gets
    a conflict, never a server error; the code on record is unharmed."""
    case = await case_with_witness(world, http)
    enrolment = await issue(http, case)
    other = await case_with_witness(world, http, reference="DE-2026-0102")
    roster = await current_roster(http, other.officer.headers, other.case_id)
    assert roster is not None
    again = RawEnrolment(enrolment.code, new_nonce(), roster)
    async with await submit(http, other.officer.headers, other.witness_id, again.request()) as r:
        await expect_problem(r, 409, "conflict")
    phone = await raw_claim(http, enrolment.text)
    assert phone.reply["witness"]["witness_id"] == case.witness_id


async def test_only_the_newest_code_of_a_witness_works(
    world: World, http: aiohttp.ClientSession
) -> None:
    case = await case_with_witness(world, http)
    older = await issue(http, case)
    newer = await issue(http, case)
    assert (await officer_view(http, case.officer, older))["state"] == "withdrawn"
    async with await enrol(http, older.text) as response:
        await expect_problem(response, 403, "enrolment-code-invalid")
    phone = await raw_claim(http, newer.text)
    assert phone.reply["enrolment"]["enrolment_id"] == newer.enrolment_id


@pytest.mark.parametrize("when", ["claimed", "revealed"])
async def test_a_newer_code_revokes_a_phone_that_claimed_an_older_one_unconfirmed(
    world: World, http: aiohttp.ClientSession, when: str
) -> None:
    """Whoever claimed a code first (someone who read the typed code over a shoulder,
    say) is not the witness's phone until the numbers are confirmed: starting again
    with a new code must not leave that phone able to answer check-ins."""
    case = await case_with_witness(world, http)
    older = await issue(http, case)
    if when == "claimed":
        interloper = await raw_claim(http, older.text)
    else:
        interloper = await until_revealed(http, case, older)
    newer = await issue(http, case)
    assert not await is_active(http, interloper.token)
    assert (await officer_view(http, case.officer, older))["state"] == "aborted"
    (aborted,) = await audit_entries(world, action="enrolment.aborted")
    assert (aborted.actor_id, aborted.case_id) == (case.officer.staff_id, case.case_id)
    assert json.loads(aborted.details) == {"why": "superseded"}
    phone = await raw_claim(http, newer.text)
    assert await is_active(http, phone.token)


async def test_a_newer_code_leaves_the_confirmed_phone_alone(
    world: World, http: aiohttp.ClientSession
) -> None:
    """A replacement phone gets a new code; the old phone stays until it is revoked."""
    case = await case_with_witness(world, http)
    first = await issue(http, case)
    phone = await until_revealed(http, case, first)
    async with await step(http, case.officer, first, "complete") as response:
        assert response.status == 200
    replacement = await issue(http, case)
    assert await is_active(http, phone.token)
    assert (await officer_view(http, case.officer, first))["state"] == "completed"
    await raw_claim(http, replacement.text)
    assert not await audit_entries(world, action="enrolment.aborted")


# --------------------------------------------------------------------------- claiming


async def test_a_code_enrols_one_phone_once(world: World, http: aiohttp.ClientSession) -> None:
    case = await case_with_witness(world, http)
    enrolment = await issue(http, case)
    phone = await raw_claim(http, enrolment.text)
    assert phone.reply["witness"] == {
        "witness_id": case.witness_id,
        "case_id": case.case_id,
        "alias": "Sparrow",
        "language": "ro",
        "timezone": "Europe/Bucharest",
    }
    assert phone.reply["enrolment"] == {
        "enrolment_id": enrolment.enrolment_id,
        "state": "claimed",
        "roster": enrolment.roster,
        "team_mac": enrolment.request()["team_mac"],
        "commitment": commitment(enrolment.nonce),
        "officer_nonce": None,
    }
    async with http.get("/v1/me", headers=phone.headers) as response:
        me = await response.json()
    assert (me["witness"]["witness_id"], me["staff"]) == (case.witness_id, None)

    async with await enrol(http, enrolment.text) as response:
        await expect_problem(response, 403, "enrolment-code-invalid")
    (enrolled,) = await audit_entries(world, action="device.enrolled")
    assert (enrolled.actor_kind, enrolled.subject_id) == ("witness", phone.device_id)
    (refused,) = await audit_entries(world, action="enrolment.refused")
    assert refused.actor_kind == "anonymous"
    await assert_audit_holds_none_of(world, *secrets_of(enrolment), phone.identity_mac)


async def test_the_issuing_device_learns_which_phone_claimed_the_code(
    world: World, http: aiohttp.ClientSession
) -> None:
    case = await case_with_witness(world, http)
    enrolment = await issue(http, case)
    phone = await raw_claim(http, enrolment.text)
    view = await officer_view(http, case.officer, enrolment)
    assert view == {
        **enrolment.issued,
        "state": "claimed",
        "device_id": phone.device_id,
        "phone_identity": phone.identity_key,
        "phone_mac": phone.identity_mac,
        "phone_nonce": None,
    }


async def test_a_wrong_code_is_refused_and_audited_without_the_code(
    world: World, http: aiohttp.ClientSession
) -> None:
    wrong = RawEnrolment.over({})
    async with await enrol(http, wrong.text) as response:
        problem = await expect_problem(response, 403, "enrolment-code-invalid")
    for secret in secrets_of(wrong):
        assert secret not in json.dumps(problem)
    (entry,) = await audit_entries(world, action="enrolment.refused")
    assert entry.actor_kind == "anonymous"
    assert json.loads(entry.details) == {"why": "code"}
    await assert_audit_holds_none_of(world, *secrets_of(wrong))


async def test_an_expired_code_is_refused_and_a_fresh_one_works(
    world: World, http: aiohttp.ClientSession
) -> None:
    case = await case_with_witness(world, http)
    enrolment = await issue(http, case)
    world.clock.advance(timedelta(hours=24))
    async with await enrol(http, enrolment.text) as response:
        await expect_problem(response, 403, "enrolment-code-invalid")
    (refused,) = await audit_entries(world, action="enrolment.refused")
    assert refused.actor_kind == "anonymous"
    await assert_audit_holds_none_of(world, *secrets_of(enrolment))
    fresh = await issue(http, case)
    await raw_claim(http, fresh.text)


async def test_a_code_is_valid_for_just_under_24_hours(
    world: World, http: aiohttp.ClientSession
) -> None:
    case = await case_with_witness(world, http)
    enrolment = await issue(http, case)
    world.clock.advance(timedelta(hours=24) - timedelta(seconds=1))
    await raw_claim(http, enrolment.text)


async def test_a_code_withdrawn_by_the_officer_is_refused(
    world: World, http: aiohttp.ClientSession
) -> None:
    case = await case_with_witness(world, http)
    enrolment = await issue(http, case)
    async with await step(http, case.officer, enrolment, "abort") as response:
        assert response.status == 200, await response.text()
    async with await enrol(http, enrolment.text) as response:
        await expect_problem(response, 403, "enrolment-code-invalid")
    assert (await officer_view(http, case.officer, enrolment))["state"] == "aborted"
    await assert_audit_holds_none_of(world, *secrets_of(enrolment))


async def test_a_registration_that_fails_its_checks_does_not_use_up_the_code(
    world: World, http: aiohttp.ClientSession
) -> None:
    case = await case_with_witness(world, http)
    enrolment = await issue(http, case)
    device = RawDevice()
    bad_proof = device.enrol_body(enrolment.text)
    bad_proof["device"]["proof"] = device.sign(b"something else entirely")
    bad_key = RawDevice().enrol_body(enrolment.text)
    bad_key["device"]["one_time_keys"][0]["signature"] = device.sign(b"not this key")
    for body in (bad_proof, bad_key):
        async with http.post("/v1/enrol", json=body) as response:
            await expect_problem(response, 422, "signature-invalid")
    assert (await officer_view(http, case.officer, enrolment))["state"] == "issued"
    await raw_claim(http, enrolment.text)


async def test_a_device_whose_keys_are_already_registered_does_not_use_up_the_code(
    world: World, http: aiohttp.ClientSession
) -> None:
    case = await case_with_witness(world, http)
    enrolment = await issue(http, case)
    # The officer's own device keys, proved again for this code.
    body = case.officer.device.enrol_body(enrolment.text)
    async with http.post("/v1/enrol", json=body) as response:
        await expect_problem(response, 409, "conflict")
    assert (await officer_view(http, case.officer, enrolment))["state"] == "issued"
    await raw_claim(http, enrolment.text)


async def test_a_proof_made_for_another_code_is_refused_and_uses_nothing_up(
    world: World, http: aiohttp.ClientSession
) -> None:
    """The device's proof is bound to the code it was made for: a registration captured
    on its way to one enrolment cannot be replayed with another code."""
    case = await case_with_witness(world, http)
    enrolment = await issue(http, case)
    made_for_another = RawDevice().enrol_body(RawEnrolment.over({}).text)
    made_for_another["code"] = b64(enrolment.keys.server_token)
    async with http.post("/v1/enrol", json=made_for_another) as response:
        await expect_problem(response, 422, "signature-invalid")
    await raw_claim(http, enrolment.text)


async def test_a_malformed_identity_key_mac_or_token_is_refused_and_uses_nothing_up(
    world: World, http: aiohttp.ClientSession
) -> None:
    case = await case_with_witness(world, http)
    enrolment = await issue(http, case)
    for field, value, code in [
        ("identity_key", b64(b"k" * 31) + "AAAA", "invalid-input"),  # 34 bytes
        ("identity_key", "%" * 43, "invalid-input"),
        ("identity_key", "", "invalid-body"),
        ("identity_mac", "%" * 43, "invalid-input"),
        ("identity_mac", b64(b"m" * 31), "invalid-body"),
        ("code", "%" * 43, "invalid-input"),
        ("code", b64(b"t" * 20), "invalid-body"),
    ]:
        body = {**RawDevice().enrol_body(enrolment.text), field: value}
        async with http.post("/v1/enrol", json=body) as response:
            await expect_problem(response, 422, code)
    assert (await officer_view(http, case.officer, enrolment))["state"] == "issued"
    await raw_claim(http, enrolment.text)


async def test_the_typed_code_works_in_any_grouping_and_case(
    world: World, http: aiohttp.ClientSession
) -> None:
    case = await case_with_witness(world, http)
    enrolment = await issue(http, case)
    bare = enrolment.text.replace("-", "")
    typed = " ".join(bare[i : i + 3] for i in range(0, len(bare), 3)).lower()
    assert parse_enrolment_code(typed).secret == enrolment.code.secret
    await raw_claim(http, typed)


async def test_the_qr_form_carries_the_same_code(world: World, http: aiohttp.ClientSession) -> None:
    case = await case_with_witness(world, http)
    enrolment = await issue(http, case)
    with_server = type(enrolment.code)(enrolment.code.secret, world.url)
    assert parse_enrolment_code(with_server.qr_payload()) == with_server
    await raw_claim(http, with_server.qr_payload())


async def test_claims_are_rate_limited_per_address(
    world: World, http: aiohttp.ClientSession
) -> None:
    case = await case_with_witness(world, http)
    enrolment = await issue(http, case)
    for _ in range(10):
        async with await enrol(http, RawEnrolment.over({}).text) as response:
            await expect_problem(response, 403, "enrolment-code-invalid")
    async with await enrol(http, enrolment.text) as response:
        problem = await expect_problem(response, 429, "rate-limited")
        retry_after = int(response.headers["Retry-After"])
        assert retry_after == problem["retry_after"] > 0
    # A forged X-Forwarded-For does not make another address.
    async with http.post(
        "/v1/enrol",
        json=RawDevice().enrol_body(enrolment.text),
        headers={"X-Forwarded-For": "198.51.100.9"},
    ) as response:
        await expect_problem(response, 429, "rate-limited")
    assert (await officer_view(http, case.officer, enrolment))["state"] == "issued"
    world.clock.advance(timedelta(seconds=retry_after))
    await raw_claim(http, enrolment.text)


# --------------------------------------------------------------------------- the phone's nonce


async def test_the_phone_sends_its_nonce_once(world: World, http: aiohttp.ClientSession) -> None:
    case = await case_with_witness(world, http)
    enrolment = await issue(http, case)
    phone = await raw_claim(http, enrolment.text)
    nonce = new_nonce()
    async with await send_nonce(http, phone.headers, nonce) as response:
        assert response.status == 200, await response.text()
    assert (await officer_view(http, case.officer, enrolment))["phone_nonce"] == b64(nonce)
    async with await send_nonce(http, phone.headers, new_nonce()) as response:
        await expect_problem(response, 409, "conflict")
    assert (await officer_view(http, case.officer, enrolment))["phone_nonce"] == b64(nonce)
    await assert_audit_holds_none_of(world, b64(nonce))


async def test_only_the_claiming_phone_sends_the_nonce_of_its_enrolment(
    world: World, http: aiohttp.ClientSession
) -> None:
    first = await case_with_witness(world, http)
    first_code = await issue(http, first)
    first_phone = await raw_claim(http, first_code.text)
    second = await case_with_witness(world, http, reference="DE-2026-0103")
    second_code = await issue(http, second)
    second_phone = await raw_claim(http, second_code.text)
    async with await send_nonce(http, first.officer.headers, new_nonce()) as response:
        await expect_problem(response, 403, "forbidden")
    async with await send_nonce(http, second_phone.headers, new_nonce()) as response:
        assert response.status == 200
    assert (await officer_view(http, first.officer, first_code))["phone_nonce"] is None
    async with await send_nonce(http, first_phone.headers, new_nonce()) as response:
        assert response.status == 200


async def test_a_phone_whose_enrolment_was_aborted_sends_no_nonce(
    world: World, http: aiohttp.ClientSession
) -> None:
    case = await case_with_witness(world, http)
    enrolment = await issue(http, case)
    phone = await raw_claim(http, enrolment.text)
    async with http.post("/v1/me/enrolment/abort", headers=phone.headers) as response:
        assert response.status == 200
    async with await send_nonce(http, phone.headers, new_nonce()) as response:
        await expect_problem(response, 401, "device-revoked")
    assert (await officer_view(http, case.officer, enrolment))["phone_nonce"] is None


async def test_a_malformed_nonce_is_refused(world: World, http: aiohttp.ClientSession) -> None:
    case = await case_with_witness(world, http)
    enrolment = await issue(http, case)
    phone = await raw_claim(http, enrolment.text)
    for nonce, code in [*MALFORMED_32_BYTES, ("", "invalid-body")]:
        async with http.put(
            "/v1/me/enrolment/nonce", json={"nonce": nonce}, headers=phone.headers
        ) as response:
            await expect_problem(response, 422, code)
        async with await step(http, case.officer, enrolment, "reveal", {"nonce": nonce}) as r:
            await expect_problem(r, 422, code)
    assert (await officer_view(http, case.officer, enrolment))["phone_nonce"] is None


# --------------------------------------------------------------------------- the officer's view


async def test_only_the_issuing_device_follows_the_enrolment(
    world: World, http: aiohttp.ClientSession
) -> None:
    """Not another client of the same officer, not another manager of the case, not the
    phone: the secret and nonce live on the issuing device, and so does the follow-up."""
    case = await case_with_witness(world, http)
    enrolment = await issue(http, case)
    phone = await raw_claim(http, enrolment.text)
    second_device = await raw_login(http, "officer")
    await world.add_staff("chief", "police", Role.SUPERVISOR)
    chief = await raw_login(http, "chief")
    outsider = await raw_login(http, "outsider")
    for login in (second_device, chief, outsider):
        for path, body in [
            (f"/v1/enrolments/{enrolment.enrolment_id}", None),
            (f"/v1/enrolments/{enrolment.enrolment_id}/reveal", reveal_body(enrolment)),
            (f"/v1/enrolments/{enrolment.enrolment_id}/complete", None),
            (f"/v1/enrolments/{enrolment.enrolment_id}/abort", None),
        ]:
            method = "GET" if body is None and path.endswith(enrolment.enrolment_id) else "POST"
            async with http.request(method, path, json=body, headers=login.headers) as response:
                await expect_problem(response, 404, "not-found")
    # The phone is no staff client: it is refused the same whether the id exists or not.
    for enrolment_id in (enrolment.enrolment_id, "enr_nosuchthing"):
        async with http.get(f"/v1/enrolments/{enrolment_id}", headers=phone.headers) as r:
            await expect_problem(r, 403, "forbidden")
    assert (await officer_view(http, case.officer, enrolment))["state"] == "claimed"
    assert await is_active(http, phone.token)


async def test_an_unknown_enrolment_is_not_found(world: World, http: aiohttp.ClientSession) -> None:
    officer = await raw_login(http, "officer")
    async with http.get("/v1/enrolments/enr_nosuchthing", headers=officer.headers) as response:
        await expect_problem(response, 404, "not-found")


async def test_the_phone_sees_its_own_enrolment_and_nothing_before_it_exists(
    world: World, http: aiohttp.ClientSession
) -> None:
    case = await case_with_witness(world, http)
    enrolment = await issue(http, case)
    phone = await raw_claim(http, enrolment.text)
    assert await phone_view(http, phone) == phone.reply["enrolment"]
    async with http.get("/v1/me/enrolment", headers=case.officer.headers) as response:
        await expect_problem(response, 404, "not-found")


# --------------------------------------------------------------------------- reveal


async def test_the_officer_reveals_only_after_the_phones_nonce(
    world: World, http: aiohttp.ClientSession
) -> None:
    case = await case_with_witness(world, http)
    enrolment = await issue(http, case)
    async with await step(http, case.officer, enrolment, "reveal", reveal_body(enrolment)) as r:
        await expect_problem(r, 409, "conflict")  # no phone yet
    phone = await raw_claim(http, enrolment.text)
    async with await step(http, case.officer, enrolment, "reveal", reveal_body(enrolment)) as r:
        await expect_problem(r, 409, "conflict")  # the phone has not sent its nonce
    assert (await phone_view(http, phone))["officer_nonce"] is None
    async with await send_nonce(http, phone.headers, new_nonce()) as response:
        assert response.status == 200
    async with await step(http, case.officer, enrolment, "reveal", reveal_body(enrolment)) as r:
        assert r.status == 200, await r.text()
        assert (await r.json())["state"] == "revealed"
    seen = await phone_view(http, phone)
    assert (seen["state"], seen["officer_nonce"]) == ("revealed", b64(enrolment.nonce))
    await assert_audit_holds_none_of(world, b64(enrolment.nonce))


async def test_a_revealed_nonce_must_match_the_commitment(
    world: World, http: aiohttp.ClientSession
) -> None:
    case = await case_with_witness(world, http)
    enrolment = await issue(http, case)
    phone = await raw_claim(http, enrolment.text)
    async with await send_nonce(http, phone.headers, new_nonce()) as response:
        assert response.status == 200
    other = b64(new_nonce())
    async with await step(http, case.officer, enrolment, "reveal", {"nonce": other}) as r:
        problem = await expect_problem(r, 422, "invalid-input")
        assert other not in json.dumps(problem)
    assert (await phone_view(http, phone))["officer_nonce"] is None
    async with await step(http, case.officer, enrolment, "reveal", reveal_body(enrolment)) as r:
        assert r.status == 200, await r.text()


async def test_the_nonce_is_revealed_only_once(world: World, http: aiohttp.ClientSession) -> None:
    case = await case_with_witness(world, http)
    enrolment = await issue(http, case)
    phone = await until_revealed(http, case, enrolment)
    async with await step(http, case.officer, enrolment, "reveal", reveal_body(enrolment)) as r:
        await expect_problem(r, 409, "conflict")
    assert (await phone_view(http, phone))["officer_nonce"] == b64(enrolment.nonce)


# --------------------------------------------------------------------------- complete


async def test_completion_comes_only_after_the_reveal_and_is_audited(
    world: World, http: aiohttp.ClientSession
) -> None:
    case = await case_with_witness(world, http)
    enrolment = await issue(http, case)
    async with await step(http, case.officer, enrolment, "complete") as response:
        await expect_problem(response, 409, "conflict")  # nobody claimed it
    phone = await raw_claim(http, enrolment.text)
    async with await send_nonce(http, phone.headers, new_nonce()) as response:
        assert response.status == 200
    async with await step(http, case.officer, enrolment, "complete") as response:
        await expect_problem(response, 409, "conflict")  # not revealed yet
    assert not await audit_entries(world, action="enrolment.completed")
    async with await step(http, case.officer, enrolment, "reveal", reveal_body(enrolment)) as r:
        assert r.status == 200
    async with await step(http, case.officer, enrolment, "complete") as response:
        assert response.status == 200, await response.text()
    (entry,) = await audit_entries(world, action="enrolment.completed")
    assert (entry.actor_id, entry.subject_kind, entry.subject_id, entry.case_id) == (
        case.officer.staff_id,
        "device",
        phone.device_id,
        case.case_id,
    )
    assert (await officer_view(http, case.officer, enrolment))["state"] == "completed"
    async with await step(http, case.officer, enrolment, "complete") as response:
        await expect_problem(response, 409, "conflict")
    await assert_audit_holds_none_of(world, *secrets_of(enrolment), phone.identity_mac)


async def test_a_completed_enrolment_cannot_be_aborted_by_either_side(
    world: World, http: aiohttp.ClientSession
) -> None:
    case = await case_with_witness(world, http)
    enrolment = await issue(http, case)
    phone = await until_revealed(http, case, enrolment)
    async with await step(http, case.officer, enrolment, "complete") as response:
        assert response.status == 200
    async with await step(http, case.officer, enrolment, "abort") as response:
        await expect_problem(response, 409, "conflict")
    async with http.post("/v1/me/enrolment/abort", headers=phone.headers) as response:
        await expect_problem(response, 409, "conflict")
    assert await is_active(http, phone.token)
    assert not await audit_entries(world, action="enrolment.aborted")


# --------------------------------------------------------------------------- abort


@pytest.mark.parametrize("when", ["claimed", "revealed"])
async def test_the_officer_aborting_revokes_the_phone_at_once(
    world: World, http: aiohttp.ClientSession, when: str
) -> None:
    case = await case_with_witness(world, http)
    enrolment = await issue(http, case)
    if when == "claimed":
        phone = await raw_claim(http, enrolment.text)
    else:
        phone = await until_revealed(http, case, enrolment)
    async with await step(http, case.officer, enrolment, "abort") as response:
        assert response.status == 200, await response.text()
    assert not await is_active(http, phone.token)
    assert (await officer_view(http, case.officer, enrolment))["state"] == "aborted"
    (entry,) = await audit_entries(world, action="enrolment.aborted")
    assert (entry.actor_id, entry.subject_id, entry.case_id) == (
        case.officer.staff_id,
        case.witness_id,
        case.case_id,
    )
    async with world.services.store.read() as uow:
        device = await uow.devices.get(phone.device_id)
    assert device is not None
    assert device.revoked_at is not None
    async with await step(http, case.officer, enrolment, "abort") as response:
        await expect_problem(response, 409, "conflict")
    async with await enrol(http, enrolment.text) as response:
        await expect_problem(response, 403, "enrolment-code-invalid")


async def test_the_phone_aborting_revokes_itself(world: World, http: aiohttp.ClientSession) -> None:
    case = await case_with_witness(world, http)
    enrolment = await issue(http, case)
    phone = await until_revealed(http, case, enrolment)
    async with http.post("/v1/me/enrolment/abort", headers=phone.headers) as response:
        assert response.status == 200, await response.text()
    assert not await is_active(http, phone.token)
    assert (await officer_view(http, case.officer, enrolment))["state"] == "aborted"
    (entry,) = await audit_entries(world, action="enrolment.aborted")
    assert (entry.actor_kind, entry.actor_id, entry.case_id) == (
        "witness",
        case.witness_id,
        case.case_id,
    )
    async with await step(http, case.officer, enrolment, "complete") as response:
        await expect_problem(response, 409, "conflict")


async def test_aborting_forgets_what_waits_for_the_phone(
    world: World, http: aiohttp.ClientSession
) -> None:
    """As with any revocation: its queued copies, its unused keys and attachments sent
    only to it are gone."""
    case = await case_with_witness(world, http)
    enrolment = await issue(http, case)
    phone = await raw_claim(http, enrolment.text)
    async with http.put(
        f"/v1/cases/{case.case_id}/messages/early-message",
        json=ciphertexts(phone.device_id),
        headers=case.officer.headers,
    ) as response:
        assert response.status == 201, await response.text()
    async with http.post(
        f"/v1/cases/{case.case_id}/attachments",
        params={"recipients": phone.device_id},
        data=b"opaque ciphertext",
        headers=case.officer.headers,
    ) as response:
        assert response.status == 201, await response.text()
        attachment_id = (await response.json())["attachment_id"]
    assert await pending_copies(world, phone.device_id) == 1
    async with http.post("/v1/me/enrolment/abort", headers=phone.headers) as response:
        assert response.status == 200
    assert await pending_copies(world, phone.device_id) == 0
    assert await one_time_key_count(world, phone.device_id) == 0
    async with world.services.store.read() as uow:
        assert await uow.attachments.get(attachment_id) is None


async def test_an_aborted_phone_is_no_longer_a_device_of_the_case(
    world: World, http: aiohttp.ClientSession
) -> None:
    case = await case_with_witness(world, http)
    enrolment = await issue(http, case)
    phone = await raw_claim(http, enrolment.text)
    async with http.get(f"/v1/cases/{case.case_id}/devices", headers=case.officer.headers) as r:
        assert phone.device_id in {d["device_id"] for d in (await r.json())["devices"]}
    async with await step(http, case.officer, enrolment, "abort") as response:
        assert response.status == 200
    async with http.get(f"/v1/cases/{case.case_id}/devices", headers=case.officer.headers) as r:
        assert phone.device_id not in {d["device_id"] for d in (await r.json())["devices"]}


# --------------------------------------------------------------------------- purge


async def test_the_purge_job_removes_expired_enrolments_and_keeps_live_ones(
    world: World, http: aiohttp.ClientSession
) -> None:
    first = await case_with_witness(world, http)
    withdrawn = await issue(http, first)
    expiring = await issue(http, first)
    world.clock.advance(timedelta(hours=1))
    second = await case_with_witness(world, http, reference="DE-2026-0104")
    live = await issue(http, second)
    world.clock.advance(timedelta(hours=23))
    report = await Maintenance(world.services).purge_expired()
    assert report.enrolment_codes == 2
    for gone in (withdrawn, expiring):
        async with http.get(
            f"/v1/enrolments/{gone.enrolment_id}", headers=first.officer.headers
        ) as response:
            await expect_problem(response, 404, "not-found")
    assert (await officer_view(http, second.officer, live))["state"] == "issued"
    assert (await Maintenance(world.services).purge_expired()).enrolment_codes == 0
    await raw_claim(http, live.text)


async def test_a_phone_still_unconfirmed_when_its_code_expires_is_revoked_by_the_purge(
    world: World, http: aiohttp.ClientSession
) -> None:
    first = await case_with_witness(world, http)
    unfinished = await issue(http, first)
    stuck = await until_revealed(http, first, unfinished)
    second = await case_with_witness(world, http, reference="DE-2026-0106")
    finished = await issue(http, second)
    confirmed = await until_revealed(http, second, finished)
    async with await step(http, second.officer, finished, "complete") as response:
        assert response.status == 200
    world.clock.advance(timedelta(hours=24))
    assert (await Maintenance(world.services).purge_expired()).enrolment_codes == 2
    assert not await is_active(http, stuck.token)
    assert await is_active(http, confirmed.token)
    (aborted,) = await audit_entries(world, action="enrolment.aborted")
    assert (aborted.actor_kind, aborted.case_id) == ("system", first.case_id)
    assert json.loads(aborted.details) == {"why": "expired"}
    async with http.get("/v1/me/enrolment", headers=confirmed.headers) as response:
        await expect_problem(response, 404, "not-found")  # forgotten; the phone stays


# --------------------------------------------------------------------------- the witness


async def test_a_case_has_only_one_witness(world: World, http: aiohttp.ClientSession) -> None:
    case = await case_with_witness(world, http)
    async with http.post(
        f"/v1/cases/{case.case_id}/witness",
        json={"alias": "Robin", "language": "ro", "timezone": "Europe/Bucharest"},
        headers=case.officer.headers,
    ) as response:
        await expect_problem(response, 409, "conflict")
    assert len(await audit_entries(world, action="witness.added")) == 1


async def test_witness_details_are_validated(world: World, http: aiohttp.ClientSession) -> None:
    officer = await raw_login(http, "officer")
    case_id = await raw_case(world, http, officer, "DE-2026-0105")
    for field, value, code in [
        ("timezone", "Mars/Olympus_Mons", "invalid-input"),
        ("timezone", "Bucharest", "invalid-input"),
        ("timezone", "../../../../etc/passwd", "invalid-input"),
        ("timezone", "/etc/localtime", "invalid-input"),
        ("timezone", "", "invalid-body"),
        ("language", "Romanian", "invalid-input"),
        ("language", "r", "invalid-body"),
        ("alias", "", "invalid-body"),
        ("alias", "   ", "invalid-input"),
        ("alias", "Line\nbreak", "invalid-body"),  # refused at the edge (free text)
        ("alias", "x" * 65, "invalid-body"),
    ]:
        body = {"alias": "Sparrow", "language": "ro", "timezone": "Europe/Bucharest", field: value}
        async with http.post(
            f"/v1/cases/{case_id}/witness", json=body, headers=officer.headers
        ) as response:
            await expect_problem(response, 422, code)
    async with world.services.store.read() as uow:
        assert await uow.witnesses.get_by_case(case_id) is None
    assert not await audit_entries(world, action="witness.added")


async def test_valid_witness_details_are_kept_as_given(
    world: World, http: aiohttp.ClientSession
) -> None:
    officer = await raw_login(http, "officer")
    case_id = await raw_case(world, http, officer, "DE-2026-0105")
    async with http.post(
        f"/v1/cases/{case_id}/witness",
        json={"alias": "  Kestrel ", "language": "sq-AL", "timezone": "UTC"},
        headers=officer.headers,
    ) as response:
        assert response.status == 201, await response.text()
        witness = await response.json()
    assert witness == {
        "witness_id": witness["witness_id"],
        "case_id": case_id,
        "alias": "Kestrel",
        "language": "sq-AL",
        "timezone": "UTC",
    }


# --------------------------------------------------------------------------- through the SDK


async def sdk_case(world: World, reference: str) -> tuple[StaffClient, Enrolment]:
    officer = await world.login("officer")
    case = await officer.create_case(reference, world.agencies["support"])
    enrolment = await officer.add_witness(
        case["case_id"], alias="Sparrow", language="ro", timezone="Europe/Bucharest"
    )
    return officer, enrolment


async def test_the_typed_code_enrols_a_phone_that_the_team_then_trusts(
    world: World, http: aiohttp.ClientSession
) -> None:
    officer, enrolment = await sdk_case(world, "DE-2026-0110")
    assert len(enrolment.code.replace("-", "")) == 32
    assert enrolment.expires_at == world.clock.now() + timedelta(hours=24)
    phone = await world.enrol(enrolment, name="typed-phone")
    assert phone.case_id == enrolment.case_id
    roster = await current_roster(http, bearer(officer.transport.token), phone.case_id)
    assert roster is not None
    witness = check_roster(roster).member(f"witness:{enrolment.witness_id}")
    identity = phone.trust.personal_identity
    assert witness is not None
    assert identity is not None
    assert (witness.role, witness.identity_key) == ("witness", identity.public_key)
    await phone.send("arrived")
    assert await officer.sync() == 1


async def test_the_qr_payload_alone_enrols_a_phone(world: World) -> None:
    officer, enrolment = await sdk_case(world, "DE-2026-0111")
    assert enrolment.qr_payload.startswith("witnesslink://enrol?")
    assert "<svg" in enrolment.qr_svg()
    pending = await WitnessClient.enroll(
        None,
        enrolment.qr_payload,
        world.tmp / "qr-phone.store",
        WITNESS_PIN,
        kdf=FAST_KDF,
        clock=world.clock,
    )
    world.clients.append(pending.client)
    phone = await finish_in_person(officer, enrolment, pending)
    await phone.send("arrived")
    assert await officer.sync() == 1


async def test_a_code_used_by_one_phone_is_refused_to_the_next_which_keeps_nothing(
    world: World,
) -> None:
    _officer, enrolment = await sdk_case(world, "DE-2026-0112")
    await world.enrol(enrolment, name="first-phone")
    with pytest.raises(EnrolmentRefused) as refused:
        await world.start_enrolment(enrolment, name="second-phone")
    assert isinstance(refused.value.__cause__, ApiError)
    assert refused.value.__cause__.code == "enrolment-code-invalid"
    assert not (world.tmp / "second-phone.store").exists()


async def test_a_phone_that_cannot_prove_the_code_is_refused_by_the_officers_client(
    world: World, http: aiohttp.ClientSession
) -> None:
    """Whoever presents the server token but cannot MAC its identity key with the code
    (the server itself, say) is refused by the officer's client and revoked."""
    officer, enrolment = await sdk_case(world, "DE-2026-0113")
    body = RawDevice().enrol_body(enrolment.code)
    body["identity_mac"] = b64(b"\x00" * 32)
    async with http.post("/v1/enrol", json=body) as response:
        assert response.status == 201
        impostor = await response.json()
    async with await send_nonce(http, bearer(impostor["token"]), new_nonce()) as response:
        assert response.status == 200
    with pytest.raises(EnrolmentRefused):
        await officer.phone_for(enrolment)
    assert not await is_active(http, impostor["token"])
    async with http.get(
        f"/v1/enrolments/{enrolment.enrolment_id}", headers=bearer(officer.transport.token)
    ) as response:
        view = await response.json()
    assert (view["state"], view["phone_nonce"] is not None) == ("aborted", True)


async def test_the_phone_refuses_a_team_roster_the_officers_client_did_not_vouch_for(
    world: World, http: aiohttp.ClientSession
) -> None:
    case = await case_with_witness(world, http)
    roster = await current_roster(http, case.officer.headers, case.case_id)
    assert roster is not None
    enrolment = RawEnrolment.over(roster)
    body = {**enrolment.request(), "team_mac": b64(enrolment_keys(b"\x01" * 20).team)}
    async with await submit(http, case.officer.headers, case.witness_id, body) as response:
        assert response.status == 201
        enrolment.issued = await response.json()
    with pytest.raises(EnrolmentRefused):
        await WitnessClient.enroll(
            world.url,
            enrolment.text,
            world.tmp / "doubting-phone.store",
            WITNESS_PIN,
            kdf=FAST_KDF,
            clock=world.clock,
        )
    assert not (world.tmp / "doubting-phone.store").exists()
    view = await officer_view(http, case.officer, enrolment)
    assert view["state"] == "aborted"
    async with world.services.store.read() as uow:
        device = await uow.devices.get(view["device_id"])
    assert device is not None
    assert device.revoked_at is not None


async def test_the_officer_rejecting_the_numbers_revokes_the_phone(
    world: World, http: aiohttp.ClientSession
) -> None:
    officer, enrolment = await sdk_case(world, "DE-2026-0114")
    pending = await world.start_enrolment(enrolment, name="rejected-phone")
    assert await officer.phone_for(enrolment) is not None
    await officer.reject_phone(enrolment)
    assert not await is_active(http, pending.client.transport.token or "")
    assert not officer.enrolments.issued(enrolment)
    (entry,) = await audit_entries(world, action="enrolment.aborted")
    assert entry.actor_id == world.staff["officer"]
    with pytest.raises(EnrolmentRefused):
        await pending.confirm()


async def test_the_phone_rejecting_the_numbers_is_revoked_and_wiped(
    world: World, http: aiohttp.ClientSession
) -> None:
    officer, enrolment = await sdk_case(world, "DE-2026-0115")
    pending = await world.start_enrolment(enrolment, name="doubting-phone")
    token = pending.client.transport.token or ""
    phone = await officer.phone_for(enrolment)
    assert phone is not None
    assert await pending.sas() == phone.sas
    await pending.reject()
    assert not await is_active(http, token)
    assert not (world.tmp / "doubting-phone.store").exists()
    async with http.get(
        f"/v1/enrolments/{enrolment.enrolment_id}", headers=bearer(officer.transport.token)
    ) as response:
        assert (await response.json())["state"] == "aborted"
    # An officer who confirms anyway is told, and does not vouch for the phone.
    with pytest.raises(ApiError) as refused:
        await officer.confirm_phone(phone)
    assert refused.value.code == "conflict"
    roster = await current_roster(http, bearer(officer.transport.token), enrolment.case_id)
    assert roster is not None
    assert check_roster(roster).member(f"witness:{enrolment.witness_id}") is None


async def test_the_cases_devices_hear_that_its_keys_changed_when_a_phone_is_aborted(
    world: World, http: aiohttp.ClientSession
) -> None:
    case = await case_with_witness(world, http)
    enrolment = await issue(http, case)
    phone = await raw_claim(http, enrolment.text)
    async with raw_socket(world, case.officer.token) as socket:
        await socket.settle(world, case.officer.device_id)
        socket.frames.clear()
        async with http.post("/v1/me/enrolment/abort", headers=phone.headers) as response:
            assert response.status == 200
        frames = await socket.settle(world, case.officer.device_id)
    assert {"type": "keys_changed", "case_id": case.case_id} in frames
