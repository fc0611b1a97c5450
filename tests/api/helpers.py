"""Helpers for HTTP-level API tests: raw devices, raw requests, problem checks, audit.

These tests talk to the real server with plain aiohttp requests so that they can send
what no well-behaved client would. Device material is built with vodozemac directly,
exactly as the SDK does, so that a test can also break it on purpose.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
import vodozemac

from client_sdk import StaffClient, WitnessClient
from client_sdk.identity import PersonalIdentity
from server.domain.models import AuditEntry
from tests.support.world import PASSWORD, World
from wire.enrolment import (
    EnrolmentCode,
    EnrolmentKeys,
    commitment,
    enrolment_context,
    enrolment_keys,
    new_enrolment_code,
    new_nonce,
    parse_enrolment_code,
    phone_mac,
    team_mac,
)
from wire.keys import (
    RosterMember,
    device_object,
    device_proof_payload,
    fallback_key_payload,
    login_context,
    object_hash,
    one_time_key_payload,
    signed,
)

PROBLEM_TYPE = "application/problem+json"
LEAK_MARKERS = ("Traceback", 'File "', ".py", "Error(", "Exception", "asyncpg", "sqlite")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class RawDevice:
    """A device's Olm account, driven by hand to build (or break) registrations."""

    def __init__(self) -> None:
        self.account = vodozemac.Account()

    @property
    def curve25519(self) -> str:
        return str(self.account.curve25519_key.to_base64())

    @property
    def ed25519(self) -> str:
        return str(self.account.ed25519_key.to_base64())

    def sign(self, payload: bytes) -> str:
        return str(self.account.sign(payload).to_base64())

    def one_time_keys(self, count: int) -> list[dict[str, str]]:
        """``count`` fresh signed one-time keys (generated in batches of at most 50)."""
        keys: list[dict[str, str]] = []
        while len(keys) < count:
            batch = min(50, count - len(keys))
            self.account.generate_one_time_keys(batch)
            for key_id, key in self.account.one_time_keys.items():
                public = key.to_base64()
                payload = one_time_key_payload(self.curve25519, key_id, public)
                keys.append({"key_id": key_id, "key": public, "signature": self.sign(payload)})
            self.account.mark_keys_as_published()
        return keys

    def fallback_key(self) -> dict[str, str]:
        self.account.generate_fallback_key()
        for key_id, key in self.account.fallback_key.items():
            public = key.to_base64()
            payload = fallback_key_payload(self.curve25519, key_id, public)
            return {"key_id": key_id, "key": public, "signature": self.sign(payload)}
        raise AssertionError("vodozemac made no fallback key")

    def registration(
        self, context: str, *, one_time_keys: int = 5, fallback: bool = True, name: str = "raw"
    ) -> dict[str, Any]:
        """A registration body as the SDK sends it, with a proof for ``context``."""
        body: dict[str, Any] = {
            "name": name,
            "curve25519": self.curve25519,
            "ed25519": self.ed25519,
            "proof": self.sign(device_proof_payload(self.curve25519, self.ed25519, context)),
            "one_time_keys": self.one_time_keys(one_time_keys),
        }
        if fallback:
            body["fallback_key"] = self.fallback_key()
        return body

    def login_body(self, username: str, **registration: Any) -> dict[str, Any]:
        return {
            "username": username,
            "password": PASSWORD,
            "device": self.registration(login_context(username), **registration),
        }

    def enrol_body(
        self, code: str, *, identity: str | None = None, **registration: Any
    ) -> dict[str, Any]:
        """An enrolment body for ``code`` (the typed or QR form), with an identity key
        (any fresh 32-byte key unless given) and the MAC the code's secret gives it."""
        keys = enrolment_keys(parse_enrolment_code(code).secret)
        identity = identity or RawDevice().ed25519
        return {
            "code": b64(keys.server_token),
            "device": self.registration(enrolment_context(keys.server_token), **registration),
            "identity_key": identity,
            "identity_mac": phone_mac(keys.phone, identity),
        }


@dataclass
class RawLogin:
    device: RawDevice
    device_id: str
    token: str
    staff_id: str
    identity: PersonalIdentity | None = None

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.token)

    @property
    def owner(self) -> str:
        return f"staff:{self.staff_id}"


@dataclass
class RawPhone:
    """A witness's phone enrolled by hand: its device, what it sent with the code (its
    identity key and MAC) and the server's answer."""

    device: RawDevice
    device_id: str
    token: str
    witness_id: str
    identity: PersonalIdentity
    identity_mac: str
    reply: dict[str, Any]

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.token)

    @property
    def owner(self) -> str:
        return f"witness:{self.witness_id}"

    @property
    def identity_key(self) -> str:
        return self.identity.public_key


