"""The SDK's records, typed, on top of the encrypted :class:`~client_sdk.vault.Vault`.

Every record is a msgspec struct encoded as JSON inside a vault record, so the vault's
guarantees (encrypted, padded, blinded keys) cover all of it. Operations that must
happen together — a decrypted message, the session state that decrypted it and the
replay marker — are written in one atomic vault transaction.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime

import msgspec

from client_sdk.vault import Vault


class DeviceIdentity(msgspec.Struct, kw_only=True):
    device_id: str
    token: str
    server_url: str
    owner_kind: str
    owner_id: str
    case_id: str | None = None
    display_name: str = ""
    language: str = "en"
    timezone: str = "UTC"


class KnownDevice(msgspec.Struct, kw_only=True):
    """Another device, from a device object whose self-signature this device checked.

    Whether it may be encrypted to is decided each time from its owner's device list
    and the case's roster (``client_sdk.trust``); nothing here says "trusted"."""

    device_id: str
    owner: str  # "staff:<id>" or "witness:<id>"
    name: str  # the server's label for it (unsigned: shown as such)
    curve25519: str
    ed25519: str
    object_hash: str
    case_ids: list[str] = []  # cases whose member list (from the server) includes it now
    # Another device object was once presented for this id: never use it again.
    conflict: bool = False

    @property
    def owner_kind(self) -> str:
        return self.owner.partition(":")[0]

    @property
    def owner_id(self) -> str:
        return self.owner.partition(":")[2]


class KnownPerson(msgspec.Struct, kw_only=True):
    """Someone whose identity key and device list this device has seen and checked."""

    owner: str
    identity_key: str  # the newest identity key seen with a valid device list
    list_version: int = 0
    list_hash: str = ""
    devices: dict[str, str] = {}  # device id -> device object hash, from that list
    # The identity key this device verified directly (in person, at enrolment, or by
    # safety number). It lets this person start a case's roster for this device; it
    # makes their devices trusted for encryption only in ``verified_cases`` (a
    # witness's phone, for its case) — elsewhere the case's roster decides.
    verified_key: str | None = None
    verified_cases: list[str] = []
    # Identity keys this person has moved away from (replaced by a key someone trusted
    # vouched for): never trusted again, so a lost or stolen old identity cannot return.
    retired_keys: list[str] = []
    # Identity keys already reported as changed (each is reported once).
    warned_keys: list[str] = []
    # The newest device list version seen under each identity key this person has
    # shown, so that switching keys back and forth cannot replay an older list.
    newest_versions: dict[str, int] = {}


class AcceptedRoster(msgspec.Struct, kw_only=True):
    """The newest roster of a case this device accepted (signed JSON as received)."""

    case_id: str
    version: int
    body: str
    object_hash: str


class SelfPerson(msgspec.Struct, kw_only=True):
    """This device's person: their identity key (if this device holds it) and the
    device list it last signed."""

    owner: str
    identity_seed: bytes | None = None
    list_version: int = 0
    recovery_key_shown: bool = False


class OfficerEnrolment(msgspec.Struct, kw_only=True):
    """An enrolment this staff client issued and has not finished: the secret and nonce
    never leave this device."""

    enrolment_id: str
    witness_id: str
    case_id: str
    alias: str
    secret: bytes
    nonce: bytes
    roster_hash: str
    revealed: bool = False
    # The phone's identity key and nonce as they were when this client revealed its
    # nonce: the comparison numbers are computed from these, never from what the server
    # says afterwards (it knows the revealed nonce by then and could fit a phone nonce).
    phone_identity: str | None = None
    phone_nonce: str | None = None
    #: The server took the officer's confirmation (vouching for the phone may follow).
    completed: bool = False


class PhoneEnrolment(msgspec.Struct, kw_only=True):
    """The phone's side of its enrolment until the SAS is confirmed."""

    enrolment_id: str
    roster: str  # the roster the officer's client MACed (JSON)
    commitment: str
    nonce: bytes
    confirmed: bool = False


class StoredAttachment(msgspec.Struct, kw_only=True):
    attachment_id: str
    filename: str
    mime_type: str
    size: int
    key: str
    sha256: str


class StoredMessage(msgspec.Struct, kw_only=True):
    case_id: str
    message_id: str
    direction: str  # "in" or "out"
    sender_device_id: str
    sender_kind: str
    sender_id: str
    text: str
    sent_at: datetime
    status: str  # "queued", "sent", "received"
    # Received from a device that chained to a verified person when it arrived.
    verified: bool = True
    attachment: StoredAttachment | None = None
    kind: str = "text"  # "text", "attachment", "checkin_note", "appointment_details"
    # Written while the store was locked (offline), before any PIN was confirmed.
    written_locked: bool = False
    # Breaks ties between messages with the same timestamp: the order they were stored.
    local_order: int = msgspec.field(default_factory=time.time_ns)


