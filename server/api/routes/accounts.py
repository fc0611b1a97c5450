"""Staff login and the caller's own profile and devices."""

from __future__ import annotations

from aiohttp import web

from server.api.context import (
    client_address,
    json_response,
    path_id,
    principal,
    read_json,
    services,
)
from server.api.models import DeviceIn, LoginIn
from server.api.presenters import device_view, staff_view, witness_view
from server.api.responses import DevicesOut, LoginOut, MeOut, OneDeviceOut
from server.domain.models import SignedKey
from server.domain.registration import DeviceRegistration

routes = web.RouteTableDef()


def registration_from(device: DeviceIn) -> DeviceRegistration:
    """The domain's view of a device's registration material."""
    return DeviceRegistration(
        name=device.name,
        curve25519=device.curve25519,
        ed25519=device.ed25519,
        proof=device.proof,
        one_time_keys=[SignedKey(k.key_id, k.key, k.signature) for k in device.one_time_keys],
        fallback_key=None
        if device.fallback_key is None
        else SignedKey(
            device.fallback_key.key_id, device.fallback_key.key, device.fallback_key.signature
        ),
    )


@routes.post("/v1/auth/login")
async def login(request: web.Request) -> web.Response:
    body = await read_json(request, LoginIn)
    result = await services(request).accounts.login(
        body.username,
        body.password,
        body.totp,
        registration_from(body.device),
        client_address(request),
        body.known_client,
    )
    return json_response(
        LoginOut(
            device_id=result.device.id,
            token=result.token,
            known_client=result.known_client,
            staff=staff_view(result.staff),
        ),
        status=201,
    )


@routes.get("/v1/me")
async def me(request: web.Request) -> web.Response:
    caller = await principal(request)
    return json_response(
        MeOut(
            device=device_view(caller.device),
            staff=None if caller.staff is None else staff_view(caller.staff),
            witness=None if caller.witness is None else witness_view(caller.witness),
        )
    )


@routes.get("/v1/devices")
async def own_devices(request: web.Request) -> web.Response:
    caller = await principal(request)
    devices = await services(request).devices.own_devices(caller)
    return json_response(DevicesOut(devices=[device_view(d) for d in devices]))


@routes.post("/v1/devices/{device_id}/revoke")
async def revoke_device(request: web.Request) -> web.Response:
    caller = await principal(request)
    device = await services(request).devices.revoke(caller, path_id(request, "device_id"))
    return json_response(OneDeviceOut(device=device_view(device)))
