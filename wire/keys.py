"""Key material and the signed objects that bind it to people and cases.

Three signed objects carry every trust decision a client makes; the server stores and
returns them unchanged and cannot forge any of them:

* a **device object** (``wl.device.v1``) — a device's id, owner and both Olm keys,
  signed by the device's own Ed25519 key;
* a **device list** (``wl.device_list.v1``) — a person's identity key and the devices
  it vouches for (by object hash), with a version that only goes up, signed by the
  identity key;
* a **roster** (``wl.roster.v1``) — a case's team: each member's identity key, role and
  name, with a version that only goes up, signed by a team member's identity key.

Every object is JSON with a ``type`` and a ``signature`` (unpadded base64 Ed25519)
over the canonical JSON of the object without its ``signature``. The ``check_*``
functions accept exactly the fields listed (nothing more) and verify the signature;
they raise :class:`InvalidObject` otherwise. Also here: the text payloads a device
signs for its one-time and fallback keys and for its registration proof.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import nacl.exceptions
import nacl.signing

from wire.encoding import canonical_json, sha256_b64, unb64

OLM_ALGORITHM = "olm.v1.curve25519-aes-sha2"
DEVICE_TYPE = "wl.device.v1"
DEVICE_LIST_TYPE = "wl.device_list.v1"
ROSTER_TYPE = "wl.roster.v1"

#: Roles a roster may give; the managing ones may sign the next roster.
ROLES = ("officer", "supervisor", "admin", "support_worker", "witness")
MANAGING_ROLES = frozenset({"officer", "supervisor", "admin"})
OWNER_KINDS = ("staff", "witness")

MAX_DEVICES_PER_LIST = 16
MAX_ROSTER_MEMBERS = 64
MAX_VERSION = 2**53 - 1
MAX_NAME_CHARS = 64
#: Key objects nest three levels (a roster, its members, a member); deeper is malformed.
MAX_DEPTH = 8

# Matched whole with ``fullmatch`` and ASCII classes only: ``$`` would also accept a
# trailing newline, and ``\d`` any Unicode digit, neither of which the protocol allows.
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")


class InvalidObject(ValueError):
    """A key object is malformed or its signature does not verify."""


# --- signing ------------------------------------------------------------------------


def signing_payload(obj: Mapping[str, Any]) -> bytes:
    """What is signed and hashed: canonical JSON of the object without ``signature``."""
    return canonical_json({k: v for k, v in obj.items() if k != "signature"})


def object_hash(obj: Mapping[str, Any]) -> str:
    """SHA-256 (unpadded base64) of the object's signing payload."""
    return sha256_b64(signing_payload(obj))


def signed(obj: Mapping[str, Any], sign: Callable[[bytes], str]) -> dict[str, Any]:
    """The object with ``signature`` set by ``sign`` (bytes -> base64 signature)."""
    body = {k: v for k, v in obj.items() if k != "signature"}
    return {**body, "signature": sign(signing_payload(body))}


def verify_ed25519(public_key: str, payload: bytes, signature: str) -> bool:
    """Whether ``signature`` (base64) over ``payload`` verifies with ``public_key``."""
    try:
        nacl.signing.VerifyKey(unb64(public_key)).verify(payload, unb64(signature))
    except (ValueError, TypeError, nacl.exceptions.BadSignatureError, nacl.exceptions.CryptoError):
        return False
    return True


def is_key(value: Any) -> bool:
    """Whether ``value`` is a 32-byte public key in base64."""
    if not isinstance(value, str) or len(value) > 64:
        return False
    try:
        return len(unb64(value)) == 32
    except ValueError:
        return False


# --- owners ---------------------------------------------------------------------------


def owner_ref(kind: str, owner_id: str) -> str:
    """A person as objects name them: ``staff:<staff id>`` or ``witness:<witness id>``."""
    return f"{kind}:{owner_id}"


def parse_owner(ref: Any) -> tuple[str, str]:
    """Split an owner reference into (kind, id).

    Raises:
        InvalidObject: not ``staff:<id>`` or ``witness:<id>``.
    """
    if not isinstance(ref, str):
        raise InvalidObject("an owner must be a string")
    kind, _, owner_id = ref.partition(":")
    if kind not in OWNER_KINDS or not _ID.fullmatch(owner_id):
        raise InvalidObject("an owner is staff:<id> or witness:<id>")
    return kind, owner_id


# --- device objects ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeviceKeys:
    """A verified device object."""

    device_id: str
    owner: str
    curve25519: str
    ed25519: str
    object_hash: str


