"""The alert inbox: open alerts by severity and age; acknowledge; resolve."""

from __future__ import annotations

from aiohttp import web

from server.console.web import PREFIX, back_to, page, services, submitted_form
from server.domain.welfare_models import AlertKind, AlertStatus

routes = web.RouteTableDef()


@routes.get(PREFIX + "/alerts")
async def inbox(request: web.Request) -> web.StreamResponse:
    current = await page(request)
    svc = services(request)
    include_resolved = request.query.get("resolved") == "1"
    alerts = await svc.alert_desk.list(current.staff, include_resolved=include_resolved)
    alerts.sort(key=lambda a: (a.status is AlertStatus.RESOLVED, -a.severity.rank, a.created_at))
    details = {
        a.id: await svc.alert_desk.detail(current.staff, a.id)
        for a in alerts
        if a.status is not AlertStatus.RESOLVED
    }
    async with svc.store.read() as uow:
        cases = await uow.cases.get_many(sorted({a.case_id for a in alerts}))
        witnesses = await uow.witnesses.for_cases(sorted({a.case_id for a in alerts}))
        people = {}
        for detail in details.values():
            for n in detail.notifications:
                if n.recipient_kind == "staff" and n.recipient_id not in people:
                    member = await uow.staff.get(n.recipient_id)
                    people[n.recipient_id] = member.display_name if member else n.recipient_id
    now = svc.clock.now()
    open_alerts = [a for a in alerts if a.status is not AlertStatus.RESOLVED]
    return current.render(
        "alerts.html",
        alerts=alerts,
        details=details,
        cases=cases,
        witnesses=witnesses,
        people=people,
        now=now,
        include_resolved=include_resolved,
        duress=[a for a in open_alerts if a.kind is AlertKind.DURESS],
        panic=[a for a in open_alerts if a.kind is AlertKind.PANIC],
    )


@routes.post(PREFIX + "/alerts/{alert_id}/acknowledge")
async def acknowledge(request: web.Request) -> web.StreamResponse:
    current = await page(request)
    await submitted_form(request, current)
    await services(request).alert_desk.acknowledge(current.staff, request.match_info["alert_id"])
    raise back_to(PREFIX + "/alerts", "acknowledged")


@routes.post(PREFIX + "/alerts/{alert_id}/resolve")
async def resolve(request: web.Request) -> web.StreamResponse:
    current = await page(request)
    form = await submitted_form(request, current)
    await services(request).alert_desk.resolve(
        current.staff,
        request.match_info["alert_id"],
        outcome=form.get("outcome", ""),
        note=form.get("note", ""),
    )
    raise back_to(PREFIX + "/alerts", "resolved")
