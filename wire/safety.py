"""Safety numbers: what two people read to each other to verify each other's identity.

Signal's construction, over the two people's *identity* keys (so a new device of a
verified person needs no new comparison): each side's half is 5,200 rounds of SHA-512
over a version, the identity key and the person's reference, rendered as 30 digits;
the halves are sorted so both sides see the same 60 digits in twelve groups of five.
"""

from __future__ import annotations

import hashlib
import hmac

from wire.encoding import unb64

_ITERATIONS = 5200
_VERSION = b"\x00\x02"


def _half(owner: str, identity_key: str) -> str:
    key = unb64(identity_key)
    digest = _VERSION + key + owner.encode()
    for _ in range(_ITERATIONS):
        digest = hashlib.sha512(digest + key).digest()
    return "".join(
        f"{int.from_bytes(digest[i * 5 : i * 5 + 5], 'big') % 100000:05d}" for i in range(6)
    )


def safety_number(person_a: tuple[str, str], person_b: tuple[str, str]) -> str:
    """The 60-digit safety number for two people given as (owner reference, identity key)."""
    joined = "".join(sorted([_half(*person_a), _half(*person_b)]))
    return " ".join(joined[i : i + 5] for i in range(0, 60, 5))


def same_safety_number(expected: str, given: str) -> bool:
    """Compare ignoring everything but the digits 0-9, in constant time (other
    characters, including other scripts' digits, never match)."""
    clean = "".join(ch for ch in given if ch in "0123456789")
    return hmac.compare_digest(expected.replace(" ", "").encode(), clean.encode())
