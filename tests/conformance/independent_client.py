"""A witness's phone written from ``docs/protocol.md`` alone.

It uses only the standard library, vodozemac and aiohttp: it imports nothing of
``client_sdk``, ``wire`` or ``server`` (a test checks this in a fresh interpreter), so
that what it does right shows the document is enough to build a client, and what it
refuses shows the document's rules are enough to be safe. Section numbers (§) refer to
the document.

It keeps its state in memory (a real phone keeps it in an encrypted store) and does
only what a phone does with the team: enrol in person (§7), verify the team from the
signed objects (§3, §4), and exchange text messages (§9) over HTTP and the WebSocket
(§12).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlparse

import aiohttp
import vodozemac

# ------------------------------------------------------------------------ §2 encodings


def b64(data: bytes) -> str:
    """§2.1: standard base64 without padding."""
    return base64.b64encode(data).decode("ascii").rstrip("=")


def unb64(text: str) -> bytes:
    """§2.1: padded or not; any other character is refused."""
    if not isinstance(text, str):
        raise ValueError("base64 text expected")
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def _no_floats(value: Any) -> None:
    if isinstance(value, float):
        raise ValueError("canonical JSON has no floats")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError("object keys are strings")
            _no_floats(item)
    elif isinstance(value, list):
        for item in value:
            _no_floats(item)


def canonical_json(value: Any) -> bytes:
    """§2.2: sorted by code point, no whitespace, UTF-8, no floats."""
    _no_floats(value)
    text = json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return text.encode("utf-8")


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def hmac_sha256(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


def hkdf(ikm: bytes, salt: bytes, info: bytes, length: int = 32) -> bytes:
    """§2.3: RFC 5869 with SHA-256; an empty salt is 32 zero bytes."""
    prk = hmac_sha256(salt or bytes(32), ikm)
    okm, block, counter = b"", b"", 1
    while len(okm) < length:
        block = hmac_sha256(prk, block + info + bytes([counter]))
        okm += block
        counter += 1
    return okm[:length]


def verify(public_key: str, payload: bytes, signature: str) -> bool:
    """Ed25519 (§2.3), with vodozemac's public key type."""
    try:
        key = vodozemac.Ed25519PublicKey.from_base64(public_key)
        key.verify_signature(payload, vodozemac.Ed25519Signature.from_base64(signature))
    except (ValueError, TypeError):
        return False
    return True


_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")


def is_id(value: Any) -> bool:
    return isinstance(value, str) and _ID.fullmatch(value) is not None


def is_owner(value: Any) -> bool:
    """§2.4: ``staff:<id>`` or ``witness:<id>``."""
    if not isinstance(value, str):
        return False
    kind, _, rest = value.partition(":")
    return kind in ("staff", "witness") and is_id(rest)


def is_key(value: Any) -> bool:
    """Base64 of 32 bytes."""
    if not isinstance(value, str) or len(value) > 64:
        return False
    try:
        return len(unb64(value)) == 32
    except ValueError:
        return False


def signed_object_time() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# The texts a device signs (§2.3).


def proof_text(curve25519: str, ed25519: str, context: str) -> bytes:
    return f"witnesslink/device/v1\n{curve25519}\n{ed25519}\n{context}".encode()


def one_time_key_text(curve25519: str, key_id: str, key: str) -> bytes:
    return f"witnesslink/otk/v1\n{curve25519}\n{key_id}\n{key}".encode()


def fallback_key_text(curve25519: str, key_id: str, key: str) -> bytes:
    return f"witnesslink/fallback/v1\n{curve25519}\n{key_id}\n{key}".encode()


def checkin_text(checkin_id: str, nonce: str, device_id: str, status: str) -> bytes:
    return f"witnesslink/checkin/v1\n{checkin_id}\n{nonce}\n{device_id}\n{status}".encode()


def recovery_seal_key(recovery_key: str) -> bytes:
    """§6.4: the key the identity seed is sealed under (sealing itself needs NaCl's
    secretbox, which neither the standard library nor vodozemac has)."""
    cleaned = re.sub(r"[^A-Z2-7]", "", recovery_key.upper())
    if len(cleaned) != 32:
        raise ValueError("a recovery key has 32 base32 characters")
    return hkdf(base64.b32decode(cleaned), b"witnesslink recovery v1", b"identity seal")


