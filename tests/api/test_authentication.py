"""Who is calling: bearer tokens, staff login (password, TOTP, rate limits), device
registration checks, and revocation that stops a device everywhere at once."""

from __future__ import annotations

import asyncio
import base64
import secrets
from datetime import timedelta
from typing import Any

import aiohttp
import pyotp
import pytest

from server.domain.models import OwnerKind, Role
from tests.api.helpers import (
    RawDevice,
    audit_entries,
    bearer,
    case_team,
    ciphertexts,
    expect_problem,
    one_time_key_count,
    pending_copies,
    raw_login,
)
from tests.support.world import PASSWORD, World
from wire.keys import (
    device_proof_payload,
    fallback_key_payload,
    login_context,
)

# Every authenticated endpoint, with a body that would be acceptable in shape.
AUTHENTICATED: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/v1/me", None),
    ("GET", "/v1/devices", None),
    ("POST", "/v1/devices/{device}/revoke", None),
    ("GET", "/v1/cases", None),
    ("POST", "/v1/cases", {"reference": "R-9", "support_agency_id": "agn_x"}),
    ("GET", "/v1/cases/{case}", None),
    ("POST", "/v1/cases/{case}/staff", {"staff_id": "stf_x"}),
    ("DELETE", "/v1/cases/{case}/staff/stf_x", None),
    ("POST", "/v1/cases/{case}/witness", {"alias": "A", "language": "ro", "timezone": "UTC"}),
    ("POST", "/v1/witnesses/wit_x/enrolments", None),
    ("GET", "/v1/cases/{case}/devices", None),
    ("POST", "/v1/keys", {"one_time_keys": []}),
    ("GET", "/v1/keys/count", None),
    ("POST", "/v1/keys/claim", {"case_id": "{case}", "device_ids": ["dev_x"]}),
    ("PUT", "/v1/cases/{case}/messages/message-0001", ciphertexts("dev_x")),
    ("GET", "/v1/messages", None),
    ("POST", "/v1/messages/ack", {"copy_ids": [1]}),
    ("POST", "/v1/cases/{case}/attachments?recipients=dev_x", None),
    ("GET", "/v1/attachments/att_x", None),
    ("POST", "/v1/attachments/att_x/ack", None),
]

WEBSOCKET_UPGRADE = {
    "Connection": "Upgrade",
    "Upgrade": "websocket",
    "Sec-WebSocket-Version": "13",
    "Sec-WebSocket-Key": base64.b64encode(b"0123456789abcdef").decode(),
}


def _fill(template: str, case_id: str, device_id: str) -> str:
    return template.replace("{case}", case_id).replace("{device}", device_id)


async def assert_refused_everywhere(
    http: aiohttp.ClientSession,
    headers: dict[str, str],
    *,
    status: int,
    code: str,
    case_id: str,
    device_id: str,
) -> None:
    """Every endpoint, REST and the WebSocket upgrade, refuses these credentials."""
    for method, template, body in AUTHENTICATED:
        path = _fill(template, case_id, device_id)
        filled = None
        if body is not None:
            filled = {
                k: _fill(v, case_id, device_id) if isinstance(v, str) else v
                for k, v in body.items()
            }
        kwargs: dict[str, Any] = {"headers": headers}
        if filled is not None:
            kwargs["json"] = filled
        elif method in ("POST", "PUT"):
            kwargs["data"] = b"opaque"
        async with http.request(method, path, **kwargs) as response:
            problem = await expect_problem(response, status, code)
            assert problem, (method, path)
    async with http.get("/v1/ws", headers={**headers, **WEBSOCKET_UPGRADE}) as response:
        await expect_problem(response, status, code)
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect("/v1/ws", headers=headers)
    assert refused.value.status == status


# --------------------------------------------------------------------------- tokens


async def test_requests_without_a_token_are_refused_everywhere(
    world: World, http: aiohttp.ClientSession
) -> None:
    await assert_refused_everywhere(
        http, {}, status=401, code="unauthenticated", case_id="case_x", device_id="dev_x"
    )


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer " + secrets.token_urlsafe(32),
        "Bearer ",
        "Basic b2ZmaWNlcjpjb3JyZWN0",
        "Token abc",
        secrets.token_urlsafe(32),
    ],
    ids=["unknown-token", "empty-bearer", "basic", "other-scheme", "no-scheme"],
)
async def test_bad_tokens_are_refused_everywhere(
    world: World, http: aiohttp.ClientSession, authorization: str
) -> None:
    await assert_refused_everywhere(
        http,
        {"Authorization": authorization},
        status=401,
        code="unauthenticated",
        case_id="case_x",
        device_id="dev_x",
    )


