"""Signed key material: device objects, identities with device lists, recovery backups,
case rosters, and the key bundle a case's members fetch before they encrypt."""

from __future__ import annotations

from aiohttp import web

from server.api.context import json_response, path_id, principal, read_json, services
from server.api.models import DeviceKeysIn, IdentityBackupIn, IdentityIn, RosterIn
from server.api.presenters import case_keys_view
from server.api.responses import (
    DeviceListOut,
    IdentityBackupOut,
    Ok,
    RosterOut,
    VersionOut,
)
from server.domain.identities import parsed
from server.errors import NotFound

routes = web.RouteTableDef()


@routes.put("/v1/me/device-keys")
async def publish_device(request: web.Request) -> web.Response:
    caller = await principal(request)
    body = await read_json(request, DeviceKeysIn)
    await services(request).identities.publish_device(caller, body.device)
    return json_response(Ok(ok=True))


@routes.put("/v1/me/identity")
async def publish_identity(request: web.Request) -> web.Response:
    caller = await principal(request)
    body = await read_json(request, IdentityIn)
    version = await services(request).identities.publish_identity(caller, body.device_list)
    return json_response(VersionOut(version=version))


@routes.get("/v1/me/identity")
async def own_identity(request: web.Request) -> web.Response:
    caller = await principal(request)
    identity = await services(request).identities.identity(caller)
    if identity is None:
        raise NotFound("No identity yet")
    return json_response(DeviceListOut(device_list=parsed(identity.device_list)))


@routes.put("/v1/me/identity-backup")
async def put_backup(request: web.Request) -> web.Response:
    caller = await principal(request)
    body = await read_json(request, IdentityBackupIn)
    await services(request).identities.put_backup(caller, body.identity_key, body.sealed)
    return json_response(Ok(ok=True))


@routes.get("/v1/me/identity-backup")
async def get_backup(request: web.Request) -> web.Response:
    caller = await principal(request)
    identity_key, sealed = await services(request).identities.backup(caller)
    return json_response(IdentityBackupOut(identity_key=identity_key, sealed=sealed))


@routes.get("/v1/staff/{staff_id}/identity")
async def staff_identity(request: web.Request) -> web.Response:
    caller = await principal(request)
    identity = await services(request).identities.staff_identity(
        caller, path_id(request, "staff_id")
    )
    return json_response(DeviceListOut(device_list=parsed(identity.device_list)))


@routes.get("/v1/cases/{case_id}/keys")
async def case_keys(request: web.Request) -> web.Response:
    caller = await principal(request)
    bundle = await services(request).identities.case_keys(caller, path_id(request, "case_id"))
    return json_response(case_keys_view(bundle))


@routes.put("/v1/cases/{case_id}/roster")
async def publish_roster(request: web.Request) -> web.Response:
    caller = await principal(request)
    body = await read_json(request, RosterIn)
    version = await services(request).rosters.publish(
        caller, path_id(request, "case_id"), body.roster
    )
    return json_response(VersionOut(version=version))


@routes.get("/v1/cases/{case_id}/roster")
async def get_roster(request: web.Request) -> web.Response:
    caller = await principal(request)
    record = await services(request).rosters.current(caller, path_id(request, "case_id"))
    return json_response(RosterOut(roster=None if record is None else parsed(record.body)))
