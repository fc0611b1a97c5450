"""Welfare visits: staff plan, schedule, cancel and record them; the witness's phone
answers at the door. One domain call per handler (``server.domain.visits``)."""

from __future__ import annotations

from aiohttp import web

from server.api.context import calling_staff, json_response, path_id, principal, read_json, services
from server.api.models import DoorAnswerIn, VisitIn, VisitPlanIn, VisitRecordIn
from server.api.presenters import optional_iso
from server.api.responses import (
    DoorAnswerOut,
    VisitDetailOut,
    VisitOut,
    VisitPlanOut,
    VisitRecordedOut,
    VisitsOut,
)
from server.clock import iso
from server.domain.risk_levels import RiskLevel
from server.domain.visit_models import DoorAnswer, Visit, VisitOutcome, VisitStatus
from server.domain.visits import NextVisit, PlanView, VisitRecord

routes = web.RouteTableDef()


def visit_view(visit: Visit) -> VisitOut:
    return VisitOut(
        visit_id=visit.id,
        case_id=visit.case_id,
        witness_id=visit.witness_id,
        visitor_staff_id=visit.visitor_staff_id,
        window_start=iso(visit.window_start),
        window_end=iso(visit.window_end),
        status=visit.status,
        overdue=visit.status is VisitStatus.SCHEDULED and visit.due_at is None,
        outcome=visit.outcome,
        seen_alone=visit.seen_alone,
        has_concerns=visit.concerns_sealed is not None,
        recorded_at=optional_iso(visit.recorded_at),
        door_answer=visit.door_answer,
        version=visit.version,
    )


def plan_view(view: PlanView) -> VisitPlanOut:
    return VisitPlanOut(
        witness_id=view.witness_id,
        every_days=view.every_days,
        risk_level=view.risk_level,
        set=view.plan is not None,
        updated_at=None if view.plan is None else iso(view.plan.updated_at),
    )


@routes.get("/v1/witnesses/{witness_id}/visit-plan")
async def get_plan(request: web.Request) -> web.Response:
    staff = await calling_staff(request)
    view = await services(request).visits.plan(staff, path_id(request, "witness_id"))
    return json_response(plan_view(view))


@routes.put("/v1/witnesses/{witness_id}/visit-plan")
async def put_plan(request: web.Request) -> web.Response:
    staff = await calling_staff(request)
    body = await read_json(request, VisitPlanIn)
    visits = services(request).visits
    witness_id = path_id(request, "witness_id")
    await visits.set_plan(
        staff,
        witness_id,
        every_days=body.every_days,
        risk_level=None if body.risk_level is None else RiskLevel(body.risk_level),
    )
    return json_response(plan_view(await visits.plan(staff, witness_id)))


@routes.post("/v1/cases/{case_id}/visits")
async def schedule(request: web.Request) -> web.Response:
    staff = await calling_staff(request)
    body = await read_json(request, VisitIn)
    visit = await services(request).visits.schedule(
        staff,
        path_id(request, "case_id"),
        visitor_staff_id=body.visitor_staff_id,
        window_start=body.window_start,
        window_end=body.window_end,
    )
    return json_response(visit_view(visit), status=201)


@routes.get("/v1/cases/{case_id}/visits")
async def for_case(request: web.Request) -> web.Response:
    staff = await calling_staff(request)
    visits = await services(request).visits.for_case(staff, path_id(request, "case_id"))
    return json_response(VisitsOut(visits=[visit_view(v) for v in visits]))


@routes.get("/v1/visits/{visit_id}")
async def get_one(request: web.Request) -> web.Response:
    staff = await calling_staff(request)
    visit, concerns = await services(request).visits.read(staff, path_id(request, "visit_id"))
    return json_response(VisitDetailOut(visit=visit_view(visit), concerns=concerns))


@routes.post("/v1/visits/{visit_id}/cancel")
async def cancel(request: web.Request) -> web.Response:
    staff = await calling_staff(request)
    visit = await services(request).visits.cancel(staff, path_id(request, "visit_id"))
    return json_response(visit_view(visit))


@routes.post("/v1/visits/{visit_id}/record")
async def record(request: web.Request) -> web.Response:
    staff = await calling_staff(request)
    body = await read_json(request, VisitRecordIn)
    following = body.next_visit
    recorded, next_visit = await services(request).visits.record(
        staff,
        path_id(request, "visit_id"),
        VisitRecord(
            outcome=VisitOutcome(body.outcome),
            seen_alone=body.seen_alone,
            concerns=body.concerns,
            next_visit=None
            if following is None
            else NextVisit(
                following.window_start, following.window_end, following.visitor_staff_id
            ),
        ),
    )
    return json_response(
        VisitRecordedOut(
            visit=visit_view(recorded),
            next_visit=None if next_visit is None else visit_view(next_visit),
        )
    )


@routes.post("/v1/visits/{visit_id}/door")
async def door(request: web.Request) -> web.Response:
    caller = await principal(request)
    body = await read_json(request, DoorAnswerIn)
    visit_id = path_id(request, "visit_id")
    shown = await services(request).door_answers.answer(caller, visit_id, DoorAnswer(body.answer))
    return json_response(DoorAnswerOut(visit_id=visit_id, answer=shown))