def device_object(device_id: str, owner: str, curve25519: str, ed25519: str) -> dict[str, Any]:
    """An unsigned device object (sign it with the device's Ed25519 key)."""
    return {
        "type": DEVICE_TYPE,
        "device_id": device_id,
        "owner": owner,
        "algorithms": [OLM_ALGORITHM],
        "keys": {"curve25519": curve25519, "ed25519": ed25519},
    }


def check_device_object(obj: Any) -> DeviceKeys:
    """Verify a device object: its shape and its self-signature.

    Raises:
        InvalidObject: malformed, or not signed by its own Ed25519 key.
    """
    _fields(obj, DEVICE_TYPE, {"device_id", "owner", "algorithms", "keys"})
    device_id = _id(obj["device_id"], "device_id")
    owner = obj["owner"]
    parse_owner(owner)
    if obj["algorithms"] != [OLM_ALGORITHM]:
        raise InvalidObject(f"algorithms must be [{OLM_ALGORITHM!r}]")
    keys = obj["keys"]
    if not isinstance(keys, dict) or set(keys) != {"curve25519", "ed25519"}:
        raise InvalidObject("keys must hold curve25519 and ed25519")
    if not (is_key(keys["curve25519"]) and is_key(keys["ed25519"])):
        raise InvalidObject("keys must be 32-byte public keys in base64")
    _signature(obj, keys["ed25519"])
    return DeviceKeys(device_id, owner, keys["curve25519"], keys["ed25519"], object_hash(obj))


# --- device lists ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeviceList:
    """A verified device list: the devices a person's identity vouches for."""

    owner: str
    identity_key: str
    version: int
    devices: Mapping[str, str]  # device id -> device object hash
    issued_at: str
    object_hash: str


def device_list_object(
    owner: str, identity_key: str, version: int, devices: Mapping[str, str], issued_at: str
) -> dict[str, Any]:
    """An unsigned device list (sign it with the identity key)."""
    return {
        "type": DEVICE_LIST_TYPE,
        "owner": owner,
        "identity_key": identity_key,
        "version": version,
        "devices": dict(sorted(devices.items())),
        "issued_at": issued_at,
    }


def check_device_list(obj: Any) -> DeviceList:
    """Verify a device list: shape and the identity key's signature.

    Raises:
        InvalidObject: malformed, or not signed by the identity key it names.
    """
    _fields(obj, DEVICE_LIST_TYPE, {"owner", "identity_key", "version", "devices", "issued_at"})
    parse_owner(obj["owner"])
    if not is_key(obj["identity_key"]):
        raise InvalidObject("identity_key must be a 32-byte public key in base64")
    version = _version(obj["version"])
    devices = obj["devices"]
    if not isinstance(devices, dict) or len(devices) > MAX_DEVICES_PER_LIST:
        raise InvalidObject(f"devices must map at most {MAX_DEVICES_PER_LIST} device ids")
    for device_id, digest in devices.items():
        _id(device_id, "device id")
        if not isinstance(digest, str) or not is_key(digest):
            raise InvalidObject("a device entry must be a device object hash")
    _time(obj["issued_at"])
    _signature(obj, obj["identity_key"])
    return DeviceList(
        obj["owner"],
        obj["identity_key"],
        version,
        dict(devices),
        obj["issued_at"],
        object_hash(obj),
    )


# --- rosters -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RosterMember:
    owner: str
    identity_key: str
    role: str
    name: str

    def as_json(self) -> dict[str, str]:
        return {
            "owner": self.owner,
            "identity_key": self.identity_key,
            "role": self.role,
            "name": self.name,
        }


@dataclass(frozen=True, slots=True)
class Roster:
    """A verified roster: who is on a case's team, vouched for by ``signer``."""

    case_id: str
    version: int
    signer: str  # the signing identity key
    members: tuple[RosterMember, ...]
    issued_at: str
    object_hash: str

    def member(self, owner: str) -> RosterMember | None:
        return next((m for m in self.members if m.owner == owner), None)

    def member_by_key(self, identity_key: str) -> RosterMember | None:
        return next((m for m in self.members if m.identity_key == identity_key), None)


def roster_object(
    case_id: str,
    version: int,
    signer: str,
    members: Sequence[RosterMember],
    issued_at: str,
) -> dict[str, Any]:
    """An unsigned roster (sign it with the ``signer`` identity key)."""
    return {
        "type": ROSTER_TYPE,
        "case_id": case_id,
        "version": version,
        "signer": signer,
        "members": [m.as_json() for m in sorted(members, key=lambda m: m.owner)],
        "issued_at": issued_at,
    }


