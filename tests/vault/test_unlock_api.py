"""The unlock API at the HTTP level: bad input gets an RFC 9457 problem with a stable
code and changes nothing; credentials are one-purpose; nothing secret is stored in the
clear, logged or audited."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from client_sdk import _vault_header as hdr
from client_sdk.vault import default_wrapper
from tests.support.kdf import DURESS_PIN, WITNESS_PIN
from tests.support.world import World
from tests.vault.helpers import unlock_state
from tests.welfare.helpers import audit_entries, open_case, server_bytes

VALID_ELEMENT = "hj8zDMGhJZ7VpZmKI6z9N/tDUaeTpbPAkLZC3cQ5uUU"  # RFC 9497 A.1.2.1's BlindedElement


async def _post(
    world: World, path: str, body: Any, token: str | None, method: str = "POST"
) -> tuple[int, dict[str, Any], str]:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, world.url + path, json=body, headers=headers) as response,
    ):
        return response.status, await response.json(content_type=None), response.content_type


def _locator(store: Path) -> hdr.Locator:
    header, _seq = hdr.read(store, default_wrapper(store))
    assert header.locator is not None
    return header.locator


@pytest.fixture
async def phone(world: World) -> tuple[str, str, str, Path]:
    """(device id, device token, unlock token, store) of a phone with both PINs."""
    talk, store = await open_case(world, duress_pin=DURESS_PIN)
    await talk.witness.close()
    locator = _locator(store)
    return talk.witness.device_id, talk.witness.identity.token, locator.unlock_token, store


async def test_bad_input_is_a_problem_and_counts_nothing(
    world: World, phone: tuple[str, str, str, Path]
) -> None:
    device, _token, unlock, _store = phone
    base = f"/v1/vault/unlock/{device}"
    cases = [
        (f"{base}/evaluate", {"blinded": "A" * 43}, 422, "invalid-input"),  # not an element
        (f"{base}/evaluate", {"blinded": "not base64!"}, 422, "invalid-body"),
        (f"{base}/evaluate", {"blinded": VALID_ELEMENT, "pin": "1"}, 422, "invalid-body"),
        (f"{base}/evaluate", [], 422, "invalid-body"),
        (f"{base}/confirm", {"attempt_id": "att_x", "signature": "A" * 86}, 409, None),
    ]
    for path, body, status, code in cases:
        got, problem, content_type = await _post(world, path, body, unlock)
        assert (got, content_type) == (status, "application/problem+json"), (path, body)
        assert problem["code"] == (code or "unlock-attempt-expired")
        assert WITNESS_PIN not in str(problem)
    assert (await unlock_state(world, device)).unconfirmed == 0


async def test_the_unlock_credential_is_one_purpose(
    world: World, phone: tuple[str, str, str, Path]
) -> None:
    device, token, unlock, _store = phone
    evaluate = f"/v1/vault/unlock/{device}/evaluate"
    # The device token does not evaluate; the unlock credential does nothing else.
    status, problem, _ = await _post(world, evaluate, {"blinded": VALID_ELEMENT}, token)
    assert (status, problem["code"]) == (401, "unauthenticated")
    status, problem, _ = await _post(world, evaluate, {"blinded": VALID_ELEMENT}, None)
    assert (status, problem["code"]) == (401, "unauthenticated")
    status, problem, _ = await _post(world, "/v1/checkins/current", None, unlock, "GET")
    assert (status, problem["code"]) == (401, "unauthenticated")
    # Another device's id with this credential is unknown too.
    status, problem, _ = await _post(
        world, "/v1/vault/unlock/dev_someoneelse1/evaluate", {"blinded": VALID_ELEMENT}, unlock
    )
    assert (status, problem["code"]) == (401, "unauthenticated")
    assert (await unlock_state(world, device)).unconfirmed == 0


async def test_a_confirmation_needs_a_registered_key(
    world: World, phone: tuple[str, str, str, Path]
) -> None:
    import nacl.signing

    from wire.vault import confirm_payload

    device, _token, unlock, _store = phone
    base = f"/v1/vault/unlock/{device}"
    status, attempt, _ = await _post(world, f"{base}/evaluate", {"blinded": VALID_ELEMENT}, unlock)
    assert status == 200
    stranger = nacl.signing.SigningKey.generate()
    payload = confirm_payload(device, attempt["attempt_id"], attempt["challenge"])
    signature = base64.b64encode(stranger.sign(payload).signature).decode().rstrip("=")
    body = {"attempt_id": attempt["attempt_id"], "signature": signature}
    status, problem, _ = await _post(world, f"{base}/confirm", body, unlock)
    assert (status, problem["code"]) == (422, "signature-invalid")
    assert (await unlock_state(world, device)).unconfirmed == 1  # still counted


async def test_setup_happens_once_and_only_for_a_witness_phone(
    world: World, phone: tuple[str, str, str, Path]
) -> None:
    _device, token, _unlock, _store = phone
    body = {"blinded": [VALID_ELEMENT]}
    status, problem, _ = await _post(world, "/v1/vault/setup", body, token)
    assert (status, problem["code"]) == (409, "conflict")
    staff = await world.login("worker")
    status, problem, _ = await _post(world, "/v1/vault/setup", body, staff.identity.token)
    assert (status, problem["code"]) == (403, "forbidden")
    status, problem, _ = await _post(world, "/v1/vault/erase", {}, staff.identity.token)
    assert (status, problem["code"]) == (403, "forbidden")


async def test_nothing_secret_is_stored_in_the_clear_or_audited(
    world: World, backend: str, phone: tuple[str, str, str, Path]
) -> None:
    device, _token, unlock, store = phone
    state = await unlock_state(world, device)
    assert state.seed_sealed is not None
    seed = base64.b64decode(world.services.sealer.open(state.seed_sealed))
    stored = await server_bytes(world, backend)
    for secret in (seed, base64.b64encode(seed), unlock.encode()):
        assert secret not in stored
    for entry in await audit_entries(world):
        assert unlock not in entry.details
        assert _locator(store).server_url not in entry.details
