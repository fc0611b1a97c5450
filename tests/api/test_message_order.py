"""Copies reach a device in the order the server stored them: over the WebSocket (a
backlog longer than one page, live copies arriving while it is read, two senders
racing, a connection whose queue overflows) and when fetched after a reconnect.

Olm keeps a bounded number of skipped message keys, so a copy delivered far ahead of
older ones from the same sender can make those undecryptable; order is what keeps
them readable."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

from server.domain.access import Principal
from server.domain.messages import OutgoingMessage
from server.realtime import hub as hub_module
from server.realtime.hub import DeviceConnection
from server.storage.protocols import NewCopy
from tests.api.helpers import CaseTeam, bearer, case_team, ciphertexts
from tests.support.world import World


async def _send_many(
    http: aiohttp.ClientSession,
    sender: Any,
    case_id: str,
    recipient: str,
    prefix: str,
    count: int,
    *,
    in_flight: int = 16,
) -> None:
    """``count`` sends to one device, ``in_flight`` at a time (order between them is
    whatever the server makes of the race)."""
    numbers = iter(range(count))

    async def worker() -> None:
        for n in numbers:
            async with http.put(
                f"/v1/cases/{case_id}/messages/{prefix}-{n:05d}",
                json=ciphertexts(recipient),
                headers=bearer(sender.transport.token),
            ) as response:
                assert response.status == 201, await response.text()

    await asyncio.gather(*(worker() for _ in range(in_flight)))


async def _read_frames(ws: aiohttp.ClientWebSocketResponse, count: int) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = []
    async with asyncio.timeout(30):
        while len(frames) < count:
            message = await ws.receive()
            assert message.type is aiohttp.WSMsgType.TEXT, message
            frame = json.loads(message.data)
            if frame.get("type") == "message":
                frames.append(frame)
    return frames


async def _stored_order(http: aiohttp.ClientSession, device: Any) -> list[int]:
    ids: list[int] = []
    after = 0
    while True:
        async with http.get(
            "/v1/messages",
            params={"after": str(after), "limit": "500"},
            headers=bearer(device.transport.token),
        ) as response:
            page = (await response.json())["messages"]
        if not page:
            return ids
        ids += [int(c["copy_id"]) for c in page]
        after = ids[-1]


async def test_a_backlog_longer_than_a_page_is_pushed_whole_and_before_live_copies(
    world: World, http: aiohttp.ClientSession
) -> None:
    team = await case_team(world)
    witness = team.witness.device_id
    await _send_many(http, team.officer, team.case_id, witness, "backlog", 1200)
    stored = await _stored_order(http, team.witness)
    assert len(stored) == 1200

    async with http.ws_connect("/v1/ws", headers=bearer(team.witness.transport.token)) as ws:
        # Live copies are sent while the backlog is being read and pushed.
        live = asyncio.create_task(
            _send_many(http, team.worker, team.case_id, witness, "live", 300, in_flight=4)
        )
        frames = await _read_frames(ws, 1500)
        await live
    pushed = [int(f["copy_id"]) for f in frames]
    assert pushed == sorted(pushed), "a copy was pushed ahead of an older one"
    assert len(set(pushed)) == 1500
    assert pushed[:1200] == stored
    assert all(f["message_id"].startswith("live-") for f in frames[1200:])


async def test_two_senders_racing_reach_the_device_in_insertion_order_live_and_after_reconnect(
    world: World, http: aiohttp.ClientSession
) -> None:
    team = await case_team(world)
    witness = team.witness.device_id
    async with http.ws_connect("/v1/ws", headers=bearer(team.witness.transport.token)) as ws:
        await asyncio.gather(
            _send_many(http, team.officer, team.case_id, witness, "officer", 400),
            _send_many(http, team.worker, team.case_id, witness, "worker", 400),
        )
        frames = await _read_frames(ws, 800)
    pushed = [int(f["copy_id"]) for f in frames]
    assert pushed == sorted(pushed)
    assert len(set(pushed)) == 800
    # Nothing was acknowledged: after the reconnect the same copies come in the same order,
    # over the WebSocket and through the REST backlog.
    assert await _stored_order(http, team.witness) == pushed
    async with http.ws_connect("/v1/ws", headers=bearer(team.witness.transport.token)) as ws:
        again = [int(f["copy_id"]) for f in await _read_frames(ws, 800)]
    assert again == pushed


async def _store_copies(world: World, team: CaseTeam, prefix: str, count: int) -> None:
    principal = await _principal(world, team.officer.device_id)
    relay = world.services.messages
    await asyncio.gather(
        *(
            relay.send(
                OutgoingMessage(
                    principal,
                    team.case_id,
                    f"{prefix}-{n:05d}",
                    [NewCopy(team.witness.device_id, 1, "b3JkZXI")],
                )
            )
            for n in range(count)
        )
    )


async def _principal(world: World, device_id: str) -> Principal:
    async with world.services.store.read() as uow:
        device = await uow.devices.get(device_id)
        assert device is not None
        staff = await uow.staff.get(device.owner_id)
    return Principal(device=device, staff=staff)


async def test_a_connection_whose_queue_overflows_catches_up_in_order(
    world: World, monkeypatch: Any
) -> None:
    """A slow phone: its queue fills, later copies spill over to a re-read from the
    database, and that re-read waits until the queued frames are out instead of
    overtaking them."""
    monkeypatch.setattr(hub_module, "QUEUE_LIMIT", 8)
    monkeypatch.setattr(hub_module, "BACKLOG_PAGE", 3)
    team = await case_team(world)
    witness = await _principal(world, team.witness.device_id)
    sent: list[int] = []
    writing = asyncio.Event()
    released = asyncio.Event()
    all_sent = asyncio.Event()
    expected_count = 1 + 40 + 5

    async def send(frame: bytes) -> None:
        writing.set()
        await released.wait()  # the phone reads nothing until released
        data = json.loads(frame)
        if data.get("type") == "message":
            sent.append(int(data["copy_id"]))
            if len(sent) == expected_count:
                all_sent.set()

    async def load_pending(_device_id: str, after_id: int) -> list[Any]:
        return await world.services.messages.pending(witness, after_id=after_id, limit=3)

    hub = world.services.hub
    assert hub is not None
    await _store_copies(world, team, "first", 1)
    connection = DeviceConnection(team.witness.device_id, send)
    hub.register(connection)
    writer = asyncio.create_task(connection.run_writer(load_pending))
    try:
        async with asyncio.timeout(10):
            await writing.wait()  # stuck writing the backlog's only copy
        await _store_copies(world, team, "flood", 40)  # 8 queued, the rest overflow
        await _store_copies(world, team, "after", 5)  # left to the re-read
        assert connection.queued() == 8
        released.set()
        async with asyncio.timeout(10):
            await all_sent.wait()
    finally:
        connection.close()
        hub.unregister(connection)
        writer.cancel()
    expected = await world.services.messages.pending(witness, limit=500)
    assert len(expected) == expected_count
    assert sent == [c.id for c in expected]