async def test_a_401_tells_the_client_to_use_a_bearer_token(http: aiohttp.ClientSession) -> None:
    """RFC 9110 §15.5.2 / RFC 6750 §3: a 401 carries ``WWW-Authenticate: Bearer``."""
    async with http.get("/v1/me") as response:
        await expect_problem(response, 401, "unauthenticated")
        assert response.headers.get("WWW-Authenticate", "").startswith("Bearer"), dict(
            response.headers
        )


async def test_a_token_is_not_accepted_in_the_query_string(
    world: World, http: aiohttp.ClientSession
) -> None:
    officer = await raw_login(http, "officer")
    async with http.get("/v1/me", params={"access_token": officer.token}) as response:
        await expect_problem(response, 401, "unauthenticated")
    async with http.get("/v1/me", headers=officer.headers) as response:
        assert response.status == 200
        me = await response.json()
        assert me["device"]["device_id"] == officer.device_id
        assert me["staff"]["username"] == "officer"
        assert me["witness"] is None


# --------------------------------------------------------------------------- login


async def test_a_wrong_password_is_refused_and_audited(
    world: World, http: aiohttp.ClientSession
) -> None:
    body = RawDevice().login_body("officer")
    body["password"] = "not the password at all"
    async with http.post("/v1/auth/login", json=body) as response:
        problem = await expect_problem(response, 401, "login-failed")
        assert "token" not in problem
    (entry,) = await audit_entries(world, action="staff.login_failed")
    assert entry.actor_kind == "staff"
    assert entry.actor_id == world.staff["officer"]
    assert '"why":"credentials"' in entry.details
    assert PASSWORD not in entry.details
    assert "not the password" not in entry.details
    assert not await audit_entries(world, action="staff.login")


async def test_an_unknown_user_gets_the_same_answer_as_a_wrong_password(
    world: World, http: aiohttp.ClientSession
) -> None:
    wrong_password = RawDevice().login_body("officer")
    wrong_password["password"] = "not the password at all"
    async with http.post("/v1/auth/login", json=wrong_password) as response:
        known = await expect_problem(response, 401, "login-failed")
    async with http.post("/v1/auth/login", json=RawDevice().login_body("nobody")) as response:
        unknown = await expect_problem(response, 401, "login-failed")
    assert known == unknown
    entries = await audit_entries(world, action="staff.login_failed")
    newest = entries[0]
    assert (newest.actor_kind, newest.actor_id) == ("anonymous", None)
    assert all("nobody" not in e.details for e in entries)


async def test_a_successful_login_registers_the_device_and_is_audited(
    world: World, http: aiohttp.ClientSession
) -> None:
    officer = await raw_login(http, "officer", one_time_keys=7)
    assert await one_time_key_count(world, officer.device_id) == 7
    (login,) = await audit_entries(world, action="staff.login")
    assert login.actor_id == world.staff["officer"]
    assert login.subject_id == officer.device_id
    (registered,) = await audit_entries(world, action="device.registered")
    assert registered.subject_id == officer.device_id
    assert officer.token not in registered.details


async def test_a_totp_account_needs_a_code(world: World, http: aiohttp.ClientSession) -> None:
    await world.add_staff("sergeant", "police", Role.OFFICER, totp=True)
    async with http.post("/v1/auth/login", json=RawDevice().login_body("sergeant")) as response:
        await expect_problem(response, 401, "totp-required")


async def test_a_totp_account_refuses_a_wrong_code_and_audits_it(
    world: World, http: aiohttp.ClientSession
) -> None:
    secret = await world.add_staff("sergeant", "police", Role.OFFICER, totp=True)
    assert secret is not None
    right = pyotp.TOTP(secret).at(world.clock.now())
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    body = RawDevice().login_body("sergeant")
    body["totp"] = wrong
    async with http.post("/v1/auth/login", json=body) as response:
        await expect_problem(response, 401, "login-failed")
    (entry,) = await audit_entries(world, action="staff.login_failed")
    assert entry.actor_id == world.staff["sergeant"]
    assert '"why":"totp"' in entry.details
    assert wrong not in entry.details


