"""The door code: what the visitor's device and the witness's phone both show when the
home-country team's visitor arrives, so the witness can check, before opening the
door, that this is the person the team sent.

Both sides compute it from keys each already trusts and from a nonce only the two of
them hold: the visitor's device makes a fresh 32-byte nonce at the door and sends it end
to end encrypted to the witness's phone alone. The phone takes the visitor's identity
key from its own trust store (the roster the officer's client vouched for), never from
the server, and only from a message whose sending device chains to that person. So a
device of anyone else (another staff member, a device the server adds) either cannot
send a nonce the phone accepts for this visit or gives a different code, and a server
that swaps a key is refused by the trust rules before any code is shown.

``door_code`` = the first five bytes of HKDF-SHA256(ikm = nonce, salt = "witnesslink
door v1", info = "door\\n" ‖ visitor owner ‖ "\\n" ‖ visitor identity key ‖ "\\n" ‖
witness owner ‖ "\\n" ‖ witness identity key ‖ "\\n" ‖ visit id ‖ "\\n" ‖ version), read
as a big-endian integer mod 1 000 000, six digits written "123 456".
"""

from __future__ import annotations

import hmac
import secrets

from wire.encoding import b64, hkdf_sha256, unb64

DOOR_SALT = b"witnesslink door v1"
NONCE_BYTES = 32
CODE_DIGITS = 6


class DoorCodeError(ValueError):
    """The inputs cannot make a door code (a malformed nonce)."""


def new_door_nonce() -> str:
    """A fresh nonce for one arrival at the door (base64)."""
    return b64(secrets.token_bytes(NONCE_BYTES))


def door_info(
    visitor_owner: str,
    visitor_identity_key: str,
    witness_owner: str,
    witness_identity_key: str,
    visit_id: str,
    visit_version: int,
) -> bytes:
    """The HKDF info: who is at the door, who opens it, and which visit (in that order)."""
    parts = [
        visitor_owner,
        visitor_identity_key,
        witness_owner,
        witness_identity_key,
        visit_id,
        str(int(visit_version)),
    ]
    for part in parts:
        if "\n" in part:
            raise DoorCodeError("a door code input may not contain a line break")
    return b"door\n" + "\n".join(parts).encode()


def door_code(
    nonce: str,
    *,
    visitor_owner: str,
    visitor_identity_key: str,
    witness_owner: str,
    witness_identity_key: str,
    visit_id: str,
    visit_version: int,
) -> str:
    """The six-digit code both screens show, as "123 456".

    Raises:
        DoorCodeError: the nonce is not 32 bytes of base64.
    """
    try:
        raw = unb64(nonce)
    except ValueError as error:
        raise DoorCodeError("the door nonce is not base64") from error
    if len(raw) != NONCE_BYTES:
        raise DoorCodeError("the door nonce must be 32 bytes")
    info = door_info(
        visitor_owner,
        visitor_identity_key,
        witness_owner,
        witness_identity_key,
        visit_id,
        visit_version,
    )
    okm = hkdf_sha256(raw, salt=DOOR_SALT, info=info, length=5)
    value = int.from_bytes(okm, "big") % 10**CODE_DIGITS
    digits = f"{value:0{CODE_DIGITS}d}"
    return f"{digits[:3]} {digits[3:]}"


def same_door_code(expected: str, given: str) -> bool:
    """Compare two codes on their ASCII digits only, in constant time."""
    clean = "".join(ch for ch in given if ch in "0123456789")
    return hmac.compare_digest(expected.replace(" ", "").encode(), clean.encode())
