"""Conformance: a phone written from ``docs/protocol.md`` alone (``independent_client``:
standard library, vodozemac and aiohttp only) works with the real server and the SDK.

It reproduces the document's test vectors; it enrols with an SDK officer's code (team
MAC, its own keys, nonce, the comparison numbers), verifies the team from the signed
objects itself, and exchanges messages with SDK staff clients both ways, the SDK seeing
its messages as verified. And the document's rules are enough to be safe: it refuses a
team roster the server swapped into the enrolment, and a roster the server forged later
with a member of its choosing.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import vodozemac

from client_sdk import IncomingMessage, StaffClient
from client_sdk.officer_enrolment import Enrolment
from tests.conformance import independent_client as ic
from tests.support.world import World

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "protocol.md"


# --------------------------------------------------------------------------- the client


def test_the_independent_client_imports_nothing_of_the_sdk_the_protocol_or_the_server() -> None:
    code = (
        "import json, sys\n"
        "import tests.conformance.independent_client\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, check=True, capture_output=True, text=True
    ).stdout
    loaded = {name.split(".")[0] for name in json.loads(out)}
    assert "vodozemac" in loaded
    assert "aiohttp" in loaded
    assert not loaded & {"client_sdk", "wire", "server", "scheduler", "nacl", "msgspec"}


# --------------------------------------------------------------------------- the vectors


def _vectors() -> dict[str, Any]:
    """The document's vectors, read as an implementer would."""
    blocks = re.findall(
        r"<!-- vector: ([a-z0-9_]+) -->\s*```json\n(.*?)\n```",
        DOC.read_text(encoding="utf-8"),
        re.DOTALL,
    )
    return {name: json.loads(body) for name, body in blocks}


def _curve_public(private_hex: str) -> str:
    secret = vodozemac.Curve25519SecretKey.from_bytes(bytes.fromhex(private_hex))
    return secret.public_key().to_base64()


def test_the_independent_client_reproduces_the_documents_vectors() -> None:
    v = _vectors()

    base64_case = v["base64"]
    assert [ic.b64(bytes.fromhex(h)) for h in base64_case["input"]] == base64_case["output"]

    canonical = v["canonical_json"]
    text = ic.canonical_json(canonical["input"])
    assert text.decode("utf-8") == canonical["output"]["text"]
    assert text.hex() == canonical["output"]["utf8_hex"]
    assert ic.b64(ic.sha256(text)) == canonical["output"]["sha256"]

    hkdf_case = v["hkdf"]
    assert [
        ic.hkdf(
            bytes.fromhex(c["ikm_hex"]),
            bytes.fromhex(c["salt_hex"]),
            bytes.fromhex(c["info_hex"]),
            c["length"],
        ).hex()
        for c in hkdf_case["input"]
    ] == hkdf_case["output"]

    device = v["device_object"]
    keys = ic.check_device_object(device["output"]["object"])
    assert keys.curve25519 == _curve_public(device["input"]["curve25519_private_key_hex"])
    assert (
        ic.signing_payload(device["output"]["object"]).decode()
        == (device["output"]["signing_payload"])
    )
    assert keys.object_hash == device["output"]["object_hash"]

    listed = ic.check_device_list(v["device_list"]["output"]["object"])
    assert listed.object_hash == v["device_list"]["output"]["object_hash"]
    assert listed.devices == {keys.device_id: keys.object_hash}

    roster = ic.check_roster(v["roster"]["output"]["object"])
    assert roster.object_hash == v["roster"]["output"]["object_hash"]
    assert roster.signer == listed.identity_key

    payloads = v["key_payloads"]
    inputs, out = payloads["input"], payloads["output"]
    secret = bytes.fromhex(inputs["enrolment_secret_hex"])
    token = ic.enrolment_keys(secret).server_token
    texts = {
        "one_time_key": ic.one_time_key_text(
            inputs["curve25519"],
            inputs["one_time_key"]["key_id"],
            _curve_public(inputs["one_time_key"]["private_key_hex"]),
        ),
        "fallback_key": ic.fallback_key_text(
            inputs["curve25519"],
            inputs["fallback_key"]["key_id"],
            _curve_public(inputs["fallback_key"]["private_key_hex"]),
        ),
        "login_proof": ic.proof_text(
            inputs["curve25519"], inputs["ed25519"], "login:" + inputs["username"].lower()
        ),
        "enrolment_proof": ic.proof_text(
            inputs["curve25519"], inputs["ed25519"], "enrol:" + ic.b64(ic.sha256(token))
        ),
    }
    for name, signed_text in texts.items():
        assert signed_text.decode() == out[name]["payload"], name
        assert ic.verify(inputs["ed25519"], signed_text, out[name]["signature"]), name

    enrolment = v["enrolment"]
    inputs, out = enrolment["input"], enrolment["output"]
    secret = bytes.fromhex(inputs["secret_hex"])
    assert ic.secret_from_code(out["typed_code"]) == (secret, None)
    assert ic.secret_from_code(out["qr_payload"]) == (secret, inputs["server_url"])
    keys_ = ic.enrolment_keys(secret)
    officer_nonce = bytes.fromhex(inputs["officer_nonce_hex"])
    phone_nonce = bytes.fromhex(inputs["phone_nonce_hex"])
    assert {
        "server_token": ic.b64(keys_.server_token),
        "code_hash": ic.b64(ic.sha256(keys_.server_token)),
        "k_team_hex": keys_.k_team.hex(),
        "k_phone_hex": keys_.k_phone.hex(),
        "team_mac": ic.team_mac(keys_.k_team, inputs["roster_hash"]),
        "phone_mac": ic.phone_mac(keys_.k_phone, inputs["phone_identity_key"]),
        "commitment": ic.commitment(officer_nonce),
        "sas": ic.sas(
            inputs["roster_hash"], inputs["phone_identity_key"], officer_nonce, phone_nonce
        ),
    }.items() <= out.items()
    assert inputs["roster_hash"] == roster.object_hash

    checkin = v["checkin_response"]
    inputs, out = checkin["input"], checkin["output"]
    text = ic.checkin_text(
        inputs["checkin_id"], inputs["nonce"], inputs["device_id"], inputs["status"]
    )
    assert text.decode() == out["payload"]
    assert ic.verify(out["ed25519"], text, out["signature"])

    people = v["safety_number"]["input"]
    assert (
        ic.safety_number(
            (people["a"]["owner"], people["a"]["identity_key"]),
            (people["b"]["owner"], people["b"]["identity_key"]),
        )
        == v["safety_number"]["output"]
    )

    recovery = v["recovery"]
    out = recovery["output"]
    assert ic.recovery_seal_key(out["recovery_key"]).hex() == out["seal_key_hex"]
    sealed = ic.unb64(out["sealed"])
    assert (len(sealed), sealed[:24].hex()) == (72, recovery["input"]["nonce_hex"])

    door = v["door_code"]
    inputs = door["input"]
    witness = (inputs["witness_owner"], inputs["witness_identity_key"])
    for visitor, code in (
        ((inputs["visitor_owner"], inputs["visitor_identity_key"]), door["output"]["code"]),
        (
            (inputs["other_visitor_owner"], inputs["other_visitor_identity_key"]),
            door["output"]["code_for_other_visitor"],
        ),
    ):
        assert (
            ic.door_code(
                inputs["nonce"], visitor, witness, inputs["visit_id"], inputs["visit_version"]
            )
            == code
        )


