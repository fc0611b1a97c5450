"""Every error is an RFC 9457 problem: shape, codes, limits, and nothing internal.

Handlers decode bodies into strict models (unknown fields rejected); a single middleware
turns domain errors and aiohttp's own HTTP errors into ``application/problem+json`` with
a stable ``code``; anything unexpected is a bare 500 with an incident id. These tests
send what a broken or hostile client would and read the responses as a client would.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from tests.api.helpers import (
    ENROLMENT,
    PROBLEM_TYPE,
    RawDevice,
    RawEnrolment,
    assert_no_leak,
    bearer,
    case_team,
    ciphertexts,
    expect_problem,
    raw_login,
)
from tests.support.world import World
from wire.keys import check_roster, one_time_key_payload

JSON = {"Content-Type": "application/json"}
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}


def assert_security_headers(response: aiohttp.ClientResponse) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, (name, dict(response.headers))


# --------------------------------------------------------------------------- routing


async def test_an_unknown_route_is_a_404_problem(http: aiohttp.ClientSession) -> None:
    async with http.get("/v1/no-such-thing") as response:
        await expect_problem(response, 404, "not-found")
        assert_security_headers(response)


async def test_a_wrong_method_is_a_405_problem(http: aiohttp.ClientSession) -> None:
    async with http.delete("/v1/me") as response:
        await expect_problem(response, 405, "method-not-allowed")
        assert_security_headers(response)


async def test_a_405_problem_says_which_methods_are_allowed(http: aiohttp.ClientSession) -> None:
    """RFC 9110 §15.5.6: a 405 response MUST carry an Allow header."""
    async with http.delete("/v1/messages") as response:
        await expect_problem(response, 405, "method-not-allowed")
        allowed = {m.strip() for m in response.headers.get("Allow", "").split(",") if m.strip()}
        assert "GET" in allowed, dict(response.headers)


# --------------------------------------------------------------------------- bodies


async def test_ids_with_a_trailing_newline_are_refused(
    world: World, http: aiohttp.ClientSession
) -> None:
    login = await raw_login(http, "officer")
    # "$" in a pattern also matches before a final newline; ids are checked to the end.
    body = {"case_id": "case_abcdefgh\n", "device_ids": ["dev_abcdefgh"]}
    async with http.post("/v1/keys/claim", json=body, headers=login.headers) as response:
        problem = await expect_problem(response, 422, "invalid-body")
        assert "case_id" in problem["detail"]
    async with http.post(
        "/v1/cases/case_abcdefgh\n/staff", json={"staff_id": "x"}, headers=login.headers
    ) as response:
        await expect_problem(response, 404, "not-found")


async def test_unknown_fields_are_refused_naming_the_field(
    world: World, http: aiohttp.ClientSession
) -> None:
    officer = await raw_login(http, "officer")
    cases: list[tuple[str, str, dict[str, Any], str]] = [
        (
            "/v1/cases",
            "POST",
            {"reference": "R-1", "support_agency_id": world.agencies["support"], "owner": "me"},
            "owner",
        ),
        ("/v1/messages/ack", "POST", {"copy_ids": [], "all": True}, "all"),
        ("/v1/keys", "POST", {"one_time_keys": [], "replace_all": True}, "replace_all"),
        ("/v1/keys/claim", "POST", {"case_id": "case_x", "device_ids": ["d"], "n": 3}, "n"),
        ("/v1/me/device-keys", "PUT", {"device": {}, "trusted": True}, "trusted"),
        ("/v1/me/identity", "PUT", {"device_list": {}, "force": True}, "force"),
        (
            "/v1/me/identity-backup",
            "PUT",
            {"identity_key": "k" * 43, "sealed": "s", "recovery_key": "r"},
            "recovery_key",
        ),
        ("/v1/cases/case_x/roster", "PUT", {"roster": {}, "version": 2}, "version"),
        ("/v1/witnesses/wit_x/enrolments", "POST", {**ENROLMENT, "code": "c"}, "code"),
        ("/v1/enrolments/enr_x/reveal", "POST", {"nonce": "n" * 43, "sas": "1"}, "sas"),
        ("/v1/me/enrolment/nonce", "PUT", {"nonce": "n" * 43, "again": True}, "again"),
    ]
    for path, method, body, field in cases:
        async with http.request(method, path, json=body, headers=officer.headers) as response:
            problem = await expect_problem(response, 422, "invalid-body")
            assert f"`{field}`" in problem["detail"], (path, problem)


async def test_unknown_fields_in_nested_objects_are_refused(http: aiohttp.ClientSession) -> None:
    device = RawDevice()
    body = device.login_body("officer")
    body["device"]["platform"] = "android"
    async with http.post("/v1/auth/login", json=body) as response:
        problem = await expect_problem(response, 422, "invalid-body")
        assert "`platform`" in problem["detail"]
        assert "$.device" in problem["detail"]


async def test_unknown_fields_in_an_enrolment_claim_are_refused(
    http: aiohttp.ClientSession,
) -> None:
    body = RawDevice().enrol_body(RawEnrolment.over({}).text)
    body["witness_id"] = "wit_x"
    async with http.post("/v1/enrol", json=body) as response:
        problem = await expect_problem(response, 422, "invalid-body")
        assert "`witness_id`" in problem["detail"]


async def test_unknown_fields_in_a_login_are_refused_before_anything_else(
    http: aiohttp.ClientSession,
) -> None:
    body = RawDevice().login_body("officer")
    body["admin"] = True
    async with http.post("/v1/auth/login", json=body) as response:
        problem = await expect_problem(response, 422, "invalid-body")
        assert "`admin`" in problem["detail"]


async def test_wrong_types_are_refused_naming_the_path(
    world: World, http: aiohttp.ClientSession
) -> None:
    officer = await raw_login(http, "officer")
    async with http.post(
        "/v1/cases",
        json={"reference": 42, "support_agency_id": world.agencies["support"]},
        headers=officer.headers,
    ) as response:
        problem = await expect_problem(response, 422, "invalid-body")
        assert "$.reference" in problem["detail"]
    async with http.post(
        "/v1/messages/ack", json={"copy_ids": ["1", "2"]}, headers=officer.headers
    ) as response:
        problem = await expect_problem(response, 422, "invalid-body")
        assert "$.copy_ids[0]" in problem["detail"]
    async with http.post("/v1/messages/ack", json=[1, 2], headers=officer.headers) as response:
        await expect_problem(response, 422, "invalid-body")


async def test_missing_fields_are_refused_naming_the_field(
    http: aiohttp.ClientSession,
) -> None:
    officer = await raw_login(http, "officer")
    async with http.post("/v1/cases", json={"reference": "R-1"}, headers=officer.headers) as r:
        problem = await expect_problem(r, 422, "invalid-body")
        assert "`support_agency_id`" in problem["detail"]


async def test_oversized_fields_are_refused(world: World, http: aiohttp.ClientSession) -> None:
    officer = await raw_login(http, "officer")
    async with http.post(
        "/v1/cases",
        json={"reference": "R" * 65, "support_agency_id": world.agencies["support"]},
        headers=officer.headers,
    ) as response:
        problem = await expect_problem(response, 422, "invalid-body")
        assert "$.reference" in problem["detail"]


@pytest.mark.parametrize(
    "raw",
    [b"", b"{", b'{"copy_ids": [1,]}', b"\xff\xfe\x00", b"copy_ids=1", b'{"copy_ids": [1]} x'],
    ids=["empty", "truncated", "trailing-comma", "not-utf8", "form", "trailing-garbage"],
)
async def test_malformed_json_is_a_400_problem(http: aiohttp.ClientSession, raw: bytes) -> None:
    officer = await raw_login(http, "officer")
    async with http.post(
        "/v1/messages/ack", data=raw, headers={**officer.headers, **JSON}
    ) as response:
        problem = await expect_problem(response, 400, "malformed-json")
        assert problem["title"] == "The request body is not valid JSON"


TRUST_BODIES = [
    ("PUT", "/v1/me/device-keys"),
    ("PUT", "/v1/me/identity"),
    ("PUT", "/v1/me/identity-backup"),
    ("PUT", "/v1/cases/case_x/roster"),
    ("POST", "/v1/witnesses/wit_x/enrolments"),
    ("POST", "/v1/enrolments/enr_x/reveal"),
    ("PUT", "/v1/me/enrolment/nonce"),
    ("POST", "/v1/enrol"),
]


@pytest.mark.parametrize(
    "raw",
    [b"", b"{", b'{"devi', b"{,}", b"\xff\xfe", b"nope"],
    ids=["empty", "brace", "truncated-name", "comma", "not-utf8", "bare-word"],
)
async def test_malformed_json_to_the_trust_endpoints_is_a_400_problem(
    http: aiohttp.ClientSession, raw: bytes
) -> None:
    officer = await raw_login(http, "officer")
    for method, path in TRUST_BODIES:
        async with http.request(
            method, path, data=raw, headers={**officer.headers, **JSON}
        ) as response:
            problem = await expect_problem(response, 400, "malformed-json")
            assert problem["title"] == "The request body is not valid JSON", path


async def test_bodies_of_the_wrong_shape_to_the_trust_endpoints_name_the_field(
    http: aiohttp.ClientSession,
) -> None:
    officer = await raw_login(http, "officer")
    for method, path in TRUST_BODIES:
        for body in ([], "text", {"device": 1, "device_list": 1, "roster": 1, "nonce": 1}):
            async with http.request(method, path, json=body, headers=officer.headers) as r:
                await expect_problem(r, 422, "invalid-body")


async def test_deeply_nested_key_objects_are_refused_not_a_server_error(
    http: aiohttp.ClientSession,
) -> None:
    """Key objects take any JSON until the domain checks them: arrays nested deeper than
    the stack allows must still be a problem (never a RecursionError and a 500). The
    depths around a thousand are where the decoder and the checks run out of stack."""
    officer = await raw_login(http, "officer")
    for depth in [12, *range(900, 1000, 4), 1200, 100_000]:
        nested = b"[" * depth + b"]" * depth
        bodies = [
            (
                "/v1/me/device-keys",
                b'{"device": {"type": "wl.device.v1", "device_id": "d", "owner": "staff:s",'
                b' "algorithms": [], "signature": "s", "keys": ' + nested + b"}}",
            ),
            ("/v1/me/identity", b'{"device_list": {"devices": ' + nested + b"}}"),
            ("/v1/cases/case_x/roster", b'{"roster": {"members": [' + nested + b"]}}"),
        ]
        for path, raw in bodies:
            async with http.put(path, data=raw, headers={**officer.headers, **JSON}) as response:
                text = await response.text()
                assert response.status == 422, (path, depth, text[:300])
                assert json.loads(text)["code"] in ("invalid-body", "invalid-key-object")
                assert_no_leak(text)


async def test_lone_surrogates_in_json_are_malformed(
    world: World, http: aiohttp.ClientSession
) -> None:
    team = await case_team(world)
    raw = json.dumps(ciphertexts(team.witness.device_id)).replace("b2xtIGNpcGhlcnRleHQ", "\\ud800")
    async with http.put(
        f"/v1/cases/{team.case_id}/messages/msg-surrogate",
        data=raw.encode(),
        headers={**bearer(team.officer.transport.token), **JSON},
    ) as response:
        await expect_problem(response, 400, "malformed-json")


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "application/xml", None],
)
async def test_a_json_endpoint_refuses_other_content_types_with_415(
    http: aiohttp.ClientSession, content_type: str | None
) -> None:
    body = json.dumps(RawDevice().login_body("officer")).encode()
    headers = {} if content_type is None else {"Content-Type": content_type}
    async with http.post("/v1/auth/login", data=body, headers=headers) as response:
        await expect_problem(response, 415, "unsupported-media-type")
        assert_security_headers(response)


async def test_json_with_a_charset_parameter_is_accepted(
    world: World, http: aiohttp.ClientSession
) -> None:
    officer = await raw_login(http, "officer")
    body = json.dumps({"reference": "R-1", "support_agency_id": world.agencies["support"]})
    async with http.post(
        "/v1/cases",
        data=body.encode(),
        headers={**officer.headers, "Content-Type": "application/json; charset=utf-8"},
    ) as response:
        assert response.status == 201, await response.text()


# --------------------------------------------------------------------------- size limits


async def test_a_body_over_the_request_limit_is_a_413_problem(
    world: World, http: aiohttp.ClientSession
) -> None:
    settings = world.services.settings
    limit = max(settings.attachment_max_bytes, settings.json_max_bytes) + 64 * 1024
    officer = await raw_login(http, "officer")
    body = b'{"copy_ids": [' + b"1," * (limit // 2) + b"1]}"
    async with http.post(
        "/v1/messages/ack", data=body, headers={**officer.headers, **JSON}
    ) as response:
        await expect_problem(response, 413, "too-large")
        assert_security_headers(response)


async def test_an_unauthenticated_body_over_the_request_limit_is_a_413_problem(
    world: World, http: aiohttp.ClientSession
) -> None:
    limit = world.services.settings.attachment_max_bytes + 1024 * 1024
    async with http.post("/v1/auth/login", data=b"x" * limit, headers=JSON) as response:
        await expect_problem(response, 413, "too-large")


async def test_a_json_body_over_the_json_limit_is_a_413_problem(
    world: World, http: aiohttp.ClientSession
) -> None:
    """``Settings.json_max_bytes`` bounds JSON bodies; larger ones are refused before
    decoding, even when the (attachment-sized) transport limit would let them in."""
    json_limit = world.services.settings.json_max_bytes
    body = RawDevice().login_body("officer")
    body["password"] = "p" * (json_limit + 1024)
    async with http.post("/v1/auth/login", json=body) as response:
        await expect_problem(response, 413, "too-large")


async def test_a_key_object_over_the_json_limit_is_a_413_problem(
    world: World, http: aiohttp.ClientSession
) -> None:
    officer = await raw_login(http, "officer")
    json_limit = world.services.settings.json_max_bytes
    huge = {"device_list": {"type": "wl.device_list.v1", "padding": "p" * (json_limit + 1)}}
    async with http.put("/v1/me/identity", json=huge, headers=officer.headers) as response:
        await expect_problem(response, 413, "too-large")
    async with http.get("/v1/me/identity", headers=officer.headers) as response:
        await expect_problem(response, 404, "not-found")


# --------------------------------------------------------------------------- no internals


async def test_error_bodies_never_carry_internals(
    world: World, http: aiohttp.ClientSession
) -> None:
    team = await case_team(world)
    token = bearer(team.officer.transport.token)
    requests: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", "/v1/cases/case_doesnotexist", {"headers": token}),
        ("GET", "/v1/attachments/att_doesnotexist", {"headers": token}),
        ("POST", "/v1/devices/dev_nope/revoke", {"headers": token}),
        ("POST", "/v1/keys/claim", {"headers": token, "json": {"case_id": "x", "device_ids": []}}),
        ("PUT", f"/v1/cases/{team.case_id}/messages/x", {"headers": token, "json": {}}),
        (
            "PUT",
            f"/v1/cases/{team.case_id}/messages/abcdefgh",
            {"headers": token, "json": ciphertexts("dev_unknown")},
        ),
        ("GET", "/v1/messages", {"headers": token, "params": {"after": "one"}}),
        ("POST", "/v1/enrol", {"json": {"code": "A" * 32, "device": {}}}),
        ("GET", "/v1/ws", {"headers": token}),
        ("GET", "/v1/me", {"headers": {"Authorization": "Bearer " + "x" * 5000}}),
        ("GET", "/v1/me", {"headers": {"Authorization": "Basic b2ZmaWNlcjpwdw=="}}),
        ("PUT", "/v1/me/device-keys", {"headers": token, "json": {"device": {"type": 1}}}),
        ("PUT", "/v1/me/identity", {"headers": token, "json": {"device_list": {}}}),
        ("GET", "/v1/staff/staff_nobody/identity", {"headers": token}),
        ("GET", "/v1/cases/case_doesnotexist/keys", {"headers": token}),
        ("GET", "/v1/cases/case_doesnotexist/roster", {"headers": token}),
        ("PUT", f"/v1/cases/{team.case_id}/roster", {"headers": token, "json": {"roster": {}}}),
        (
            "POST",
            f"/v1/witnesses/{team.witness_id}/enrolments",
            {"headers": token, "json": ENROLMENT},
        ),
        ("GET", "/v1/enrolments/enr_nope", {"headers": token}),
        ("POST", "/v1/enrolments/enr_nope/complete", {"headers": token}),
        ("GET", "/v1/me/enrolment", {"headers": token}),
        ("PUT", "/v1/me/enrolment/nonce", {"headers": token, "json": {"nonce": "A" * 43}}),
    ]
    for method, path, kwargs in requests:
        async with http.request(method, path, **kwargs) as response:
            text = await response.text()
            assert 400 <= response.status < 500, (method, path, response.status, text)
            assert response.content_type == PROBLEM_TYPE, (method, path, text)
            assert_no_leak(text)
            assert_security_headers(response)


async def test_out_of_range_numbers_are_refused_not_a_server_error(
    world: World, http: aiohttp.ClientSession
) -> None:
    """Numbers that do not fit a 64-bit column are bad input (4xx), never a 500."""
    team = await case_team(world)
    token = bearer(team.witness.transport.token)
    async with http.get("/v1/messages", params={"after": str(10**30)}, headers=token) as r:
        await expect_problem(r, 422, "invalid-input")
    async with http.get("/v1/messages", params={"limit": str(10**30)}, headers=token) as r:
        assert r.status in (200, 422), await r.text()


@pytest.mark.parametrize(
    "copy_id", [2**63, 2**64 - 1, -(2**63) - 1], ids=["2^63", "2^64-1", "-2^63-1"]
)
async def test_out_of_range_copy_ids_are_refused_not_a_server_error(
    world: World, http: aiohttp.ClientSession, copy_id: int
) -> None:
    team = await case_team(world)
    async with http.post(
        "/v1/messages/ack",
        json={"copy_ids": [copy_id]},
        headers=bearer(team.witness.transport.token),
    ) as response:
        assert response.status in (200, 422), await response.text()
        if response.status == 422:
            await expect_problem(response, 422, "invalid-body")


NUL_REQUESTS = ["case-path", "username", "device-name", "key-id", "ciphertext", "roster-name"]


@pytest.mark.parametrize("where", NUL_REQUESTS)
async def test_nul_characters_are_refused_not_a_server_error(
    world: World, http: aiohttp.ClientSession, where: str
) -> None:
    """A NUL character is valid JSON and valid in a URL, but PostgreSQL text cannot hold
    it: it must be refused (or stored harmlessly) at the edge, never reach SQL and 500."""
    team = await case_team(world)
    officer = bearer(team.officer.transport.token)
    if where == "case-path":
        request = http.get("/v1/cases/case_%00x", headers=officer)
    elif where == "username":
        body = RawDevice().login_body("officer")
        body["username"] = "officer\u0000"
        request = http.post("/v1/auth/login", json=body)
    elif where == "device-name":
        body = RawDevice().login_body("officer")
        body["device"]["name"] = "phone\u0000"
        request = http.post("/v1/auth/login", json=body)
    elif where == "key-id":
        device = RawDevice()
        body = device.login_body("officer")
        key = body["device"]["one_time_keys"][0]
        key["key_id"] = "AAAA\u0000"
        key["signature"] = device.sign(
            one_time_key_payload(device.curve25519, key["key_id"], key["key"])
        )
        request = http.post("/v1/auth/login", json=body)
    elif where == "roster-name":
        # A signed roster may carry any name: the server keeps it, whatever the database.
        async with http.get(f"/v1/cases/{team.case_id}/roster", headers=officer) as response:
            current = check_roster((await response.json())["roster"])
        members = [replace(m, name=m.name + "\u0000") for m in current.members]
        identity = team.officer.trust.personal_identity
        assert identity is not None
        roster = identity.roster(team.case_id, current.version + 1, members, datetime.now(UTC))
        async with http.put(
            f"/v1/cases/{team.case_id}/roster", json={"roster": roster}, headers=officer
        ) as response:
            assert response.status == 200, await response.text()
        request = http.get(f"/v1/cases/{team.case_id}/keys", headers=officer)
    else:
        request = http.put(
            f"/v1/cases/{team.case_id}/messages/msg-with-nul",
            json=ciphertexts(team.witness.device_id, body="b2xt\u0000"),
            headers=officer,
        )
    async with request as response:
        text = await response.text()
        assert response.status < 500, text
        assert_no_leak(text)


# --------------------------------------------------------------------------- headers


async def test_security_headers_are_on_every_kind_of_response(
    world: World, http: aiohttp.ClientSession
) -> None:
    team = await case_team(world)
    async with http.get("/healthz") as response:
        assert response.status == 200
        assert_security_headers(response)
    async with http.get("/v1/me", headers=bearer(team.witness.transport.token)) as response:
        assert response.status == 200
        assert response.content_type == "application/json"
        assert_security_headers(response)
    async with http.post(
        f"/v1/cases/{team.case_id}/attachments",
        params={"recipients": team.witness.device_id},
        data=b"\x00opaque ciphertext",
        headers=bearer(team.officer.transport.token),
    ) as response:
        attachment = await response.json()
        assert response.status == 201
        assert_security_headers(response)
    async with http.get(
        f"/v1/attachments/{attachment['attachment_id']}",
        headers=bearer(team.witness.transport.token),
    ) as response:
        assert response.status == 200
        assert response.content_type == "application/octet-stream"
        assert_security_headers(response)
    async with http.get("/v1/me") as response:
        assert response.status == 401
        assert_security_headers(response)


async def test_a_problem_detail_adds_to_the_title_and_never_repeats_it(
    world: World, http: aiohttp.ClientSession
) -> None:
    officer = await raw_login(http, "officer")
    async with http.get("/v1/cases/case_doesnotexist", headers=officer.headers) as response:
        problem = await expect_problem(response, 404, "not-found")
        assert problem["title"] == "No such resource"
        assert problem["detail"] == "No such case"
    async with http.post(
        "/v1/cases",
        json={"reference": "R-1", "support_agency_id": "agn_x"},
        headers=officer.headers,
    ) as response:
        problem = await expect_problem(response, 422, "invalid-input")
        assert problem.get("detail") != problem["title"]
