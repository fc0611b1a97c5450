"""The server's OPRF: RFC 9497 VOPRF, ristretto255-SHA512, one key per device.

A device's key is derived (RFC 9497 ``DeriveKeyPair``) from a random 32-byte seed and
the device id, so only the seed is stored (sealed). The phone sends its Argon2id-stretched
PIN blinded; the evaluation comes back with a proof (DLEQ) that it was computed with the
key whose public half the phone pinned at setup. The server learns nothing of the PIN.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from voprf import ristretto

from server.errors import InvalidInput
from wire.vault import ELEMENT_BYTES, PROOF_BYTES, oprf_key_info

SEED_BYTES = 32


@dataclass(frozen=True, slots=True)
class Evaluation:
    """One blinded evaluation: the evaluated element and its proof (c || s)."""

    element: bytes
    proof: bytes


def new_seed() -> bytes:
    return secrets.token_bytes(SEED_BYTES)


def public_key(seed: bytes, device_id: str) -> bytes:
    """The device's OPRF public key (what the phone pins)."""
    return bytes(
        ristretto.Evaluator.from_seed(seed, oprf_key_info(device_id)).public_key.serialize()
    )


def check_blinded(blinded: bytes) -> ristretto.BlindedInput:
    """Decode a blinded element, so that a malformed one is refused before anything
    is counted or stored.

    Raises:
        InvalidInput: ``blinded`` is not an encoded ristretto255 element.
    """
    if len(blinded) != ELEMENT_BYTES:
        raise InvalidInput(f"a blinded element is {ELEMENT_BYTES} bytes")
    try:
        return ristretto.BlindedInput.deserialize(blinded)
    except ValueError as exc:
        raise InvalidInput("the blinded element is not a valid group element") from exc


def evaluate(seed: bytes, device_id: str, blinded: bytes) -> Evaluation:
    """``BlindEvaluate`` with a proof.

    Raises:
        InvalidInput: ``blinded`` is not an encoded ristretto255 element.
    """
    element = check_blinded(blinded)
    evaluator = ristretto.Evaluator.from_seed(seed, oprf_key_info(device_id))
    try:
        reply = bytes(evaluator.evaluate(element).serialize())
    except ValueError as exc:  # e.g. the identity element
        raise InvalidInput("the blinded element cannot be evaluated") from exc
    # The library's encoding: the proof, then the evaluated element.
    return Evaluation(element=reply[PROOF_BYTES:], proof=reply[:PROOF_BYTES])
