"""Alerts for staff: list, look, acknowledge, resolve."""

from __future__ import annotations

from aiohttp import web

from server.api.context import (
    calling_staff,
    json_response,
    path_id,
    read_json,
    services,
)
from server.api.models import ResolveIn
from server.api.presenters import alert_detail_view, alert_view
from server.api.responses import AlertsOut

routes = web.RouteTableDef()


@routes.get("/v1/alerts")
async def list_alerts(request: web.Request) -> web.Response:
    staff = await calling_staff(request)
    include_resolved = request.query.get("include_resolved", "false").lower() == "true"
    alerts = await services(request).alert_desk.list(staff, include_resolved=include_resolved)
    return json_response(AlertsOut(alerts=[alert_view(a) for a in alerts]))


@routes.get("/v1/alerts/{alert_id}")
async def alert_detail(request: web.Request) -> web.Response:
    staff = await calling_staff(request)
    detail = await services(request).alert_desk.detail(staff, path_id(request, "alert_id"))
    return json_response(alert_detail_view(detail))


@routes.post("/v1/alerts/{alert_id}/acknowledge")
async def acknowledge(request: web.Request) -> web.Response:
    staff = await calling_staff(request)
    alert = await services(request).alert_desk.acknowledge(staff, path_id(request, "alert_id"))
    return json_response(alert_view(alert))


@routes.post("/v1/alerts/{alert_id}/resolve")
async def resolve(request: web.Request) -> web.Response:
    staff = await calling_staff(request)
    body = await read_json(request, ResolveIn)
    alert = await services(request).alert_desk.resolve(
        staff, path_id(request, "alert_id"), outcome=body.outcome, note=body.note
    )
    return json_response(alert_view(alert))
