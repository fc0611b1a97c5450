"""Response instructions for a witness ("never call, text only"), edited on the
witness page by the case's staff and shown on every alert about the witness.

Sealed at rest; a change is audited without its content. The rules live in
:class:`~server.domain.alert_guidance.AlertGuidance`.
"""

from __future__ import annotations

from aiohttp import web

from server.api.context import path_id
from server.console.views.witness import CASE_PATH, case_path, witness_of_case
from server.console.web import back_to, page, services, submitted_form

routes = web.RouteTableDef()


@routes.post(CASE_PATH + "/instructions")
async def set_instructions(request: web.Request) -> web.StreamResponse:
    """Replace the instructions (an empty text removes them)."""
    current = await page(request)
    form = await submitted_form(request, current)
    case_id = path_id(request, "case_id")
    witness_id = await witness_of_case(request, case_id)
    await services(request).alert_guidance.set_instructions(
        current.staff, witness_id, form.get("instructions", "")
    )
    raise back_to(case_path(case_id) + "#instructions", "saved")