def check_roster(obj: Any) -> Roster:
    """Verify a roster: shape, unique members, and the signer's signature.

    Raises:
        InvalidObject: malformed, or not signed by the identity key in ``signer``.
    """
    _fields(obj, ROSTER_TYPE, {"case_id", "version", "signer", "members", "issued_at"})
    case_id = _id(obj["case_id"], "case_id")
    version = _version(obj["version"])
    if not is_key(obj["signer"]):
        raise InvalidObject("signer must be a 32-byte public key in base64")
    raw = obj["members"]
    if not isinstance(raw, list) or len(raw) > MAX_ROSTER_MEMBERS:
        raise InvalidObject(f"members must be a list of at most {MAX_ROSTER_MEMBERS}")
    members = tuple(_member(m) for m in raw)
    if len({m.owner for m in members}) != len(members):
        raise InvalidObject("a person appears twice in the roster")
    if len({m.identity_key for m in members}) != len(members):
        raise InvalidObject("an identity key appears twice in the roster")
    _time(obj["issued_at"])
    _signature(obj, obj["signer"])
    return Roster(case_id, version, obj["signer"], members, obj["issued_at"], object_hash(obj))


def _member(raw: Any) -> RosterMember:
    if not isinstance(raw, dict) or set(raw) != {"owner", "identity_key", "role", "name"}:
        raise InvalidObject("a member has exactly owner, identity_key, role and name")
    kind, _ = parse_owner(raw["owner"])
    if not is_key(raw["identity_key"]):
        raise InvalidObject("a member's identity_key must be a public key in base64")
    if raw["role"] not in ROLES or (raw["role"] == "witness") != (kind == "witness"):
        raise InvalidObject("a member's role must fit the kind of person")
    name = raw["name"]
    if not isinstance(name, str) or not 1 <= len(name) <= MAX_NAME_CHARS:
        raise InvalidObject(f"a member's name must be 1 to {MAX_NAME_CHARS} characters")
    return RosterMember(raw["owner"], raw["identity_key"], raw["role"], name)


# --- shared checks -------------------------------------------------------------------------


def _fields(obj: Any, kind: str, fields: set[str]) -> None:
    if not isinstance(obj, dict):
        raise InvalidObject("a key object must be a JSON object")
    if obj.get("type") != kind:
        raise InvalidObject(f"type must be {kind!r}")
    if set(obj) != {"type", "signature", *fields}:
        raise InvalidObject(f"a {kind} object has exactly: {', '.join(sorted(fields))}")
    if not _nests_within(obj, MAX_DEPTH):
        raise InvalidObject(f"a key object nests at most {MAX_DEPTH} levels deep")
    try:
        canonical_json(obj)
    except ValueError as exc:
        raise InvalidObject(str(exc)) from exc


def _nests_within(value: Any, limit: int) -> bool:
    """Whether ``value`` has at most ``limit`` levels of objects and arrays (checked
    without recursion, so that a hostile object cannot exhaust the stack)."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return False
            children = item.values() if isinstance(item, dict) else item
            pending.extend((child, depth + 1) for child in children)
    return True


def _signature(obj: dict[str, Any], key: str) -> None:
    signature = obj["signature"]
    if not isinstance(signature, str) or not verify_ed25519(key, signing_payload(obj), signature):
        raise InvalidObject("the signature does not verify")


def _id(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise InvalidObject(f"{what} must be 1-64 characters of A-Z, a-z, 0-9, '_' or '-'")
    return value


def _version(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_VERSION:
        raise InvalidObject("version must be a positive integer")
    return value


def _time(value: Any) -> None:
    if not isinstance(value, str) or not _TIME.fullmatch(value):
        raise InvalidObject("issued_at must be a UTC time like 2026-01-31T12:00:00Z")


# --- text payloads a device signs ---------------------------------------------------------------


def one_time_key_payload(identity_curve25519: str, key_id: str, public_key: str) -> bytes:
    """What a device signs to vouch for one of its one-time keys."""
    return f"witnesslink/otk/v1\n{identity_curve25519}\n{key_id}\n{public_key}".encode()


def fallback_key_payload(identity_curve25519: str, key_id: str, public_key: str) -> bytes:
    """What a device signs to vouch for its fallback key."""
    return f"witnesslink/fallback/v1\n{identity_curve25519}\n{key_id}\n{public_key}".encode()


def device_proof_payload(curve25519: str, ed25519: str, context: str) -> bytes:
    """What a new device signs to prove it holds its Ed25519 key and binds its Curve25519
    key to it; ``context`` ties the proof to one enrolment or one login."""
    return f"witnesslink/device/v1\n{curve25519}\n{ed25519}\n{context}".encode()


def login_context(username: str) -> str:
    """The registration proof context of a staff login. Usernames are case-insensitive
    (the server keeps them in lower case), so the context carries the lower-case form
    whatever the person typed."""
    return f"login:{username.lower()}"