async def test_a_code_from_an_old_time_step_is_refused(
    world: World, http: aiohttp.ClientSession
) -> None:
    secret = await world.add_staff("sergeant", "police", Role.OFFICER, totp=True)
    assert secret is not None
    stale = pyotp.TOTP(secret).at(world.clock.now() - timedelta(minutes=5))
    body = RawDevice().login_body("sergeant")
    body["totp"] = stale
    async with http.post("/v1/auth/login", json=body) as response:
        await expect_problem(response, 401, "login-failed")


async def test_a_totp_account_logs_in_with_the_right_code(
    world: World, http: aiohttp.ClientSession
) -> None:
    secret = await world.add_staff("sergeant", "police", Role.OFFICER, totp=True)
    assert secret is not None
    body = RawDevice().login_body("sergeant")
    body["totp"] = pyotp.TOTP(secret).at(world.clock.now())
    async with http.post("/v1/auth/login", json=body) as response:
        assert response.status == 201, await response.text()
        reply = await response.json()
    assert reply["staff"]["totp"] is True
    async with http.get("/v1/me", headers=bearer(reply["token"])) as response:
        assert response.status == 200


async def test_the_same_totp_code_cannot_be_used_twice(
    world: World, http: aiohttp.ClientSession
) -> None:
    """A code seen over someone's shoulder is worthless once its owner has used it."""
    secret = await world.add_staff("sergeant", "police", Role.OFFICER, totp=True)
    assert secret is not None
    code = pyotp.TOTP(secret).at(world.clock.now())
    first = RawDevice().login_body("sergeant")
    first["totp"] = code
    async with http.post("/v1/auth/login", json=first) as response:
        assert response.status == 201, await response.text()
    replay = RawDevice().login_body("sergeant")
    replay["totp"] = code
    async with http.post("/v1/auth/login", json=replay) as response:
        await expect_problem(response, 401, "login-failed")
    # A code from the next time step is fine.
    world.clock.advance(timedelta(seconds=30))
    later = RawDevice().login_body("sergeant")
    later["totp"] = pyotp.TOTP(secret).at(world.clock.now())
    async with http.post("/v1/auth/login", json=later) as response:
        assert response.status == 201, await response.text()


async def test_a_right_password_without_its_code_is_audited(
    world: World, http: aiohttp.ClientSession
) -> None:
    """Every login attempt, good or bad, is audited (accounts.py): "right password, no
    code" confirms the password to whoever sent it, so it must leave a trace."""
    await world.add_staff("sergeant", "police", Role.OFFICER, totp=True)
    before = await audit_entries(world, actor_id=world.staff["sergeant"])
    async with http.post("/v1/auth/login", json=RawDevice().login_body("sergeant")) as response:
        await expect_problem(response, 401, "totp-required")
    after = await audit_entries(world, actor_id=world.staff["sergeant"])
    assert len(after) == len(before) + 1, [e.action for e in after]


# --------------------------------------------------------------------------- rate limits


async def _wrong_password(http: aiohttp.ClientSession, username: str, **kw: Any) -> Any:
    body = RawDevice().login_body(username, one_time_keys=0, fallback=False)
    body["password"] = "definitely wrong password"
    return http.post("/v1/auth/login", json=body, **kw)


async def test_logins_are_rate_limited_per_username_at_an_address(
    world: World, http: aiohttp.ClientSession
) -> None:
    for _ in range(5):
        async with await _wrong_password(http, "officer") as response:
            await expect_problem(response, 401, "login-failed")
    async with await _wrong_password(http, "officer") as response:
        problem = await expect_problem(response, 429, "rate-limited")
        assert int(response.headers["Retry-After"]) == problem["retry_after"] == 60
    # Even the right password waits: the limit is on attempts, not on failures.
    async with http.post("/v1/auth/login", json=RawDevice().login_body("officer")) as response:
        await expect_problem(response, 429, "rate-limited")
    # Case does not make it another account.
    async with await _wrong_password(http, "OFFICER") as response:
        await expect_problem(response, 429, "rate-limited")
    # Other accounts are not affected.
    async with http.post("/v1/auth/login", json=RawDevice().login_body("worker")) as response:
        assert response.status == 201, await response.text()


