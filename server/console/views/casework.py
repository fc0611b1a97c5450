"""Running a case from the console: open it, add the witness, assign and unassign the
team, mark its periodic review done, and close it after the trial with an outcome.

Each POST checks the CSRF token (and, on an on-call screen, a fresh sign-in), calls one
domain service — the same ones the API and SDK use — and redirects back. What the
console never does: make an enrolment code (the officer's staff client does, so that a
server that could make codes cannot enrol a phone of its own), or write the outcome
message to the witness (a staff client sends it end to end encrypted; the server keeps
the category only).
"""

from __future__ import annotations

from aiohttp import web
from multidict import MultiDictProxy

from server.api.context import path_id
from server.console.views.witness import case_path
from server.console.web import PREFIX, Page, back_to, page, services, submitted_form
from server.errors import InvalidInput

routes = web.RouteTableDef()

CASES_PATH = PREFIX + "/cases"
CASE_PATH = CASES_PATH + "/{case_id}"


async def _case_form(request: web.Request) -> tuple[Page, MultiDictProxy[str], str]:
    """The signed-in page, the checked form, and the case in the path."""
    current = await page(request)
    form = await submitted_form(request, current)
    return current, form, path_id(request, "case_id")


def _back(case_id: str, done: str) -> web.HTTPSeeOther:
    """Back to the case page's casework section, with the notice."""
    return web.HTTPSeeOther(f"{case_path(case_id)}?done={done}#casework")


def _required(value: str | None, what: str) -> str:
    """Raises: InvalidInput when the field is empty."""
    value = (value or "").strip()
    if not value:
        raise InvalidInput(f"{what} is required")
    return value


@routes.post(CASES_PATH)
async def open_case(request: web.Request) -> web.StreamResponse:
    """Open a case in the caller's police agency; the caller is on its team."""
    current = await page(request)
    form = await submitted_form(request, current)
    case = await services(request).cases.create_case(
        current.staff,
        reference=_required(form.get("reference"), "the case reference"),
        support_agency_id=_required(form.get("support_agency_id"), "the support organisation"),
    )
    raise back_to(case_path(case.id), "opened")


@routes.post(CASE_PATH + "/witness")
async def add_witness(request: web.Request) -> web.StreamResponse:
    """Add the case's witness: an alias, never a real name."""
    current, form, case_id = await _case_form(request)
    await services(request).cases.add_witness(
        current.staff,
        case_id,
        alias=_required(form.get("alias"), "the alias"),
        language=_required(form.get("language"), "the language"),
        timezone=_required(form.get("timezone"), "the timezone"),
    )
    raise _back(case_id, "saved")


@routes.post(CASE_PATH + "/team")
async def assign(request: web.Request) -> web.StreamResponse:
    current, form, case_id = await _case_form(request)
    await services(request).cases.assign_staff(
        current.staff, case_id, _required(form.get("staff_id"), "the staff member")
    )
    raise _back(case_id, "saved")


@routes.post(CASE_PATH + "/team/{staff_id}/remove")
async def unassign(request: web.Request) -> web.StreamResponse:
    current, _form, case_id = await _case_form(request)
    await services(request).cases.remove_staff(current.staff, case_id, path_id(request, "staff_id"))
    raise _back(case_id, "saved")


@routes.post(CASE_PATH + "/review")
async def review_done(request: web.Request) -> web.StreamResponse:
    current, _form, case_id = await _case_form(request)
    await services(request).case_lifecycle.review_done(current.staff, case_id)
    raise _back(case_id, "saved")


@routes.post(CASE_PATH + "/close")
async def close(request: web.Request) -> web.StreamResponse:
    current, form, case_id = await _case_form(request)
    await services(request).case_lifecycle.close_case(
        current.staff, case_id, _required(form.get("outcome"), "the outcome")
    )
    raise _back(case_id, "closed")
