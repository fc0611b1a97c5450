"""Semantic checks on values that arrive from clients (shapes are checked at the edge)."""

from __future__ import annotations

import re
import zoneinfo

from server.errors import InvalidInput

_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")


def check_timezone(name: str) -> str:
    """Raises: InvalidInput unless ``name`` is an IANA timezone such as Europe/Bucharest."""
    if "/" not in name and name != "UTC":
        raise InvalidInput("timezone must be an IANA name such as Europe/Bucharest")
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput("unknown IANA timezone") from exc
    return name


def check_language(tag: str) -> str:
    """Raises: InvalidInput unless ``tag`` looks like a BCP 47 language tag (ro, sq-AL)."""
    if not _LANGUAGE.match(tag):
        raise InvalidInput("language must be a BCP 47 tag such as ro or sq-AL")
    return tag


def check_label(value: str, what: str, *, max_length: int = 64) -> str:
    """A short single-line label (alias, case reference, device name).

    Raises:
        InvalidInput: empty, too long, or containing control characters.
    """
    value = value.strip()
    if not value or len(value) > max_length or any(ord(ch) < 32 for ch in value):
        raise InvalidInput(f"{what} must be 1 to {max_length} printable characters")
    return value
