"""A device replaces its fallback key once a session was opened with it and at least
weekly; the server hands out only the newest; the previous one still opens a late
message."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from client_sdk import DecryptionFailure, IncomingMessage, StaffClient, TransportError
from client_sdk.crypto import SignedKeyMaterial
from client_sdk.fallback import FALLBACK_MAX_AGE, pre_key_one_time_key
from server.domain.models import SignedKey
from tests.support.world import World, open_conversation


async def server_fallback(world: World, device_id: str) -> SignedKey | None:
    async with world.services.store.read() as uow:
        return await uow.keys.get_fallback_key(device_id)


async def fallback_rows(world: World, device_id: str) -> int:
    async with world.services.db.transaction() as conn:
        count = await conn.fetchval(
            "SELECT COUNT(*) FROM fallback_keys WHERE device_id = $1", device_id
        )
    return int(count)


async def use_up_one_time_keys(world: World, device_id: str) -> None:
    """As if many colleagues had opened sessions: only the fallback key is left."""
    async with world.services.store.write() as uow:
        while await uow.keys.claim_one_time_key(device_id) is not None:
            pass


async def claim(client: StaffClient | Any, case_id: str, device_id: str) -> dict[str, Any]:
    reply = await client.transport.request(
        "POST", "/v1/keys/claim", json={"case_id": case_id, "device_ids": [device_id]}
    )
    (item,) = reply["keys"]
    return dict(item)


def texts(client: StaffClient | Any) -> list[str]:
    found = client.pending_events()
    assert not [e for e in found if isinstance(e, DecryptionFailure)], found
    return [e.text for e in found if isinstance(e, IncomingMessage)]


async def test_a_used_fallback_key_is_replaced_and_the_previous_one_still_opens(
    world: World,
) -> None:
    talk = await open_conversation(world)
    officer = talk.officer
    assert await officer.maintain_keys() is False, "fresh and unused: nothing to do"
    await use_up_one_time_keys(world, officer.device_id)
    original = await server_fallback(world, officer.device_id)
    assert original is not None
    # The worker's client opens a session on the fallback key too, but writes later.
    late = await claim(talk.worker, talk.case_id, officer.device_id)
    assert late["fallback"] is True
    assert late["key"]["key_id"] == original.key_id
    async with talk.worker._ctx.lock:
        talk.worker._olm.start_session(
            late["curve25519"], late["ed25519"], SignedKeyMaterial(**late["key"]), fallback=True
        )
        await talk.worker._ctx.persist_crypto()

    await talk.witness.send("first words")  # opens a session on the fallback key
    await officer.sync()
    assert texts(officer) == ["first words"]
    assert await officer.maintain_keys() is True
    replaced = await server_fallback(world, officer.device_id)
    assert replaced is not None
    assert replaced.public_key != original.public_key
    assert await fallback_rows(world, officer.device_id) == 1, "only the newest is kept"
    assert await officer.maintain_keys() is False

    # A message built on the previous key, arriving late, still opens.
    sent = await talk.worker.send("late but fine", case_id=talk.case_id)
    assert officer.device_id in sent.recipients
    (copy,) = (await officer.transport.request("GET", "/v1/messages"))["messages"]
    assert copy["olm_type"] == 0
    assert pre_key_one_time_key(copy["body"]) == original.public_key.rstrip("=")
    await officer.sync()
    assert texts(officer) == ["late but fine"]
    assert await officer.maintain_keys() is False, "the previous key's use changes nothing"


async def test_the_fallback_key_is_replaced_at_least_weekly(world: World) -> None:
    talk = await open_conversation(world)
    phone = talk.witness
    first = await server_fallback(world, phone.device_id)
    assert await phone.maintain_keys() is False
    world.clock.advance(FALLBACK_MAX_AGE - timedelta(minutes=1))
    assert await phone.maintain_keys() is False
    world.clock.advance(timedelta(minutes=1))
    assert await phone.maintain_keys() is True
    second = await server_fallback(world, phone.device_id)
    assert second is not None
    assert first is not None
    assert second.public_key != first.public_key
    assert await phone.maintain_keys() is False
    world.clock.advance(FALLBACK_MAX_AGE)
    assert await phone.maintain_keys() is True


async def test_a_use_noticed_before_a_restart_is_acted_on_after_it(world: World) -> None:
    talk = await open_conversation(world)
    await use_up_one_time_keys(world, talk.officer.device_id)
    original = await server_fallback(world, talk.officer.device_id)
    await talk.witness.send("hello")
    await talk.officer.sync()
    store = talk.officer._store.vault.path
    await talk.officer.close()
    officer = await StaffClient.open(store, "staff passphrase", clock=world.clock)
    world.clients.append(officer)
    assert await officer.maintain_keys() is True
    assert await server_fallback(world, officer.device_id) != original


async def test_a_replacement_that_could_not_be_uploaded_is_uploaded_later(world: World) -> None:
    talk = await open_conversation(world)
    phone = talk.witness
    original = await server_fallback(world, phone.device_id)
    await phone.maintain_keys()  # starts the week
    world.clock.advance(FALLBACK_MAX_AGE)
    await world.stop_server()
    with pytest.raises(TransportError):
        await phone.fallback.rotate_if_due()  # made and kept, but not uploaded
    await world.start_server_again()
    assert await server_fallback(world, phone.device_id) == original
    assert await phone.maintain_keys() is True
    assert await server_fallback(world, phone.device_id) != original
    assert await phone.maintain_keys() is False
