"""Loading the gettext catalogues: ``.po`` files compiled in memory, one per language.

The catalogues ship as the ``.po`` files translators edit
(``wire/i18n/locales/<lang>/LC_MESSAGES/witnesslink.po``). At first use Babel parses
one and compiles it into MO bytes in memory, which :class:`gettext.GNUTranslations`
reads; no build step, and no ``.mo`` files in the repository or the wheel.

Untranslated and fuzzy entries are left out when compiling, and so are translations
whose ``%(name)s`` placeholders would not format with the msgid's values; all of these
fall back to the English msgid instead of showing a half-finished text or raising while
an alert is being sent. A catalogue that is missing or cannot be read is logged and
replaced by English: a notification in English is better than none.
"""

from __future__ import annotations

import functools
import gettext
import io
import logging
import re
from importlib.resources import files
from typing import IO, Final

from babel.core import UnknownLocaleError
from babel.messages.catalog import Catalog, Message
from babel.messages.mofile import write_mo
from babel.messages.pofile import PoFileError, read_po

__all__ = [
    "DOMAIN",
    "SOURCE_LANGUAGE",
    "SUPPORTED_LANGUAGES",
    "Translator",
    "compile_po",
    "normalise_language",
    "preload",
    "translator",
]

log = logging.getLogger(__name__)

#: The gettext domain: the catalogue file name without ``.po``.
DOMAIN: Final = "witnesslink"
#: The language msgids are written in; it needs no catalogue.
SOURCE_LANGUAGE: Final = "en"
#: Languages with a catalogue, as lower-case ISO 639-1 codes. The first is the default.
SUPPORTED_LANGUAGES: Final = ("en", "ro", "bg", "sq", "fr", "es")

# Three-letter codes (ISO 639-2/B, 639-2/T and 639-3) and deprecated or more specific
# codes that mean a supported language. "mo" is the withdrawn code for Romanian as
# written in Moldova; "aln" and "als" are Gheg (Kosovo, north Albania) and Tosk Albanian.
_ALIASES: Final = {
    "eng": "en",
    "ron": "ro",
    "rum": "ro",
    "mo": "ro",
    "mol": "ro",
    "bul": "bg",
    "sqi": "sq",
    "alb": "sq",
    "aln": "sq",
    "als": "sq",
    "fra": "fr",
    "fre": "fr",
    "spa": "es",
}


def normalise_language(tag: str) -> str:
    """Map a language tag to a supported language, or English when there is none.

    Accepts BCP 47 tags (``"ro-RO"``, ``"sq-AL"``, ``"es-419"``), their POSIX spelling
    (``"ro_RO.UTF-8"``), any letter case, and three-letter ISO 639 codes. Only the
    primary language subtag matters: regional variants share one catalogue.
    """
    primary = tag.strip().replace("_", "-").split("-", 1)[0]
    primary = primary.split(".", 1)[0].split("@", 1)[0].lower()
    primary = _ALIASES.get(primary, primary)
    return primary if primary in SUPPORTED_LANGUAGES else SOURCE_LANGUAGE


class Translator:
    """The gettext functions for one language.

    ``language`` is the language actually used: ``"en"`` when the requested one is not
    supported or its catalogue could not be loaded. Messages without a translation come
    back as the (English) msgid.
    """

    __slots__ = ("_catalogue", "language")

    def __init__(self, language: str, catalogue: gettext.NullTranslations) -> None:
        self.language = language
        self._catalogue = catalogue

    def __repr__(self) -> str:
        return f"Translator(language={self.language!r})"

    def gettext(self, message: str) -> str:
        """Translate ``message``."""
        return self._catalogue.gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        """Translate a message whose form depends on the number ``n``.

        The language's Plural-Forms rule picks the form (Romanian has three), so callers
        must format the result with ``n`` themselves.
        """
        return self._catalogue.ngettext(singular, plural, n)

    def pgettext(self, context: str, message: str) -> str:
        """Translate ``message`` as meant in ``context`` (a gettext msgctxt)."""
        return self._catalogue.pgettext(context, message)

    def npgettext(self, context: str, singular: str, plural: str, n: int) -> str:
        """:meth:`ngettext` with a gettext msgctxt."""
        return self._catalogue.npgettext(context, singular, plural, n)