async def raw_claim(http: aiohttp.ClientSession, code: str) -> RawPhone:
    """A phone claims ``code`` (typed or QR form) with a fresh device and identity."""
    device, identity = RawDevice(), PersonalIdentity.generate()
    body = device.enrol_body(code, identity=identity.public_key)
    async with http.post("/v1/enrol", json=body) as response:
        assert response.status == 201, await response.text()
        reply = await response.json()
    return RawPhone(
        device,
        reply["device_id"],
        reply["token"],
        reply["witness"]["witness_id"],
        identity,
        body["identity_mac"],
        reply,
    )


def raw_device_object(member: RawLogin | RawPhone) -> dict[str, Any]:
    """The member's device object, signed by its device as the SDK signs it."""
    device = member.device
    return signed(
        device_object(member.device_id, member.owner, device.curve25519, device.ed25519),
        device.sign,
    )


async def publish_raw_identity(
    http: aiohttp.ClientSession, login: RawLogin | RawPhone
) -> PersonalIdentity:
    """Give a raw login or phone what the SDK publishes: its signed device object and an
    identity (the phone's own, or a fresh one) whose device list vouches for it."""
    device_obj = raw_device_object(login)
    async with http.put(
        "/v1/me/device-keys", json={"device": device_obj}, headers=login.headers
    ) as response:
        assert response.status == 200, await response.text()
    identity = login.identity or PersonalIdentity.generate()
    device_list = identity.device_list(
        login.owner, 1, {login.device_id: object_hash(device_obj)}, datetime.now(UTC)
    )
    async with http.put(
        "/v1/me/identity", json={"device_list": device_list}, headers=login.headers
    ) as response:
        assert response.status == 200, await response.text()
    login.identity = identity
    return identity


async def publish_raw_roster(
    http: aiohttp.ClientSession, login: RawLogin, case_id: str, *, version: int = 1
) -> dict[str, Any]:
    """A roster of one (the raw officer), signed by them."""
    identity = login.identity or await publish_raw_identity(http, login)
    roster = identity.roster(
        case_id,
        version,
        [RosterMember(login.owner, identity.public_key, "officer", "Raw Officer")],
        datetime.now(UTC),
    )
    async with http.put(
        f"/v1/cases/{case_id}/roster", json={"roster": roster}, headers=login.headers
    ) as response:
        assert response.status == 200, await response.text()
    return roster


#: An enrolment request of the right shape (for tests of who may make one).
ENROLMENT: dict[str, Any] = {
    "code_hash": b64(b"h" * 32),
    "roster": {"type": "wl.roster.v1"},
    "team_mac": b64(b"m" * 32),
    "commitment": b64(b"c" * 32),
}


@dataclass
class RawEnrolment:
    """An enrolment code as an officer's client makes it: the secret it shows, the
    SAS nonce it commits to, and the roster it vouches for (of these the server sees
    only the roster), with the server's answer once issued."""

    code: EnrolmentCode
    nonce: bytes
    roster: dict[str, Any]
    issued: dict[str, Any] = field(default_factory=dict)

    @property
    def enrolment_id(self) -> str:
        return str(self.issued["enrolment_id"])

    @classmethod
    def over(cls, roster: dict[str, Any]) -> RawEnrolment:
        return cls(new_enrolment_code(None), new_nonce(), roster)

    @property
    def keys(self) -> EnrolmentKeys:
        return enrolment_keys(self.code.secret)

    @property
    def text(self) -> str:
        """The typed form of the code."""
        return self.code.text()

    def request(self) -> dict[str, Any]:
        """The body that registers this enrolment with the server."""
        return {
            "code_hash": b64(self.keys.code_hash),
            "roster": self.roster,
            "team_mac": team_mac(self.keys.team, object_hash(self.roster)),
            "commitment": commitment(self.nonce),
        }


async def current_roster(
    http: aiohttp.ClientSession, headers: dict[str, str], case_id: str
) -> dict[str, Any] | None:
    async with http.get(f"/v1/cases/{case_id}/roster", headers=headers) as response:
        assert response.status == 200, await response.text()
        roster: dict[str, Any] | None = (await response.json())["roster"]
        return roster


async def enrolment_request(
    http: aiohttp.ClientSession, headers: dict[str, str], case_id: str
) -> dict[str, Any]:
    """A well-formed enrolment request over the case's current roster (whoever asks)."""
    roster = await current_roster(http, headers, case_id)
    assert roster is not None
    return RawEnrolment.over(roster).request()


async def raw_enrolment(
    http: aiohttp.ClientSession, login: RawLogin, case_id: str, witness_id: str
) -> RawEnrolment:
    """Issue an enrolment as an officer's client would (signing the case's first roster
    if it has none)."""
    roster = await current_roster(http, login.headers, case_id)
    if roster is None:
        roster = await publish_raw_roster(http, login, case_id)
    enrolment = RawEnrolment.over(roster)
    async with http.post(
        f"/v1/witnesses/{witness_id}/enrolments", json=enrolment.request(), headers=login.headers
    ) as response:
        assert response.status == 201, await response.text()
        enrolment.issued = await response.json()
    return enrolment


async def raw_enrolment_code(
    http: aiohttp.ClientSession, login: RawLogin, case_id: str, witness_id: str
) -> str:
    """Issue an enrolment as an officer's client would; returns the typed code."""
    return (await raw_enrolment(http, login, case_id, witness_id)).text


