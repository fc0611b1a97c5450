"""The test vectors of ``docs/protocol.md``, recomputed with ``wire/``.

Every vector in the document is a JSON block right after a ``<!-- vector: NAME -->``
marker, holding its fixed ``input`` and the exact ``output``. This module computes the
same vectors from the same fixed inputs with the protocol package, and the tests require
the document to hold exactly these, so the document and the code cannot drift apart.

After a deliberate change to the protocol, print the blocks afresh and paste them into
the document::

    .venv/bin/python -m tests.wire.test_vectors
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import nacl.public
import nacl.secret
import nacl.signing
import pytest

from wire.checkins import checkin_response_payload
from wire.door import door_code, door_info
from wire.encoding import b64, canonical_json, hkdf_sha256, sha256_b64, unb64
from wire.enrolment import (
    EnrolmentCode,
    commitment,
    enrolment_context,
    enrolment_keys,
    parse_enrolment_code,
    phone_mac,
    sas,
    team_mac,
)
from wire.keys import (
    RosterMember,
    check_device_list,
    check_device_object,
    check_roster,
    device_list_object,
    device_object,
    device_proof_payload,
    fallback_key_payload,
    login_context,
    object_hash,
    one_time_key_payload,
    roster_object,
    signed,
    signing_payload,
)
from wire.recovery import open_identity_seed
from wire.safety import safety_number

DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
_BLOCK = re.compile(r"<!-- vector: ([a-z0-9_]+) -->\s*```json\n(.*?)\n```", re.DOTALL)

ISSUED_AT = "2026-01-31T12:00:00Z"
OFFICER = "staff:stf_officer"
WORKER = "staff:stf_worker"
WITNESS = "witness:wit_sparrow"
CASE = "case_vectors"
ENROLMENT_SECRET = bytes(range(20))
OFFICER_NONCE = bytes(range(0xA0, 0xC0))
PHONE_NONCE = bytes(range(0xC0, 0xE0))
SERVER_URL = "https://witnesslink.example.org"
RECOVERY_KEY_BYTES = bytes(range(0x50, 0x64))
SEAL_NONCE = bytes(range(0x70, 0x88))


def seed(byte: int) -> bytes:
    """The fixed 32-byte seeds of the vectors: one byte value repeated."""
    return bytes([byte]) * 32


def signer(byte: int) -> nacl.signing.SigningKey:
    return nacl.signing.SigningKey(seed(byte))


def public(key: nacl.signing.SigningKey) -> str:
    return b64(bytes(key.verify_key))


def sign_with(key: nacl.signing.SigningKey) -> Any:
    return lambda payload: b64(key.sign(payload).signature)


def curve_public(byte: int) -> str:
    return b64(bytes(nacl.public.PrivateKey(seed(byte)).public_key))


def signed_output(obj: dict[str, Any]) -> dict[str, Any]:
    """What a signed-object vector shows: the text signed, the object, its hash."""
    return {
        "signing_payload": signing_payload(obj).decode("utf-8"),
        "object": obj,
        "object_hash": object_hash(obj),
    }


# --------------------------------------------------------------------------- vectors


def base64_vector() -> dict[str, Any]:
    cases = ["", "fb", "fbff", "fbffbf", "00" * 32]
    return {
        "input": cases,
        "output": [b64(bytes.fromhex(h)) for h in cases],
    }


def canonical_json_vector() -> dict[str, Any]:
    value = {
        "b": [3, -1, 0, True, False, None],
        "a": 'quote " backslash \\ slash / tab \t newline \n nul \x00 unit \x1f del \x7f',
        "é": "é ☃ 😀 \u2028",
        "A": {"z": {}, "y": []},
        "Z": "",
        "aa": 2**53 - 1,
    }
    text = canonical_json(value)
    return {
        "input": value,
        "output": {
            "text": text.decode("utf-8"),
            "utf8_hex": text.hex(),
            "sha256": sha256_b64(text),
        },
    }


def hkdf_vector() -> dict[str, Any]:
    # RFC 5869, appendix A, test cases 1 and 3 (the second: no salt, no info).
    cases = [
        {
            "ikm_hex": "0b" * 22,
            "salt_hex": "000102030405060708090a0b0c",
            "info_hex": "f0f1f2f3f4f5f6f7f8f9",
            "length": 42,
        },
        {"ikm_hex": "0b" * 22, "salt_hex": "", "info_hex": "", "length": 42},
    ]
    return {
        "input": cases,
        "output": [
            hkdf_sha256(
                bytes.fromhex(c["ikm_hex"]),
                salt=bytes.fromhex(c["salt_hex"]),
                info=bytes.fromhex(c["info_hex"]),
                length=c["length"],
            ).hex()
            for c in cases
        ],
    }


def device_object_vector() -> dict[str, Any]:
    device_key = signer(0x02)
    body = device_object("dev_officer_1", OFFICER, curve_public(0x03), public(device_key))
    obj = signed(body, sign_with(device_key))
    return {
        "input": {
            "device_id": "dev_officer_1",
            "owner": OFFICER,
            "ed25519_seed_hex": seed(0x02).hex(),
            "curve25519_private_key_hex": seed(0x03).hex(),
        },
        "output": signed_output(obj),
    }


def device_list_vector() -> dict[str, Any]:
    identity = signer(0x01)
    devices = {"dev_officer_1": device_object_vector()["output"]["object_hash"]}
    obj = signed(
        device_list_object(OFFICER, public(identity), 1, devices, ISSUED_AT), sign_with(identity)
    )
    return {
        "input": {
            "owner": OFFICER,
            "identity_seed_hex": seed(0x01).hex(),
            "version": 1,
            "devices": devices,
            "issued_at": ISSUED_AT,
        },
        "output": signed_output(obj),
    }


_MEMBERS = [
    (WORKER, 0x04, "support_worker", "Ioana Ștefănescu"),
    (OFFICER, 0x01, "officer", "Officer Weber"),
]


def roster_vector() -> dict[str, Any]:
    identity = signer(0x01)
    members = [
        RosterMember(owner, public(signer(byte)), role, name)
        for owner, byte, role, name in _MEMBERS
    ]
    obj = signed(roster_object(CASE, 1, public(identity), members, ISSUED_AT), sign_with(identity))
    return {
        "input": {
            "case_id": CASE,
            "version": 1,
            "signer_seed_hex": seed(0x01).hex(),
            "members": [
                {"owner": owner, "identity_seed_hex": seed(byte).hex(), "role": role, "name": name}
                for owner, byte, role, name in _MEMBERS
            ],
            "issued_at": ISSUED_AT,
        },
        "output": signed_output(obj),
    }


def key_payloads_vector() -> dict[str, Any]:
    device_key = signer(0x02)
    curve = curve_public(0x03)
    ed = public(device_key)
    token = enrolment_keys(ENROLMENT_SECRET).server_token
    payloads = {
        "one_time_key": one_time_key_payload(curve, "AAAAAAAAAAE", curve_public(0x06)),
        "fallback_key": fallback_key_payload(curve, "AAAAAAAAAAA", curve_public(0x07)),
        "login_proof": device_proof_payload(curve, ed, login_context("officer")),
        "enrolment_proof": device_proof_payload(curve, ed, enrolment_context(token)),
    }
    return {
        "input": {
            "ed25519_seed_hex": seed(0x02).hex(),
            "curve25519": curve,
            "ed25519": ed,
            "one_time_key": {"key_id": "AAAAAAAAAAE", "private_key_hex": seed(0x06).hex()},
            "fallback_key": {"key_id": "AAAAAAAAAAA", "private_key_hex": seed(0x07).hex()},
            "username": "officer",
            "enrolment_secret_hex": ENROLMENT_SECRET.hex(),
        },
        "output": {
            name: {"payload": text.decode("utf-8"), "signature": sign_with(device_key)(text)}
            for name, text in payloads.items()
        },
    }


def enrolment_vector() -> dict[str, Any]:
    roster_hash = roster_vector()["output"]["object_hash"]
    phone_identity = public(signer(0x05))
    keys = enrolment_keys(ENROLMENT_SECRET)
    code = EnrolmentCode(ENROLMENT_SECRET, SERVER_URL)
    info = b"sas\n" + roster_hash.encode() + b"\n" + phone_identity.encode()
    material = hkdf_sha256(
        OFFICER_NONCE + PHONE_NONCE, salt=b"witnesslink enrolment v2", info=info, length=5
    )
    return {
        "input": {
            "secret_hex": ENROLMENT_SECRET.hex(),
            "server_url": SERVER_URL,
            "roster_hash": roster_hash,
            "phone_identity_key": phone_identity,
            "officer_nonce_hex": OFFICER_NONCE.hex(),
            "phone_nonce_hex": PHONE_NONCE.hex(),
        },
        "output": {
            "typed_code": code.text(),
            "qr_payload": code.qr_payload(),
            "server_token": b64(keys.server_token),
            "code_hash": b64(keys.code_hash),
            "k_team_hex": keys.team.hex(),
            "k_phone_hex": keys.phone.hex(),
            "enrolment_context": enrolment_context(keys.server_token),
            "team_mac": team_mac(keys.team, roster_hash),
            "phone_mac": phone_mac(keys.phone, phone_identity),
            "commitment": commitment(OFFICER_NONCE),
            "sas_bytes_hex": material.hex(),
            "sas": sas(roster_hash, phone_identity, OFFICER_NONCE, PHONE_NONCE),
        },
    }


def checkin_vector() -> dict[str, Any]:
    device_key = signer(0x08)
    payload = checkin_response_payload("chk_7Xq2", "nonce_4Hk9Tz", "dev_phone_1", "ok")
    return {
        "input": {
            "checkin_id": "chk_7Xq2",
            "nonce": "nonce_4Hk9Tz",
            "device_id": "dev_phone_1",
            "status": "ok",
            "ed25519_seed_hex": seed(0x08).hex(),
        },
        "output": {
            "ed25519": public(device_key),
            "payload": payload.decode("utf-8"),
            "signature": sign_with(device_key)(payload),
        },
    }


def safety_number_vector() -> dict[str, Any]:
    officer = (OFFICER, public(signer(0x01)))
    witness = (WITNESS, public(signer(0x05)))
    return {
        "input": {
            "a": {"owner": officer[0], "identity_key": officer[1]},
            "b": {"owner": witness[0], "identity_key": witness[1]},
        },
        "output": safety_number(officer, witness),
    }


def recovery_vector() -> dict[str, Any]:
    body = base64.b32encode(RECOVERY_KEY_BYTES).decode("ascii")
    text = "-".join(body[i : i + 4] for i in range(0, len(body), 4))
    key = hkdf_sha256(RECOVERY_KEY_BYTES, salt=b"witnesslink recovery v1", info=b"identity seal")
    sealed = b64(bytes(nacl.secret.SecretBox(key).encrypt(seed(0x01), SEAL_NONCE)))
    return {
        "input": {
            "recovery_key_bytes_hex": RECOVERY_KEY_BYTES.hex(),
            "identity_seed_hex": seed(0x01).hex(),
            "nonce_hex": SEAL_NONCE.hex(),
        },
        "output": {
            "recovery_key": text,
            "seal_key_hex": key.hex(),
            "identity_key": public(signer(0x01)),
            "sealed": sealed,
        },
    }


DOOR_NONCE = bytes(range(0x90, 0xB0))


def door_code_vector() -> dict[str, Any]:
    """The worker (identity seed 02…02) visits the witness (05…05); the officer's
    identity (01…01) in the visitor's place gives another code."""
    common = {
        "witness_owner": WITNESS,
        "witness_identity_key": public(signer(0x05)),
        "visit_id": "vis_vectors",
        "visit_version": 1,
    }
    nonce = b64(DOOR_NONCE)
    visitor = {"visitor_owner": WORKER, "visitor_identity_key": public(signer(0x02)), **common}
    other = {"visitor_owner": OFFICER, "visitor_identity_key": public(signer(0x01)), **common}
    info = door_info(WORKER, public(signer(0x02)), WITNESS, public(signer(0x05)), "vis_vectors", 1)
    return {
        "input": {
            "nonce": nonce,
            **visitor,
            "other_visitor_owner": OFFICER,
            "other_visitor_identity_key": public(signer(0x01)),
        },
        "output": {
            "info_utf8": info.decode(),
            "code": door_code(nonce, **visitor),
            "code_for_other_visitor": door_code(nonce, **other),
        },
    }


