"""Twilio voice webhooks: alert calls to staff (the TwiML, the key press, the final
status) and check-in calls from witnesses (the call coming in, the PIN, the menu); and
the staff route that sets a witness's check-in-by-phone settings.

Like the SMS webhooks, only requests with a valid ``X-Twilio-Signature`` over the public
URL are acted on (403 otherwise, nothing changed). The handlers read the form and hand
it to :class:`~server.notify.alert_calls.AlertCalls` or the dispatcher.
"""

from __future__ import annotations

from aiohttp import web

from server.api.context import (
    calling_staff,
    json_response,
    path_id,
    read_json,
    services,
)
from server.api.models import WitnessVoiceIn
from server.api.responses import Ok
from server.api.routes.twilio import verified_form
from server.notify.voice import (
    ALERT_CALL_PREFIX,
    CHECKIN_CALL_PREFIX,
    CHECKIN_MENU_PATH,
    CHECKIN_PIN_PATH,
    INCOMING_CALL_PATH,
    VOICE_STATUS_PATH,
    is_machine,
)

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


@routes.post(INCOMING_CALL_PATH)
async def incoming_call(request: web.Request) -> web.Response:
    form = await verified_form(request)
    from_number = form.get("From", "").strip()
    twiml = await services(request).witness_calls.incoming(_call_sid(form), from_number)
    return _twiml(twiml)


@routes.post(CHECKIN_PIN_PATH)
async def checkin_pin(request: web.Request) -> web.Response:
    form = await verified_form(request)
    twiml = await services(request).witness_calls.pin_entered(
        _call_sid(form), form.get("Digits", "")
    )
    return _twiml(twiml)


@routes.post(CHECKIN_MENU_PATH)
async def checkin_menu(request: web.Request) -> web.Response:
    form = await verified_form(request)
    twiml = await services(request).witness_calls.menu_choice(
        _call_sid(form), form.get("Digits", "")
    )
    return _twiml(twiml)


@routes.put("/v1/witnesses/{witness_id}/voice")
async def witness_voice(request: web.Request) -> web.Response:
    staff = await calling_staff(request)
    body = await read_json(request, WitnessVoiceIn)
    await services(request).welfare.set_witness_voice(
        staff,
        path_id(request, "witness_id"),
        pin=body.pin,
        duress_pin=body.duress_pin,
        checkin_call=body.checkin_call,
    )
    return json_response(Ok(ok=True))


@routes.post(CHECKIN_CALL_PREFIX + "/{notification_id}")
async def checkin_call(request: web.Request) -> web.Response:
    form = await verified_form(request)
    twiml = await services(request).witness_calls.outbound(
        request.match_info["notification_id"], _call_sid(form), form.get("AnsweredBy")
    )
    return _twiml(twiml)
