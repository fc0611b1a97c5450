"""Check-ins from the phone; plans, settings and policies from staff."""

from __future__ import annotations

from datetime import timedelta

import msgspec
from aiohttp import web

from server.api.context import (
    calling_staff,
    json_response,
    path_id,
    principal,
    read_json,
    services,
)
from server.api.models import (
    CaseSettingsIn,
    CheckInResponseIn,
    DutyIn,
    HeartbeatIn,
    PanicIn,
    PauseIn,
    PhoneIn,
    PlanIn,
    PolicyIn,
    SmsWordsIn,
)
from server.api.presenters import (
    case_settings_view,
    optional_iso,
    plan_view,
    policy_view,
    prompt_view,
)
from server.api.responses import (
    CurrentCheckInOut,
    DutyOut,
    Ok,
    PhoneSetOut,
    RecordedOut,
)
from server.domain.welfare.plans import PlanSpec
from server.domain.welfare.settings import KEEP
from server.domain.welfare_models import Response
from server.errors import NotFound

routes = web.RouteTableDef()

# ---------------------------------------------------------------- the phone


@routes.get("/v1/checkins/current")
async def current_checkin(request: web.Request) -> web.Response:
    caller = await principal(request)
    checkin = await services(request).checkins.current(caller)
    return json_response(CurrentCheckInOut(checkin=prompt_view(checkin)))


@routes.post("/v1/checkins/{checkin_id}/response")
async def respond(request: web.Request) -> web.Response:
    caller = await principal(request)
    body = await read_json(request, CheckInResponseIn)
    recorded = await services(request).checkins.respond(
        caller, path_id(request, "checkin_id"), Response(body.status), body.signature
    )
    return json_response(
        RecordedOut(recorded=recorded.recorded, next_due_at=optional_iso(recorded.next_due_at))
    )


@routes.post("/v1/heartbeat")
async def heartbeat(request: web.Request) -> web.Response:
    caller = await principal(request)
    body = await read_json(request, HeartbeatIn)
    await services(request).checkins.heartbeat(caller, battery=body.battery)
    return json_response(Ok(ok=True))


@routes.post("/v1/panic")
async def panic(request: web.Request) -> web.Response:
    caller = await principal(request)
    body = await read_json(request, PanicIn)
    await services(request).checkins.panic(caller, body.request_id)
    return json_response(Ok(ok=True), status=202)


@routes.put("/v1/me/sms-words")
async def sms_words(request: web.Request) -> web.Response:
    caller = await principal(request)
    body = await read_json(request, SmsWordsIn)
    await services(request).checkins.set_sms_words(caller, body.checkin_word, body.duress_word)
    return json_response(Ok(ok=True))


# ---------------------------------------------------------------- staff


@routes.get("/v1/witnesses/{witness_id}/checkin-plan")
async def get_plan(request: web.Request) -> web.Response:
    staff = await calling_staff(request)
    view = await services(request).plans.view(staff, path_id(request, "witness_id"))
    if view is None:
        raise NotFound("This witness has no check-in plan yet")
    return json_response(plan_view(view))


@routes.put("/v1/witnesses/{witness_id}/checkin-plan")
async def set_plan(request: web.Request) -> web.Response:
    staff = await calling_staff(request)
    body = await read_json(request, PlanIn)
    spec = PlanSpec(
        every_hours=body.every_hours,
        start_local=body.start_local,
        weekdays=tuple(body.weekdays),
        times=tuple(body.times),
        window_minutes=body.window_minutes,
        grace_minutes=body.grace_minutes,
        reminder_minutes=body.reminder_minutes,
    )
    view = await services(request).plans.set_plan(staff, path_id(request, "witness_id"), spec)
    return json_response(plan_view(view))


