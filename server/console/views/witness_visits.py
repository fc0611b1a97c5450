"""The witness page's welfare-visit forms: the plan, scheduling, recording, cancelling.

Thin: read the form, one call to ``server.domain.visits``, back to the page. Times are
typed as the witness's wall-clock time. Concerns typed here are seen by the server (it
seals them at rest); who comes and when reaches the witness only from the visitor's
own client, end to end encrypted.
"""

from __future__ import annotations

from aiohttp import web

from server.api.context import path_id
from server.console.views.witness import CASE_PATH, _local_datetime, _witness, case_path
from server.console.web import back_to, page, services, submitted_form
from server.domain.visit_models import Visit, VisitOutcome
from server.domain.visits import NextVisit, VisitRecord
from server.errors import InvalidInput, NotFound

routes = web.RouteTableDef()


async def _visit_of_case(request: web.Request, case_id: str) -> str:
    """The visit in the path, which must belong to the case in the path.

    Raises: NotFound: not visible, or of another case.
    """
    current = await page(request)
    visit: Visit = await services(request).visits.get(current.staff, path_id(request, "visit_id"))
    if visit.case_id != case_id:
        raise NotFound("No such visit")
    return visit.id


@routes.post(CASE_PATH + "/visit-plan")
async def set_visit_plan(request: web.Request) -> web.StreamResponse:
    current = await page(request)
    form = await submitted_form(request, current)
    case_id = path_id(request, "case_id")
    witness = await _witness(request, case_id)
    text = form.get("every_days", "").strip()
    if text and not text.isdigit():
        raise InvalidInput("the interval must be a whole number of days")
    await services(request).visits.set_plan(
        current.staff, witness.id, every_days=int(text) if text else None
    )
    raise back_to(case_path(case_id), "saved")


@routes.post(CASE_PATH + "/visits")
async def schedule_visit(request: web.Request) -> web.StreamResponse:
    current = await page(request)
    form = await submitted_form(request, current)
    case_id = path_id(request, "case_id")
    witness = await _witness(request, case_id)
    await services(request).visits.schedule(
        current.staff,
        case_id,
        visitor_staff_id=form.get("visitor_staff_id", ""),
        window_start=_local_datetime(form.get("window_start", ""), witness.timezone, "the start"),
        window_end=_local_datetime(form.get("window_end", ""), witness.timezone, "the end"),
    )
    raise back_to(case_path(case_id), "scheduled")


@routes.post(CASE_PATH + "/visits/{visit_id}/record")
async def record_visit(request: web.Request) -> web.StreamResponse:
    current = await page(request)
    form = await submitted_form(request, current)
    case_id = path_id(request, "case_id")
    witness = await _witness(request, case_id)
    visit_id = await _visit_of_case(request, case_id)
    try:
        outcome = VisitOutcome(form.get("outcome", ""))
    except ValueError as exc:
        raise InvalidInput("choose what happened") from exc
    start, end = form.get("next_start", "").strip(), form.get("next_end", "").strip()
    following = None
    if start or end:
        following = NextVisit(
            _local_datetime(start, witness.timezone, "the next visit's start"),
            _local_datetime(end, witness.timezone, "the next visit's end"),
        )
    await services(request).visits.record(
        current.staff,
        visit_id,
        VisitRecord(
            outcome=outcome,
            seen_alone=form.get("seen_alone") == "1",
            concerns=form.get("concerns") or None,
            next_visit=following,
        ),
    )
    raise back_to(case_path(case_id), "saved")


@routes.post(CASE_PATH + "/visits/{visit_id}/cancel")
async def cancel_visit(request: web.Request) -> web.StreamResponse:
    current = await page(request)
    await submitted_form(request, current)
    case_id = path_id(request, "case_id")
    visit_id = await _visit_of_case(request, case_id)
    await services(request).visits.cancel(current.staff, visit_id)
    raise back_to(case_path(case_id), "cancelled")
