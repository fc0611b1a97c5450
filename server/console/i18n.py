"""The console's own catalogue (gettext domain "console"): English and Romanian.

Staff-facing words live apart from the witness-facing catalogue so that each can be
complete in the languages its readers need. Unknown languages fall back to English.
"""

from __future__ import annotations

import functools
import gettext
import logging
from importlib.resources import files

from wire.i18n.catalogues import compile_po

log = logging.getLogger(__name__)

CONSOLE_LANGUAGES = ("en", "ro")
LANGUAGE_NAMES = {"en": "English", "ro": "Română"}


@functools.cache
def console_translations(language: str) -> gettext.NullTranslations:
    """The language's console catalogue; English (the source text) if it is missing or
    broken — a bad translation file must never take the console down."""
    if language not in CONSOLE_LANGUAGES or language == "en":
        return gettext.NullTranslations()
    resource = files("server.console").joinpath("locales", language, "LC_MESSAGES", "console.po")
    try:
        with resource.open("rb") as po_file:
            return compile_po(po_file, language)
    except Exception:  # any failure here falls back to English
        log.exception("console catalogue for %r could not be loaded; using English", language)
        return gettext.NullTranslations()


def pick_language(chosen: str | None, accept_language: str | None) -> str:
    """The session's choice, else the browser's first supported preference, else English."""
    if chosen in CONSOLE_LANGUAGES:
        return chosen
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()[:2]
        if tag in CONSOLE_LANGUAGES:
            return tag
    return "en"
