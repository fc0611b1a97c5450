"""How long an SMS is on the air: its encoding and the number of segments it costs.

An SMS segment carries 160 characters of the GSM 03.38 default alphabet (GSM-7), or 70
UTF-16 code units (UCS-2) as soon as one character is outside it (ă, ș, ț, Cyrillic,
ë...). A longer text is split into segments of 153 or 67, because each part carries a
concatenation header. Characters of the GSM-7 extension table (``€``, ``[``, ``{``...)
take two septets. Carriers bill and deliver per segment, and a text split across
segments can arrive out of order on old phones, so short notification texts are
checked against these limits in the tests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final, Literal

__all__ = ["SmsLength", "is_gsm7", "measure_sms"]

# The GSM 03.38 default alphabet, without the escape character (0x1B).
_GSM7_BASIC: Final = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# The extension table: each character is sent as escape + character (two septets).
_GSM7_EXTENSION: Final = frozenset("\f^{}\\[~]|€")

_GSM7_SINGLE: Final = 160
_GSM7_PART: Final = 153
_UCS2_SINGLE: Final = 70
_UCS2_PART: Final = 67


@dataclass(frozen=True, slots=True)
class SmsLength:
    """The encoding an SMS needs, its length in that encoding's units, and its segments."""

    encoding: Literal["GSM-7", "UCS-2"]
    units: int
    segments: int


def is_gsm7(text: str) -> bool:
    """Whether ``text`` can be sent in the GSM-7 default alphabet (with its extension)."""
    return all(ch in _GSM7_BASIC or ch in _GSM7_EXTENSION for ch in text)


def measure_sms(text: str) -> SmsLength:
    """Measure ``text`` as an SMS body: GSM-7 septets or UCS-2 code units, and segments."""
    if is_gsm7(text):
        septets = sum(2 if ch in _GSM7_EXTENSION else 1 for ch in text)
        return SmsLength("GSM-7", septets, _segments(septets, _GSM7_SINGLE, _GSM7_PART))
    # Characters outside the Basic Multilingual Plane (emoji) take two UTF-16 units.
    units = len(text.encode("utf-16-le")) // 2
    return SmsLength("UCS-2", units, _segments(units, _UCS2_SINGLE, _UCS2_PART))


def _segments(units: int, single: int, part: int) -> int:
    if units <= single:
        return 1
    return math.ceil(units / part)
