"""A malicious server, played by rewriting the server's own database.

The attacker runs the server: it can change any row, insert devices and members, swap
signed objects for its own, and replay old ones. It cannot sign with anyone's private
keys. These helpers make those changes with the attacker's own vodozemac and PyNaCl
keys, and let a test check that nothing readable reached them.
"""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import vodozemac

from client_sdk.identity import PersonalIdentity
from server.clock import to_ms
from server.ids import token_hash
from tests.support.world import World
from wire.encoding import canonical_json
from wire.keys import RosterMember, device_object, signed


@dataclass
class AttackerDevice:
    """A device the attacker made: it holds the private keys of whatever it injects."""

    account: vodozemac.Account
    device_id: str
    owner: str

    @property
    def curve25519(self) -> str:
        return str(self.account.curve25519_key.to_base64())

    @property
    def ed25519(self) -> str:
        return str(self.account.ed25519_key.to_base64())

    def key_object(self) -> dict[str, Any]:
        """A device object the attacker can sign validly: for its own keys."""
        body = device_object(self.device_id, self.owner, self.curve25519, self.ed25519)
        return signed(body, lambda payload: str(self.account.sign(payload).to_base64()))


def attacker_device(owner: str, device_id: str | None = None) -> AttackerDevice:
    return AttackerDevice(vodozemac.Account(), device_id or f"dev_{secrets.token_hex(8)}", owner)


def stored(obj: Any) -> str:
    return canonical_json(obj).decode()


async def key_object_of(world: World, device_id: str) -> dict[str, Any]:
    async with world.services.db.transaction() as conn:
        row = await conn.fetchrow("SELECT key_object FROM devices WHERE id = $1", device_id)
    assert row is not None
    assert row["key_object"] is not None
    value: dict[str, Any] = json.loads(row["key_object"])
    return value


async def set_key_object(world: World, device_id: str, obj: dict[str, Any]) -> None:
    async with world.services.db.transaction() as conn:
        await conn.execute(
            "UPDATE devices SET key_object = $2 WHERE id = $1", device_id, stored(obj)
        )


async def insert_device(world: World, device: AttackerDevice, token: str | None = None) -> None:
    """A device row the server made up for someone, with the attacker's signed object;
    with ``token``, the attacker can also use the API as that device."""
    kind, _, owner_id = device.owner.partition(":")
    now = to_ms(world.clock.now())
    async with world.services.db.transaction() as conn:
        await conn.execute(
            "INSERT INTO devices (id, owner_kind, owner_id, name, curve25519, ed25519,"
            " token_hash, created_at, last_seen_at, key_object)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9)",
            device.device_id,
            kind,
            owner_id,
            "laptop",
            device.curve25519,
            device.ed25519,
            token_hash(token) if token else secrets.token_bytes(32),
            now,
            stored(device.key_object()),
        )


async def device_list_of(world: World, owner: str) -> dict[str, Any]:
    async with world.services.db.transaction() as conn:
        row = await conn.fetchrow("SELECT device_list FROM identities WHERE owner = $1", owner)
    assert row is not None
    value: dict[str, Any] = json.loads(row["device_list"])
    return value


async def set_device_list(world: World, owner: str, obj: dict[str, Any]) -> None:
    async with world.services.db.transaction() as conn:
        await conn.execute(
            "UPDATE identities SET identity_key = $2, version = $3, device_list = $4"
            " WHERE owner = $1",
            owner,
            obj["identity_key"],
            obj["version"],
            stored(obj),
        )


async def roster_of(world: World, case_id: str) -> dict[str, Any]:
    async with world.services.db.transaction() as conn:
        row = await conn.fetchrow("SELECT body FROM rosters WHERE case_id = $1", case_id)
    assert row is not None
    value: dict[str, Any] = json.loads(row["body"])
    return value


async def set_roster(world: World, case_id: str, obj: dict[str, Any]) -> None:
    async with world.services.db.transaction() as conn:
        await conn.execute(
            "UPDATE rosters SET version = $2, signer_key = $3, body = $4 WHERE case_id = $1",
            case_id,
            obj["version"],
            obj["signer"],
            stored(obj),
        )


def attacker_roster(roster: dict[str, Any], *extra: RosterMember) -> dict[str, Any]:
    """The next roster version, with ``extra`` members, signed by the attacker's own
    identity (the only identity key it holds)."""
    attacker = PersonalIdentity.generate()
    members = [
        RosterMember(m["owner"], m["identity_key"], m["role"], m["name"]) for m in roster["members"]
    ]
    return attacker.roster(
        roster["case_id"], roster["version"] + 1, [*members, *extra], datetime.now(UTC)
    )


async def copies_for(world: World, device_id: str) -> list[tuple[int, str]]:
    """Every ciphertext the server holds for a device: (Olm type, body)."""
    async with world.services.db.transaction() as conn:
        rows = await conn.fetch(
            "SELECT olm_type, body FROM message_copies WHERE recipient_device_id = $1", device_id
        )
    return [(int(r["olm_type"]), str(r["body"])) for r in rows]


def readable_by(
    account: vodozemac.Account, sender_curve25519: str, copies: list[tuple[int, str]]
) -> list[bytes]:
    """What the attacker can decrypt of ``copies`` with its own account."""
    plaintexts = []
    for olm_type, body in copies:
        if olm_type != 0:
            continue  # no session: a normal message cannot be read without one
        try:
            message = vodozemac.AnyOlmMessage.from_parts(olm_type, _unb64(body)).to_pre_key()
            _session, plaintext = account.create_inbound_session(
                vodozemac.Curve25519PublicKey.from_base64(sender_curve25519), message
            )
        except Exception:  # noqa: S112 - any failure means it stays unreadable
            continue
        plaintexts.append(plaintext)
    return plaintexts


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))
