"""The witness page's form for check-in by phone (issue 13, voice): the voice PIN, the
duress voice PIN and whether check-ins call the witness.

The PINs are write-only: the page says whether they are set, never what they are
(only keyed digests are stored). Leaving both PIN fields empty keeps the PINs as they
are; ticking "remove the PINs" clears them.
"""

from __future__ import annotations

from aiohttp import web

from server.api.context import path_id
from server.console.views.witness import CASE_PATH, case_path
from server.console.web import back_to, page, services, submitted_form
from server.errors import NotFound

routes = web.RouteTableDef()


@routes.post(CASE_PATH + "/voice")
async def set_voice(request: web.Request) -> web.StreamResponse:
    current = await page(request)
    form = await submitted_form(request, current)
    case_id = path_id(request, "case_id")
    svc = services(request)
    async with svc.store.read() as uow:
        witness = await uow.witnesses.get_by_case(case_id)
        existing = None if witness is None else await uow.witness_voice.get(witness.id)
    if witness is None:
        raise NotFound("No such witness")
    pin = form.get("pin", "").strip() or None
    duress_pin = form.get("duress_pin", "").strip() or None
    if form.get("remove_pins") == "1":
        pin = duress_pin = None
    elif pin is None and duress_pin is None and existing is not None and existing.pin_digest:
        # Keep the PINs: changing only the call option must not need them again.
        await svc.welfare.set_witness_call_option(
            current.staff, witness.id, form.get("checkin_call", "never")
        )
        raise back_to(case_path(case_id), "saved")
    await svc.welfare.set_witness_voice(
        current.staff,
        witness.id,
        pin=pin,
        duress_pin=duress_pin,
        checkin_call=form.get("checkin_call", "never"),
    )
    raise back_to(case_path(case_id), "saved")
