"""Enrolling a witness's phone in person (see ``server.domain.enrolment``).

The officer's client registers and watches its enrolment; the phone claims it with
the server token, sends its SAS nonce, and reads the officer's revealed nonce."""

from __future__ import annotations

from aiohttp import web

from server.api.context import (
    client_address,
    json_response,
    path_id,
    principal,
    read_json,
    services,
    staff_principal,
)
from server.api.models import EnrolIn, IssueEnrolmentIn, NonceIn
from server.api.presenters import (
    enrolment_officer_view,
    enrolment_phone_view,
    witness_view,
)
from server.api.responses import EnrolledOut, Ok
from server.api.routes.accounts import registration_from

routes = web.RouteTableDef()


@routes.post("/v1/witnesses/{witness_id}/enrolments")
async def issue(request: web.Request) -> web.Response:
    caller = await staff_principal(request)
    body = await read_json(request, IssueEnrolmentIn)
    enrolment = await services(request).enrolments.issue(
        caller,
        path_id(request, "witness_id"),
        code_hash=body.code_hash,
        roster=body.roster,
        team_mac=body.team_mac,
        commitment_b64=body.commitment,
    )
    return json_response(enrolment_officer_view(enrolment), status=201)


@routes.get("/v1/enrolments/{enrolment_id}")
async def officer_view(request: web.Request) -> web.Response:
    caller = await staff_principal(request)
    enrolment = await services(request).enrolments.officer_view(
        caller, path_id(request, "enrolment_id")
    )
    return json_response(enrolment_officer_view(enrolment))


@routes.post("/v1/enrolments/{enrolment_id}/reveal")
async def reveal(request: web.Request) -> web.Response:
    caller = await staff_principal(request)
    body = await read_json(request, NonceIn)
    enrolment = await services(request).enrolments.reveal(
        caller, path_id(request, "enrolment_id"), body.nonce
    )
    return json_response(enrolment_officer_view(enrolment))


@routes.post("/v1/enrolments/{enrolment_id}/complete")
async def complete(request: web.Request) -> web.Response:
    caller = await staff_principal(request)
    await services(request).enrolments.complete(caller, path_id(request, "enrolment_id"))
    return json_response(Ok(ok=True))


@routes.post("/v1/enrolments/{enrolment_id}/abort")
async def officer_abort(request: web.Request) -> web.Response:
    caller = await staff_principal(request)
    await services(request).enrolments.abort(caller, path_id(request, "enrolment_id"))
    return json_response(Ok(ok=True))


@routes.post("/v1/enrol")
async def claim(request: web.Request) -> web.Response:
    body = await read_json(request, EnrolIn)
    claimed = await services(request).enrolments.claim(
        body.code,
        registration_from(body.device),
        identity_key=body.identity_key,
        identity_mac=body.identity_mac,
        address=client_address(request),
    )
    return json_response(
        EnrolledOut(
            device_id=claimed.device.id,
            token=claimed.token,
            witness=witness_view(claimed.witness),
            enrolment=enrolment_phone_view(claimed.enrolment),
        ),
        status=201,
    )


@routes.put("/v1/me/enrolment/nonce")
async def phone_nonce(request: web.Request) -> web.Response:
    caller = await principal(request)
    body = await read_json(request, NonceIn)
    await services(request).enrolments.submit_nonce(caller, body.nonce)
    return json_response(Ok(ok=True))


@routes.get("/v1/me/enrolment")
async def phone_view(request: web.Request) -> web.Response:
    caller = await principal(request)
    enrolment = await services(request).enrolments.phone_view(caller)
    return json_response(enrolment_phone_view(enrolment))


@routes.post("/v1/me/enrolment/abort")
async def phone_abort(request: web.Request) -> web.Response:
    caller = await principal(request)
    await services(request).enrolments.abort(caller, None)
    return json_response(Ok(ok=True))
