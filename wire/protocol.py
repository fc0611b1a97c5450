"""The wire contract shared by the SDK and the server.

Byte-exact formats that both sides sign, verify or hash: one-time and fallback key
signatures, device registration proofs, the case-team fingerprint carried in the
enrolment QR code, and the enrolment code's text and QR forms. The server imports this
module so that there is exactly one definition of each format. Every format carries a
version label so that it can change without ambiguity.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlparse

PROTOCOL_VERSION = 1
ENROLMENT_SECRET_BYTES = 20  # 160 bits, above the required 128
_B32_CHARS = ENROLMENT_SECRET_BYTES * 8 // 5  # 32 characters
_TEXT_FINGERPRINT_CHARS = 12  # 60 bits of the team fingerprint, for the typed form
_QR_SCHEME = "witnesslink"


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


def enrolment_context(secret: str) -> str:
    """The proof context for an enrolment: a hash of the code, never the code itself."""
    return "enrol:" + hashlib.sha256(normalise_secret(secret).encode()).hexdigest()


def login_context(username: str) -> str:
    return f"login:{username}"


@dataclass(frozen=True, slots=True)
class TeamDevice:
    """A case-team device as pinned by a witness phone."""

    device_id: str
    curve25519: str
    ed25519: str


def team_fingerprint(devices: Iterable[TeamDevice]) -> str:
    """SHA-256 (hex) over the sorted team device identities.

    Computed by the server when it issues an enrolment code (and printed into the QR
    code) and by the phone over the keys the server hands it at enrolment: if they
    differ, someone has substituted keys and the phone refuses to enrol.
    """
    lines = sorted(f"{d.device_id} {d.curve25519} {d.ed25519}" for d in devices)
    digest = hashlib.sha256(("witnesslink/team/v1\n" + "\n".join(lines)).encode()).hexdigest()
    return digest


def new_enrolment_secret() -> str:
    """A fresh enrolment secret: 160 random bits as 32 base32 characters."""
    raw = secrets.token_bytes(ENROLMENT_SECRET_BYTES)
    return base64.b32encode(raw).decode("ascii")


def normalise_secret(text: str) -> str:
    """Upper-case and strip separators, so a typed code matches however it was grouped."""
    return re.sub(r"[^A-Z2-7]", "", text.upper())


def enrolment_secret_hash(secret: str) -> bytes:
    """How the server stores a code: a hash, so a database leak reveals no usable code."""
    return hashlib.sha256(
        b"witnesslink/enrolment/v1\n" + normalise_secret(secret).encode()
    ).digest()


def _fingerprint_b32(fingerprint_hex: str) -> str:
    return base64.b32encode(bytes.fromhex(fingerprint_hex)).decode("ascii")


@dataclass(frozen=True, slots=True)
class EnrolmentCode:
    """An enrolment code as handed over in person: secret plus team fingerprint."""

    secret: str
    team_fingerprint: str
    server_url: str | None = None

    def text(self) -> str:
        """The typed form: the secret and the start of the team fingerprint, in groups."""
        body = self.secret + _fingerprint_b32(self.team_fingerprint)[:_TEXT_FINGERPRINT_CHARS]
        return "-".join(body[i : i + 4] for i in range(0, len(body), 4))

    def qr_payload(self) -> str:
        """The QR form: a URI carrying the whole fingerprint and the server address."""
        query = {"c": self.secret, "f": self.team_fingerprint}
        if self.server_url:
            query["s"] = self.server_url
        return f"{_QR_SCHEME}://enrol?{urlencode(query)}"

    def matches_fingerprint(self, fingerprint_hex: str) -> bool:
        """Whether a computed team fingerprint agrees with what this code carries.

        A code parsed from the typed form carries only a prefix of the fingerprint.
        """
        if len(self.team_fingerprint) == 64:
            return secrets.compare_digest(self.team_fingerprint, fingerprint_hex)
        expected = _fingerprint_b32(fingerprint_hex)[:_TEXT_FINGERPRINT_CHARS]
        return secrets.compare_digest(self.team_fingerprint, expected)


def parse_enrolment_code(text: str) -> EnrolmentCode:
    """Parse either the QR payload or the typed form.

    Raises:
        ValueError: if ``text`` is neither.
    """
    stripped = text.strip()
    if stripped.lower().startswith(f"{_QR_SCHEME}://"):
        parsed = urlparse(stripped)
        query = parse_qs(parsed.query)
        try:
            secret = normalise_secret(query["c"][0])
            fingerprint = query["f"][0].lower()
        except (KeyError, IndexError) as exc:
            raise ValueError("enrolment QR code is incomplete") from exc
        if len(secret) != _B32_CHARS or not re.fullmatch(r"[0-9a-f]{64}", fingerprint):
            raise ValueError("enrolment QR code is malformed")
        server = query.get("s", [None])[0]
        return EnrolmentCode(secret=secret, team_fingerprint=fingerprint, server_url=server)
    body = normalise_secret(stripped)
    if len(body) != _B32_CHARS + _TEXT_FINGERPRINT_CHARS:
        raise ValueError("enrolment code has the wrong length")
    return EnrolmentCode(secret=body[:_B32_CHARS], team_fingerprint=body[_B32_CHARS:])


def checkin_response_payload(checkin_id: str, nonce: str, device_id: str, status: str) -> bytes:
    """What a phone signs to answer a check-in prompt: bound to that prompt (its id and
    one-time nonce) and to the answering device, so it can be neither replayed nor
    moved to another prompt or witness."""
    return f"witnesslink/checkin/v1\n{checkin_id}\n{nonce}\n{device_id}\n{status}".encode()
