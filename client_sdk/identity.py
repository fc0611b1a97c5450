"""A person's identity key: the root every device of theirs, and every roster they sign,
chains to.

An Ed25519 signing key (PyNaCl), separate from any device's Olm keys. A witness's
identity is made on the phone at enrolment and never leaves it (a new phone is a new
enrolment in person). A staff member's identity is made by their first client and can
be taken on by a later client with their recovery key (``wire.recovery``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import nacl.signing

from wire.encoding import b64
from wire.keys import RosterMember, device_list_object, roster_object, signed


def utc_stamp(when: datetime) -> str:
    """Times as signed objects carry them: ``2026-01-31T12:00:00Z``."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class PersonalIdentity:
    """A person's identity signing key. No repr: it holds the private key."""

    __slots__ = ("_key",)

    def __init__(self, key: nacl.signing.SigningKey) -> None:
        self._key = key

    def __repr__(self) -> str:
        return f"PersonalIdentity({self.public_key!r})"

    @classmethod
    def generate(cls) -> PersonalIdentity:
        return cls(nacl.signing.SigningKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> PersonalIdentity:
        return cls(nacl.signing.SigningKey(seed))

    @property
    def seed(self) -> bytes:
        return bytes(self._key)

    @property
    def public_key(self) -> str:
        return b64(bytes(self._key.verify_key))

    def sign(self, payload: bytes) -> str:
        return b64(self._key.sign(payload).signature)

    def device_list(
        self, owner: str, version: int, devices: Mapping[str, str], when: datetime
    ) -> dict[str, Any]:
        """A signed device list vouching for ``devices`` (id -> device object hash)."""
        body = device_list_object(owner, self.public_key, version, devices, utc_stamp(when))
        return signed(body, self.sign)

    def roster(
        self, case_id: str, version: int, members: Sequence[RosterMember], when: datetime
    ) -> dict[str, Any]:
        """A signed roster of a case's team."""
        body = roster_object(case_id, version, self.public_key, members, utc_stamp(when))
        return signed(body, self.sign)