@routes.post("/v1/witnesses/{witness_id}/checkin-plan/pause")
async def pause_plan(request: web.Request) -> web.Response:
    staff = await calling_staff(request)
    body = await read_json(request, PauseIn)
    view = await services(request).plans.pause(
        staff, path_id(request, "witness_id"), reason=body.reason, until=body.until
    )
    return json_response(plan_view(view))


@routes.post("/v1/witnesses/{witness_id}/checkin-plan/resume")
async def resume_plan(request: web.Request) -> web.Response:
    staff = await calling_staff(request)
    view = await services(request).plans.resume(staff, path_id(request, "witness_id"))
    return json_response(plan_view(view))


@routes.put("/v1/witnesses/{witness_id}/phone")
async def witness_phone(request: web.Request) -> web.Response:
    staff = await calling_staff(request)
    body = await read_json(request, PhoneIn)
    await services(request).welfare.set_witness_phone(
        staff, path_id(request, "witness_id"), body.number
    )
    return json_response(PhoneSetOut(ok=True, has_phone=body.number is not None))


@routes.put("/v1/me/phone")
async def own_phone(request: web.Request) -> web.Response:
    staff = await calling_staff(request)
    body = await read_json(request, PhoneIn)
    await services(request).welfare.set_own_phone(staff, body.number)
    services(request).authenticator.forget_owner(staff.id)
    return json_response(PhoneSetOut(ok=True, has_phone=body.number is not None))


@routes.put("/v1/me/duty")
async def duty(request: web.Request) -> web.Response:
    staff = await calling_staff(request)
    body = await read_json(request, DutyIn)
    await services(request).welfare.set_on_duty(staff, body.on_duty)
    services(request).authenticator.forget_owner(staff.id)
    return json_response(DutyOut(on_duty=body.on_duty))


@routes.get("/v1/cases/{case_id}/welfare-settings")
async def get_case_settings(request: web.Request) -> web.Response:
    staff = await calling_staff(request)
    settings = await services(request).welfare.case_settings(staff, path_id(request, "case_id"))
    return json_response(case_settings_view(settings))


@routes.put("/v1/cases/{case_id}/welfare-settings")
async def set_case_settings(request: web.Request) -> web.Response:
    staff = await calling_staff(request)
    body = await read_json(request, CaseSettingsIn)
    settings = await services(request).welfare.set_case_settings(
        staff,
        path_id(request, "case_id"),
        nudge_text=body.nudge_text,
        offline_after=timedelta(minutes=body.offline_after_minutes),
        silent_after=timedelta(hours=body.silent_after_hours),
        reminder_offsets=KEEP
        if body.reminder_offsets_minutes is msgspec.UNSET
        else None
        if body.reminder_offsets_minutes is None
        else tuple(body.reminder_offsets_minutes),
    )
    return json_response(case_settings_view(settings))


@routes.get("/v1/cases/{case_id}/escalation-policy")
async def get_policy(request: web.Request) -> web.Response:
    staff = await calling_staff(request)
    policy, source = await services(request).welfare.policy_for_case(
        staff, path_id(request, "case_id")
    )
    return json_response(policy_view(policy, source))


@routes.put("/v1/cases/{case_id}/escalation-policy")
async def set_case_policy(request: web.Request) -> web.Response:
    staff = await calling_staff(request)
    body = await read_json(request, PolicyIn)
    policy = await services(request).welfare.set_case_policy(
        staff, path_id(request, "case_id"), msgspec.to_builtins(body)
    )
    return json_response(policy_view(policy, f"case:{path_id(request, 'case_id')}"))


@routes.put("/v1/agencies/{agency_id}/escalation-policy")
async def set_agency_policy(request: web.Request) -> web.Response:
    staff = await calling_staff(request)
    body = await read_json(request, PolicyIn)
    policy = await services(request).welfare.set_agency_policy(
        staff, path_id(request, "agency_id"), msgspec.to_builtins(body)
    )
    return json_response(policy_view(policy, f"agency:{path_id(request, 'agency_id')}"))
