"""Enrolling a witness's phone in person, so that the server can neither read nor forge it.

The officer's client (never the server) makes a secret ``S`` of 160 bits and shows it
as a QR code (with the server's address) or as a typed code. Everything else is
derived from ``S`` with HKDF-SHA256, under labels that keep each use apart:

* ``server_token`` — what the phone presents to the server to enrol; the server keeps
  only ``SHA-256(server_token)``, so neither it nor a copy of its database learns ``S``;
* ``k_team`` — the officer's client MACs the team roster with it; the phone pins the
  team only if the MAC checks;
* ``k_phone`` — the phone MACs its new identity key with it; the officer's client
  trusts the witness's identity only if that MAC checks.

Because whoever saw the typed code could also compute these, the two screens finish
with a short authentication string (SAS) over the roster, the phone's identity key and
two nonces exchanged commit-then-reveal (the officer's client commits to its nonce
before the phone sends its own), so a party in the middle cannot choose what both
screens show. The phone and the officer compare it, and only then is enrolment done.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlparse

from wire.encoding import b64, hkdf_sha256, hmac_sha256, same_bytes, sha256_b64, unb64

ENROLMENT_SECRET_BYTES = 20  # 160 bits
NONCE_BYTES = 32
_SECRET_CHARS = ENROLMENT_SECRET_BYTES * 8 // 5  # 32 base32 characters
_QR_PREFIX = "witnesslink://enrol"
_SALT = b"witnesslink enrolment v2"


@dataclass(frozen=True, slots=True)
class EnrolmentCode:
    """The secret handed over in person, and the server address (QR form only)."""

    secret: bytes
    server_url: str | None = None

    def text(self) -> str:
        """The typed form: 32 base32 characters in groups of four."""
        body = base64.b32encode(self.secret).decode("ascii")
        return "-".join(body[i : i + 4] for i in range(0, len(body), 4))

    def qr_payload(self) -> str:
        """The QR form: ``witnesslink://enrol?v=2&c=<base32 secret>[&s=<server URL>]``."""
        query = {"v": "2", "c": base64.b32encode(self.secret).decode("ascii")}
        if self.server_url:
            query["s"] = self.server_url
        return f"{_QR_PREFIX}?{urlencode(query)}"


def new_enrolment_code(server_url: str | None) -> EnrolmentCode:
    return EnrolmentCode(secrets.token_bytes(ENROLMENT_SECRET_BYTES), server_url)


def _secret_from(text: str) -> bytes:
    cleaned = re.sub(r"[^A-Z2-7]", "", text.upper())
    if len(cleaned) != _SECRET_CHARS:
        raise ValueError("an enrolment code has 32 letters and digits")
    return base64.b32decode(cleaned)


def parse_enrolment_code(text: str) -> EnrolmentCode:
    """Parse the QR payload or the typed form (any grouping, any case).

    Raises:
        ValueError: neither form, or the wrong length.
    """
    stripped = text.strip()
    if stripped.lower().startswith(_QR_PREFIX):
        query = parse_qs(urlparse(stripped).query)
        if query.get("v") != ["2"] or len(query.get("c", [])) != 1:
            raise ValueError("this enrolment QR code is incomplete or of another version")
        server = query.get("s", [None])[0]
        return EnrolmentCode(_secret_from(query["c"][0]), server)
    return EnrolmentCode(_secret_from(stripped))


@dataclass(frozen=True, slots=True, repr=False)
class EnrolmentKeys:
    """The keys derived from an enrolment secret."""

    server_token: bytes
    team: bytes
    phone: bytes

    @property
    def code_hash(self) -> bytes:
        """What the server stores and looks the code up by."""
        return hashlib.sha256(self.server_token).digest()


def enrolment_keys(secret: bytes) -> EnrolmentKeys:
    """Derive the server token and both MAC keys from ``S``."""

    def derive(label: bytes) -> bytes:
        return hkdf_sha256(secret, salt=_SALT, info=label)

    return EnrolmentKeys(derive(b"server token"), derive(b"team mac"), derive(b"phone mac"))


def code_hash_of(server_token: bytes) -> bytes:
    """The server's lookup key for a presented server token."""
    return hashlib.sha256(server_token).digest()


def enrolment_context(server_token: bytes) -> str:
    """The registration proof context for an enrolment (a hash, never the token)."""
    return "enrol:" + sha256_b64(server_token)


def team_mac(k_team: bytes, roster_hash: str) -> str:
    """The officer's client vouches for the roster it hands over."""
    return b64(hmac_sha256(k_team, b"witnesslink/enrol/team/v2\n" + roster_hash.encode()))


def phone_mac(k_phone: bytes, identity_key: str) -> str:
    """The phone proves its new identity key came from whoever holds the code."""
    return b64(hmac_sha256(k_phone, b"witnesslink/enrol/phone/v2\n" + identity_key.encode()))


def mac_matches(expected: str, given: str) -> bool:
    """Constant-time comparison of two base64 MACs (malformed input never matches)."""
    try:
        return same_bytes(unb64(expected), unb64(given))
    except ValueError:
        return False


def new_nonce() -> bytes:
    return secrets.token_bytes(NONCE_BYTES)


def commitment(nonce: bytes) -> str:
    """The officer's client publishes this before the phone sends its own nonce."""
    return sha256_b64(b"witnesslink/enrol/commit/v2\n" + nonce)


def sas(roster_hash: str, phone_identity_key: str, officer_nonce: bytes, phone_nonce: bytes) -> str:
    """The short authentication string both screens show: three four-digit numbers.

    As Matrix's decimal SAS: 39 bits taken 13 at a time, each plus 1000.
    """
    info = b"sas\n" + roster_hash.encode() + b"\n" + phone_identity_key.encode()
    material = hkdf_sha256(officer_nonce + phone_nonce, salt=_SALT, info=info, length=5)
    bits = int.from_bytes(material, "big") >> 1  # 39 bits
    numbers = [(bits >> 26) & 0x1FFF, (bits >> 13) & 0x1FFF, bits & 0x1FFF]
    return " ".join(str(n + 1000) for n in numbers)


def same_sas(expected: str, given: str) -> bool:
    """Compare ignoring spacing."""
    return "".join(expected.split()) == "".join(given.split())