class OutboxCiphertext(msgspec.Struct):
    device_id: str
    type: int
    body: str


class OutboxEntry(msgspec.Struct, kw_only=True):
    message_id: str
    case_id: str
    ciphertexts: list[OutboxCiphertext]
    created_at: datetime
    attempts: int = 0
    next_attempt_at: datetime | None = None
    plaintext_record_key: str = ""
    # The message body (JSON) while it is not yet encrypted: written offline, before
    # sessions could be opened. Cleared once the ciphertexts exist.
    body: str = ""
    # The outbox's one order: encrypted in this order, delivered in it once encrypted
    # (see client_sdk.outbox). 0 for entries written before it existed.
    seq: int = 0
    # Only these devices of the case (repair traffic); empty for the whole case.
    to: list[str] = []
    # Open a new Olm session with each device in ``to`` before encrypting (repair).
    fresh_session: bool = False
    # Delivery machinery (repair requests and answers): no history record.
    control: bool = False
    # A message sent again, under its own id, to the one device in ``to`` (repair).
    resend: bool = False

    @property
    def key(self) -> str:
        """Its key in the store: a re-send shares its message's id, not its key."""
        return f"{self.message_id}>{self.to[0]}" if self.resend else self.message_id


class SeenMarker(msgspec.Struct, kw_only=True):
    copy_id: int
    at: datetime


class OlmState(msgspec.Struct, kw_only=True):
    account_pickle: str
    pickle_key: bytes


_IDENTITY = ("meta", "identity")
_PERSON = ("meta", "person")
_OLM = ("meta", "olm")
_SETTINGS = ("meta", "settings")


class Settings(msgspec.Struct, kw_only=True):
    retention_days: int | None = None


Put = tuple[str, str, bytes]


def encode(record: msgspec.Struct) -> bytes:
    return msgspec.json.encode(record)


def message_key(message: StoredMessage) -> str:
    """Message records sort chronologically by key."""
    return f"{message.case_id}:{int(message.sent_at.timestamp() * 1000):013d}:{message.message_id}"


