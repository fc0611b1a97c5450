"""My account: each staff member's own alert phone number and on-duty state.

The number is where alert SMS and calls reach the person; it is sealed at rest
(:meth:`~server.domain.welfare.settings.WelfareSettings.set_own_phone`, validated as
E.164) and shown back only masked. Going off duty takes the person out of every
escalation level that reaches "people on duty". Both are the same abilities the SDK
offers (``StaffClient.set_my_phone`` / ``set_on_duty``), with the same audit entries.
An agency's admins and supervisors set on-duty for their own agency's staff on the
administration pages (:mod:`server.console.views.admin`).
"""

from __future__ import annotations

from aiohttp import web

from server.console.web import PREFIX, back_to, page, services, submitted_form
from server.errors import InvalidInput

routes = web.RouteTableDef()

ACCOUNT = PREFIX + "/account"


@routes.get(ACCOUNT)
async def account(request: web.Request) -> web.StreamResponse:
    current = await page(request)
    phone = await services(request).welfare.own_phone_masked(current.staff)
    return current.render("account.html", phone=phone, on_duty=current.staff.on_duty)


@routes.post(ACCOUNT + "/phone")
async def set_phone(request: web.Request) -> web.StreamResponse:
    """Set or erase one's own number; never echoed back in full."""
    current = await page(request)
    form = await submitted_form(request, current)
    if form.get("erase") == "1":
        number = None
    else:
        number = form.get("number", "").strip()
        if not number:
            raise InvalidInput("type your phone number, e.g. +40 712 345 678")
    svc = services(request)
    await svc.welfare.set_own_phone(current.staff, number)
    svc.authenticator.forget_owner(current.staff.id)
    raise back_to(ACCOUNT, "saved")


@routes.post(ACCOUNT + "/duty")
async def set_duty(request: web.Request) -> web.StreamResponse:
    current = await page(request)
    form = await submitted_form(request, current)
    svc = services(request)
    await svc.welfare.set_on_duty(current.staff, form.get("on_duty") == "1")
    svc.authenticator.forget_owner(current.staff.id)
    raise back_to(ACCOUNT, "saved")
