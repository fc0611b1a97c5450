"""Phone numbers and SMS code words: sealed at rest, found by a keyed blind index.

A phone number is stored twice: sealed (to send to it) and as a keyed BLAKE2b digest of
its E.164 form (to recognise the sender of an inbound SMS without decrypting every
row). The index keys are derived from the blind-index root — the server key in use when
the root was recorded (:mod:`server.domain.server_keys`), kept unchanged across key
rotations because code-word digests cannot be recomputed — so a database dump alone can
neither read numbers nor confirm a guessed one. SMS code words are stored only as keyed
digests.
"""

from __future__ import annotations

import hmac
import re
import unicodedata

import nacl.hash

from server.errors import InvalidInput
from server.security.sealing import Sealer

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")


def normalise_phone(number: str) -> str:
    """Strip spaces, dashes, dots and brackets; require E.164 (+ and 7-15 digits).

    Raises:
        InvalidInput: not an international number.
    """
    compact = re.sub(r"[\s\-().]", "", number)
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    if not _E164.match(compact):
        raise InvalidInput("phone numbers must be international, e.g. +40 712 345 678")
    return compact


def masked_phone(number: str) -> str:
    """An E.164 number with all but its country prefix's first digit and its last three
    digits hidden (``+4•••••••678``): enough for its owner to recognise it, too little
    for someone reading over their shoulder to call it."""
    if len(number) < 6:
        return "•" * len(number)
    return number[:2] + "•" * (len(number) - 5) + number[-3:]


def normalise_word(word: str) -> str:
    """Case, accents and surrounding space do not matter in an SMS code word."""
    decomposed = unicodedata.normalize("NFKD", word.strip().casefold())
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).split())


class PhoneBook:
    """Seals numbers and computes blind indexes with keys derived from the index root."""

    def __init__(self, sealer: Sealer, index_root: bytes) -> None:
        self._sealer = sealer
        self._index_key = nacl.hash.blake2b(
            index_root, key=b"", person=b"wl-phone-index", encoder=nacl.encoding.RawEncoder
        )
        self._word_key = nacl.hash.blake2b(
            index_root, key=b"", person=b"wl-sms-words", encoder=nacl.encoding.RawEncoder
        )

    def __repr__(self) -> str:
        return "PhoneBook(<keys hidden>)"

    def seal(self, number: str) -> tuple[bytes, bytes]:
        """(sealed number, blind index) for a number; validates it first.

        Raises:
            InvalidInput: not an international number.
        """
        normal = normalise_phone(number)
        return self._sealer.seal(normal), self.index(normal)

    def index(self, number: str) -> bytes:
        return nacl.hash.blake2b(
            normalise_phone(number).encode(), key=self._index_key, encoder=nacl.encoding.RawEncoder
        )

    def open(self, sealed: bytes) -> str:
        return self._sealer.open(sealed)

    def word_digest(self, purpose: str, word: str) -> bytes:
        return nacl.hash.blake2b(
            f"{purpose}\n{normalise_word(word)}".encode(),
            key=self._word_key,
            encoder=nacl.encoding.RawEncoder,
        )

    def word_matches(self, purpose: str, word: str, digest: bytes | None) -> bool:
        return digest is not None and hmac.compare_digest(self.word_digest(purpose, word), digest)
