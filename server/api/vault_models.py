"""Request bodies of the vault unlock API (see ``docs/protocol.md`` (§16))."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from server.api.models import Id, Signature, Strict

#: A 32-byte value (ristretto255 element, Ed25519 public key) in unpadded base64.
Bytes32 = Annotated[str, msgspec.Meta(min_length=43, max_length=44, pattern=r"^[A-Za-z0-9+/]+=?$")]


class SetupIn(Strict):
    blinded: Annotated[list[Bytes32], msgspec.Meta(min_length=1, max_length=2)]


class ConfirmKeyIn(Strict):
    public_key: Bytes32
    role: Literal["primary", "duress"]


class RegisterKeysIn(Strict):
    keys: Annotated[list[ConfirmKeyIn], msgspec.Meta(min_length=1, max_length=2)]
    wipe_on_duress: bool = False


class EvaluateIn(Strict):
    blinded: Bytes32


class ConfirmIn(Strict):
    attempt_id: Id
    signature: Signature


class FailedIn(Strict):
    attempt_id: Id


class EndorseIn(Strict):
    attempt_id: Id
    public_key: Bytes32
    signature: Signature
    endorsement: Signature


class RetireIn(Strict):
    public_key: Bytes32
    signature: Signature
