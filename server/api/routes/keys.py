"""Case device lists and one-time keys."""

from __future__ import annotations

from aiohttp import web

from server.api.context import (
    json_response,
    path_id,
    principal,
    read_json,
    services,
)
from server.api.models import ClaimIn, KeysIn
from server.api.presenters import claim_view, device_view
from server.api.responses import ClaimsOut, DevicesOut, KeyCountOut
from server.domain.models import SignedKey

routes = web.RouteTableDef()


@routes.get("/v1/cases/{case_id}/devices")
async def case_devices(request: web.Request) -> web.Response:
    caller = await principal(request)
    devices = await services(request).devices.case_devices(caller, path_id(request, "case_id"))
    return json_response(DevicesOut(devices=[device_view(d) for d in devices]))


@routes.post("/v1/keys")
async def upload_keys(request: web.Request) -> web.Response:
    caller = await principal(request)
    body = await read_json(request, KeysIn)
    count = await services(request).keys.upload(
        caller,
        [SignedKey(k.key_id, k.key, k.signature) for k in body.one_time_keys],
        None
        if body.fallback_key is None
        else SignedKey(
            body.fallback_key.key_id, body.fallback_key.key, body.fallback_key.signature
        ),
    )
    return json_response(KeyCountOut(one_time_keys=count))


@routes.get("/v1/keys/count")
async def key_count(request: web.Request) -> web.Response:
    caller = await principal(request)
    return json_response(KeyCountOut(one_time_keys=await services(request).keys.count(caller)))


@routes.post("/v1/keys/claim")
async def claim_keys(request: web.Request) -> web.Response:
    caller = await principal(request)
    body = await read_json(request, ClaimIn)
    results = await services(request).keys.claim(caller, body.case_id, body.device_ids)
    return json_response(ClaimsOut(keys=[claim_view(r) for r in results]))