# ------------------------------------------------------------------ §3 signed objects


class Invalid(ValueError):
    """A signed object failed a check of §3.2."""


def signing_payload(obj: dict[str, Any]) -> bytes:
    return canonical_json({k: v for k, v in obj.items() if k != "signature"})


def object_hash(obj: dict[str, Any]) -> str:
    return b64(sha256(signing_payload(obj)))


def _check_shape(obj: Any, kind: str, fields: set[str]) -> dict[str, Any]:
    if not isinstance(obj, dict) or obj.get("type") != kind:
        raise Invalid(f"not a {kind}")
    if set(obj) != {"type", "signature", *fields}:
        raise Invalid(f"a {kind} has exactly its fields")
    try:
        canonical_json(obj)
    except (ValueError, TypeError) as exc:
        raise Invalid(str(exc)) from exc
    return obj


def _check_signature(obj: dict[str, Any], key: str) -> None:
    signature = obj["signature"]
    if not isinstance(signature, str) or not verify(key, signing_payload(obj), signature):
        raise Invalid("the signature does not verify")


def _version(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 2**53 - 1:
        raise Invalid("a version is a positive integer")
    return value


def _issued_at(value: Any) -> None:
    if not isinstance(value, str) or _TIME.fullmatch(value) is None:
        raise Invalid("issued_at is YYYY-MM-DDTHH:MM:SSZ")


@dataclass(frozen=True)
class DeviceObject:
    device_id: str
    owner: str
    curve25519: str
    ed25519: str
    object_hash: str


def check_device_object(obj: Any) -> DeviceObject:
    """§3.3."""
    obj = _check_shape(obj, "wl.device.v1", {"device_id", "owner", "algorithms", "keys"})
    if not is_id(obj["device_id"]) or not is_owner(obj["owner"]):
        raise Invalid("device_id or owner malformed")
    if obj["algorithms"] != ["olm.v1.curve25519-aes-sha2"]:
        raise Invalid("algorithms")
    keys = obj["keys"]
    if not isinstance(keys, dict) or set(keys) != {"curve25519", "ed25519"}:
        raise Invalid("keys")
    if not (is_key(keys["curve25519"]) and is_key(keys["ed25519"])):
        raise Invalid("keys are 32 bytes")
    _check_signature(obj, keys["ed25519"])
    return DeviceObject(
        obj["device_id"], obj["owner"], keys["curve25519"], keys["ed25519"], object_hash(obj)
    )


@dataclass(frozen=True)
class DeviceList:
    owner: str
    identity_key: str
    version: int
    devices: dict[str, str]
    object_hash: str


def check_device_list(obj: Any) -> DeviceList:
    """§3.4."""
    fields = {"owner", "identity_key", "version", "devices", "issued_at"}
    obj = _check_shape(obj, "wl.device_list.v1", fields)
    if not is_owner(obj["owner"]) or not is_key(obj["identity_key"]):
        raise Invalid("owner or identity_key malformed")
    version = _version(obj["version"])
    devices = obj["devices"]
    if not isinstance(devices, dict) or len(devices) > 16:
        raise Invalid("devices")
    if not all(is_id(d) and is_key(h) for d, h in devices.items()):
        raise Invalid("a device entry")
    _issued_at(obj["issued_at"])
    _check_signature(obj, obj["identity_key"])
    return DeviceList(obj["owner"], obj["identity_key"], version, dict(devices), object_hash(obj))


@dataclass(frozen=True)
class Member:
    owner: str
    identity_key: str
    role: str
    name: str


@dataclass(frozen=True)
class Roster:
    case_id: str
    version: int
    signer: str
    members: tuple[Member, ...]
    object_hash: str
    body: dict[str, Any]

    def member(self, owner: str) -> Member | None:
        return next((m for m in self.members if m.owner == owner), None)

    def member_by_key(self, identity_key: str) -> Member | None:
        return next((m for m in self.members if m.identity_key == identity_key), None)


ROLES = ("officer", "supervisor", "admin", "support_worker", "witness")
MANAGING = ("officer", "supervisor", "admin")


def check_roster(obj: Any) -> Roster:
    """§3.5."""
    fields = {"case_id", "version", "signer", "members", "issued_at"}
    obj = _check_shape(obj, "wl.roster.v1", fields)
    if not is_id(obj["case_id"]) or not is_key(obj["signer"]):
        raise Invalid("case_id or signer malformed")
    version = _version(obj["version"])
    raw = obj["members"]
    if not isinstance(raw, list) or len(raw) > 64:
        raise Invalid("members")
    members = []
    for entry in raw:
        if not isinstance(entry, dict) or set(entry) != {"owner", "identity_key", "role", "name"}:
            raise Invalid("a member has exactly owner, identity_key, role, name")
        owner, key, role, name = entry["owner"], entry["identity_key"], entry["role"], entry["name"]
        if not is_owner(owner) or not is_key(key) or role not in ROLES:
            raise Invalid("a member is malformed")
        if (role == "witness") != owner.startswith("witness:"):
            raise Invalid("role witness exactly for witness:…")
        if not isinstance(name, str) or not 1 <= len(name) <= 64:
            raise Invalid("a member's name")
        members.append(Member(owner, key, role, name))
    if len({m.owner for m in members}) != len(members):
        raise Invalid("an owner twice")
    if len({m.identity_key for m in members}) != len(members):
        raise Invalid("an identity key twice")
    _issued_at(obj["issued_at"])
    _check_signature(obj, obj["signer"])
    return Roster(obj["case_id"], version, obj["signer"], tuple(members), object_hash(obj), obj)


# --------------------------------------------------------------- §7 enrolment, §8 safety

ENROLMENT_SALT = b"witnesslink enrolment v2"


def secret_from_code(code: str) -> tuple[bytes, str | None]:
    """§7.1: the typed code or the QR payload -> (secret, server URL if given)."""
    text = code.strip()
    server = None
    if text.lower().startswith("witnesslink://enrol"):
        query = parse_qs(urlparse(text).query)
        if query.get("v") != ["2"] or len(query.get("c", [])) != 1:
            raise ValueError("not a version 2 enrolment QR code")
        server = query.get("s", [None])[0]
        text = query["c"][0]
    cleaned = re.sub(r"[^A-Z2-7]", "", text.upper())
    if len(cleaned) != 32:
        raise ValueError("an enrolment code has 32 base32 characters")
    return base64.b32decode(cleaned), server


@dataclass(frozen=True)
class EnrolmentKeys:
    server_token: bytes
    k_team: bytes
    k_phone: bytes


def enrolment_keys(secret: bytes) -> EnrolmentKeys:
    """§7.2."""
    return EnrolmentKeys(
        hkdf(secret, ENROLMENT_SALT, b"server token"),
        hkdf(secret, ENROLMENT_SALT, b"team mac"),
        hkdf(secret, ENROLMENT_SALT, b"phone mac"),
    )


def team_mac(k_team: bytes, roster_hash: str) -> str:
    return b64(hmac_sha256(k_team, b"witnesslink/enrol/team/v2\n" + roster_hash.encode()))


def phone_mac(k_phone: bytes, identity_key: str) -> str:
    return b64(hmac_sha256(k_phone, b"witnesslink/enrol/phone/v2\n" + identity_key.encode()))


def commitment(officer_nonce: bytes) -> str:
    return b64(sha256(b"witnesslink/enrol/commit/v2\n" + officer_nonce))


def sas(roster_hash: str, phone_identity_key: str, officer_nonce: bytes, phone_nonce: bytes) -> str:
    """§7.2: 39 bits of HKDF output as three 13-bit numbers plus 1000."""
    info = b"sas\n" + roster_hash.encode() + b"\n" + phone_identity_key.encode()
    bits = int.from_bytes(hkdf(officer_nonce + phone_nonce, ENROLMENT_SALT, info, 5), "big") >> 1
    return " ".join(str(((bits >> shift) & 0x1FFF) + 1000) for shift in (26, 13, 0))


def safety_number(a: tuple[str, str], b: tuple[str, str]) -> str:
    """§8: (owner reference, identity key) of each person."""

    def half(owner: str, identity_key: str) -> str:
        key = unb64(identity_key)
        digest = b"\x00\x02" + key + owner.encode()
        for _ in range(5200):
            digest = hashlib.sha512(digest + key).digest()
        return "".join(
            f"{int.from_bytes(digest[5 * i : 5 * i + 5], 'big') % 100000:05d}" for i in range(6)
        )

    digits = "".join(sorted([half(*a), half(*b)]))
    return " ".join(digits[i : i + 5] for i in range(0, 60, 5))


def door_code(
    nonce: str,
    visitor: tuple[str, str],
    witness: tuple[str, str],
    visit_id: str,
    version: int,
) -> str:
    """§20: HKDF over the two people (owner, identity key), the visit and the nonce."""
    info = "door\n" + "\n".join([*visitor, *witness, visit_id, str(version)])
    okm = hkdf(unb64(nonce), b"witnesslink door v1", info.encode(), 5)
    digits = f"{int.from_bytes(okm, 'big') % 1_000_000:06d}"
    return f"{digits[:3]} {digits[3:]}"


# ------------------------------------------------------------------------- the client


class Refused(Exception):
    """The client refused what the server handed it (and aborted where it could)."""


class Problem(Exception):
    """An RFC 9457 problem from the server (§14)."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(f"{status} {body.get('code')}: {body.get('detail', body.get('title'))}")
        self.status = status
        self.code = str(body.get("code"))
        self.body = body


class IdentityKey:
    """The person's identity key. vodozemac has no standalone Ed25519 signer, so this
    uses the Ed25519 key of an Olm account that does nothing else."""

    def __init__(self) -> None:
        self._account = vodozemac.Account()

    @property
    def public_key(self) -> str:
        return self._account.ed25519_key.to_base64()

    def sign(self, payload: bytes) -> str:
        return self._account.sign(payload).to_base64()


@dataclass
class Person:
    """§4.1: a person as this client knows them."""

    identity_key: str
    list_version: int
    list_hash: str
    devices: dict[str, str]
    newest: dict[str, int] = field(default_factory=dict)


@dataclass
class Device:
    """§4.1: a device as first seen in a valid device object."""

    owner: str
    curve25519: str
    ed25519: str
    object_hash: str
    cases: set[str] = field(default_factory=set)
    conflict: bool = False


@dataclass(frozen=True)
class Received:
    """A message this client opened (§9.4)."""

    message_id: str
    sender_device_id: str
    sender: str
    kind: str
    text: str
    verified: bool


class IndependentPhone:
    """A witness's phone: enrolment, the team's keys, text messages."""

    def __init__(self, server_url: str, *, device_name: str = "independent phone") -> None:
        self.server_url = server_url.rstrip("/")
        self.device_name = device_name
        self.olm = vodozemac.Account()
        self.identity = IdentityKey()
        self.http = aiohttp.ClientSession()
        self.token: str | None = None
        self.device_id = ""
        self.owner = ""
        self.case_id = ""
        self.reports: list[str] = []
        self.people: dict[str, Person] = {}
        self.devices: dict[str, Device] = {}
        self.roster: Roster | None = None
        self._listed: dict[str, set[str]] = {}
        self._sessions: dict[str, list[vodozemac.Session]] = {}
        self._seen: dict[tuple[str, str], int] = {}
        # Enrolment state until the comparison is done (§7.4).
        self._offered: Roster | None = None
        self._commitment = ""
        self._nonce = b""

    async def close(self) -> None:
        await self.http.close()

    # ------------------------------------------------------------- HTTP (§13.1)

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        async with self.http.request(
            method, self.server_url + path, json=body, headers=headers
        ) as response:
            if response.status >= 400:
                raise Problem(response.status, await response.json(content_type=None))
            return await response.json()

    # ------------------------------------------------------------- §5 registration

    def _sign_device(self, payload: bytes) -> str:
        return self.olm.sign(payload).to_base64()

    def _one_time_keys(self, count: int) -> list[dict[str, str]]:
        self.olm.generate_one_time_keys(count)
        curve = self.olm.curve25519_key.to_base64()
        keys = []
        for key_id, key in self.olm.one_time_keys.items():
            public = key.to_base64()
            text = one_time_key_text(curve, key_id, public)
            keys.append({"key_id": key_id, "key": public, "signature": self._sign_device(text)})
        return keys

    def _fallback_key(self) -> dict[str, str]:
        self.olm.generate_fallback_key()
        curve = self.olm.curve25519_key.to_base64()
        key_id, key = next(iter(self.olm.fallback_key.items()))
        public = key.to_base64()
        text = fallback_key_text(curve, key_id, public)
        return {"key_id": key_id, "key": public, "signature": self._sign_device(text)}

    def _registration(self, context: str) -> dict[str, Any]:
        curve = self.olm.curve25519_key.to_base64()
        ed = self.olm.ed25519_key.to_base64()
        return {
            "name": self.device_name,
            "curve25519": curve,
            "ed25519": ed,
            "proof": self._sign_device(proof_text(curve, ed, context)),
            "one_time_keys": self._one_time_keys(20),
            "fallback_key": self._fallback_key(),
        }

    # ------------------------------------------------------------- §7 enrolment

    async def enrol(self, code: str) -> None:
        """Steps 2 to 4 of §7.4: claim the code, check the team MAC, publish this
        device's keys, send the nonce.

        Raises:
            Refused: the roster handed over does not carry the officer's MAC.
            Problem: the server refused the code.
        """
        secret, _server = secret_from_code(code)
        keys = enrolment_keys(secret)
        context = "enrol:" + b64(sha256(keys.server_token))
        reply = await self.call(
            "POST",
            "/v1/enrol",
            {
                "code": b64(keys.server_token),
                "device": self._registration(context),
                "identity_key": self.identity.public_key,
                "identity_mac": phone_mac(keys.k_phone, self.identity.public_key),
            },
        )
        self.olm.mark_keys_as_published()
        self.token = reply["token"]
        self.device_id = reply["device_id"]
        self.owner = f"witness:{reply['witness']['witness_id']}"
        self.case_id = reply["witness"]["case_id"]
        offered = reply["enrolment"]
        try:
            roster = check_roster(offered["roster"])
        except Invalid:
            roster = None
        given = offered.get("team_mac")
        if (
            roster is None
            or roster.case_id != self.case_id
            or not isinstance(given, str)
            or not hmac.compare_digest(team_mac(keys.k_team, roster.object_hash), given)
        ):
            with contextlib.suppress(Problem):
                await self.call("POST", "/v1/me/enrolment/abort")
            raise Refused("the team handed over is not the one the officer's client vouched for")
        self._offered = roster
        self._commitment = str(offered["commitment"])
        await self._publish_keys()
        self._nonce = secrets.token_bytes(32)
        await self.call("PUT", "/v1/me/enrolment/nonce", {"nonce": b64(self._nonce)})

    async def _publish_keys(self) -> None:
        """§3.3, §3.4: the device object, and a device list of version 1."""
        curve = self.olm.curve25519_key.to_base64()
        ed = self.olm.ed25519_key.to_base64()
        device = {
            "type": "wl.device.v1",
            "device_id": self.device_id,
            "owner": self.owner,
            "algorithms": ["olm.v1.curve25519-aes-sha2"],
            "keys": {"curve25519": curve, "ed25519": ed},
        }
        device["signature"] = self._sign_device(signing_payload(device))
        await self.call("PUT", "/v1/me/device-keys", {"device": device})
        listed = {
            "type": "wl.device_list.v1",
            "owner": self.owner,
            "identity_key": self.identity.public_key,
            "version": 1,
            "devices": {self.device_id: object_hash(device)},
            "issued_at": signed_object_time(),
        }
        listed["signature"] = self.identity.sign(signing_payload(listed))
        await self.call("PUT", "/v1/me/identity", {"device_list": listed})

    async def sas(self) -> str | None:
        """Step 6 of §7.4: the numbers to compare, once the officer's client revealed.

        Raises:
            Refused: the revealed nonce does not match the commitment.
        """
        assert self._offered is not None, "enrol first"
        view = await self.call("GET", "/v1/me/enrolment")
        revealed = view.get("officer_nonce")
        if revealed is None:
            return None
        officer_nonce = unb64(str(revealed))
        if not hmac.compare_digest(commitment(officer_nonce), self._commitment):
            await self.abort()
            raise Refused("the officer's nonce does not match its commitment")
        return sas(self._offered.object_hash, self.identity.public_key, officer_nonce, self._nonce)

    async def confirm(self) -> None:
        """Step 8 of §7.4 (the numbers matched): pin the roster, read the team's keys."""
        if await self.sas() is None:
            raise Refused("the officer's client has not revealed its nonce")
        self.roster, self._offered = self._offered, None
        await self.refresh()

    async def abort(self) -> None:
        with contextlib.suppress(Problem):
            await self.call("POST", "/v1/me/enrolment/abort")

    # ------------------------------------------------------------- §4 trust

    def _report(self, what: str) -> None:
        self.reports.append(what)

    async def refresh(self) -> None:
        """§4.2: read the case's key bundle and take only what verifies."""
        bundle = await self.call("GET", f"/v1/cases/{self.case_id}/keys")
        if bundle.get("roster") is not None:
            self._take_roster(bundle["roster"])
        listed: set[str] = set()
        for member in bundle.get("members", []):
            owner = member.get("owner")
            if not is_owner(owner):
                self._report("invalid-object")
                continue
            if member.get("device_list") is not None:
                self._take_device_list(owner, member["device_list"])
            for entry in member.get("devices", []):
                device_id = self._take_device(owner, entry)
                if device_id is not None:
                    listed.add(device_id)
        for device_id, device in self.devices.items():
            if device_id not in listed:
                device.cases.discard(self.case_id)  # the server can take away

    def _take_roster(self, obj: Any) -> None:
        """§4.3."""
        try:
            roster = check_roster(obj)
        except Invalid:
            self._report("invalid-roster")
            return
        if roster.case_id != self.case_id:
            self._report("invalid-roster")
            return
        current = self.roster
        if current is not None and roster.version <= current.version:
            if roster.version == current.version and roster.object_hash != current.object_hash:
                self._report("roster-conflict")
            elif roster.version < current.version:
                self._report("roster-rollback")
            return
        signer = None if current is None else current.member_by_key(roster.signer)
        own = roster.signer == self.identity.public_key
        if not own and (signer is None or signer.role not in MANAGING):
            # A phone has no roster it could accept without a signer check but the one
            # its enrolment pinned, and it verifies nobody directly.
            self._report("roster-refused")
            return
        mine = roster.member(self.owner)
        if mine is not None and mine.identity_key != self.identity.public_key:
            self._report("own-identity-substituted")
            return
        self.roster = roster

    def _take_device_list(self, owner: str, obj: Any) -> None:
        """§4.2 (2)."""
        try:
            listed = check_device_list(obj)
        except Invalid:
            self._report("invalid-object")
            return
        if listed.owner != owner:
            self._report("invalid-object")
            return
        if owner == self.owner and listed.identity_key != self.identity.public_key:
            self._report("own-identity-substituted")
            return
        person = self.people.get(owner)
        if person is not None and listed.version < person.newest.get(listed.identity_key, 0):
            self._report("device-list-rollback")
            return
        if person is None:
            person = Person(listed.identity_key, listed.version, listed.object_hash, listed.devices)
            self.people[owner] = person
        elif person.identity_key == listed.identity_key:
            if listed.version < person.list_version:
                self._report("device-list-rollback")
                return
            if listed.version == person.list_version:
                if listed.object_hash != person.list_hash:
                    self._report("device-list-conflict")
                return
            person.list_version, person.list_hash = listed.version, listed.object_hash
            person.devices = listed.devices
        else:
            if self._person_trusted(owner):
                self._report("identity-change")
            person.identity_key = listed.identity_key
            person.list_version, person.list_hash = listed.version, listed.object_hash
            person.devices = listed.devices
        person.newest[listed.identity_key] = listed.version

    def _take_device(self, owner: str, entry: Any) -> str | None:
        """§4.2 (3)."""
        if not isinstance(entry, dict) or not isinstance(entry.get("device_id"), str):
            self._report("invalid-object")
            return None
        if entry.get("key_object") is None:
            return None
        try:
            keys = check_device_object(entry["key_object"])
        except Invalid:
            self._report("invalid-object")
            return None
        if keys.device_id != entry["device_id"] or keys.owner != owner:
            self._report("invalid-object")
            return None
        if keys.device_id == self.device_id:
            own = (self.olm.curve25519_key.to_base64(), self.olm.ed25519_key.to_base64())
            if (keys.curve25519, keys.ed25519) != own:
                self._report("own-keys-substituted")
            return None
        known = self.devices.get(keys.device_id)
        if known is None:
            known = Device(owner, keys.curve25519, keys.ed25519, keys.object_hash)
            self.devices[keys.device_id] = known
        elif known.conflict:
            return None
        elif (known.owner, known.curve25519, known.ed25519) != (
            owner,
            keys.curve25519,
            keys.ed25519,
        ):
            known.conflict = True
            self._report("key-change")
            return None
        known.cases.add(self.case_id)
        return keys.device_id

    def _person_trusted(self, owner: str) -> bool:
        """§4.5 for a phone: it verifies nobody directly, so only through its roster."""
        person = self.people.get(owner)
        if person is None or self.roster is None:
            return False
        member = self.roster.member(owner)
        return member is not None and member.identity_key == person.identity_key

    def device_trusted(self, device_id: str) -> bool:
        """§4.5."""
        device = self.devices.get(device_id)
        if device is None or device.conflict:
            return False
        person = self.people.get(device.owner)
        if person is None or person.devices.get(device_id) != device.object_hash:
            return False
        return self._person_trusted(device.owner)

    def trusted_devices(self) -> set[str]:
        """The recipients of the next message (§4.5)."""
        return {
            device_id
            for device_id, device in self.devices.items()
            if self.case_id in device.cases and self.device_trusted(device_id)
        }

    # ------------------------------------------------------------- §9 messages

    async def _open_sessions(self, device_ids: list[str]) -> list[str]:
        """§5.3: claim a key for each device without a session; returns those left out."""
        missing = [d for d in device_ids if not self._sessions.get(self.devices[d].curve25519)]
        if not missing:
            return []
        reply = await self.call(
            "POST", "/v1/keys/claim", {"case_id": self.case_id, "device_ids": missing}
        )
        left_out = set(missing)
        for item in reply["keys"]:
            device = self.devices.get(item.get("device_id", ""))
            key = item.get("key")
            if device is None or key is None:
                continue
            if (item.get("curve25519"), item.get("ed25519")) != (device.curve25519, device.ed25519):
                continue
            text = (fallback_key_text if item.get("fallback") else one_time_key_text)(
                device.curve25519, key["key_id"], key["key"]
            )
            if not verify(device.ed25519, text, key["signature"]):
                continue
            session = self.olm.create_outbound_session(
                vodozemac.Curve25519PublicKey.from_base64(device.curve25519),
                vodozemac.Curve25519PublicKey.from_base64(key["key"]),
            )
            self._sessions.setdefault(device.curve25519, []).insert(0, session)
            left_out.discard(item["device_id"])
        return sorted(left_out)

    async def send_text(self, text: str) -> dict[str, Any]:
        """§9.3: one envelope per trusted device of the team, one request."""
        await self.refresh()
        recipients = sorted(self.trusted_devices())
        left_out = await self._open_sessions(recipients)
        recipients = [d for d in recipients if d not in left_out]
        if not recipients:
            raise Refused("no trusted device of the team can receive this")
        message_id = secrets.token_urlsafe(16)
        sent_at = datetime.now(UTC).isoformat()
        ciphertexts = []
        for device_id in recipients:
            envelope = {
                "v": 1,
                "message_id": message_id,
                "case_id": self.case_id,
                "sender_device_id": self.device_id,
                "recipient_device_id": device_id,
                "sent_at": sent_at,
                "kind": "text",
                "text": text,
            }
            session = self._sessions[self.devices[device_id].curve25519][0]
            olm_type, body = session.encrypt(json.dumps(envelope).encode()).to_parts()
            ciphertexts.append({"device_id": device_id, "type": olm_type, "body": b64(body)})
        path = f"/v1/cases/{self.case_id}/messages/{message_id}"
        try:
            receipt: dict[str, Any] = await self.call("PUT", path, {"ciphertexts": ciphertexts})
        except Problem as problem:
            gone = set(problem.body.get("unknown_devices", []))
            kept = [c for c in ciphertexts if c["device_id"] not in gone]
            if problem.code != "stale-devices" or not kept or len(kept) == len(ciphertexts):
                raise
            receipt = await self.call("PUT", path, {"ciphertexts": kept})
        return receipt

    def _decrypt(self, curve25519: str, olm_type: int, body: bytes) -> bytes | None:
        """§9.4 (3): sessions with the sender first; a new inbound session for a pre-key
        message that none of them matches."""
        message = vodozemac.AnyOlmMessage.from_parts(olm_type, body)
        pre_key = message.to_pre_key() if olm_type == 0 else None
        sessions = self._sessions.setdefault(curve25519, [])
        for session in sessions:
            if pre_key is not None and not session.session_matches(pre_key):
                continue
            try:
                return session.decrypt(message)
            except ValueError:
                if pre_key is not None:
                    return None
        if pre_key is None:
            return None
        try:
            session, plaintext = self.olm.create_inbound_session(
                vodozemac.Curve25519PublicKey.from_base64(curve25519), pre_key
            )
        except ValueError:
            return None
        sessions.insert(0, session)
        return plaintext

    async def open_frame(self, frame: dict[str, Any]) -> Received | None:
        """§9.4: open one copy; None if it is refused (reported)."""
        sender_id = str(frame["sender_device_id"])
        message_id = str(frame["message_id"])
        copy_id = int(frame["copy_id"])
        if sender_id not in self.devices:
            await self.refresh()
        sender = self.devices.get(sender_id)
        if sender is None or sender.conflict:
            self._report("unknown-sender")
            return None
        seen = self._seen.get((sender_id, message_id))
        if seen is not None:
            if seen != copy_id:
                self._report("replay")
            return None
        try:
            plaintext = self._decrypt(
                sender.curve25519, int(frame["olm_type"]), unb64(str(frame["body"]))
            )
        except ValueError:
            plaintext = None  # not an Olm message at all
        if plaintext is None:
            self._report("decryption-failed")
            return None
        try:
            envelope = json.loads(plaintext)
            bound = (
                envelope.get("v") == 1
                and envelope.get("message_id") == message_id
                and envelope.get("case_id") == frame["case_id"]
                and envelope.get("sender_device_id") == sender_id
                and envelope.get("recipient_device_id") == self.device_id
            )
            datetime.fromisoformat(envelope["sent_at"])
        except (ValueError, KeyError, TypeError, AttributeError):
            bound = False
        if not bound:
            self._report("envelope-mismatch")
            return None
        self._seen[(sender_id, message_id)] = copy_id
        return Received(
            message_id,
            sender_id,
            sender.owner,
            str(envelope.get("kind", "text")),
            str(envelope.get("text", "")),
            self.device_trusted(sender_id),
        )

    async def receive(self, count: int) -> list[Received]:
        """§12: open the WebSocket, take copies until ``count`` messages opened,
        acknowledging each copy (and each durable event) after it is handled. Bound the
        wait with ``asyncio.timeout``."""
        opened: list[Received] = []
        headers = {"Authorization": f"Bearer {self.token}"}
        async with self.http.ws_connect(self.server_url + "/v1/ws", headers=headers) as ws:
            async for frame in ws:
                if frame.type is not aiohttp.WSMsgType.TEXT:
                    break
                data = json.loads(frame.data)
                if data.get("type") == "message":
                    received = await self.open_frame(data)
                    if received is not None:
                        opened.append(received)
                    await ws.send_json({"type": "ack", "copy_ids": [data["copy_id"]]})
                elif isinstance(data.get("event_id"), int):
                    await ws.send_json({"type": "ack", "event_ids": [data["event_id"]]})
                if len(opened) >= count:
                    break
        return opened