async def test_a_username_rate_limit_recovers_with_time(
    world: World, http: aiohttp.ClientSession
) -> None:
    for _ in range(5):
        async with await _wrong_password(http, "officer") as response:
            assert response.status == 401
    async with await _wrong_password(http, "officer") as response:
        retry_after = int(response.headers["Retry-After"])
        assert response.status == 429
    world.clock.advance(timedelta(seconds=retry_after - 1))
    async with http.post("/v1/auth/login", json=RawDevice().login_body("officer")) as response:
        await expect_problem(response, 429, "rate-limited")
    world.clock.advance(timedelta(seconds=1))
    async with http.post("/v1/auth/login", json=RawDevice().login_body("officer")) as response:
        assert response.status == 201, await response.text()
    # One attempt regained, one spent: the next one waits again.
    async with await _wrong_password(http, "officer") as response:
        await expect_problem(response, 429, "rate-limited")


async def test_logins_are_rate_limited_per_address(
    world: World, http: aiohttp.ClientSession
) -> None:
    for i in range(20):
        async with await _wrong_password(http, f"guess{i:02d}") as response:
            await expect_problem(response, 401, "login-failed")
    async with await _wrong_password(http, "guess99") as response:
        problem = await expect_problem(response, 429, "rate-limited")
        assert int(response.headers["Retry-After"]) == problem["retry_after"] > 0
    async with http.post("/v1/auth/login", json=RawDevice().login_body("officer")) as response:
        await expect_problem(response, 429, "rate-limited")
    world.clock.advance(timedelta(seconds=problem["retry_after"]))
    async with http.post("/v1/auth/login", json=RawDevice().login_body("officer")) as response:
        assert response.status == 201, await response.text()


async def test_the_start_of_a_throttling_is_audited_once_per_run(
    world: World, http: aiohttp.ClientSession
) -> None:
    for _ in range(5):
        async with await _wrong_password(http, "officer") as response:
            assert response.status == 401
    for _ in range(3):  # three refusals in a row: one entry
        async with await _wrong_password(http, "officer") as response:
            assert response.status == 429
    (entry,) = await audit_entries(world, action="staff.login_throttled")
    assert (entry.actor_kind, entry.actor_id) == ("staff", world.staff["officer"])
    assert entry.details == '{"by":"username-address"}'

    # An admitted attempt ends the run; the next refusal starts a new one.
    world.clock.advance(timedelta(seconds=60))
    async with await _wrong_password(http, "officer") as response:
        assert response.status == 401
    async with await _wrong_password(http, "officer") as response:
        assert response.status == 429
    assert len(await audit_entries(world, action="staff.login_throttled")) == 2


async def test_an_address_throttling_is_audited_without_the_address_or_username(
    world: World, http: aiohttp.ClientSession
) -> None:
    for i in range(20):
        async with await _wrong_password(http, f"guess{i:02d}") as response:
            assert response.status == 401
    for name in ("guess98", "guess99"):
        async with await _wrong_password(http, name) as response:
            assert response.status == 429
    (entry,) = await audit_entries(world, action="staff.login_throttled")
    assert (entry.actor_kind, entry.actor_id) == ("anonymous", None)
    assert entry.details == '{"by":"address"}'
    assert "127.0.0.1" not in entry.details


async def test_a_forged_forwarded_for_header_does_not_escape_the_address_limit(
    world: World, http: aiohttp.ClientSession
) -> None:
    """The server does not sit behind a trusted proxy here, so X-Forwarded-For is the
    client's own claim and must not give it a fresh bucket."""
    for i in range(20):
        headers = {"X-Forwarded-For": f"203.0.113.{i}"}
        async with await _wrong_password(http, f"guess{i:02d}", headers=headers) as response:
            assert response.status == 401
    headers = {"X-Forwarded-For": "198.51.100.7"}
    async with await _wrong_password(http, "guess99", headers=headers) as response:
        await expect_problem(response, 429, "rate-limited")


# --------------------------------------------------------------------------- registration


async def test_a_login_with_a_bad_proof_signature_is_refused(
    world: World, http: aiohttp.ClientSession
) -> None:
    device = RawDevice()
    body = device.login_body("officer")
    # A proof made for another account's login does not fit this one.
    body["device"]["proof"] = device.sign(
        device_proof_payload(device.curve25519, device.ed25519, login_context("worker"))
    )
    async with http.post("/v1/auth/login", json=body) as response:
        await expect_problem(response, 422, "signature-invalid")
    assert not await audit_entries(world, action="device.registered")


