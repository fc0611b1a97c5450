"""The phone without the server: locked, but it can still take down what the witness
writes.

Without the server the store cannot be read, for any PIN (see :mod:`client_sdk.unlock`).
:meth:`WitnessClient.open` then raises :class:`Offline`, carrying a :class:`LockedPhone`:

* ``write(text)`` and ``check_in(status)`` add an entry to the store's *sealed outbox*:
  sealed (``SealedBox``) to the store's outbox public key, kept in the header, and
  padded. Writing needs no key; reading needs the data key, so the entries are as safe
  as the rest of the store, and whoever holds the phone cannot read back what was
  written.
* ``unlock()`` tries the server again without re-running Argon2id (the stretched PIN is
  kept in memory until :meth:`LockedPhone.forget`).

After the next successful unlock each entry is moved, in one transaction with the
deletion of its sealed row, into the ordinary store: a message into the outbox (sent
like any other, once, under the id chosen when it was written), a check-in into a queue
of offline answers (:func:`offline_checkins`). Both carry ``"written_locked": true``, so
the team sees that they were written before any PIN was confirmed — possibly by whoever
held the phone.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from client_sdk._vault_header import Header
from client_sdk.errors import WitnesslinkError
from client_sdk.keywrap import KeyWrapper
from client_sdk.localstore import LocalStore, OutboxEntry, StoredMessage, message_key
from client_sdk.unlock import ServerUnreachable, Unlocked, unlock_with_stretched
from client_sdk.vault import Vault, VaultError

if TYPE_CHECKING:
    from client_sdk.witness import WitnessClient

MAX_TEXT_CHARS = 16_000
CHECKIN_STATUSES = ("ok", "contact", "help")


class OfflineMessage(msgspec.Struct, tag="message", kw_only=True):
    id: str
    text: str
    written_at: datetime


class OfflineCheckIn(msgspec.Struct, tag="checkin", kw_only=True):
    id: str
    status: str
    note: str | None = None
    written_at: datetime


OfflineEntry = OfflineMessage | OfflineCheckIn
_decoder = msgspec.msgpack.Decoder(OfflineEntry)
_CHECKIN_KIND = "offline_checkin"


class Offline(WitnesslinkError):
    """The server could not be reached, so the store stays locked (whichever PIN was
    typed: nothing here says whether it was right). ``phone`` still takes messages and
    check-ins, and can try again."""

    def __init__(self, phone: LockedPhone) -> None:
        super().__init__("the server cannot be reached: the phone is locked, write-only")
        self.phone = phone


class LockedPhone:
    """A store that could not be opened for want of the server: write-only."""

    def __init__(
        self,
        path: Path,
        header: Header,
        stretched: bytes,
        wrapper: KeyWrapper | None,
        opener: Callable[[Unlocked], Awaitable[WitnessClient]],
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.path = path
        self._header = header
        self._stretched: bytes | None = stretched
        self._wrapper = wrapper
        self._opener = opener
        self._now = now

    def __repr__(self) -> str:
        return f"LockedPhone({str(self.path)!r})"

    async def write(self, text: str) -> str:
        """Seal a message for the case team; it is sent after the next unlock. Returns
        its message id.

        Raises:
            ValueError: empty or oversized text.
            VaultError: the store cannot be written.
        """
        if not text or len(text) > MAX_TEXT_CHARS:
            raise ValueError(f"text must be 1 to {MAX_TEXT_CHARS} characters")
        entry = OfflineMessage(id=secrets.token_urlsafe(16), text=text, written_at=self._now())
        await Vault.write_sealed(self.path, msgspec.msgpack.encode(entry), wrapper=self._wrapper)
        return entry.id

    async def check_in(self, status: str = "ok", note: str | None = None) -> None:
        """Seal a check-in answer; after the next unlock it answers the prompt it was
        written for (if still open) and reaches the team as a message either way. For a
        check-in without data at all, the SMS code word still works.

        Raises:
            ValueError: an unknown status, or an oversized note.
            VaultError: the store cannot be written.
        """
        if status not in CHECKIN_STATUSES:
            raise ValueError("status must be ok, contact or help")
        if note is not None and len(note) > MAX_TEXT_CHARS:
            raise ValueError(f"a note has at most {MAX_TEXT_CHARS} characters")
        entry = OfflineCheckIn(
            id=secrets.token_urlsafe(16), status=status, note=note or None, written_at=self._now()
        )
        await Vault.write_sealed(self.path, msgspec.msgpack.encode(entry), wrapper=self._wrapper)

    async def unlock(self) -> WitnessClient:
        """Ask the server again (no new key derivation).

        Raises:
            Offline: still unreachable (with this phone).
            VaultError: :meth:`forget` was called; open with the PIN again.
            WrongSecret, VaultWiped, ApiError: as :meth:`WitnessClient.open`.
        """
        if self._stretched is None:
            raise VaultError("the PIN was forgotten: open the store with it again")
        try:
            unlocked = await unlock_with_stretched(
                self.path, self._header, self._stretched, wrapper=self._wrapper
            )
        except ServerUnreachable:
            raise Offline(self) from None
        self._stretched = None
        return await self._opener(unlocked)

    def forget(self) -> None:
        """Drop the stretched PIN kept for :meth:`unlock` (the app goes to background)."""
        self._stretched = None


async def adopt_sealed_entries(store: LocalStore, sender: StoredSender) -> int:
    """Move the sealed outbox into the store: each entry in one transaction with the
    deletion of its sealed row (a crash half-way moves each entry once). Returns how
    many were moved.

    Raises:
        VaultFormatError: an entry was damaged.
    """
    moved = 0
    for row_id, raw in await store.vault.sealed_entries():
        entry = _decoder.decode(raw)
        if isinstance(entry, OfflineMessage):
            puts = _message_puts(entry, sender)
        else:
            puts = [(_CHECKIN_KIND, entry.id, msgspec.json.encode(entry))]
        await store.vault.write(puts, sealed_done=[row_id])
        moved += 1
    return moved


async def offline_checkins(store: LocalStore) -> list[OfflineCheckIn]:
    """Check-ins written while locked, moved in and not yet delivered, oldest first."""
    found = [
        msgspec.json.decode(value, type=OfflineCheckIn)
        for _key, value in await store.vault.items(_CHECKIN_KIND)
    ]
    return sorted(found, key=lambda c: c.written_at)


def checkin_delivered(checkin: OfflineCheckIn, sender: StoredSender) -> Puts:
    """The write that retires a delivered offline check-in: its record goes, and a
    message telling the team about it (note included) goes into the outbox."""
    body = {
        "kind": "checkin_offline",
        "status": checkin.status,
        "text": checkin.note or "",
        "written_at": checkin.written_at.isoformat(),
        "written_locked": True,
    }
    entry, record = _queued(checkin.id, sender, checkin.written_at, body, checkin.note or "")
    return Puts(
        [LocalStore.outbox_put(entry), LocalStore.message_put(record)],
        [(_CHECKIN_KIND, checkin.id)],
    )


@dataclass(frozen=True)
class StoredSender:
    """Who is writing (the phone's device and witness ids) and for which case."""

    case_id: str
    device_id: str
    owner_id: str


@dataclass(frozen=True)
class Puts:
    puts: list[tuple[str, str, bytes]]
    deletes: list[tuple[str, str]]


def _message_puts(entry: OfflineMessage, sender: StoredSender) -> list[tuple[str, str, bytes]]:
    body = {"kind": "text", "text": entry.text, "written_locked": True}
    outbox, record = _queued(entry.id, sender, entry.written_at, body, entry.text)
    return [LocalStore.outbox_put(outbox), LocalStore.message_put(record)]


def _queued(
    message_id: str,
    sender: StoredSender,
    written_at: datetime,
    body: dict[str, object],
    text: str,
) -> tuple[OutboxEntry, StoredMessage]:
    record = StoredMessage(
        case_id=sender.case_id,
        message_id=message_id,
        direction="out",
        sender_device_id=sender.device_id,
        sender_kind="witness",
        sender_id=sender.owner_id,
        text=text,
        sent_at=written_at,
        status="queued",
        kind=str(body["kind"]),
        written_locked=True,
    )
    entry = OutboxEntry(
        message_id=message_id,
        case_id=sender.case_id,
        ciphertexts=[],
        created_at=written_at,
        body=json.dumps(body, separators=(",", ":")),
        plaintext_record_key=message_key(record),
    )
    return entry, record
