"""Request bodies as typed models: unknown fields are rejected, sizes are bounded.

msgspec decodes and validates in one pass (and quickly, which matters on the message
hot path); a body that does not fit becomes a 422 problem that names the field.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

Id = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
Key = Annotated[str, msgspec.Meta(min_length=40, max_length=64)]
Signature = Annotated[str, msgspec.Meta(min_length=80, max_length=100)]
ShortText = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Label = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class Strict(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Base for every request model."""


class SignedKeyIn(Strict):
    key_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    key: Key
    signature: Signature


class DeviceIn(Strict):
    name: Label
    curve25519: Key
    ed25519: Key
    proof: Signature
    one_time_keys: Annotated[list[SignedKeyIn], msgspec.Meta(max_length=100)]
    fallback_key: SignedKeyIn | None = None


class LoginIn(Strict):
    username: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]
    device: DeviceIn
    totp: Annotated[str, msgspec.Meta(max_length=10)] | None = None


class EnrolIn(Strict):
    code: Annotated[str, msgspec.Meta(min_length=20, max_length=128)]
    device: DeviceIn


class CreateCaseIn(Strict):
    reference: Label
    support_agency_id: Id


class AssignStaffIn(Strict):
    staff_id: Id


class AddWitnessIn(Strict):
    alias: Label
    language: Annotated[str, msgspec.Meta(min_length=2, max_length=35)]
    timezone: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class KeysIn(Strict):
    one_time_keys: Annotated[list[SignedKeyIn], msgspec.Meta(max_length=100)] = []
    fallback_key: SignedKeyIn | None = None


class ClaimIn(Strict):
    case_id: Id
    device_ids: Annotated[list[Id], msgspec.Meta(min_length=1, max_length=100)]


class CiphertextIn(Strict):
    device_id: Id
    type: int
    body: Annotated[str, msgspec.Meta(min_length=1, max_length=96 * 1024)]


class SendIn(Strict):
    ciphertexts: Annotated[list[CiphertextIn], msgspec.Meta(min_length=1, max_length=200)]


class AckIn(Strict):
    copy_ids: Annotated[list[int], msgspec.Meta(max_length=500)]
