"""The caseload: everyone a staff member may see, welfare state at a glance, live."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib

from aiohttp import web

from server.api.context import SETTINGS
from server.console.web import PREFIX, console, page
from server.domain.caseload import STATE_ORDER, CaseloadRow

routes = web.RouteTableDef()

SORTS = {
    "urgency": lambda r: (r.urgency, r.case.reference),
    "alias": lambda r: ((r.witness.alias if r.witness else "").casefold(), r.case.reference),
    "reference": lambda r: (r.case.reference,),
    "last_contact": lambda r: (r.last_contact_at is not None, r.last_contact_at),
    "next_checkin": lambda r: (r.next_checkin_at is None, r.next_checkin_at),
}


def _select(rows: list[CaseloadRow], state: str | None, sort: str | None) -> list[CaseloadRow]:
    if state in STATE_ORDER:
        rows = [r for r in rows if r.state == state]
    key = SORTS.get(sort or "urgency", SORTS["urgency"])
    return sorted(rows, key=key)


def signature(rows: list[CaseloadRow]) -> str:
    """Changes whenever anything shown in the caseload changes."""
    text = "|".join(
        f"{r.case.id}:{r.state}:{r.open_alerts}:{r.last_contact_at}:{r.next_checkin_at}:{r.next_appointment_at}"
        for r in rows
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@routes.get("/")
async def server_root(request: web.Request) -> web.StreamResponse:
    """The server's own address leads people to the console (303, so a browser does
    not cache it as permanent: the console's place may change)."""
    raise web.HTTPSeeOther(PREFIX + "/")


@routes.get(PREFIX + "/")
async def caseload(request: web.Request) -> web.StreamResponse:
    current = await page(request)
    rows = await console(request).caseload.rows(current.staff)
    state, sort = request.query.get("state"), request.query.get("sort")
    return current.render(
        "caseload.html",
        rows=_select(rows, state, sort),
        counts={s: sum(1 for r in rows if r.state == s) for s in STATE_ORDER},
        states=STATE_ORDER,
        state=state or "",
        sort=sort or "urgency",
        version=signature(rows),
    )


@routes.get(PREFIX + "/caseload/rows")
async def caseload_rows(request: web.Request) -> web.StreamResponse:
    """The table body alone, for the live update."""
    current = await page(request, touch=False)
    rows = await console(request).caseload.rows(current.staff)
    return current.render(
        "_caseload_rows.html",
        rows=_select(rows, request.query.get("state"), request.query.get("sort")),
        version=signature(rows),
    )


@routes.get(PREFIX + "/events")
async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: "caseload" when the caseload changed; "duress" and "panic"
    with the number of cases with such an open alert (each has its own banner).
    Recomputed every few seconds; works across instances because it reads the
    database, not memory."""
    current = await page(request, touch=False)
    interval = request.app[SETTINGS].console_live_interval_s
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    sessions = console(request).sessions
    last = ""
    last_counts = (-1, -1)
    cookie = request.cookies.get("wl_session")
    with contextlib.suppress(ConnectionResetError, asyncio.CancelledError):
        while True:
            if await sessions.resolve(cookie, touch=False) is None:
                await response.write(b"event: signed-out\ndata: 1\n\n")
                break
            rows = await console(request).caseload.rows(current.staff)
            version = signature(rows)
            if version != last:
                last = version
                await response.write(f"event: caseload\ndata: {version}\n\n".encode())
                counts = (
                    sum(1 for r in rows if r.state == "duress"),
                    sum(1 for r in rows if r.state == "panic"),
                )
                if counts != last_counts:
                    # 0 takes a banner down once its alerts are resolved. Panic and
                    # duress have their own banners and tones: they need different acts.
                    last_counts = counts
                    await response.write(f"event: duress\ndata: {counts[0]}\n\n".encode())
                    await response.write(f"event: panic\ndata: {counts[1]}\n\n".encode())
            else:
                await response.write(b": still here\n\n")
            await asyncio.sleep(interval)
    return response