VECTORS = {
    "base64": base64_vector,
    "canonical_json": canonical_json_vector,
    "hkdf": hkdf_vector,
    "device_object": device_object_vector,
    "device_list": device_list_vector,
    "roster": roster_vector,
    "key_payloads": key_payloads_vector,
    "enrolment": enrolment_vector,
    "checkin_response": checkin_vector,
    "safety_number": safety_number_vector,
    "recovery": recovery_vector,
    "door_code": door_code_vector,
}


def block(name: str) -> str:
    """A vector as the document shows it."""
    value = VECTORS[name]()
    # The canonical JSON vector holds characters that do not show (DEL, U+2028): that
    # block escapes everything beyond ASCII; the others keep names readable.
    text = json.dumps(value, indent=2, ensure_ascii=name == "canonical_json")
    return f"<!-- vector: {name} -->\n```json\n{text}\n```"


def documented() -> dict[str, Any]:
    """The vectors in ``docs/protocol.md``, by name."""
    found: dict[str, Any] = {}
    for name, body in _BLOCK.findall(DOC.read_text(encoding="utf-8")):
        assert name not in found, f"the vector {name!r} appears twice"
        found[name] = json.loads(body)
    return found


# --------------------------------------------------------------------------- tests


def test_the_document_holds_every_vector_once() -> None:
    assert sorted(documented()) == sorted(VECTORS)


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_a_documented_vector_is_what_the_protocol_package_computes(name: str) -> None:
    assert documented()[name] == VECTORS[name](), f"refresh the block: {block(name)}"


