"""The phone's key derivations and the signed payloads, against fixed vectors (the same
ones ``docs/protocol.md`` (§16) gives for clients written without this code)."""

from __future__ import annotations

from client_sdk._vault_format import hkdf_sha256
from client_sdk.unlock import derive_keys
from wire.vault import confirm_payload, endorse_payload, oprf_key_info, retire_payload


def test_hkdf_sha256_is_rfc_5869() -> None:
    # RFC 5869, Appendix A.1 (Test Case 1).
    okm = hkdf_sha256(
        bytes.fromhex("0b" * 22),
        bytes.fromhex("f0f1f2f3f4f5f6f7f8f9"),
        42,
        salt=bytes.fromhex("000102030405060708090a0b0c"),
    )
    assert okm.hex() == (
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
    )


def test_slot_and_confirmation_keys_from_the_documented_vector() -> None:
    keys = derive_keys(bytes([1]) * 32, bytes([2]) * 64)
    assert keys.slot_key.hex() == (
        "e7caf0f288ec4160e8e632abd59667bd40ba926616192729ba5da2348aecf2d1"
    )
    assert keys.public_key == "Hn2MC3b1t31xBg692lW0lOOtRx096rdi2EveutvleO0"
    assert keys.sign(confirm_payload("dev_example", "att_example", "Y2hhbGxlbmdl")) == (
        "TUGJqnvUQHgFS/CADtJp1Nd8MlMTcqTYkGkoXKszb+yHrW5IZigmStDzeCpMx0qJw3LJ+kthiGzc7r1qPSXvAA"
    )


def test_the_signed_payloads() -> None:
    assert oprf_key_info("dev_example") == b"witnesslink/vault-oprf/v1\ndev_example"
    assert (
        confirm_payload("dev_x", "att_y", "c") == b"witnesslink/vault-confirm/v1\ndev_x\natt_y\nc"
    )
    assert endorse_payload("dev_x", "att_y", "c", "K") == (
        b"witnesslink/vault-endorse/v1\ndev_x\natt_y\nc\nK"
    )
    assert retire_payload("dev_x", "K") == b"witnesslink/vault-retire/v1\ndev_x\nK"