async def test_a_login_with_another_devices_keys_is_refused(
    http: aiohttp.ClientSession,
) -> None:
    """The proof binds the Ed25519 key: nobody can register someone else's identity."""
    victim, attacker = RawDevice(), RawDevice()
    body = attacker.login_body("officer")
    body["device"]["ed25519"] = victim.ed25519
    async with http.post("/v1/auth/login", json=body) as response:
        await expect_problem(response, 422, "signature-invalid")
    body = attacker.login_body("officer")
    body["device"]["curve25519"] = victim.curve25519
    async with http.post("/v1/auth/login", json=body) as response:
        await expect_problem(response, 422, "signature-invalid")


async def test_a_login_with_a_bad_one_time_key_signature_is_refused(
    world: World, http: aiohttp.ClientSession
) -> None:
    device, other = RawDevice(), RawDevice()
    body = device.login_body("officer")
    forged = other.one_time_keys(1)[0]
    body["device"]["one_time_keys"].append(forged)
    async with http.post("/v1/auth/login", json=body) as response:
        await expect_problem(response, 422, "signature-invalid")
    assert not await audit_entries(world, action="device.registered")


async def test_a_login_with_a_bad_fallback_key_signature_is_refused(
    http: aiohttp.ClientSession,
) -> None:
    device = RawDevice()
    body = device.login_body("officer")
    fallback = body["device"]["fallback_key"]
    # A signature made for another key id does not vouch for this one.
    fallback["signature"] = device.sign(
        fallback_key_payload(device.curve25519, fallback["key_id"] + "x", fallback["key"])
    )
    async with http.post("/v1/auth/login", json=body) as response:
        await expect_problem(response, 422, "signature-invalid")


async def test_a_login_with_keys_that_are_not_curve25519_is_refused(
    http: aiohttp.ClientSession,
) -> None:
    device = RawDevice()
    body = device.login_body("officer")
    body["device"]["curve25519"] = base64.b64encode(b"\x01" * 31).decode().rstrip("=")
    async with http.post("/v1/auth/login", json=body) as response:
        await expect_problem(response, 422, "invalid-input")


async def test_the_same_device_keys_cannot_be_registered_twice(
    world: World, http: aiohttp.ClientSession
) -> None:
    device = RawDevice()
    body = device.login_body("officer")
    async with http.post("/v1/auth/login", json=body) as response:
        assert response.status == 201
    async with http.post("/v1/auth/login", json=body) as response:
        await expect_problem(response, 409, "conflict")
    async with world.services.store.read() as uow:
        devices = await uow.devices.list_for_owner(OwnerKind.STAFF, world.staff["officer"])
    assert len(devices) == 1


# --------------------------------------------------------------------------- revocation


async def test_a_device_revoked_by_its_owner_is_refused_everywhere(
    world: World, http: aiohttp.ClientSession
) -> None:
    team = await case_team(world)
    officer = await raw_login(http, "officer")
    # Something is waiting for the device, and it holds one-time keys.
    worker = bearer(team.worker.transport.token or "")
    async with http.put(
        f"/v1/cases/{team.case_id}/messages/for-the-raw-device",
        json=ciphertexts(officer.device_id),
        headers=worker,
    ) as response:
        assert response.status == 201, await response.text()
    assert await pending_copies(world, officer.device_id) == 1
    assert await one_time_key_count(world, officer.device_id) > 0

    async with http.post(
        f"/v1/devices/{officer.device_id}/revoke", headers=officer.headers
    ) as response:
        assert response.status == 200, await response.text()
        assert (await response.json())["device"]["revoked"] is True

    await assert_refused_everywhere(
        http,
        officer.headers,
        status=401,
        code="device-revoked",
        case_id=team.case_id,
        device_id=officer.device_id,
    )
    assert await pending_copies(world, officer.device_id) == 0
    assert await one_time_key_count(world, officer.device_id) == 0
    async with world.services.store.read() as uow:
        assert await uow.keys.get_fallback_key(officer.device_id) is None
    (entry,) = await audit_entries(world, action="device.revoked")
    assert entry.actor_id == world.staff["officer"]
    assert entry.subject_id == officer.device_id
    assert '"remote":false' in entry.details
    # The officer's other device is untouched.
    async with http.get("/v1/me", headers=bearer(team.officer.transport.token)) as response:
        assert response.status == 200