def test_the_rfc_5869_vectors_come_out_as_published() -> None:
    assert hkdf_vector()["output"] == [
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
        "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8",
    ]


def test_the_signed_vector_objects_pass_the_checks() -> None:
    device = check_device_object(device_object_vector()["output"]["object"])
    listed = check_device_list(device_list_vector()["output"]["object"])
    roster = check_roster(roster_vector()["output"]["object"])
    assert listed.devices == {device.device_id: device.object_hash}
    assert roster.member(OFFICER) is not None
    assert roster.signer == listed.identity_key


def test_the_enrolment_code_forms_parse_back_to_the_secret() -> None:
    out = enrolment_vector()["output"]
    assert parse_enrolment_code(out["typed_code"]).secret == ENROLMENT_SECRET
    assert parse_enrolment_code(out["typed_code"].lower().replace("-", " ")).secret == (
        ENROLMENT_SECRET
    )
    qr = parse_enrolment_code(out["qr_payload"])
    assert (qr.secret, qr.server_url) == (ENROLMENT_SECRET, SERVER_URL)
    assert out["code_hash"] == b64(hashlib.sha256(unb64(out["server_token"])).digest())


def test_the_sealed_recovery_vector_opens_with_the_recovery_key() -> None:
    out = recovery_vector()["output"]
    assert open_identity_seed(out["sealed"], out["recovery_key"]) == seed(0x01)


if __name__ == "__main__":
    print("\n\n".join(block(name) for name in VECTORS))
