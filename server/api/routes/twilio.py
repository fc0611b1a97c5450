"""Twilio webhooks: inbound SMS (witness check-ins, staff replies acknowledging an
alert) and delivery status callbacks.

Only requests carrying a valid ``X-Twilio-Signature`` (computed over the public URL
Twilio called) are acted on; anything else gets 403 and changes nothing. Each signed
request is acted on once, by its id (see :mod:`server.notify.replays`): a replay, even
hours later, changes nothing and gets empty TwiML. An SMS from a witness's number is
only ever answered with empty TwiML: a witness's phone never receives an automatic text
that someone else could read. Any other sender whose text is an alert reference gets a
short answer (acknowledged, already acknowledged, or a neutral "nothing to acknowledge").
"""

from __future__ import annotations

import logging

from aiohttp import web

from server.api.context import services
from server.notify.reply_texts import reply_twiml
from server.notify.webhooks import MalformedWebhook, parse_inbound_sms, parse_status_callback

routes = web.RouteTableDef()
log = logging.getLogger(__name__)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


async def _verified_form(request: web.Request) -> dict[str, str]:
    verifier = services(request).twilio_webhooks
    form = await request.post()
    fields = {key: str(value) for key, value in form.items()}
    if verifier is None or not verifier.verify(
        request.path_qs, fields, request.headers.get("X-Twilio-Signature")
    ):
        raise web.HTTPForbidden(reason="Invalid or missing Twilio signature")
    return fields


@routes.post("/v1/twilio/sms")
async def inbound_sms(request: web.Request) -> web.Response:
    form = await _verified_form(request)
    try:
        sms = parse_inbound_sms(form)
    except MalformedWebhook as exc:
        raise web.HTTPBadRequest(reason="Not an inbound SMS") from exc
    svc = services(request)
    # First, before any handling of the text: a replayed SMS must not count as contact
    # nor acknowledge anything again.
    reply = None
    async with svc.webhook_replays.once("sms", sms.provider_id) as fresh:
        if fresh and not await svc.checkins.inbound_sms(sms.from_number, sms.body, sms.provider_id):
            reply = await svc.sms_replies.handle(sms.from_number, sms.body, sms.provider_id)
    return web.Response(text=reply_twiml(reply) or EMPTY_TWIML, content_type="application/xml")


@routes.post("/v1/twilio/status")
async def status_callback(request: web.Request) -> web.Response:
    form = await _verified_form(request)
    try:
        update = parse_status_callback(form)
    except MalformedWebhook as exc:
        raise web.HTTPBadRequest(reason="Not a status callback") from exc
    app = services(request)
    # Each status of a message is reported once; a replay is acknowledged and ignored.
    async with app.webhook_replays.once(
        "sms-status", f"{update.provider_id}:{update.status}"
    ) as fresh:
        if fresh:
            await app.dispatcher.status_callback(
                update.provider_id, update.status, update.error_code
            )
    return web.Response(status=204)
