"""The caseload: everyone a staff member may see, welfare state at a glance, live."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from datetime import datetime

from aiohttp import web

from server.api.context import SETTINGS
from server.console.alert_inbox import alarm_state
from server.console.sessions import COOKIE, ConsoleSessions, SignedIn
from server.console.web import PREFIX, console, page, services
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
        f"{r.case.id}:{r.state}:{r.open_alerts}:{r.last_contact_at}:{r.next_checkin_at}:{r.next_appointment_at}:{r.next_visit_at}"
        f":{r.handover_state}:{r.review_due}:{r.case_review_due}"
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
        support_agencies=await services(request).cases.support_agencies_for(current.staff),
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
    """Server-sent events, recomputed every few seconds from the database (so they work
    across instances):

    * "caseload" when the caseload changed; "duress" and "panic" with the number of
      cases with such an open alert (each has its own banner and tone);
    * "alerts" with the inbox's version and the critical alerts nobody has acknowledged
      (:func:`server.console.alert_inbox.alarm_state`): the page refreshes the inbox and
      rings the alarm from it;
    * "session" when the sign-out is near (or no longer near): how many seconds are
      left and why ("idle" or "expiry"), so the page can warn first;
    * "signed-out" with the reason, when the session has ended.
    """
    current = await page(request, touch=False)
    assert current.signed_in is not None
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
    svc = services(request)
    last = last_alerts = last_session = ""
    last_counts = (-1, -1)
    ending = sessions.ending(current.signed_in.session)
    cookie = request.cookies.get(COOKIE)
    with contextlib.suppress(ConnectionResetError, asyncio.CancelledError):
        while True:
            signed_in = await sessions.resolve(cookie, touch=False)
            if signed_in is None:
                why = ending.reason if svc.clock.now() >= ending.at else "other"
                await response.write(f"event: signed-out\ndata: {why}\n\n".encode())
                break
            ending = sessions.ending(signed_in.session)
            notice = session_notice(sessions, signed_in, svc.clock.now())
            if notice != last_session:
                last_session = notice
                await response.write(f"event: session\ndata: {notice}\n\n".encode())
            alerts = alarm_state(await svc.alert_desk.list(current.staff))
            if alerts != last_alerts:
                last_alerts = alerts
                await response.write(f"event: alerts\ndata: {alerts}\n\n".encode())
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


def session_notice(sessions: ConsoleSessions, signed_in: SignedIn, now: datetime) -> str:
    """The "session" event: nothing to say until the sign-out is near, then the seconds
    left (in steps of 10, so the feed does not repeat itself every tick) and why."""
    ending = sessions.ending(signed_in.session)
    left = max(0, int((ending.at - now).total_seconds()))
    mode = signed_in.session.mode
    if left > sessions.warn_before(mode).total_seconds():
        return json.dumps({"warn": False, "mode": mode})
    return json.dumps(
        {"warn": True, "mode": mode, "reason": ending.reason, "left_s": left // 10 * 10}
    )