async def raw_case(
    world: World, http: aiohttp.ClientSession, officer: RawLogin, reference: str
) -> str:
    """Open a case as a raw officer; returns its id."""
    async with http.post(
        "/v1/cases",
        json={"reference": reference, "support_agency_id": world.agencies["support"]},
        headers=officer.headers,
    ) as response:
        assert response.status == 201, await response.text()
        return str((await response.json())["case_id"])


async def raw_witness(http: aiohttp.ClientSession, officer: RawLogin, case_id: str) -> str:
    """Add the case's witness (Sparrow) as a raw officer; returns their id."""
    async with http.post(
        f"/v1/cases/{case_id}/witness",
        json={"alias": "Sparrow", "language": "ro", "timezone": "Europe/Bucharest"},
        headers=officer.headers,
    ) as response:
        assert response.status == 201, await response.text()
        return str((await response.json())["witness_id"])


async def raw_login(http: aiohttp.ClientSession, username: str, **registration: Any) -> RawLogin:
    """Log a staff member in over plain HTTP with a hand-made device."""
    device = RawDevice()
    async with http.post("/v1/auth/login", json=device.login_body(username, **registration)) as r:
        body = await r.json()
        assert r.status == 201, body
    return RawLogin(device, body["device_id"], body["token"], body["staff"]["staff_id"])


async def expect_problem(
    response: aiohttp.ClientResponse, status: int, code: str
) -> dict[str, Any]:
    """Check that ``response`` is an RFC 9457 problem with ``status`` and ``code``."""
    text = await response.text()
    assert response.status == status, text
    assert response.content_type == PROBLEM_TYPE, (response.content_type, text)
    body = json.loads(text)
    assert isinstance(body, dict), text
    assert body["status"] == status, body
    assert body["code"] == code, body
    assert body["type"] == f"urn:witnesslink:problem:{code}", body
    assert isinstance(body["title"], str), body
    assert body["title"], body
    assert_no_leak(text)
    return body


def assert_no_leak(text: str) -> None:
    """No stack trace, source path or exception text in a response body."""
    for marker in LEAK_MARKERS:
        assert marker not in text, f"{marker!r} leaked into a response: {text[:500]}"


async def audit_entries(
    world: World,
    *,
    action: str | None = None,
    actor_id: str | None = None,
    case_id: str | None = None,
) -> list[AuditEntry]:
    """Audit entries, newest first."""
    async with world.services.store.read() as uow:
        return await uow.audit.query(action=action, actor_id=actor_id, case_id=case_id, limit=1000)


async def pending_copies(world: World, device_id: str) -> int:
    async with world.services.store.read() as uow:
        return await uow.messages.count_pending(device_id)


async def one_time_key_count(world: World, device_id: str) -> int:
    async with world.services.store.read() as uow:
        return await uow.keys.count_one_time_keys(device_id)


@dataclass
class CaseTeam:
    """A case with its police officer, a support worker and an enrolled witness phone."""

    case_id: str
    witness_id: str
    officer: StaffClient
    worker: StaffClient
    witness: WitnessClient

    @property
    def officer_headers(self) -> dict[str, str]:
        return bearer(self.officer.transport.token or "")


async def case_team(world: World, *, reference: str = "DE-2026-0001") -> CaseTeam:
    officer = await world.login("officer")
    worker = await world.login("worker")
    case = await officer.create_case(reference, world.agencies["support"])
    assert await officer.assign(case["case_id"], world.staff["worker"])
    enrolment = await officer.add_witness(
        case["case_id"], alias="Sparrow", language="ro", timezone="Europe/Bucharest"
    )
    witness = await world.enrol(enrolment, name=f"witness-{reference}")
    return CaseTeam(case["case_id"], enrolment.witness_id, officer, worker, witness)


def ciphertexts(*device_ids: str, body: str = "b2xtIGNpcGhlcnRleHQ") -> dict[str, Any]:
    """A send body with one (opaque, fake) ciphertext per device."""
    return {"ciphertexts": [{"device_id": d, "type": 1, "body": body} for d in device_ids]}


def client_headers(client: Any) -> dict[str, str]:
    """The bearer header of an SDK client's device."""
    return bearer(client.transport.token)


async def put_message(
    http: aiohttp.ClientSession, sender: Any, case_id: str, message_id: str, body: dict[str, Any]
) -> aiohttp.ClientResponse:
    """PUT a message as an SDK client's device, past the SDK."""
    return await http.put(
        f"/v1/cases/{case_id}/messages/{message_id}", json=body, headers=client_headers(sender)
    )


async def pending_frames(
    http: aiohttp.ClientSession, device: Any, **params: str
) -> list[dict[str, Any]]:
    """The copies waiting for an SDK client's device, as the REST API lists them."""
    async with http.get("/v1/messages", params=params, headers=client_headers(device)) as r:
        assert r.status == 200, await r.text()
        return list((await r.json())["messages"])