# --------------------------------------------------------------------------- the server


@pytest.fixture
async def team(world: World) -> tuple[StaffClient, StaffClient, str]:
    """An SDK officer and support worker on a case, the worker vouched for in its roster."""
    officer = await world.login("officer")
    worker = await world.login("worker")
    case = await officer.create_case("DE-2026-0100", world.agencies["support"])
    await officer.assign(case["case_id"], world.staff["worker"])
    return officer, worker, case["case_id"]


async def _add_witness(officer: StaffClient, case_id: str) -> Enrolment:
    return await officer.add_witness(
        case_id, alias="Kestrel", language="ro", timezone="Europe/Bucharest"
    )


async def _enrol_in_person(
    officer: StaffClient, enrolment: Enrolment, phone: ic.IndependentPhone
) -> None:
    """§7.4 with the officer in the room: the phone enrols, both screens show the same
    numbers, the officer confirms, the phone pins the team and reads its keys."""
    await phone.enrol(enrolment.qr_payload)
    shown = await officer.phone_for(enrolment)
    assert shown is not None
    assert shown.identity_key == phone.identity.public_key
    assert await phone.sas() == shown.sas
    await officer.confirm_phone(shown)
    await phone.confirm()


def _incoming(client: StaffClient, sender_device_id: str) -> list[tuple[str, bool]]:
    return [
        (event.text, event.verified)
        for event in client.pending_events()
        if isinstance(event, IncomingMessage) and event.sender_device_id == sender_device_id
    ]