def translator(language: str) -> Translator:
    """The translator for a language tag; see :func:`normalise_language`.

    Cached per language: the first call for a language reads and compiles its
    catalogue (a small file read; call :func:`preload` at start-up to keep that off
    the event loop).
    """
    return _translator_for(normalise_language(language))


def preload() -> None:
    """Load every supported catalogue now, so later calls never touch the disk."""
    for language in SUPPORTED_LANGUAGES:
        _translator_for(language)


@functools.cache
def _translator_for(language: str) -> Translator:
    if language == SOURCE_LANGUAGE:
        return Translator(SOURCE_LANGUAGE, gettext.NullTranslations())
    try:
        catalogue = _compile(language)
    except (OSError, ValueError, PoFileError, UnknownLocaleError):
        log.exception("catalogue for %r could not be loaded; using English", language)
        return Translator(SOURCE_LANGUAGE, gettext.NullTranslations())
    return Translator(language, catalogue)


def _compile(language: str) -> gettext.GNUTranslations:
    """Read the packaged ``<language>/LC_MESSAGES/witnesslink.po`` and compile it.

    Raises:
        OSError: if the file is missing or unreadable.
        PoFileError, ValueError: if it is not a valid catalogue.
    """
    package = __name__.rpartition(".")[0]
    resource = files(package).joinpath("locales", language, "LC_MESSAGES", f"{DOMAIN}.po")
    with resource.open("rb") as po_file:
        return compile_po(po_file, language)


def compile_po(po_file: IO[bytes], language: str) -> gettext.GNUTranslations:
    """Parse a ``.po`` file and compile it in memory into gettext translations.

    Fuzzy and empty entries are left out, and so are translations whose placeholders
    would not format (see :func:`_drop_unusable`); all fall back to the msgid.

    Raises:
        PoFileError: if the file is not valid PO syntax.
        ValueError: if the Plural-Forms header is not a valid expression.
        UnknownLocaleError: if ``language`` is not a locale Babel knows.
    """
    catalogue = read_po(po_file, locale=language, domain=DOMAIN, abort_invalid=True)
    _drop_unusable(catalogue)
    compiled = io.BytesIO()
    write_mo(compiled, catalogue, use_fuzzy=False)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


# A %-placeholder: "%(name)s", "%(count)d", or an unnamed one such as "%d"; "%%" is
# matched too, so that it is not mistaken for the start of a placeholder.
_PLACEHOLDER: Final = re.compile(r"%(?:\((?P<name>[^)]*)\))?[#0 +-]*\d*(?:\.\d+)?[a-zA-Z%]")


def _drop_unusable(catalogue: Catalog) -> None:
    """Blank every translation that would fail when formatted the way its msgid is.

    Code formats a message that has placeholders with a dict of the msgid's names. A
    translation naming a placeholder the msgid lacks, or with a stray ``%``, would raise
    there; blanked, it falls back to English (:func:`write_mo` skips empty strings).
    """
    for message in catalogue:
        if not message.id or not message.python_format:
            continue
        ids = message.id if isinstance(message.id, (list, tuple)) else (message.id,)
        values = {
            match["name"]: 1
            for msgid in ids
            for match in _PLACEHOLDER.finditer(msgid)
            if match["name"] is not None
        }
        strings = _strings(message)
        usable = [text if _formats(text, values) else "" for text in strings]
        if usable != strings:
            log.error(
                "%s: translation of %r has placeholders that do not match; using English",
                catalogue.locale_identifier,
                ids[0],
            )
            message.string = tuple(usable) if message.pluralizable else usable[0]


def _strings(message: Message) -> list[str]:
    if isinstance(message.string, (list, tuple)):
        return list(message.string)
    return [message.string or ""]


def _formats(text: str, values: dict[str, int]) -> bool:
    if not text:
        return True
    try:
        _ = text % values
    except (KeyError, ValueError, TypeError):
        return False
    return True
