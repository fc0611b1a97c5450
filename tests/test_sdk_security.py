"""What the SDK does with tampered and replayed copies. (Attacks on keys by a malicious
server are in ``tests/adversary``.)"""

from __future__ import annotations

from client_sdk import (
    DecryptionFailure,
    IncomingMessage,
    NewDevice,
    ReplayRejected,
    WitnessClient,
)
from tests.support.delivery import insert_copy
from tests.support.world import World, open_conversation


async def _raw_pending(client: WitnessClient | object) -> list[dict[str, object]]:
    reply = await client.transport.request("GET", "/v1/messages")  # type: ignore[attr-defined]
    frames: list[dict[str, object]] = reply["messages"]
    return frames


def _events(client: object) -> list[object]:
    """Events other than the routine "a device joined" notices."""
    return [e for e in client.pending_events() if not isinstance(e, NewDevice)]  # type: ignore[attr-defined]


def _flip(body: str) -> str:
    middle = len(body) // 2
    replacement = "A" if body[middle] != "A" else "B"
    return body[:middle] + replacement + body[middle + 1 :]


async def test_tampered_ciphertext_is_reported_and_the_session_survives(world: World) -> None:
    talk = await open_conversation(world)
    await talk.witness.send("the first words")
    (frame,) = await _raw_pending(talk.officer)
    tampered = {**frame, "body": _flip(str(frame["body"])), "copy_id": 10_000}

    await talk.officer.process_frame(tampered)
    (failure,) = _events(talk.officer)
    assert isinstance(failure, DecryptionFailure)
    assert failure.sender_device_id == talk.witness.device_id

    # The genuine copy still opens: the failed attempt did not damage the session.
    await talk.officer.process_frame(frame)
    (message,) = _events(talk.officer)
    assert isinstance(message, IncomingMessage)
    assert message.text == "the first words"


async def test_a_replayed_message_is_rejected(world: World) -> None:
    talk = await open_conversation(world)
    await talk.witness.send("meet me at the station")
    (frame,) = await _raw_pending(talk.officer)
    assert await talk.officer.sync() == 1
    assert isinstance(_events(talk.officer)[-1], IncomingMessage)

    await insert_copy(world, frame, talk.officer.device_id)
    assert await talk.officer.sync() == 1
    (replay,) = _events(talk.officer)
    assert isinstance(replay, ReplayRejected)
    assert replay.message_id == frame["message_id"]

    # The same ciphertext under a fresh id does not decrypt a second time either.
    await insert_copy(world, frame, talk.officer.device_id, "fresh-message-id-1")
    assert await talk.officer.sync() == 1
    (failure,) = _events(talk.officer)
    assert isinstance(failure, DecryptionFailure)
    assert [m.text for m in await talk.officer.messages(talk.case_id)] == ["meet me at the station"]


async def test_the_same_copy_delivered_twice_is_stored_once_and_not_alarming(world: World) -> None:
    talk = await open_conversation(world)
    await talk.witness.send("only once please")
    (frame,) = await _raw_pending(talk.worker)
    await talk.worker.process_frame(frame)
    await talk.worker.process_frame(frame)  # e.g. we crashed before acknowledging
    events = _events(talk.worker)
    assert [type(e) for e in events] == [IncomingMessage]
    assert len(await talk.worker.messages(talk.case_id)) == 1
