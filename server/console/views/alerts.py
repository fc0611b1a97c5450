"""The alert inbox: open alerts by severity and age, live; acknowledge; resolve.

The page and its live fragment (``/console/alerts/live``, fetched by the page whenever
the live feed's "alerts" event changes) render the same list; the fragment does not
count as activity, so an unattended desk console still signs out when it should.
"""

from __future__ import annotations

from aiohttp import web

from server.console.alert_inbox import inbox as inbox_context
from server.console.web import PREFIX, back_to, page, services, submitted_form

routes = web.RouteTableDef()


@routes.get(PREFIX + "/alerts")
async def inbox(request: web.Request) -> web.StreamResponse:
    current = await page(request)
    include_resolved = request.query.get("resolved") == "1"
    context = await inbox_context(
        services(request), current.staff, include_resolved=include_resolved
    )
    return current.render("alerts.html", **context)


@routes.get(PREFIX + "/alerts/live")
async def inbox_live(request: web.Request) -> web.StreamResponse:
    """The list alone, for the live update (``?resolved=1`` as on the page)."""
    current = await page(request, touch=False)
    include_resolved = request.query.get("resolved") == "1"
    context = await inbox_context(
        services(request), current.staff, include_resolved=include_resolved
    )
    return current.render("_alert_list.html", **context)


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
