"""A server that answers with garbage meant to crash the client: JSON nested deeply
enough to exhaust the stack, or not JSON at all. The client reports that the answer
could not be read, and carries on with what it knows."""

from __future__ import annotations

import pytest

from client_sdk import TransportError
from tests.adversary.proxy import RewritingProxy
from tests.support.world import World, open_conversation


def nested(depth: int) -> bytes:
    """JSON arrays nested ``depth`` deep (written out: no encoder would)."""
    return b"[" * depth + b'"deep"' + b"]" * depth


async def test_a_deeply_nested_answer_does_not_crash_the_client(world: World) -> None:
    talk = await open_conversation(world)
    proxy = RewritingProxy(world.url)
    proxy.rewrite = lambda method, path, body: nested(5000) if path.endswith("/keys") else body
    async with proxy.running() as url:
        phone = talk.witness
        phone.transport.base_url = url
        with pytest.raises(TransportError, match="could not be read"):
            await phone.refresh_devices(talk.case_id)
        # Sending carries on with the devices already verified.
        phone.trust.mark_stale(talk.case_id)
        sent = await phone.send("still here")
    assert sent.status == "sent"
    assert sorted(sent.recipients) == sorted([talk.officer.device_id, talk.worker.device_id])