async def test_a_witness_phone_revoked_by_the_case_officer_is_refused_everywhere(
    world: World, http: aiohttp.ClientSession
) -> None:
    team = await case_team(world)
    await team.officer.send("are you safe?", case_id=team.case_id)
    witness_device = team.witness.device_id
    assert await pending_copies(world, witness_device) == 1
    assert await one_time_key_count(world, witness_device) > 0

    async with http.post(
        f"/v1/devices/{witness_device}/revoke", headers=bearer(team.officer.transport.token)
    ) as response:
        assert response.status == 200, await response.text()

    await assert_refused_everywhere(
        http,
        bearer(team.witness.transport.token),
        status=401,
        code="device-revoked",
        case_id=team.case_id,
        device_id=witness_device,
    )
    assert await pending_copies(world, witness_device) == 0
    assert await one_time_key_count(world, witness_device) == 0
    async with world.services.store.read() as uow:
        assert await uow.keys.get_fallback_key(witness_device) is None
    (entry,) = await audit_entries(world, action="device.revoked")
    assert entry.actor_id == world.staff["officer"]
    assert entry.case_id == team.case_id
    assert '"remote":true' in entry.details
    # The phone is no longer part of the case: nobody can address it any more.
    async with http.get(
        f"/v1/cases/{team.case_id}/devices", headers=bearer(team.worker.transport.token)
    ) as response:
        listed = {d["device_id"] for d in (await response.json())["devices"]}
    assert witness_device not in listed
    async with http.put(
        f"/v1/cases/{team.case_id}/messages/after-revocation",
        json=ciphertexts(witness_device),
        headers=bearer(team.worker.transport.token),
    ) as response:
        problem = await expect_problem(response, 409, "stale-devices")
        assert problem["unknown_devices"] == [witness_device]


async def test_an_open_websocket_of_a_revoked_device_is_closed(
    world: World, http: aiohttp.ClientSession
) -> None:
    """A phone that has been taken must not keep a live connection to the server."""
    team = await case_team(world)
    ws = await http.ws_connect("/v1/ws", headers=bearer(team.witness.transport.token))
    try:
        await team.officer.send("ping", case_id=team.case_id)
        frame = await asyncio.wait_for(ws.receive(), 5)
        assert frame.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY)
        await team.officer.revoke_device(team.witness.device_id)
        try:
            # Closing is immediate; the bound only keeps a broken server from hanging us.
            frame = await asyncio.wait_for(ws.receive(), 2)
        except TimeoutError:
            pytest.fail("the revoked device's WebSocket is still open")
        assert frame.type in (
            aiohttp.WSMsgType.CLOSE,
            aiohttp.WSMsgType.CLOSING,
            aiohttp.WSMsgType.CLOSED,
        ), frame
    finally:
        await ws.close()


async def test_a_support_worker_cannot_revoke_the_witness_phone(
    world: World, http: aiohttp.ClientSession
) -> None:
    team = await case_team(world)
    async with http.post(
        f"/v1/devices/{team.witness.device_id}/revoke",
        headers=bearer(team.worker.transport.token),
    ) as response:
        await expect_problem(response, 403, "forbidden")
    async with http.get("/v1/me", headers=bearer(team.witness.transport.token)) as response:
        assert response.status == 200


async def test_nobody_can_revoke_another_staff_members_device(
    world: World, http: aiohttp.ClientSession
) -> None:
    team = await case_team(world)
    for attacker in (team.worker, team.witness):
        async with http.post(
            f"/v1/devices/{team.officer.device_id}/revoke",
            headers=bearer(attacker.transport.token),
        ) as response:
            await expect_problem(response, 404, "not-found")
    async with http.get("/v1/me", headers=bearer(team.officer.transport.token)) as response:
        assert response.status == 200


async def test_a_device_name_is_a_single_printable_line(
    world: World, http: aiohttp.ClientSession
) -> None:
    """Device names are shown to other people (the case team, the witness's phone, the
    console), so like aliases and case references they may not carry control
    characters that could fake a second line or restyle a terminal."""
    body = RawDevice().login_body("officer", name="Phone\n\x1b[31mOfficer Weber")
    async with http.post("/v1/auth/login", json=body) as response:
        assert response.status == 422, await response.text()
        assert (await response.json())["code"] in {"invalid-input", "invalid-body"}
    assert not await audit_entries(world, action="device.registered")
