"""Helpers for delivery tests: what a faulty network, disk or server does to copies."""

from __future__ import annotations

from typing import Any

from client_sdk import SentMessage
from tests.support.world import Conversation, World


def flip(body: str) -> str:
    """A ciphertext with one character changed in the middle."""
    middle = len(body) // 2
    return body[:middle] + ("A" if body[middle] != "A" else "B") + body[middle + 1 :]


async def corrupt(world: World, recipient: str, message_id: str) -> None:
    """Damage every stored copy of a message for one device."""
    async with world.services.db.transaction() as conn:
        rows = await conn.fetch(
            "SELECT id, body FROM message_copies"
            " WHERE recipient_device_id = $1 AND message_id = $2",
            recipient,
            message_id,
        )
        assert rows
        for row in rows:
            await conn.execute(
                "UPDATE message_copies SET body = $2 WHERE id = $1", row[0], flip(row[1])
            )


async def _count(world: World, sql: str, *args: object) -> int:
    async with world.services.db.transaction() as conn:
        return int(await conn.fetchval(sql, *args))


async def copies_for(world: World, recipient: str, message_id: str) -> int:
    """How many copies of a message wait on the server for one device."""
    return await _count(
        world,
        "SELECT COUNT(*) FROM message_copies WHERE recipient_device_id = $1 AND message_id = $2",
        recipient,
        message_id,
    )


async def resent_copies(world: World, sender: str, message_id: str, recipient: str) -> int:
    """How many distinct copies of a message its sender sent again to one device."""
    return await _count(
        world,
        "SELECT COUNT(*) FROM resent_copies WHERE sender_device_id = $1"
        " AND message_id = $2 AND recipient_device_id = $3",
        sender,
        message_id,
        recipient,
    )


async def insert_copy(
    world: World, frame: dict[str, Any], recipient: str, message_id: str | None = None
) -> None:
    """What a compromised server can do: queue a copy it saw once again (under another
    message id, with ``message_id``)."""
    async with world.services.db.transaction() as conn:
        await conn.execute(
            "INSERT INTO message_copies (recipient_device_id, case_id, sender_device_id,"
            " message_id, olm_type, body, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            recipient,
            frame["case_id"],
            frame["sender_device_id"],
            message_id or frame["message_id"],
            frame["olm_type"],
            frame["body"],
            0,
        )


async def broken_for_the_phone(world: World, talk: Conversation, text: str) -> SentMessage:
    """The officer sends ``text``; the phone's copy is damaged and the phone has tried
    it (sessions exist both ways before)."""
    await talk.witness.send("hello")
    await talk.officer.sync()
    sent = await talk.officer.send(text, case_id=talk.case_id)
    await corrupt(world, talk.witness.device_id, sent.message_id)
    await talk.witness.sync()
    return sent


async def one_time_keys(world: World, device_id: str) -> int:
    """How many one-time keys the server holds for a device."""
    async with world.services.store.read() as uow:
        return await uow.keys.count_one_time_keys(device_id)
