"""Delivery: pushes over the WebSocket, the outbox across restarts, attachments,
one-time key refills, local retention — and no plaintext anywhere on the server."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from client_sdk import IncomingMessage, NewDevice, WitnessClient
from client_sdk.errors import ApiError
from tests.support.kdf import WITNESS_PIN
from tests.support.world import World, open_conversation


def _incoming(client: object) -> list[IncomingMessage]:
    events = client.pending_events()  # type: ignore[attr-defined]
    return [e for e in events if isinstance(e, IncomingMessage)]


async def _next_message(client: object) -> IncomingMessage:
    async with asyncio.timeout(10):
        while True:
            event = await client.receive()  # type: ignore[attr-defined]
            if not isinstance(event, NewDevice):
                assert isinstance(event, IncomingMessage), event
                return event


async def test_messages_are_pushed_over_the_websocket_and_acknowledged(world: World) -> None:
    talk = await open_conversation(world)
    talk.officer.start()
    talk.witness.start()
    async with asyncio.timeout(10):
        await talk.officer.connected.wait()
        await talk.witness.connected.wait()

    await talk.witness.send("pushed to you")
    message = await _next_message(talk.officer)
    assert message.text == "pushed to you"
    await talk.officer.send("and back to you", case_id=talk.case_id)
    assert (await _next_message(talk.witness)).text == "and back to you"

    # The officer acknowledged its copy, so the server no longer holds it; the worker,
    # who is offline, still has one waiting. (Closing waits for the server's answer to
    # the close frame, which it reads only after the acknowledgement before it.)
    await talk.officer.close()
    async with world.services.store.read() as uow:
        assert await uow.messages.count_pending(talk.officer.device_id) == 0
        assert await uow.messages.count_pending(talk.worker.device_id) == 2


async def test_messages_waiting_while_offline_arrive_on_connect(world: World) -> None:
    talk = await open_conversation(world)
    for text in ("one", "two", "three"):
        await talk.witness.send(text)
    talk.worker.start()
    texts = [(await _next_message(talk.worker)).text for _ in range(3)]
    assert sorted(texts) == ["one", "three", "two"]


async def test_the_outbox_survives_an_outage_and_a_restart_and_delivers_once(
    world: World, tmp_path: Path
) -> None:
    talk = await open_conversation(world)
    await world.stop_server()
    queued = await talk.witness.send("sent while the server was down")
    assert queued.status == "queued"
    assert await talk.witness.pending_outbox() == 1
    store = talk.witness._store.vault.path
    await talk.witness.close()

    await world.start_server_again()
    phone = await WitnessClient.open(store, WITNESS_PIN, clock=world.clock)
    world.clients.append(phone)
    (entry,) = await phone._store.outbox()
    assert entry.ciphertexts == [], "written offline: not encrypted yet"
    await phone.outbox.encrypt(entry)
    assert entry.ciphertexts
    assert await phone.flush_outbox(force=True) == 1
    assert await phone.pending_outbox() == 0
    assert [m.status for m in await phone.messages()] == ["sent"]

    # A retry of the very same request (say the answer was lost) stores nothing twice.
    await phone._store.write([phone._store.outbox_put(entry)])
    assert await phone.flush_outbox(force=True) == 1
    assert await talk.officer.sync() == 1
    assert [m.text for m in _incoming(talk.officer)] == ["sent while the server was down"]


async def test_attachments_travel_encrypted_and_are_deleted_once_everyone_has_them(
    world: World,
) -> None:
    talk = await open_conversation(world)
    photo = bytes(range(256)) * 40
    sent = await talk.witness.send_file(
        photo, filename="door.jpg", mime_type="image/jpeg", text="the door"
    )
    assert sent.status == "sent"
    downloads = []
    for staff in (talk.officer, talk.worker):
        await staff.sync()
        (message,) = _incoming(staff)
        assert message.attachment is not None
        assert message.attachment.filename == "door.jpg"
        downloads.append(await staff.download_attachment(message.attachment))
    assert downloads == [photo, photo]
    attachment_id = message.attachment.attachment_id
    with pytest.raises(ApiError) as gone:
        await talk.officer.transport.request("GET", f"/v1/attachments/{attachment_id}")
    assert gone.value.status == 404


async def test_one_time_keys_are_refilled_when_they_run_low(world: World) -> None:
    talk = await open_conversation(world)
    reply = await talk.officer.transport.request("GET", "/v1/keys/count")
    assert reply["one_time_keys"] == 50
    async with world.services.store.write() as uow:  # many colleagues opened sessions
        for _ in range(45):
            assert await uow.keys.claim_one_time_key(talk.officer.device_id) is not None
    assert await talk.officer.ensure_one_time_keys() == 50
    assert await talk.witness.ensure_one_time_keys() == 50  # nobody has written to it yet


async def test_local_retention_deletes_old_messages_from_the_phone(world: World) -> None:
    talk = await open_conversation(world)
    await talk.witness.send("old news")
    world.clock.advance(timedelta(days=8))
    await talk.witness.send("fresh")
    assert await talk.witness.keep_messages_for(7) == 1
    assert [m.text for m in await talk.witness.messages()] == ["fresh"]


async def _server_bytes(world: World, backend: str) -> bytes:
    """Everything the server has stored: the SQLite files, or every table's rows."""
    if backend == "sqlite":
        folder = Path(world.settings.database_url.removeprefix("sqlite:///")).parent
        return b"".join(p.read_bytes() for p in folder.iterdir() if p.is_file())
    chunks: list[bytes] = []
    async with world.services.db.transaction() as conn:
        tables = await conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = $1",
            world.settings.postgres_schema,
        )
        for (table,) in [tuple(t) for t in tables]:
            for row in await conn.fetch(f'SELECT * FROM "{table}"'):
                chunks.extend(
                    bytes(value) if isinstance(value, bytes | memoryview) else str(value).encode()
                    for value in tuple(row)
                )
    return b"\n".join(chunks)


async def test_no_plaintext_reaches_the_server_or_an_unlocked_phone_file(
    world: World, backend: str
) -> None:
    talk = await open_conversation(world)
    secrets_said = [
        "SAFEHOUSE-ON-STRADA-LALELELOR-12",
        "the-man-called-VIKTOR-threatened-me",
        "hearing-at-LANDGERICHT-KOELN-room-7",
    ]
    await talk.witness.send(secrets_said[0])
    await talk.officer.send(secrets_said[1], case_id=talk.case_id)
    await talk.witness.send_file(
        secrets_said[2].encode() * 10, filename="summons.txt", mime_type="text/plain"
    )
    for client in (talk.officer, talk.worker, talk.witness):
        await client.sync()

    stored = await _server_bytes(world, backend)
    assert stored, "the scan must have read something"
    for secret in [*secrets_said, "summons.txt"]:
        assert secret.encode() not in stored
        assert secret.encode("utf-16-le") not in stored

    phone_file = talk.witness._store.vault.path
    phone_bytes = b"".join(
        p.read_bytes() for p in phone_file.parent.glob(phone_file.name + "*") if p.is_file()
    )
    assert phone_bytes
    for secret in [*secrets_said, "Sparrow", "summons.txt"]:
        assert secret.encode() not in phone_bytes
    # ... and the phone itself, unlocked, still has them.
    kept = {m.text for m in await talk.witness.messages()}
    assert set(secrets_said[:2]) <= kept
