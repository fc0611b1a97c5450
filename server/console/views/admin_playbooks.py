"""Agency playbooks: the steps an agency takes for each kind of alert.

Only the agency's own admins open and change them (anyone else: 403); staff see them
on the alert page (:mod:`server.console.views.alert_page`). One form per alert kind;
an empty form removes that kind's steps. The rules live in
:class:`~server.domain.alert_guidance.AlertGuidance`.
"""

from __future__ import annotations

from aiohttp import web

from server.console.alert_faces import FACES
from server.console.web import PREFIX, back_to, page, services, submitted_form

routes = web.RouteTableDef()

PLAYBOOKS = PREFIX + "/admin/agencies/{agency_id}/playbooks"


@routes.get(PLAYBOOKS)
async def playbooks(request: web.Request) -> web.StreamResponse:
    current = await page(request)
    agency_id = request.match_info["agency_id"]
    steps = await services(request).alert_guidance.playbooks(current.staff, agency_id)
    agency = await services(request).administration.managed_agency(current.staff, agency_id)
    return current.render(
        "admin_playbooks.html", agency=agency, faces=list(FACES.values()), steps=steps
    )


@routes.post(PLAYBOOKS)
async def save_playbook(request: web.Request) -> web.StreamResponse:
    current = await page(request)
    form = await submitted_form(request, current)
    agency_id = request.match_info["agency_id"]
    await services(request).alert_guidance.set_playbook(
        current.staff, agency_id, form.get("kind", ""), form.get("steps", "")
    )
    raise back_to(PLAYBOOKS.format(agency_id=agency_id), "saved")
