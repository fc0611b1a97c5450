"""Handover before return and risk assessments (issue 11, items 2 and 3): the police
request a handover and record consent; the receiving agency accepts or declines; the
case team records assessments and reads their notes (audited)."""

from __future__ import annotations

from aiohttp import web

from server.api.context import (
    calling_staff,
    consultation_reason,
    json_response,
    path_id,
    principal,
    read_json,
    services,
)
from server.api.models import (
    AssessmentIn,
    ConsentIn,
    HandoverAcceptIn,
    HandoverDeclineIn,
    HandoverIn,
)
from server.api.responses import (
    AssessmentNotesOut,
    AssessmentOut,
    AssessmentsOut,
    CaseHandoverOut,
    CheckInSuggestionOut,
    ConsentOut,
    HandoverOut,
    HandoverRequestOut,
    HandoverRequestsOut,
    Ok,
)
from server.clock import iso
from server.domain.assessments import CheckInSuggestion
from server.domain.handover_models import (
    Assessment,
    Consent,
    ConsentHow,
    Handover,
    HandoverState,
)
from server.domain.handovers import HandoverRecord, HandoverRequest
from server.domain.risk_levels import RiskFactor, RiskLevel

routes = web.RouteTableDef()


def handover_view(h: Handover, reason: str | None, now_state: HandoverState) -> HandoverOut:
    return HandoverOut(
        handover_id=h.id,
        case_id=h.case_id,
        receiving_agency_id=h.receiving_agency_id,
        return_on=h.return_on.isoformat(),
        accept_by=iso(h.accept_by),
        status=h.status,
        state=now_state,
        alert_raised=h.alert_raised,
        requested_by=h.requested_by,
        requested_at=iso(h.requested_at),
        decided_by=h.decided_by,
        decided_at=None if h.decided_at is None else iso(h.decided_at),
        primary_contact_id=h.primary_contact_id,
        alternate_contact_id=h.alternate_contact_id,
        decline_reason=reason,
    )


def consent_view(c: Consent) -> ConsentOut:
    return ConsentOut(
        consent_id=c.id,
        how=c.how,
        recorded_by=c.recorded_by,
        given_at=iso(c.given_at),
        recorded_at=iso(c.recorded_at),
    )


def request_view(r: HandoverRequest) -> HandoverRequestOut:
    h = r.handover
    return HandoverRequestOut(
        handover_id=h.id,
        alias=r.alias,
        language=r.language,
        return_on=h.return_on.isoformat(),
        accept_by=iso(h.accept_by),
        risk_level=r.risk_level,
        status=h.status,
        case_id=r.case_id,
        primary_contact_id=h.primary_contact_id,
        alternate_contact_id=h.alternate_contact_id,
    )


def assessment_view(a: Assessment) -> AssessmentOut:
    return AssessmentOut(
        assessment_id=a.id,
        case_id=a.case_id,
        witness_id=a.witness_id,
        level=a.level,
        factors=list(a.factors),
        has_notes=a.notes_sealed is not None,
        assessed_by=a.assessed_by,
        assessed_at=iso(a.assessed_at),
        review_due_at=iso(a.review_due_at),
    )


def suggestion_view(s: CheckInSuggestion | None) -> CheckInSuggestionOut | None:
    if s is None:
        return None
    return CheckInSuggestionOut(
        level=s.level, every_hours=s.every_hours, plan_every_hours=s.plan_every_hours
    )


def _case_handover(record: HandoverRecord, request: web.Request) -> CaseHandoverOut:
    now = services(request).clock.now()
    h = record.handover
    return CaseHandoverOut(
        handover=None if h is None else handover_view(h, record.decline_reason, h.state(now)),
        consents=[consent_view(c) for c in record.consents],
    )


@routes.post("/v1/cases/{case_id}/handover")
async def request_handover(request: web.Request) -> web.Response:
    staff = await calling_staff(request)
    body = await read_json(request, HandoverIn)
    svc = services(request)
    handover = await svc.handovers.request(staff, path_id(request, "case_id"), body.return_on)
    return json_response(handover_view(handover, None, handover.state(svc.clock.now())), 201)


@routes.get("/v1/cases/{case_id}/handover")
async def case_handover(request: web.Request) -> web.Response:
    staff = await calling_staff(request)
    record = await services(request).handovers.for_case(staff, path_id(request, "case_id"))
    return json_response(_case_handover(record, request))


@routes.post("/v1/cases/{case_id}/handover/consent")
async def record_consent(request: web.Request) -> web.Response:
    staff = await calling_staff(request)
    body = await read_json(request, ConsentIn)
    consent = await services(request).handovers.record_consent(
        staff, path_id(request, "case_id"), ConsentHow(body.how), body.given_at
    )
    return json_response(consent_view(consent), 201)


@routes.post("/v1/me/handover-consent")
async def witness_consent(request: web.Request) -> web.Response:
    caller = await principal(request)
    await services(request).handovers.witness_consents(caller)
    return json_response(Ok(ok=True), 201)


@routes.get("/v1/handover-requests")
async def handover_requests(request: web.Request) -> web.Response:
    staff = await calling_staff(request)
    found = await services(request).handovers.requests_for(staff)
    return json_response(HandoverRequestsOut(requests=[request_view(r) for r in found]))


@routes.get("/v1/handover-requests/{handover_id}")
async def handover_request(request: web.Request) -> web.Response:
    staff = await calling_staff(request)
    found = await services(request).handovers.request_for(staff, path_id(request, "handover_id"))
    return json_response(request_view(found))


@routes.post("/v1/handover-requests/{handover_id}/accept")
async def accept(request: web.Request) -> web.Response:
    staff = await calling_staff(request)
    body = await read_json(request, HandoverAcceptIn)
    found = await services(request).handovers.accept(
        staff,
        path_id(request, "handover_id"),
        body.primary_contact_id,
        body.alternate_contact_id,
    )
    return json_response(request_view(found))


@routes.post("/v1/handover-requests/{handover_id}/decline")
async def decline(request: web.Request) -> web.Response:
    staff = await calling_staff(request)
    body = await read_json(request, HandoverDeclineIn)
    found = await services(request).handovers.decline(
        staff, path_id(request, "handover_id"), body.reason
    )
    return json_response(request_view(found))


@routes.post("/v1/cases/{case_id}/assessments")
async def record_assessment(request: web.Request) -> web.Response:
    staff = await calling_staff(request)
    body = await read_json(request, AssessmentIn)
    assessment = await services(request).assessments.record(
        staff,
        path_id(request, "case_id"),
        RiskLevel(body.level),
        [RiskFactor(f) for f in body.factors],
        body.notes,
    )
    return json_response(assessment_view(assessment), 201)


@routes.get("/v1/cases/{case_id}/assessments")
async def assessments(request: web.Request) -> web.Response:
    staff = await calling_staff(request)
    found, suggestion = await services(request).assessments.history(
        staff, path_id(request, "case_id")
    )
    return json_response(
        AssessmentsOut(
            assessments=[assessment_view(a) for a in found],
            checkin_suggestion=suggestion_view(suggestion),
        )
    )


@routes.get("/v1/assessments/{assessment_id}/notes")
async def assessment_notes(request: web.Request) -> web.Response:
    staff = await calling_staff(request)
    assessment_id = path_id(request, "assessment_id")
    notes = await services(request).assessments.read_notes(
        staff, assessment_id, reason=consultation_reason(request)
    )
    return json_response(AssessmentNotesOut(assessment_id=assessment_id, notes=notes))
