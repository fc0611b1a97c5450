"""Safety numbers: what two people read to each other to verify their devices.

Like Signal's, each side's half is derived from its Ed25519 identity key and device id
by iterated SHA-512 (5,200 rounds, to make grinding for a look-alike key expensive) and
rendered as 30 digits; the two halves are ordered so both sides see the same 60 digits
in twelve groups of five. A staff device added to a case after enrolment stays
unverified until the witness and the staff member have compared this number (by phone
or video) and both marked it verified.
"""

from __future__ import annotations

import hashlib
import hmac

from client_sdk.crypto import unb64

_ITERATIONS = 5200
_VERSION = b"\x00\x01"


def _half(device_id: str, ed25519: str) -> str:
    key = unb64(ed25519)
    digest = _VERSION + key + device_id.encode()
    for _ in range(_ITERATIONS):
        digest = hashlib.sha512(digest + key).digest()
    digits = []
    for i in range(6):
        chunk = int.from_bytes(digest[i * 5 : i * 5 + 5], "big")
        digits.append(f"{chunk % 100000:05d}")
    return "".join(digits)


def safety_number(device_a: tuple[str, str], device_b: tuple[str, str]) -> str:
    """The 60-digit safety number for two devices given as (device id, Ed25519 key)."""
    halves = sorted([_half(*device_a), _half(*device_b)])
    joined = "".join(halves)
    return " ".join(joined[i : i + 5] for i in range(0, 60, 5))


def same_safety_number(expected: str, given: str) -> bool:
    """Compare ignoring spacing, in constant time."""
    clean = "".join(ch for ch in given if ch.isdigit())
    return hmac.compare_digest(expected.replace(" ", ""), clean)
