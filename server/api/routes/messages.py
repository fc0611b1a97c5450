"""Sending, fetching and acknowledging messages; attachments."""

from __future__ import annotations

from aiohttp import web

from server.api.context import json_response, path_id, principal, read_json, services
from server.api.models import AckIn, EventAckIn, ResendIn, SendIn
from server.api.presenters import message_view, receipt_view, resend_view
from server.api.responses import (
    AcknowledgedOut,
    AttachmentOut,
    DeletedOut,
    EventsOut,
    MessagesOut,
)
from server.clock import iso
from server.domain.messages import OutgoingMessage
from server.domain.resends import ResentCopy
from server.errors import InvalidInput, TooLarge
from server.storage.protocols import NewCopy

routes = web.RouteTableDef()


@routes.put("/v1/cases/{case_id}/messages/{message_id}")
async def send_message(request: web.Request) -> web.Response:
    caller = await principal(request)
    body = await read_json(request, SendIn)
    receipt = await services(request).messages.send(
        OutgoingMessage(
            sender=caller,
            case_id=path_id(request, "case_id"),
            message_id=request.match_info["message_id"],  # client-chosen: validated as input
            ciphertexts=[NewCopy(c.device_id, c.type, c.body) for c in body.ciphertexts],
        )
    )
    return json_response(receipt_view(receipt), status=200 if receipt.duplicate else 201)


@routes.put("/v1/cases/{case_id}/messages/{message_id}/copies/{device_id}")
async def resend_copy(request: web.Request) -> web.Response:
    caller = await principal(request)
    body = await read_json(request, ResendIn)
    receipt = await services(request).resends.add_copy(
        ResentCopy(
            sender=caller,
            case_id=path_id(request, "case_id"),
            message_id=request.match_info["message_id"],  # client-chosen: validated as input
            recipient_device_id=path_id(request, "device_id"),
            olm_type=body.type,
            body=body.body,
        )
    )
    return json_response(resend_view(receipt), status=200 if receipt.duplicate else 201)


@routes.get("/v1/messages")
async def pending_messages(request: web.Request) -> web.Response:
    caller = await principal(request)
    try:
        after = int(request.query.get("after", "0"))
        limit = int(request.query.get("limit", "200"))
    except ValueError as exc:
        raise InvalidInput("after and limit must be integers") from exc
    if not 0 <= after < 2**63:
        raise InvalidInput("after must be 0 or a copy id")
    limit = max(1, min(limit, 500))
    copies = await services(request).messages.pending(caller, after_id=after, limit=limit)
    return json_response(MessagesOut(messages=[message_view(c) for c in copies]))


@routes.post("/v1/messages/ack")
async def acknowledge(request: web.Request) -> web.Response:
    caller = await principal(request)
    body = await read_json(request, AckIn)
    count = await services(request).messages.acknowledge(caller, body.copy_ids)
    return json_response(AcknowledgedOut(acknowledged=count))


@routes.get("/v1/events")
async def pending_events(request: web.Request) -> web.Response:
    caller = await principal(request)
    events = await services(request).device_events.pending(caller.device.id)
    return json_response(EventsOut(events=events))


@routes.post("/v1/events/ack")
async def acknowledge_events(request: web.Request) -> web.Response:
    caller = await principal(request)
    body = await read_json(request, EventAckIn)
    count = await services(request).device_events.acknowledge(caller, body.event_ids)
    return json_response(AcknowledgedOut(acknowledged=count))


@routes.post("/v1/cases/{case_id}/attachments")
async def upload_attachment(request: web.Request) -> web.Response:
    caller = await principal(request)
    attachments = services(request).attachments
    if request.content_length is not None and request.content_length > attachments.max_bytes:
        raise TooLarge(f"attachments are limited to {attachments.max_bytes} bytes")
    recipients = [r for r in request.query.get("recipients", "").split(",") if r]
    content = await request.read()
    attachment = await attachments.upload(caller, path_id(request, "case_id"), recipients, content)
    return json_response(
        AttachmentOut(
            attachment_id=attachment.id, size=attachment.size, created_at=iso(attachment.created_at)
        ),
        status=201,
    )


@routes.get("/v1/attachments/{attachment_id}")
async def fetch_attachment(request: web.Request) -> web.Response:
    caller = await principal(request)
    content = await services(request).attachments.fetch(caller, path_id(request, "attachment_id"))
    return web.Response(body=content, content_type="application/octet-stream")


@routes.post("/v1/attachments/{attachment_id}/ack")
async def confirm_attachment(request: web.Request) -> web.Response:
    caller = await principal(request)
    deleted = await services(request).attachments.confirm_fetched(
        caller, path_id(request, "attachment_id")
    )
    return json_response(DeletedOut(deleted=deleted))
