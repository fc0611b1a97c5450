"""Console pages of the handover before return and the risk assessment (issue 11).

The police side works on the witness page (a section of its own): the return date,
the witness's consent and the request in one form; assessments, their history, their
notes (read one at a time, an audited consultation, with a reason where the agency
requires one) and the offer to apply the level's default check-in plan — never applied
without someone pressing the button. The receiving side has a "Handover requests" page:
the minimum each request needs, and accept (two contacts) or decline (a reason).

Every POST checks the CSRF token, calls one domain service and redirects back.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from server.api.context import path_id
from server.console.web import PREFIX, back_to, page, services, submitted_form
from server.domain.access import can_manage_case
from server.domain.assessments import CheckInSuggestion
from server.domain.handover_models import Assessment, ConsentHow
from server.domain.models import Case, Staff, Witness
from server.domain.risk_levels import RiskFactor, RiskLevel
from server.domain.welfare.plans import PlanSpec
from server.errors import InvalidInput, NotFound, ReasonRequired
from server.services import Services

routes = web.RouteTableDef()

CASE_PATH = PREFIX + "/cases/{case_id}"
REQUESTS_PATH = PREFIX + "/handovers"
MAX_REASON = 500


def _case_path(case_id: str) -> str:
    return f"{PREFIX}/cases/{case_id}"


async def handover_section(
    svc: Services, staff: Staff, case: Case, witness: Witness | None, *, assigned: bool
) -> dict[str, Any]:
    """What ``_witness_handover.html`` needs (opening a decline reason is audited)."""
    record = await svc.handovers.for_case(staff, case.id)
    assessments: list[Assessment] = []
    suggestion: CheckInSuggestion | None = None
    if witness is not None:
        assessments, suggestion = await svc.assessments.history(staff, case.id)
    return {
        "handover": record.handover,
        "handover_state": "none"
        if record.handover is None
        else record.handover.state(svc.clock.now()).value,
        "decline_reason": record.decline_reason,
        "consents": record.consents,
        "can_handover": staff.agency_id == case.police_agency_id
        and can_manage_case(staff, case, assigned=assigned),
        "assessments": assessments,
        "checkin_suggestion": suggestion,
        "risk_levels": [level.value for level in RiskLevel],
        "risk_factors": [factor.value for factor in RiskFactor],
    }


def _date(form: MultiDictProxy[str], name: str) -> date | None:
    text = form.get(name, "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput("give the return date as YYYY-MM-DD") from None


@routes.post(CASE_PATH + "/handover")
async def request_handover(request: web.Request) -> web.StreamResponse:
    """Record the witness's consent (if given now) and send the request (if a return
    date is given)."""
    current = await page(request)
    form = await submitted_form(request, current)
    case_id = path_id(request, "case_id")
    svc = services(request)
    how = form.get("consent", "")
    return_on = _date(form, "return_on")
    if how not in ("", ConsentHow.IN_PERSON.value, ConsentHow.PHONE_CALL.value):
        raise InvalidInput("choose how the witness gave consent")
    if not how and return_on is None:
        raise InvalidInput("give the return date, or record the witness's consent")
    if how:
        await svc.handovers.record_consent(current.staff, case_id, ConsentHow(how))
    if return_on is not None:
        await svc.handovers.request(current.staff, case_id, return_on)
    raise back_to(_case_path(case_id), "saved")


@routes.post(CASE_PATH + "/assessments")
async def record_assessment(request: web.Request) -> web.StreamResponse:
    current = await page(request)
    form = await submitted_form(request, current)
    case_id = path_id(request, "case_id")
    try:
        level = RiskLevel(form.get("level", ""))
        factors = [RiskFactor(value) for value in form.getall("factor", [])]
    except ValueError:
        raise InvalidInput("choose a risk level and factors from the lists") from None
    await services(request).assessments.record(
        current.staff, case_id, level, factors, form.get("notes", "")
    )
    raise back_to(_case_path(case_id), "saved")


@routes.post(CASE_PATH + "/assessments/{assessment_id}/notes")
async def read_notes(request: web.Request) -> web.StreamResponse:
    """The notes, on a page of their own (not a redirect: they are not kept anywhere
    for a GET to find). An audited consultation, with the reason given in the form."""
    current = await page(request)
    form = await submitted_form(request, current, is_action=False)
    case_id = path_id(request, "case_id")
    reason = form.get("reason", "").strip()
    if len(reason) > MAX_REASON:
        raise InvalidInput(f"the reason is limited to {MAX_REASON} characters")
    svc = services(request)
    assessment_id = path_id(request, "assessment_id")
    history, _suggestion = await svc.assessments.history(current.staff, case_id)
    found = [a for a in history if a.id == assessment_id]
    if not found:
        raise NotFound("No such assessment")
    try:
        notes = await svc.assessments.read_notes(
            current.staff, assessment_id, reason=reason or None
        )
    except ReasonRequired:
        return current.render(
            "assessment_notes.html", status=422, case_id=case_id, assessment=found[0], notes=None
        )
    return current.render(
        "assessment_notes.html", case_id=case_id, assessment=found[0], notes=notes
    )


@routes.post(CASE_PATH + "/assessments/checkin-plan")
async def apply_default_plan(request: web.Request) -> web.StreamResponse:
    """Apply the level's default check-in interval (only when a person asks)."""
    current = await page(request)
    await submitted_form(request, current)
    case_id = path_id(request, "case_id")
    svc = services(request)
    _history, suggestion = await svc.assessments.history(current.staff, case_id)
    if suggestion is None:
        raise back_to(_case_path(case_id), "saved")
    async with svc.store.read() as uow:
        witness = await uow.witnesses.get_by_case(case_id)
        plan = None if witness is None else await uow.plans.get(witness.id)
    if witness is None:
        raise NotFound("No such witness")
    start = "10:00"
    if plan is not None and plan.anchor_local:
        start = datetime.fromisoformat(plan.anchor_local).strftime("%H:%M")
    spec = PlanSpec(every_hours=suggestion.every_hours, start_local=start)
    if plan is not None:
        spec = PlanSpec(
            every_hours=suggestion.every_hours,
            start_local=start,
            window_minutes=plan.window_minutes,
            grace_minutes=plan.grace_minutes,
            reminder_minutes=plan.reminder_minutes,
        )
    await svc.plans.set_plan(current.staff, witness.id, spec)
    raise back_to(_case_path(case_id), "saved")


