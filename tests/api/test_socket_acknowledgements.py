"""Acknowledgements over the WebSocket: the connection keeps reading while earlier
acknowledgements wait for the database (so the acknowledgements of a burst share
group commits rather than taking one durable transaction each, in turn), and every
acknowledgement read is committed."""

from __future__ import annotations

import asyncio
import json

import aiohttp

from tests.api.helpers import bearer, case_team, ciphertexts, pending_frames, put_message
from tests.delivery.helpers import poll
from tests.support.world import World


async def _pushed_copy_ids(ws: aiohttp.ClientWebSocketResponse, count: int) -> list[int]:
    copy_ids: list[int] = []
    async with asyncio.timeout(30):
        while len(copy_ids) < count:
            frame = await ws.receive_json()
            if frame.get("type") == "message":
                copy_ids.append(int(frame["copy_id"]))
    return copy_ids


async def test_a_connection_keeps_reading_while_an_acknowledgement_waits_for_the_database(
    world: World, http: aiohttp.ClientSession
) -> None:
    team = await case_team(world)
    witness = team.witness.device_id
    for number in range(3):
        response = await put_message(
            http, team.officer, team.case_id, f"ack-wait-{number}", ciphertexts(witness)
        )
        assert response.status == 201, await response.text()
    async with http.ws_connect("/v1/ws", headers=bearer(team.witness.transport.token)) as ws:
        first, second, third = await _pushed_copy_ids(ws, 3)
        async with world.services.store.write() as uow:
            # An open transaction holding the first copy's row (on SQLite, the writer):
            # its acknowledgement cannot commit until this block ends.
            await uow.messages.delete_copies([(witness, first)])
            await ws.send_str(json.dumps({"type": "ack", "copy_ids": [first]}))
            await ws.send_str("not a frame")
            async with asyncio.timeout(5):
                reply = await ws.receive_json()
            assert reply == {"type": "error", "code": "invalid-frame"}
        for copy_id in (second, third):
            await ws.send_str(json.dumps({"type": "ack", "copy_ids": [copy_id]}))

        async def nothing_pending() -> bool:
            return not await pending_frames(http, team.witness)

        await poll(nothing_pending, "every acknowledged copy to be deleted", timeout_s=10)
