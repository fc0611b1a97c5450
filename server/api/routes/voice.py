"""Twilio voice webhooks for alert calls: the TwiML, the key press, the final status.

Like the SMS webhooks, only requests with a valid ``X-Twilio-Signature`` over the public
URL are acted on (403 otherwise, nothing changed). The handlers read the form and hand
it to :class:`~server.notify.alert_calls.AlertCalls` or the dispatcher.
"""

from __future__ import annotations

from aiohttp import web

from server.api.context import services
from server.api.routes.twilio import verified_form
from server.notify.voice import ALERT_CALL_PREFIX, VOICE_STATUS_PATH, is_machine

routes = web.RouteTableDef()

#: Twilio's final call statuses, as the notification outcome they mean.
_FINAL_CALL_STATUS = {
    "completed": "delivered",
    "busy": "failed",
    "no-answer": "failed",
    "failed": "failed",
    "canceled": "failed",
}


def _twiml(text: str) -> web.Response:
    return web.Response(text=text, content_type="application/xml")


def _call_sid(form: dict[str, str]) -> str:
    call_sid = form.get("CallSid", "").strip()
    if not call_sid:
        raise web.HTTPBadRequest(reason="Not a voice webhook")
    return call_sid


@routes.post(ALERT_CALL_PREFIX + "/{notification_id}")
async def alert_call(request: web.Request) -> web.Response:
    form = await verified_form(request)
    twiml = await services(request).alert_calls.answer(
        request.match_info["notification_id"], _call_sid(form), form.get("AnsweredBy")
    )
    return _twiml(twiml)


@routes.post(ALERT_CALL_PREFIX + "/{notification_id}/key")
async def alert_call_key(request: web.Request) -> web.Response:
    form = await verified_form(request)
    twiml = await services(request).alert_calls.key_pressed(
        request.match_info["notification_id"],
        _call_sid(form),
        form.get("Digits", ""),
        form.get("AnsweredBy"),
    )
    return _twiml(twiml)


@routes.post(VOICE_STATUS_PATH)
async def call_status(request: web.Request) -> web.Response:
    form = await verified_form(request)
    call_sid = _call_sid(form)
    status = _FINAL_CALL_STATUS.get(form.get("CallStatus", "").lower())
    if status is not None:
        machine = is_machine(form.get("AnsweredBy"))
        await services(request).dispatcher.status_callback(
            call_sid,
            "failed" if machine else status,
            "machine" if machine else (form.get("CallStatus") if status == "failed" else None),
            channel="voice",
        )
    return web.Response(status=204)
