"""Court dates: staff schedule, move, cancel and record attendance; the phone lists,
confirms and says it is ready; staff get an iCalendar feed behind a secret URL."""

from __future__ import annotations

from aiohttp import web

from server.api.context import (
    SETTINGS,
    calling_staff,
    json_response,
    path_id,
    principal,
    read_json,
    services,
)
from server.api.models import AppointmentAnswerIn, AppointmentIn, AttendanceIn, CancelIn, ReadyIn
from server.api.presenters import appointment_view
from server.api.responses import AppointmentsOut, FeedOut, RevokedOut
from server.domain.court.appointments import AppointmentSpec
from server.domain.court.models import AppointmentKind, LocationKind
from server.errors import NotFound

routes = web.RouteTableDef()


def _spec(body: AppointmentIn) -> AppointmentSpec:
    return AppointmentSpec(
        kind=AppointmentKind(body.kind),
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        timezone=body.timezone,
        location_kind=None if body.location_kind is None else LocationKind(body.location_kind),
        interpreter_booked=body.interpreter_booked,
        interpreter_language=body.interpreter_language,
        test_call_at=body.test_call_at,
        test_call_ends_at=body.test_call_ends_at,
        confirm_by=body.confirm_by,
    )


@routes.post("/v1/cases/{case_id}/appointments")
async def schedule(request: web.Request) -> web.Response:
    staff = await calling_staff(request)
    body = await read_json(request, AppointmentIn)
    appointment = await services(request).appointments.schedule(
        staff, path_id(request, "case_id"), _spec(body)
    )
    return json_response(appointment_view(appointment), status=201)


@routes.get("/v1/cases/{case_id}/appointments")
async def for_case(request: web.Request) -> web.Response:
    staff = await calling_staff(request)
    include_past = request.query.get("include_past", "false").lower() == "true"
    appointments = await services(request).appointments.for_case(
        staff, path_id(request, "case_id"), include_past=include_past
    )
    return json_response(AppointmentsOut(appointments=[appointment_view(a) for a in appointments]))


@routes.get("/v1/appointments/{appointment_id}")
async def get_one(request: web.Request) -> web.Response:
    staff = await calling_staff(request)
    appointment = await services(request).appointments.get(
        staff, path_id(request, "appointment_id")
    )
    return json_response(appointment_view(appointment))


@routes.post("/v1/appointments/{appointment_id}/reschedule")
async def reschedule(request: web.Request) -> web.Response:
    staff = await calling_staff(request)
    body = await read_json(request, AppointmentIn)
    appointment = await services(request).appointments.reschedule(
        staff, path_id(request, "appointment_id"), _spec(body)
    )
    return json_response(appointment_view(appointment))


@routes.post("/v1/appointments/{appointment_id}/cancel")
async def cancel(request: web.Request) -> web.Response:
    staff = await calling_staff(request)
    body = await read_json(request, CancelIn)
    appointment = await services(request).appointments.cancel(
        staff, path_id(request, "appointment_id"), reason=body.reason
    )
    return json_response(appointment_view(appointment))


@routes.post("/v1/appointments/{appointment_id}/attendance")
async def attendance(request: web.Request) -> web.Response:
    staff = await calling_staff(request)
    body = await read_json(request, AttendanceIn)
    appointment = await services(request).appointments.mark_attendance(
        staff, path_id(request, "appointment_id"), attended=body.outcome == "attended"
    )
    return json_response(appointment_view(appointment))


@routes.get("/v1/me/appointments")
async def upcoming(request: web.Request) -> web.Response:
    caller = await principal(request)
    appointments = await services(request).appointments.upcoming(caller)
    return json_response(AppointmentsOut(appointments=[appointment_view(a) for a in appointments]))


@routes.post("/v1/appointments/{appointment_id}/answer")
async def answer(request: web.Request) -> web.Response:
    caller = await principal(request)
    body = await read_json(request, AppointmentAnswerIn)
    appointment = await services(request).appointments.answer(
        caller, path_id(request, "appointment_id"), confirm=body.answer == "confirm"
    )
    return json_response(appointment_view(appointment))


@routes.post("/v1/appointments/{appointment_id}/ready")
async def ready(request: web.Request) -> web.Response:
    caller = await principal(request)
    body = await read_json(request, ReadyIn)
    appointment = await services(request).appointments.ready(
        caller, path_id(request, "appointment_id"), test_call=body.step == "test_call"
    )
    return json_response(appointment_view(appointment))


@routes.post("/v1/me/calendar-feed")
async def issue_feed(request: web.Request) -> web.Response:
    staff = await calling_staff(request)
    token = await services(request).calendar_feeds.issue(staff)
    settings = request.app[SETTINGS]
    base = (settings.public_url or f"http://{request.host}").rstrip("/")
    return json_response(FeedOut(url=f"{base}/v1/calendar/{token}.ics"), status=201)


@routes.delete("/v1/me/calendar-feed")
async def revoke_feed(request: web.Request) -> web.Response:
    staff = await calling_staff(request)
    revoked = await services(request).calendar_feeds.revoke(staff)
    return json_response(RevokedOut(revoked=revoked))


@routes.get("/v1/calendar/{token}.ics")
async def calendar(request: web.Request) -> web.Response:
    token = request.match_info["token"]
    if not 20 <= len(token) <= 100:
        raise NotFound("No such calendar")
    body = await services(request).calendar_feeds.render(token)
    return web.Response(body=body, content_type="text/calendar", charset="utf-8")
