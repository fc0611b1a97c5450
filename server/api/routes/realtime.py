"""The device WebSocket: pushes messages and events, receives acknowledgements.

Frames are JSON. Server to device: ``{"type": "message", ...}`` (see
:func:`server.realtime.hub.message_frame`) and small content-free events. Device to
server: ``{"type": "ack", "copy_ids": [...]}``. Authentication uses the same bearer
token as the REST API, in the upgrade request's Authorization header.

Phones acknowledge each copy in its own frame. The connection keeps reading while
earlier acknowledgements commit (up to :data:`ACKS_IN_FLIGHT` at a time), so that the
acknowledgements of a burst share group commits instead of taking one durable
transaction each, in turn. A copy counts as acknowledged on the connection only once
its deletion has committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Annotated, Any

import msgspec
from aiohttp import WSMsgType, web

from server.api.context import principal, services
from server.api.models import CopyId
from server.domain.models import MessageCopy
from server.errors import DomainError
from server.realtime.hub import BACKLOG_PAGE, DeviceConnection

routes = web.RouteTableDef()
log = logging.getLogger(__name__)


class AckFrame(msgspec.Struct, forbid_unknown_fields=True, tag_field="type", tag="ack"):
    copy_ids: Annotated[list[CopyId], msgspec.Meta(max_length=500)] = []
    event_ids: Annotated[list[CopyId], msgspec.Meta(max_length=500)] = []


_decoder = msgspec.json.Decoder(AckFrame)

#: Acknowledgement frames of one connection being committed at once; the connection
#: stops reading (back-pressure) while this many are outstanding.
ACKS_IN_FLIGHT = 64


@routes.get("/v1/ws")
async def device_socket(request: web.Request) -> web.StreamResponse:
    caller = await principal(request)
    svc = services(request)
    hub = svc.hub
    if hub is None:
        raise web.HTTPServiceUnavailable(reason="Real-time delivery is not running")
    ws = web.WebSocketResponse(heartbeat=30, max_msg_size=64 * 1024)
    await ws.prepare(request)

    async def send_text(frame: bytes) -> None:
        # JSON goes in text frames; msgspec produced UTF-8 already.
        await ws.send_str(frame.decode("utf-8"))

    connection = DeviceConnection(caller.device.id, send_text)
    hub.register(connection)

    async def load_pending(_device_id: str, after_id: int) -> list[MessageCopy]:
        return await svc.messages.pending(caller, after_id=after_id, limit=BACKLOG_PAGE)

    async def load_events(device_id: str) -> list[dict[str, Any]]:
        return await svc.device_events.pending(device_id)

    writer = asyncio.create_task(connection.run_writer(load_pending, load_events))
    closing: set[asyncio.Future[bool]] = set()

    def writer_done(task: asyncio.Task[None]) -> None:
        # The writer ends when the device is revoked (or the phone went away mid-send):
        # the socket must close with it, not linger on heartbeats.
        connection.close()
        if not task.cancelled():
            task.exception()
        if not ws.closed:
            closing.add(asyncio.ensure_future(ws.close(code=4001, message=b"closed")))

    writer.add_done_callback(writer_done)
    acks_in_flight = asyncio.Semaphore(ACKS_IN_FLIGHT)
    committing: set[asyncio.Task[None]] = set()

    async def commit(ack: AckFrame) -> None:
        try:
            if ack.copy_ids:
                await svc.messages.acknowledge(caller, ack.copy_ids)
            if ack.event_ids:
                await svc.device_events.acknowledge(caller, ack.event_ids)
            connection.acknowledged(ack.copy_ids, ack.event_ids)
        except DomainError as error:
            with contextlib.suppress(ConnectionResetError, RuntimeError):
                await ws.send_json({"type": "error", "code": error.code})
        except Exception:
            # As when the acknowledgement was awaited in the reading loop: the
            # connection ends, and the phone reconnects and is sent what is pending.
            log.warning("an acknowledgement failed; closing the connection")
            connection.close()
        finally:
            acks_in_flight.release()

    try:
        async for frame in ws:
            if connection.closed:
                break
            if frame.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                break
            try:
                ack = _decoder.decode(frame.data)
            except (msgspec.ValidationError, msgspec.DecodeError):
                await ws.send_json({"type": "error", "code": "invalid-frame"})
                continue
            await acks_in_flight.acquire()
            task = asyncio.create_task(commit(ack))
            committing.add(task)
            task.add_done_callback(committing.discard)
        # Acknowledgements already read are committed before the connection ends.
        await asyncio.gather(*committing)
    finally:
        for task in committing:
            task.cancel()
        connection.close()
        hub.unregister(connection)
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionResetError, RuntimeError):
            await writer
        await ws.close()
    return ws
