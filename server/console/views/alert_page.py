"""One alert on its own page: what it is, who was told, and what to do.

``/console/alerts/{alert_id}`` takes an alert id, or the short reference of an alert SMS
(the link at the end of the SMS): a reference opens the alerts texted under it to the
signed-in person — and only to them, so a reference alone shows nothing to anyone else.
Not signed in, the console's sign-in page brings the person back here afterwards.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from aiohttp import web

from server.console.web import PREFIX, Page, page, services
from server.domain.alert_guidance import AlertGuide
from server.domain.models import Case, Staff, Witness
from server.domain.welfare.alert_desk import AlertDetail
from server.errors import NotFound

routes = web.RouteTableDef()

_REFERENCE = re.compile(r"[0-9A-Fa-f]{4}")


@dataclass(frozen=True, slots=True)
class AlertView:
    """What the page shows for one alert."""

    detail: AlertDetail
    guide: AlertGuide
    case: Case | None
    witness: Witness | None
    people: dict[str, str]


async def _alert_ids(current: Page, key: str) -> list[str]:
    if not _REFERENCE.fullmatch(key):
        return [key]
    async with services(current.request).store.read() as uow:
        sent: list[str] = await uow.alert_response.alerts_sent_to(key.upper(), current.staff.id)
    return sent


async def _view(current: Page, staff: Staff, alert_id: str) -> AlertView:
    svc = services(current.request)
    detail = await svc.alert_desk.detail(staff, alert_id)
    guide = await svc.alert_guidance.for_alert(staff, detail.alert)
    async with svc.store.read() as uow:
        case = await uow.cases.get(detail.alert.case_id)
        witness = await uow.witnesses.get(detail.alert.witness_id)
        people: dict[str, str] = {}
        named = {n.recipient_id for n in detail.notifications if n.recipient_kind == "staff"}
        named |= {s for s in (detail.alert.acknowledged_by, detail.alert.resolved_by) if s}
        for staff_id in sorted(named):
            member = await uow.staff.get(staff_id)
            people[staff_id] = member.display_name if member else staff_id
    return AlertView(detail, guide, case, witness, people)


@routes.get(PREFIX + "/alerts/{alert_id}")
async def alert_page(request: web.Request) -> web.StreamResponse:
    current = await page(request)
    alert_ids = await _alert_ids(current, request.match_info["alert_id"])
    if not alert_ids:
        raise NotFound("No such alert")
    views = [await _view(current, current.staff, alert_id) for alert_id in alert_ids]
    return current.render("alert.html", views=views, now=services(request).clock.now())
