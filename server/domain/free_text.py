"""One rule for every piece of free text people type: no control or invisible
formatting characters.

A right-to-left override (U+202E) makes ``exe.txt`` read ``txt.exe`` and can reverse
what a supervisor reads in an alert note; a NUL in an SMS code word is stored but can
never be typed back; escape characters end up in a terminal reading the logs. So free
text from outside is refused, with an error naming the field and the character, if it
contains a character of Unicode category Cc (controls) or Cf (format: bidi embeddings,
overrides and isolates, zero-width space, byte-order mark, soft hyphen...), or a line
or paragraph separator (U+2028, U+2029), or a lone surrogate or private-use character.

Allowed exceptions:

* tab, line feed and carriage return where multi-line text is allowed (a note);
* zero-width non-joiner and joiner (U+200C, U+200D): they are part of writing Persian
  and several Indic languages correctly, and of emoji sequences; they reorder nothing.

The same function checks the API's request models (:mod:`server.api.models`), the
console's forms and the SMS code words in the domain, so the rule cannot drift.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from functools import cache
from typing import Final

from server.errors import InvalidInput

__all__ = ["MULTILINE_WHITESPACE", "UnsafeText", "check_free_text", "unsafe_text_problem"]

#: What multi-line text may contain besides printable characters.
MULTILINE_WHITESPACE: Final = frozenset("\t\n\r")
_ALLOWED_FORMAT: Final = frozenset("\u200c\u200d")
_REFUSED_CATEGORIES: Final = frozenset({"Cc", "Cf", "Cs", "Co", "Zl", "Zp"})


class UnsafeText(InvalidInput):
    """Free text holds a control or formatting character; the detail names both."""


@cache
def _pattern(multiline: bool) -> re.Pattern[str]:
    """A character class of every refused code point, built once from the Unicode
    database of this Python (so new format characters are covered as it updates)."""
    ranges: list[tuple[int, int]] = []
    for point in range(sys.maxunicode + 1):
        char = chr(point)
        refused = unicodedata.category(char) in _REFUSED_CATEGORIES
        if char in _ALLOWED_FORMAT or (multiline and char in MULTILINE_WHITESPACE):
            refused = False
        if not refused:
            continue
        if ranges and ranges[-1][1] == point - 1:
            ranges[-1] = (ranges[-1][0], point)
        else:
            ranges.append((point, point))
    parts = "".join(
        f"\\U{low:08x}" if low == high else f"\\U{low:08x}-\\U{high:08x}" for low, high in ranges
    )
    return re.compile(f"[{parts}]")


def unsafe_text_problem(value: str, *, field: str, multiline: bool = False) -> str | None:
    """Why ``value`` is refused, or None if it is clean.

    The message names the field, the code point and its position, never the text (it
    may be personal): "note contains U+202E (RIGHT-TO-LEFT OVERRIDE) at position 12;
    control and invisible formatting characters are not allowed".
    """
    if value.isprintable():
        # Fast path (C speed; a 96 KiB base64 body in well under a millisecond): every
        # refused category is non-printable, so printable text has nothing to refuse.
        return None
    found = _pattern(multiline).search(value)
    if found is None:
        return None
    char = found.group()
    name = unicodedata.name(char, "a control character")
    allowed = " (tab and line breaks are)" if multiline else ""
    return (
        f"{field} contains U+{ord(char):04X} ({name}) at position {found.start()}; control"
        f" and invisible formatting characters are not allowed{allowed}"
    )


def check_free_text(value: str, *, field: str, multiline: bool = False) -> None:
    """Refuse ``value`` if it holds a control or invisible formatting character.

    Raises:
        UnsafeText: the detail is :func:`unsafe_text_problem`'s message.
    """
    problem = unsafe_text_problem(value, field=field, multiline=multiline)
    if problem is not None:
        raise UnsafeText(problem)
