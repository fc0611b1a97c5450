"""Byte-level conventions every witnesslink object uses.

* **base64**: the standard alphabet without padding (as vodozemac emits keys);
  decoders accept padding too.
* **Canonical JSON** (as Matrix's): UTF-8, object keys sorted by code point, no
  insignificant whitespace, no floats; what is signed and hashed.
* **HKDF-SHA256** (RFC 5869) and **HMAC-SHA256** for every derived key and MAC.

All of it is plain standard-library code, so that an independent client can match it
byte for byte.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any


def b64(data: bytes) -> str:
    """Standard base64 without padding."""
    return base64.b64encode(data).decode("ascii").rstrip("=")


def unb64(text: str) -> bytes:
    """Decode standard base64, padded or not.

    Raises:
        ValueError: not base64.
    """
    if not isinstance(text, str):
        raise ValueError("base64 text expected")
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def canonical_json(value: Any) -> bytes:
    """Canonical JSON bytes of ``value`` (dicts, lists, strings, ints, bools, None).

    Raises:
        ValueError: a float, a non-string key, or another type JSON cannot carry.
    """
    _refuse_floats(value)
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def _refuse_floats(value: Any) -> None:
    if isinstance(value, float):
        raise ValueError("canonical JSON carries no floats")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError("canonical JSON keys are strings")
            _refuse_floats(item)
    elif isinstance(value, list):
        for item in value:
            _refuse_floats(item)


def sha256_b64(data: bytes) -> str:
    """SHA-256 of ``data`` in unpadded base64."""
    return b64(hashlib.sha256(data).digest())


def hmac_sha256(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


def hkdf_sha256(ikm: bytes, *, salt: bytes, info: bytes, length: int = 32) -> bytes:
    """HKDF-SHA256 (RFC 5869): extract with ``salt``, expand with ``info``."""
    prk = hmac_sha256(salt or b"\0" * 32, ikm)
    out = b""
    block = b""
    counter = 1
    while len(out) < length:
        block = hmac_sha256(prk, block + info + bytes([counter]))
        out += block
        counter += 1
    return out[:length]


def same_bytes(a: bytes, b: bytes) -> bool:
    """Constant-time equality."""
    return hmac.compare_digest(a, b)
