"""The records delivery keeps in the encrypted store, typed, with their vault keys.

* :class:`SentRecord` — what this device sent (the message body, when, to which
  devices), kept so that it can encrypt a message again for a device that could not
  open it, and how often it did.
* :class:`RepairRecord` — a message from another device that did not decrypt: written
  *before* the broken copy is acknowledged, so the server may delete the copy without
  the message being forgotten; it says when to ask the sender again, and stays as a
  tombstone once settled so that a late duplicate is not mistaken for a replay.
* :class:`PeerRepairState` — when this device last opened a fresh session with a peer
  to repair it (fresh sessions are rate-limited; each claims one of the peer's keys).
* :class:`FallbackKeyState` — this device's current fallback key: its public part,
  since when it is the current one, and whether a session was opened with it.

Records live in the vault like every other SDK record (encrypted, padded, blinded
keys); changes that must happen together are returned as puts for one write.
"""

from __future__ import annotations

import enum
from datetime import datetime

import msgspec

from client_sdk.localstore import Put, encode
from client_sdk.vault import Vault

_SENT = "sent"
_REPAIR = "repair"
_PEER = "repair_peer"
_FALLBACK = ("meta", "fallback_key")


class SentRecord(msgspec.Struct, kw_only=True):
    message_id: str
    case_id: str
    created_at: datetime
    # The message body (JSON) as encrypted, without the envelope.
    body: str
    # Devices the message was encrypted to: the only ones it is ever sent again to.
    recipients: list[str] = []
    # How often it was sent again, by device.
    resends: dict[str, int] = {}
    # The key of the message's record in the local history ("" for control messages).
    history_key: str = ""
    # Its place in the outbox's order when it was encrypted: re-sends keep that order.
    seq: int = 0


class RepairState(enum.StrEnum):
    WAITING = "waiting"  # not opened yet; the sender is asked again until it answers
    DONE = "done"  # arrived (again) and was stored
    UNAVAILABLE = "unavailable"  # the sender cannot send it again; the app was told


class RepairRecord(msgspec.Struct, kw_only=True):
    sender_device_id: str
    message_id: str
    case_id: str
    state: RepairState
    failed_at: datetime
    copy_id: int = 0  # the broken copy's id: the order the server delivered them in
    attempts: int = 0  # repair requests sent so far
    next_attempt_at: datetime | None = None
    settled_at: datetime | None = None


class PeerRepairState(msgspec.Struct, kw_only=True):
    device_id: str
    fresh_session_at: datetime | None = None


class FallbackKeyState(msgspec.Struct, kw_only=True):
    public_key: str
    # None until the device first looks after its keys (a device is created before it
    # has a clock); from then on the time this key became the current one.
    since: datetime | None = None
    used_at: datetime | None = None  # a session was opened with it: replace it


def _pair(device_id: str, message_id: str) -> str:
    return f"{device_id}:{message_id}"


class DeliveryRecords:
    """Typed access to the delivery records in the vault."""

    def __init__(self, vault: Vault) -> None:
        self._vault = vault

    async def sent(self, message_id: str) -> SentRecord | None:
        raw = await self._vault.get(_SENT, message_id)
        return None if raw is None else msgspec.json.decode(raw, type=SentRecord)

    @staticmethod
    def sent_put(record: SentRecord) -> Put:
        return (_SENT, record.message_id, encode(record))

    async def repair(self, sender_device_id: str, message_id: str) -> RepairRecord | None:
        raw = await self._vault.get(_REPAIR, _pair(sender_device_id, message_id))
        return None if raw is None else msgspec.json.decode(raw, type=RepairRecord)

    async def repairs(self) -> list[RepairRecord]:
        """Every repair record, oldest failure first."""
        found = [
            msgspec.json.decode(value, type=RepairRecord)
            for _key, value in await self._vault.items(_REPAIR)
        ]
        found.sort(key=lambda r: (r.failed_at, r.copy_id, r.sender_device_id, r.message_id))
        return found

    @staticmethod
    def repair_put(record: RepairRecord) -> Put:
        return (_REPAIR, _pair(record.sender_device_id, record.message_id), encode(record))

    async def peer(self, device_id: str) -> PeerRepairState:
        raw = await self._vault.get(_PEER, device_id)
        if raw is None:
            return PeerRepairState(device_id=device_id)
        return msgspec.json.decode(raw, type=PeerRepairState)

    @staticmethod
    def peer_put(state: PeerRepairState) -> Put:
        return (_PEER, state.device_id, encode(state))

    async def fallback_key(self) -> FallbackKeyState | None:
        raw = await self._vault.get(*_FALLBACK)
        return None if raw is None else msgspec.json.decode(raw, type=FallbackKeyState)

    @staticmethod
    def fallback_key_put(state: FallbackKeyState) -> Put:
        return (*_FALLBACK, encode(state))

    async def prune(self, before: datetime) -> int:
        """Forget what was sent before ``before`` and repairs settled before it (local
        retention, and the server's message lifetime); returns how many records went."""
        deletes: list[tuple[str, str]] = []
        for key, value in await self._vault.items(_SENT):
            if msgspec.json.decode(value, type=SentRecord).created_at < before:
                deletes.append((_SENT, key))
        for key, value in await self._vault.items(_REPAIR):
            repair = msgspec.json.decode(value, type=RepairRecord)
            if repair.settled_at is not None and repair.settled_at < before:
                deletes.append((_REPAIR, key))
        if deletes:
            await self._vault.write(deletes=deletes)
        return len(deletes)
