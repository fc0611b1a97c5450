"""What the server keeps per witness phone to help (and limit) unlocking its store."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from wire.vault import KeyRole


class AttemptKind(enum.StrEnum):
    """How an open unlock attempt began (it decides what a confirmation undoes)."""

    EVALUATE = "evaluate"  # an OPRF evaluation, counted as a guess until confirmed
    EVALUATE_IN_DURESS = "evaluate_duress"  # the same while the device is in duress
    CHALLENGE = "challenge"  # a challenge only (a confirmation retried): no guess


@dataclass(frozen=True, slots=True)
class Attempt:
    """The one open unlock attempt of a device: confirm it by signing the challenge."""

    id: str
    challenge: str
    kind: AttemptKind
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class UnlockState:
    """A device's unlock record.

    ``seed_sealed`` is the OPRF key's seed, sealed with the server key; ``None`` once
    erased, for ever. ``unconfirmed`` counts evaluations since the last confirmed
    unlock (by either PIN); ``duress_unconfirmed`` counts those since the device went
    into duress, and only a primary-PIN unlock clears it, so that the duress PIN cannot
    be used to reset the guess count against the real PIN.
    """

    device_id: str
    token_hash: bytes
    seed_sealed: bytes | None
    oprf_public_key: str
    unconfirmed: int
    duress_unconfirmed: int
    wipe_on_duress: bool
    duress_since: datetime | None
    attempt: Attempt | None
    keys_registered: bool
    erased_at: datetime | None
    erased_reason: str | None
    created_at: datetime

    @property
    def erased(self) -> bool:
        return self.seed_sealed is None


@dataclass(frozen=True, slots=True)
class ConfirmKey:
    """A confirmation public key (Ed25519, base64) and what its signature means."""

    device_id: str
    public_key: str
    role: KeyRole
    created_at: datetime