async def test_an_independent_phone_enrols_verifies_the_team_and_talks_with_sdk_clients(
    world: World, team: tuple[StaffClient, StaffClient, str]
) -> None:
    officer, worker, case_id = team
    enrolment = await _add_witness(officer, case_id)
    assert ic.secret_from_code(enrolment.qr_payload)[1] == world.url
    phone = ic.IndependentPhone(world.url)
    try:
        await _enrol_in_person(officer, enrolment, phone)

        # The phone verified the team itself: exactly the officer's and the worker's
        # devices chain to the roster it pinned (and to the next one, which adds it).
        assert phone.trusted_devices() == {officer.device_id, worker.device_id}
        assert phone.roster is not None
        assert phone.roster.member(phone.owner) is not None
        assert phone.reports == []

        # SDK -> phone, a pre-key message: the phone starts the session.
        first = await worker.send("Welcome home. Reply when you can.", case_id=case_id)
        assert phone.device_id in first.recipients
        async with asyncio.timeout(10):
            (welcome,) = await phone.receive(1)
        assert (welcome.text, welcome.verified, welcome.sender) == (
            "Welcome home. Reply when you can.",
            True,
            worker.owner,
        )

        # Phone -> SDK: a pre-key message to the officer, a normal one to the worker.
        receipt = await phone.send_text("I arrived home safely.")
        assert receipt["recipients"] == 2
        assert receipt["missing_devices"] == []
        for client in (officer, worker):
            await client.sync()
            assert _incoming(client, phone.device_id) == [("I arrived home safely.", True)]

        # SDK -> phone again, now on the sessions both sides hold.
        await officer.send("Your hearing is on Monday at ten.", case_id=case_id)
        await worker.send("I will call you on Sunday.", case_id=case_id)
        async with asyncio.timeout(10):
            received = await phone.receive(2)
        assert sorted((r.sender, r.text, r.verified) for r in received) == sorted(
            [
                (officer.owner, "Your hearing is on Monday at ten.", True),
                (worker.owner, "I will call you on Sunday.", True),
            ]
        )
        assert phone.reports == []
        # Every copy was acknowledged over the WebSocket: nothing waits any more.
        for _ in range(50):
            if not (await phone.call("GET", "/v1/messages"))["messages"]:
                break
            await asyncio.sleep(0.02)
        assert (await phone.call("GET", "/v1/messages"))["messages"] == []
    finally:
        await phone.close()


async def test_the_independent_phone_refuses_a_roster_the_server_swapped_into_the_enrolment(
    world: World, team: tuple[StaffClient, StaffClient, str]
) -> None:
    officer, _worker, case_id = team
    enrolment = await _add_witness(officer, case_id)
    # The server hands the phone the case's roster with the officer's identity key
    # replaced by its own, signed by that key: a well-formed roster, validly signed.
    real = (await officer.transport.request("GET", f"/v1/cases/{case_id}/roster"))["roster"]
    attacker = ic.IdentityKey()
    forged = {k: v for k, v in real.items() if k != "signature"}
    forged["signer"] = attacker.public_key
    forged["members"] = [
        {**m, "identity_key": attacker.public_key} if m["owner"] == officer.owner else m
        for m in real["members"]
    ]
    forged["signature"] = attacker.sign(ic.signing_payload(forged))
    ic.check_roster(forged)
    async with world.services.db.transaction() as conn:
        await conn.execute(
            "UPDATE enrolments SET roster = $2 WHERE id = $1",
            enrolment.enrolment_id,
            ic.canonical_json(forged).decode(),
        )

    phone = ic.IndependentPhone(world.url)
    try:
        with pytest.raises(ic.Refused):
            await phone.enrol(enrolment.code)
        # It said so to the server: the enrolment is aborted and the phone's device
        # revoked, before it published keys or a nonce.
        with pytest.raises(ic.Problem) as refused:
            await phone.call("GET", "/v1/me/enrolment")
        assert refused.value.code == "device-revoked"
        assert await officer.phone_for(enrolment) is None
    finally:
        await phone.close()


async def test_the_independent_phone_refuses_a_forged_roster_and_the_member_it_adds(
    world: World, team: tuple[StaffClient, StaffClient, str]
) -> None:
    officer, worker, case_id = team
    world.staff_verify_each_other = False
    outsider = await world.login("outsider")
    enrolment = await _add_witness(officer, case_id)
    phone = ic.IndependentPhone(world.url)
    try:
        await _enrol_in_person(officer, enrolment, phone)
        accepted = phone.roster
        assert accepted is not None

        # The server puts a colleague of another agency on the case and a next roster,
        # signed by that colleague's own identity, that names them an officer.
        identity = outsider.trust.personal_identity
        assert identity is not None
        members = [ic.Member(m.owner, m.identity_key, m.role, m.name) for m in accepted.members] + [
            ic.Member(outsider.owner, identity.public_key, "officer", "Officer Dupont")
        ]
        forged = {
            "type": "wl.roster.v1",
            "case_id": case_id,
            "version": accepted.version + 1,
            "signer": identity.public_key,
            "members": sorted(
                (
                    {
                        "owner": m.owner,
                        "identity_key": m.identity_key,
                        "role": m.role,
                        "name": m.name,
                    }
                    for m in members
                ),
                key=lambda m: m["owner"],
            ),
            "issued_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        forged["signature"] = identity.sign(ic.signing_payload(forged))
        async with world.services.db.transaction() as conn:
            await conn.execute(
                "INSERT INTO case_staff (case_id, staff_id, added_by, added_at)"
                " VALUES ($1, $2, $3, $4)",
                case_id,
                world.staff["outsider"],
                "server",
                0,
            )
            await conn.execute(
                "UPDATE rosters SET version = $2, signer_key = $3, body = $4 WHERE case_id = $1",
                case_id,
                forged["version"],
                identity.public_key,
                ic.canonical_json(forged).decode(),
            )

        receipt = await phone.send_text("Who else can read this?")

        assert "roster-refused" in phone.reports
        assert phone.roster == accepted
        assert phone.trusted_devices() == {officer.device_id, worker.device_id}
        assert receipt["missing_devices"] == [outsider.device_id]
        assert await outsider.sync() == 0
    finally:
        await phone.close()
