"""The vault unlock API: the server's half of a witness phone's PIN (``docs/protocol.md`` (§16)).

``/v1/vault/setup``, ``/keys``, ``/keys/endorse``, ``/keys/retire`` and ``/erase`` take
the device token (the phone is open). The ``/v1/vault/unlock/{device_id}/…`` endpoints
take the device's *unlock credential* instead, because the device token is inside the
store being unlocked.
"""

from __future__ import annotations

from aiohttp import web
from msgspec.structs import asdict

from server.api.context import bearer_token, json_response, path_id, principal, read_json, services
from server.api.responses import (
    AttemptOut,
    AttemptsLeftOut,
    ConfirmedOut,
    ErasedOut,
    EvaluateOut,
    EvaluationOut,
    Ok,
    RetiredOut,
    VaultSetupOut,
)
from server.api.vault_models import (
    ConfirmIn,
    EndorseIn,
    EvaluateIn,
    FailedIn,
    RegisterKeysIn,
    RetireIn,
    SetupIn,
)
from server.domain.unlock.models import Attempt
from server.domain.unlock.oprf import Evaluation
from server.errors import InvalidInput, Unauthenticated
from wire.vault import ELEMENT_BYTES, KeyRole, decode, encode

routes = web.RouteTableDef()


def _element(text: str) -> bytes:
    try:
        return decode(text, ELEMENT_BYTES)
    except ValueError as exc:
        raise InvalidInput("a blinded element is 32 bytes of base64") from exc


def _evaluation_view(evaluation: Evaluation) -> EvaluationOut:
    return EvaluationOut(element=encode(evaluation.element), proof=encode(evaluation.proof))


def _attempt_view(attempt: Attempt) -> AttemptOut:
    return AttemptOut(attempt_id=attempt.id, challenge=attempt.challenge)


def _unlock_credential(request: web.Request) -> tuple[str, str]:
    token = bearer_token(request)
    if token is None:
        raise Unauthenticated("Send the unlock credential as 'Authorization: Bearer …'")
    return path_id(request, "device_id"), token


@routes.post("/v1/vault/setup")
async def setup(request: web.Request) -> web.Response:
    caller = await principal(request)
    body = await read_json(request, SetupIn)
    result = await services(request).pins.setup(caller, [_element(b) for b in body.blinded])
    return json_response(
        VaultSetupOut(
            device_id=result.device_id,
            unlock_token=result.unlock_token,
            oprf_public_key=result.oprf_public_key,
            evaluations=[_evaluation_view(e) for e in result.evaluations],
        ),
        status=201,
    )


@routes.put("/v1/vault/keys")
async def register_keys(request: web.Request) -> web.Response:
    caller = await principal(request)
    body = await read_json(request, RegisterKeysIn)
    await services(request).pins.register_keys(
        caller,
        [(k.public_key, KeyRole(k.role)) for k in body.keys],
        wipe_on_duress=body.wipe_on_duress,
    )
    return json_response(Ok(ok=True))


@routes.post("/v1/vault/unlock/{device_id}/evaluate")
async def evaluate(request: web.Request) -> web.Response:
    device_id, token = _unlock_credential(request)
    body = await read_json(request, EvaluateIn)
    result = await services(request).unlock.evaluate(device_id, token, _element(body.blinded))
    return json_response(
        EvaluateOut(
            **asdict(_evaluation_view(result.evaluation)),
            **asdict(_attempt_view(result.attempt)),
            attempts_left=result.attempts_left,
        )
    )


@routes.post("/v1/vault/unlock/{device_id}/challenge")
async def challenge(request: web.Request) -> web.Response:
    device_id, token = _unlock_credential(request)
    attempt = await services(request).unlock.challenge(device_id, token)
    return json_response(_attempt_view(attempt))


@routes.post("/v1/vault/unlock/{device_id}/confirm")
async def confirm(request: web.Request) -> web.Response:
    device_id, token = _unlock_credential(request)
    body = await read_json(request, ConfirmIn)
    await services(request).unlock.confirm(device_id, token, body.attempt_id, body.signature)
    # The same bytes whichever PIN's key signed: nothing here may tell them apart.
    return json_response(ConfirmedOut(confirmed=True))


@routes.post("/v1/vault/unlock/{device_id}/failed")
async def failed(request: web.Request) -> web.Response:
    device_id, token = _unlock_credential(request)
    body = await read_json(request, FailedIn)
    left = await services(request).unlock.failed(device_id, token, body.attempt_id)
    return json_response(AttemptsLeftOut(attempts_left=left))


@routes.post("/v1/vault/keys/endorse")
async def endorse(request: web.Request) -> web.Response:
    caller = await principal(request)
    body = await read_json(request, EndorseIn)
    await services(request).pins.endorse(
        caller, body.attempt_id, body.public_key, body.signature, body.endorsement
    )
    return json_response(Ok(ok=True))


@routes.post("/v1/vault/keys/retire")
async def retire(request: web.Request) -> web.Response:
    caller = await principal(request)
    body = await read_json(request, RetireIn)
    retired = await services(request).pins.retire(caller, body.public_key, body.signature)
    return json_response(RetiredOut(retired=retired))


@routes.post("/v1/vault/erase")
async def erase(request: web.Request) -> web.Response:
    caller = await principal(request)
    await services(request).unlock.erase_by_owner(caller)
    return json_response(ErasedOut(erased=True))
