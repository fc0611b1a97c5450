"""The OPRF library against RFC 9497's own test vectors, before anything relies on it.

The vault's PIN check runs through ``voprf`` (Python bindings of the Rust ``voprf``
crate): the server evaluates, the phone blinds and finalizes. A wrong implementation
still produces plausible random-looking bytes and verifies its own proofs, so only
agreement with the specification's vectors says it implements RFC 9497.

Source of the vectors: RFC 9497 ("Oblivious Pseudorandom Functions (OPRFs) Using
Prime-Order Groups"), Appendix A.1.2, "ristretto255-SHA512, VOPRF Mode" — copied from
the RFC's source, github.com/cfrg/draft-irtf-cfrg-voprf, draft-irtf-cfrg-voprf.md at
commit 43da59f797c92248c0362e4c74cc10a8bd2b7b7d (the text published as RFC 9497), and
cross-checked against other implementations' copies of the same appendix.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from voprf import ristretto

SEED = bytes.fromhex("a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3")
KEY_INFO = bytes.fromhex("74657374206b6579")  # "test key"
PK_SM = bytes.fromhex("c803e2cc6b05fc15064549b5920659ca4a77b2cca6f04f6b357009335476ad4e")


@dataclass(frozen=True)
class Vector:
    name: str
    input: bytes
    blinded_element: bytes
    evaluation_element: bytes
    output: bytes


VECTORS = [
    Vector(
        name="A.1.2.1 (Test Vector 1, Batch Size 1)",
        input=bytes.fromhex("00"),
        blinded_element=bytes.fromhex(
            "863f330cc1a1259ed5a5998a23acfd37fb4351a793a5b3c090b642ddc439b945"
        ),
        evaluation_element=bytes.fromhex(
            "aa8fa048764d5623868679402ff6108d2521884fa138cd7f9c7669a9a014267e"
        ),
        output=bytes.fromhex(
            "b58cfbe118e0cb94d79b5fd6a6dafb98764dff49c14e1770b566e42402da1a7d"
            "a4d8527693914139caee5bd03903af43a491351d23b430948dd50cde10d32b3c"
        ),
    ),
    Vector(
        name="A.1.2.2 (Test Vector 2, Batch Size 1)",
        input=bytes.fromhex("5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a"),
        blinded_element=bytes.fromhex(
            "cc0b2a350101881d8a4cba4c80241d74fb7dcbfde4a61fde2f91443c2bf9ef0c"
        ),
        evaluation_element=bytes.fromhex(
            "60a59a57208d48aca71e9e850d22674b611f752bed48b36f7a91b372bd7ad468"
        ),
        output=bytes.fromhex(
            "8a9a2f3c7f085b65933594309041fc1898d42d0858e59f90814ae90571a6df60"
            "356f4610bf816f27afdd84f47719e480906d27ecd994985890e5f539e7ea74b6"
        ),
    ),
]
# The vectors' Blind and ProofRandomScalar cannot be injected into this library (it
# draws them itself), so BlindedElement -> EvaluationElement (deterministic: skS times
# the element), Evaluate and the full round trip's Output are what can be compared.

PROOF_BYTES = 64  # c || s, two ristretto255 scalars
ELEMENT_BYTES = 32


def test_derive_key_pair_gives_the_vectors_public_key() -> None:
    assert ristretto.Evaluator.from_seed(SEED, KEY_INFO).public_key.serialize() == PK_SM


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v.name)
def test_evaluate_on_a_known_input_gives_the_vectors_output(vector: Vector) -> None:
    server = ristretto.Evaluator.from_seed(SEED, KEY_INFO)
    assert server.evaluate_known_input(vector.input) == vector.output


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v.name)
def test_blind_evaluate_of_the_vectors_blinded_element_gives_its_evaluation(
    vector: Vector,
) -> None:
    server = ristretto.Evaluator.from_seed(SEED, KEY_INFO)
    reply = server.evaluate(ristretto.BlindedInput.deserialize(vector.blinded_element)).serialize()
    # The library serialises a verifiable output as the proof, then the element.
    assert len(reply) == PROOF_BYTES + ELEMENT_BYTES
    assert reply[PROOF_BYTES:] == vector.evaluation_element
    ristretto.Proof.deserialize(reply[:PROOF_BYTES])
    ristretto.EvaluatedElement.deserialize(reply[PROOF_BYTES:])


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v.name)
def test_a_blind_evaluate_finalize_round_trip_gives_the_vectors_output(vector: Vector) -> None:
    server = ristretto.Evaluator.from_seed(SEED, KEY_INFO)
    client, blinded = ristretto.Client.blind(vector.input)
    reply = ristretto.VerifiableOutput.deserialize(
        server.evaluate(ristretto.BlindedInput.deserialize(blinded.serialize())).serialize()
    )
    public_key = ristretto.PublicKey.deserialize(PK_SM)
    assert client.finalize(reply, public_key) == vector.output


def test_an_evaluation_by_another_key_fails_the_proof() -> None:
    """The phone pins the server's public key: an answer computed with any other key
    (a server trying to tell guesses apart by using a key per question) is refused."""
    other = ristretto.Evaluator.from_seed(bytes(32), KEY_INFO)
    client, blinded = ristretto.Client.blind(VECTORS[0].input)
    with pytest.raises(ValueError, match="proof"):
        client.finalize(other.evaluate(blinded), ristretto.PublicKey.deserialize(PK_SM))
