"""Translations: language tags, gettext catalogues and the product's texts.

English is the source language; ``locales/<lang>/LC_MESSAGES/witnesslink.po`` hold the
translations and are compiled in memory when first used (see :mod:`.catalogues`).
Product code takes its texts from :mod:`wire.i18n.texts` rather than calling gettext
itself, so every text can be reviewed, and tested for what it must never say, in one
place.
"""

from wire.i18n.catalogues import (
    DOMAIN,
    SOURCE_LANGUAGE,
    SUPPORTED_LANGUAGES,
    Translator,
    normalise_language,
    preload,
    translator,
)

__all__ = [
    "DOMAIN",
    "SOURCE_LANGUAGE",
    "SUPPORTED_LANGUAGES",
    "Translator",
    "normalise_language",
    "preload",
    "translator",
]
