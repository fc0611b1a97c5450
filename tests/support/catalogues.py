"""Reading gettext catalogues in tests: the ``.po`` files translators edit.

Shared by the witness-app catalogue tests and the staff console's, so both check
placeholders and translations the same way.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.pofile import read_po

# "%(name)s" and friends, bare "%s", and "{name}".
PLACEHOLDER = re.compile(r"%\([^)]*\)[#0 +-]*\d*(?:\.\d+)?[a-zA-Z]|%[#0 +-]*\d*[a-zA-Z]|\{[^{}]*\}")


def placeholders(text: str) -> set[str]:
    """The placeholders a message uses ("%%" is a literal percent, not one)."""
    return set(PLACEHOLDER.findall(text.replace("%%", "")))


def load(path: Path, language: str | None = None) -> Catalog:
    """Parse a catalogue, failing on anything malformed."""
    with path.open("rb") as po_file:
        return read_po(po_file, locale=language, abort_invalid=True)


def messages(catalogue: Catalog) -> Iterator[Message]:
    """Every real message (the header entry has an empty id)."""
    return (message for message in catalogue if message.id)


def ids(message: Message) -> list[str]:
    """The message's ids: one, or the singular and plural."""
    return list(message.id) if isinstance(message.id, (tuple, list)) else [message.id]


def key(message: Message) -> tuple[str | None, str]:
    """Context and singular id: how a message is matched between catalogues."""
    return (message.context, ids(message)[0])


def strings(message: Message) -> list[str]:
    """The translation's forms: one, or one per plural form."""
    if isinstance(message.string, (tuple, list)):
        return list(message.string)
    return [message.string or ""]