class LocalStore:
    """Typed access to the vault's records."""

    def __init__(self, vault: Vault) -> None:
        self.vault = vault

    async def identity(self) -> DeviceIdentity | None:
        raw = await self.vault.get(*_IDENTITY)
        return None if raw is None else msgspec.json.decode(raw, type=DeviceIdentity)

    @staticmethod
    def identity_put(identity: DeviceIdentity) -> Put:
        return (*_IDENTITY, encode(identity))

    async def olm_state(self) -> tuple[OlmState, dict[str, list[str]]] | None:
        raw = await self.vault.get(*_OLM)
        if raw is None:
            return None
        state = msgspec.json.decode(raw, type=OlmState)
        sessions = {
            peer: msgspec.json.decode(value, type=list[str])
            for peer, value in await self.vault.items("session")
        }
        return state, sessions

    @staticmethod
    def olm_puts(
        account_pickle: str | None, pickle_key: bytes, sessions: dict[str, list[str]]
    ) -> list[Put]:
        puts: list[Put] = []
        if account_pickle is not None:
            puts.append(
                (*_OLM, encode(OlmState(account_pickle=account_pickle, pickle_key=pickle_key)))
            )
        for peer, pickles in sessions.items():
            puts.append(("session", peer, msgspec.json.encode(pickles)))
        return puts

    async def person(self) -> SelfPerson | None:
        raw = await self.vault.get(*_PERSON)
        return None if raw is None else msgspec.json.decode(raw, type=SelfPerson)

    @staticmethod
    def person_put(person: SelfPerson) -> Put:
        return (*_PERSON, encode(person))

    async def people(self) -> dict[str, KnownPerson]:
        return {
            key: msgspec.json.decode(value, type=KnownPerson)
            for key, value in await self.vault.items("person")
        }

    @staticmethod
    def known_person_put(person: KnownPerson) -> Put:
        return ("person", person.owner, encode(person))

    async def rosters(self) -> dict[str, AcceptedRoster]:
        return {
            key: msgspec.json.decode(value, type=AcceptedRoster)
            for key, value in await self.vault.items("roster")
        }

    @staticmethod
    def roster_put(roster: AcceptedRoster) -> Put:
        return ("roster", roster.case_id, encode(roster))

    async def officer_enrolments(self) -> dict[str, OfficerEnrolment]:
        return {
            key: msgspec.json.decode(value, type=OfficerEnrolment)
            for key, value in await self.vault.items("officer_enrolment")
        }

    @staticmethod
    def officer_enrolment_put(enrolment: OfficerEnrolment) -> Put:
        return ("officer_enrolment", enrolment.enrolment_id, encode(enrolment))

    async def phone_enrolment(self) -> PhoneEnrolment | None:
        raw = await self.vault.get("meta", "enrolment")
        return None if raw is None else msgspec.json.decode(raw, type=PhoneEnrolment)

    @staticmethod
    def phone_enrolment_put(enrolment: PhoneEnrolment) -> Put:
        return ("meta", "enrolment", encode(enrolment))

    async def devices(self) -> dict[str, KnownDevice]:
        return {
            key: msgspec.json.decode(value, type=KnownDevice)
            for key, value in await self.vault.items("device")
        }

    @staticmethod
    def device_put(device: KnownDevice) -> Put:
        return ("device", device.device_id, encode(device))

    async def messages(self, case_id: str | None = None) -> list[StoredMessage]:
        found = [
            msgspec.json.decode(value, type=StoredMessage)
            for _key, value in await self.vault.items("message")
        ]
        if case_id is not None:
            found = [m for m in found if m.case_id == case_id]
        found.sort(key=lambda m: (m.sent_at, m.local_order))
        return found

    @staticmethod
    def message_put(message: StoredMessage) -> Put:
        return ("message", message_key(message), encode(message))

    async def seen_copy(self, sender_device_id: str, message_id: str) -> int | None:
        """The copy id under which a message was received, if it was."""
        raw = await self.vault.get("seen", f"{sender_device_id}:{message_id}")
        return None if raw is None else msgspec.json.decode(raw, type=SeenMarker).copy_id

    @staticmethod
    def seen_put(sender_device_id: str, message_id: str, copy_id: int, when: datetime) -> Put:
        marker = SeenMarker(copy_id=copy_id, at=when)
        return ("seen", f"{sender_device_id}:{message_id}", encode(marker))

    async def outbox(self) -> list[OutboxEntry]:
        entries = [
            msgspec.json.decode(value, type=OutboxEntry)
            for _key, value in await self.vault.items("outbox")
        ]
        entries.sort(key=lambda e: (e.seq, e.created_at, e.message_id))
        return entries

    @staticmethod
    def outbox_put(entry: OutboxEntry) -> Put:
        return ("outbox", entry.key, encode(entry))

    async def appointment_details(self) -> dict[str, dict[str, str]]:
        """Private appointment details received from the case team, by appointment id."""
        return {
            key: msgspec.json.decode(value, type=dict[str, str])
            for key, value in await self.vault.items("appointment")
        }

    @staticmethod
    def appointment_put(appointment_id: str, details: dict[str, str]) -> Put:
        return ("appointment", appointment_id, msgspec.json.encode(details))

    async def settings(self) -> Settings:
        raw = await self.vault.get(*_SETTINGS)
        return Settings() if raw is None else msgspec.json.decode(raw, type=Settings)

    async def put_settings(self, settings: Settings) -> None:
        await self.vault.put(*_SETTINGS, encode(settings))

    async def prune(self, before: datetime) -> int:
        """Delete messages and replay markers older than ``before`` (local retention),
        at once: the deleted pages are zeroed (``secure_delete``) and the WAL folded in
        and truncated, so no copy of them stays in the store's files."""
        deletes: list[tuple[str, str]] = []
        for key, value in await self.vault.items("message"):
            message = msgspec.json.decode(value, type=StoredMessage)
            if message.sent_at < before and message.status != "queued":
                deletes.append(("message", key))
        for key, value in await self.vault.items("seen"):
            if msgspec.json.decode(value, type=SeenMarker).at < before:
                deletes.append(("seen", key))
        for key, value in await self.vault.items("event_seen"):
            if datetime.fromisoformat(value.decode()) < before:
                deletes.append(("event_seen", key))
        if deletes:
            await self.vault.write(deletes=deletes)
            await self.vault.checkpoint()
        return sum(1 for kind, _ in deletes if kind == "message")

    async def write(
        self, puts: Sequence[Put] = (), deletes: Sequence[tuple[str, str]] = ()
    ) -> None:
        await self.vault.write(puts=puts, deletes=deletes)