# --------------------------------------------------------------------- receiving side


@routes.get(REQUESTS_PATH)
async def requests_page(request: web.Request) -> web.StreamResponse:
    current = await page(request)
    svc = services(request)
    found = await svc.handovers.requests_for(current.staff)
    async with svc.store.read() as uow:
        colleagues = await uow.staff.list_by_roles(
            current.staff.agency_id, ["support_worker", "supervisor", "admin", "officer"]
        )
    return current.render(
        "handovers.html",
        requests=found,
        colleagues=sorted(colleagues, key=lambda s: s.display_name),
        done=request.query.get("done"),
    )


@routes.post(REQUESTS_PATH + "/{handover_id}/accept")
async def accept(request: web.Request) -> web.StreamResponse:
    current = await page(request)
    form = await submitted_form(request, current)
    await services(request).handovers.accept(
        current.staff,
        path_id(request, "handover_id"),
        form.get("primary", ""),
        form.get("alternate", ""),
    )
    raise back_to(REQUESTS_PATH, "accepted")


@routes.post(REQUESTS_PATH + "/{handover_id}/decline")
async def decline(request: web.Request) -> web.StreamResponse:
    current = await page(request)
    form = await submitted_form(request, current)
    await services(request).handovers.decline(
        current.staff, path_id(request, "handover_id"), form.get("reason", "")
    )
    raise back_to(REQUESTS_PATH, "declined")
