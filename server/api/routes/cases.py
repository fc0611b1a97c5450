"""Cases, their team and witness (staff only)."""

from __future__ import annotations

from aiohttp import web

from server.api.context import (
    calling_staff,
    consultation_reason,
    json_response,
    path_id,
    read_json,
    services,
)
from server.api.models import AddWitnessIn, AssignStaffIn, CloseCaseIn, CreateCaseIn
from server.api.presenters import case_detail_view, case_view, closed_case_view, witness_view
from server.api.responses import AddedOut, CaseReviewedOut, CasesOut, RemovedOut
from server.clock import iso
from server.domain.case_lifecycle import DEFAULT_OUTCOME

routes = web.RouteTableDef()


@routes.get("/v1/cases")
async def list_cases(request: web.Request) -> web.Response:
    staff = await calling_staff(request)
    cases = await services(request).cases.list_cases(staff)
    return json_response(CasesOut(cases=[case_view(case, witness) for case, witness in cases]))


@routes.post("/v1/cases")
async def create_case(request: web.Request) -> web.Response:
    staff = await calling_staff(request)
    body = await read_json(request, CreateCaseIn)
    case = await services(request).cases.create_case(
        staff, reference=body.reference, support_agency_id=body.support_agency_id
    )
    return json_response(case_view(case), status=201)


@routes.get("/v1/cases/{case_id}")
async def view_case(request: web.Request) -> web.Response:
    staff = await calling_staff(request)
    view = await services(request).cases.view_case(
        staff, path_id(request, "case_id"), reason=consultation_reason(request)
    )
    return json_response(case_detail_view(view))


@routes.post("/v1/cases/{case_id}/staff")
async def assign_staff(request: web.Request) -> web.Response:
    staff = await calling_staff(request)
    body = await read_json(request, AssignStaffIn)
    added = await services(request).cases.assign_staff(
        staff, path_id(request, "case_id"), body.staff_id
    )
    return json_response(AddedOut(added=added), status=201 if added else 200)


@routes.delete("/v1/cases/{case_id}/staff/{staff_id}")
async def remove_staff(request: web.Request) -> web.Response:
    staff = await calling_staff(request)
    removed = await services(request).cases.remove_staff(
        staff, path_id(request, "case_id"), path_id(request, "staff_id")
    )
    return json_response(RemovedOut(removed=removed))


@routes.post("/v1/cases/{case_id}/witness")
async def add_witness(request: web.Request) -> web.Response:
    staff = await calling_staff(request)
    body = await read_json(request, AddWitnessIn)
    witness = await services(request).cases.add_witness(
        staff,
        path_id(request, "case_id"),
        alias=body.alias,
        language=body.language,
        timezone=body.timezone,
    )
    return json_response(witness_view(witness), status=201)


@routes.post("/v1/cases/{case_id}/close")
async def close_case(request: web.Request) -> web.Response:
    staff = await calling_staff(request)
    outcome = DEFAULT_OUTCOME
    if request.body_exists:
        outcome = (await read_json(request, CloseCaseIn)).outcome
    closed = await services(request).case_lifecycle.close_case(
        staff, path_id(request, "case_id"), outcome
    )
    return json_response(
        closed_case_view(
            closed.case,
            newly_closed=closed.newly_closed,
            revoked=closed.revoked_devices,
            outcome=closed.outcome,
        )
    )


@routes.post("/v1/cases/{case_id}/review")
async def review_case(request: web.Request) -> web.Response:
    staff = await calling_staff(request)
    case_id = path_id(request, "case_id")
    due = await services(request).case_lifecycle.review_done(staff, case_id)
    return json_response(CaseReviewedOut(case_id=case_id, next_review_at=iso(due)))
