"""Translations: complete catalogues, correct plurals, and texts that never give a witness away.

The SMS texts go to phones a trafficker may read, so every language is checked for
words that name police, courts, cases or witnesses, accents and case ignored. The
catalogues are the ``.po`` files translators edit, loaded without any build step.
"""

from __future__ import annotations

import io
import re
import unicodedata
from collections.abc import Callable
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import write_po

import wire.i18n
from tests.support.catalogues import key, load, messages, placeholders, strings
from wire.i18n import SUPPORTED_LANGUAGES, catalogues, normalise_language, translator
from wire.i18n.sms_length import is_gsm7, measure_sms
from wire.i18n.texts import (
    REMINDER_KINDS,
    SEVERITIES,
    appointment_nudge,
    checkin_nudge,
    checkin_nudge_with_sms_reply,
    reminder_body,
    reminder_title,
    staff_alert_sms,
)

try:
    from babel.messages.frontend import parse_mapping_cfg
except ImportError:  # Babel < 2.15
    from babel.messages.frontend import parse_mapping as parse_mapping_cfg

REPO_ROOT = Path(__file__).resolve().parents[2]
LOCALES = Path(wire.i18n.__file__).parent / "locales"
TEMPLATE = LOCALES / "witnesslink.pot"
TRANSLATED = tuple(lang for lang in SUPPORTED_LANGUAGES if lang != "en")

# Plural rules as GNU gettext and CLDR define them for integers.
EXPECTED_PLURAL_FORMS = {
    "ro": "nplurals=3; plural=(n==1 ? 0 : (n==0 || (n%100 > 0 && n%100 < 20)) ? 1 : 2);",
    "bg": "nplurals=2; plural=(n != 1);",
    "sq": "nplurals=2; plural=(n != 1);",
    "fr": "nplurals=2; plural=(n > 1);",
    "es": "nplurals=2; plural=(n != 1);",
}

WITNESS_SMS: dict[str, Callable[[str], str]] = {
    "checkin_nudge": checkin_nudge,
    "checkin_nudge_with_sms_reply": checkin_nudge_with_sms_reply,
    "appointment_nudge": appointment_nudge,
}

# Words that name the justice system or the person's role, in every supported language
# (and English everywhere, since English is the fallback). Matched at the start of a
# word, so stems cover inflections: "poliți" catches poliție, poliția, polițist.
INSTITUTION_STEMS = (
    # English
    "police", "polic", "court", "case", "trial", "witness", "judge", "prosecut",
    "magistrat", "lawyer", "attorney", "tribunal", "testif", "testimon", "evidence",
    "traffick", "victim",
    # Romanian
    "poliți", "poliţi", "instanț", "instanţ", "judecă", "proces", "martor", "mărturi",
    "procuror", "dosar", "caz", "avocat", "anchet", "trafic", "depoziți",
    # Bulgarian
    "полиц", "съд", "дело", "свидетел", "прокур", "разпит", "процес", "трафик", "жертв",
    "адвокат", "показани",
    # Albanian
    "gjykat", "gjyq", "dëshmi", "prokuror", "çështj", "trafik", "viktim", "avokat",
    "hetim", "hetues",
    # French
    "procès", "témoi", "procureur", "plainte", "enquête", "gendarm", "affaire",
    # Spanish
    "policía", "juicio", "juzgado", "juez", "testig", "fiscal", "caso", "denuncia",
    "abogado", "víctima",
)  # fmt: skip
INSTITUTION_WORDS = ("cour", "мвр")  # whole words only: "cour" is also in "courant"
# Words for the hearing itself: allowed inside the unlocked app, never in an SMS.
HEARING_STEMS = (
    "hearing", "audier", "изслушван", "заседани", "seanc", "dëgjes", "audience",
    "audiencia",
)  # fmt: skip


def fold(text: str) -> str:
    """Lower-case ``text`` and strip accents: ş and ș, é and e compare equal."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


def _pattern(stems: tuple[str, ...], words: tuple[str, ...] = ()) -> re.Pattern[str]:
    alternatives = [re.escape(fold(stem)) for stem in stems]
    alternatives += [re.escape(fold(word)) + r"\b" for word in words]
    return re.compile(r"\b(?:" + "|".join(alternatives) + ")")


INSTITUTIONS = _pattern(INSTITUTION_STEMS, INSTITUTION_WORDS)
HEARING = _pattern(HEARING_STEMS)


def forbidden_in_sms(text: str) -> list[str]:
    folded = fold(text)
    return INSTITUTIONS.findall(folded) + HEARING.findall(folded)


def forbidden_in_app(text: str) -> list[str]:
    return INSTITUTIONS.findall(fold(text))


@pytest.fixture(scope="module")
def template() -> Catalog:
    return load(TEMPLATE)


# --- the catalogues ------------------------------------------------------------------


def test_template_is_up_to_date_with_the_source(template: Catalog) -> None:
    # Someone who adds a text must run `pybabel extract` (see wire/i18n/README.md).
    with (REPO_ROOT / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)  # type: ignore[no-untyped-call]
    extracted = {
        (context, msgid[0] if isinstance(msgid, tuple) else msgid)
        for _file, _line, msgid, _comments, context in extract_from_dir(
            str(REPO_ROOT), method_map, options_map
        )
    }
    assert extracted == {key(message) for message in messages(template)}
    assert extracted, "nothing was extracted; is babel.cfg pointing at the sources?"


def test_template_msgids_use_the_same_placeholders_in_singular_and_plural(
    template: Catalog,
) -> None:
    for message in messages(template):
        if isinstance(message.id, (tuple, list)):
            assert placeholders(message.id[0]) == placeholders(message.id[1]), message.id[0]


@pytest.mark.parametrize("language", TRANSLATED)
def test_catalogue_header_names_the_language_and_its_plural_rule(language: str) -> None:
    catalogue = load(LOCALES / language / "LC_MESSAGES" / "witnesslink.po", language)
    assert str(catalogue.locale) == language
    assert catalogue.plural_forms == EXPECTED_PLURAL_FORMS[language]


@pytest.mark.parametrize("language", TRANSLATED)
def test_catalogue_translates_every_template_message(language: str, template: Catalog) -> None:
    catalogue = load(LOCALES / language / "LC_MESSAGES" / "witnesslink.po", language)
    translated = {key(message): message for message in messages(catalogue)}
    expected = {key(message): message for message in messages(template)}
    assert set(translated) == set(expected), "run `pybabel update` (wire/i18n/README.md)"
    for msg_key, source in expected.items():
        message = translated[msg_key]
        assert not message.fuzzy, f"{language}: fuzzy translation of {msg_key[1]!r}"
        forms = strings(message)
        assert all(form and form.strip() for form in forms), f"{language}: {msg_key[1]!r}"
        if isinstance(source.id, (tuple, list)):
            assert message.pluralizable
            assert len(forms) == catalogue.num_plurals, f"{language}: {msg_key[1]!r}"
            wanted = placeholders(source.id[1])
        else:
            wanted = placeholders(source.id)
        for form in forms:
            assert placeholders(form) == wanted, f"{language}: {form!r} needs {wanted}"


def test_catalogues_ship_as_po_files_without_a_build_step() -> None:
    assert not list(LOCALES.rglob("*.mo"))
    for language in TRANSLATED:
        compiled = catalogues._compile(language)
        assert compiled.info()["language"] == language
        assert translator(language).language == language
    catalogues.preload()


def test_a_translation_with_broken_placeholders_falls_back_to_english() -> None:
    catalogue = Catalog(locale="ro", domain="witnesslink")
    catalogue.add("Ref %(reference)s", "Ref %(referinta)s", flags=["python-format"])
    catalogue.add("%(count)d%% done", "%(count)d% gata")  # stray "%"
    catalogue.add(
        ("%(days)d day", "%(days)d days"),
        ("%(days)d zi", "%(zile)d zile", "%(days)d de zile"),
        flags=["python-format"],
    )
    catalogue.add("Hello", "Bună", flags=["fuzzy"])
    buffer = io.BytesIO()
    write_po(buffer, catalogue)
    buffer.seek(0)
    compiled = catalogues.compile_po(buffer, "ro")
    assert compiled.gettext("Ref %(reference)s") == "Ref %(reference)s"
    assert compiled.gettext("%(count)d%% done") == "%(count)d%% done"
    assert compiled.ngettext("%(days)d day", "%(days)d days", 1) == "%(days)d zi"
    assert compiled.ngettext("%(days)d day", "%(days)d days", 5) == "%(days)d days"
    assert compiled.ngettext("%(days)d day", "%(days)d days", 20) == "%(days)d de zile"
    assert compiled.gettext("Hello") == "Hello"


def test_a_catalogue_that_cannot_be_loaded_falls_back_to_english(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def missing(language: str) -> None:
        raise FileNotFoundError(language)

    catalogues._translator_for.cache_clear()
    monkeypatch.setattr(catalogues, "_compile", missing)
    try:
        broken = translator("ro")
        assert broken.language == "en"
        assert broken.gettext("Hi, you have a new reminder. Please open the app.") == (
            "Hi, you have a new reminder. Please open the app."
        )
    finally:
        catalogues._translator_for.cache_clear()


# --- choosing the language -----------------------------------------------------------


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("ro-RO", "ro"),
        ("ro-MD", "ro"),
        ("RO", "ro"),
        ("ro_RO.UTF-8", "ro"),
        ("ron", "ro"),
        ("sq-AL", "sq"),
        ("sq-XK", "sq"),
        ("sqi", "sq"),
        ("bg-BG", "bg"),
        ("fr-BE", "fr"),
        ("es-419", "es"),
        ("en-GB", "en"),
        ("de", "en"),
        ("de-AT", "en"),
        ("", "en"),
        ("  ", "en"),
        ("x", "en"),
        ("zh-Hant-TW", "en"),
    ],
)
def test_normalise_language(tag: str, expected: str) -> None:
    assert normalise_language(tag) == expected


def test_translator_is_cached_per_language() -> None:
    assert translator("ro-RO") is translator("ro")
    assert translator("de").language == "en"
    assert translator("sq-AL").language == "sq"


@pytest.mark.parametrize(
    ("language", "word"),
    [
        ("ro-RO", "aplicația"),
        ("bg", "приложението"),
        ("sq-AL", "aplikacionin"),
        ("fr-FR", "appli"),
        ("es-ES", "app"),
    ],
)
def test_a_witness_gets_the_nudge_in_their_language(language: str, word: str) -> None:
    assert word in checkin_nudge(language)
    assert checkin_nudge(language) != checkin_nudge("en")


@pytest.mark.parametrize("language", ["de", "", "xx-YY", "it-IT"])
def test_an_unsupported_language_falls_back_to_english(language: str) -> None:
    assert checkin_nudge(language) == "Hi, it's been a while. Please open the app when you can."
    assert staff_alert_sms(language, severity="high", count=1, reference="K7Q2") == (
        "witnesslink: 1 urgent alert needs attention. Open the app. Ref K7Q2"
    )


def test_pgettext_falls_back_to_the_msgid() -> None:
    assert translator("ro").pgettext("unknown context", "Hello") == "Hello"
    assert translator("bg").npgettext("ctx", "%(n)d item", "%(n)d items", 3) == "%(n)d items"


# --- SMS to a witness ------------------------------------------------------------------


def test_the_forbidden_word_check_is_accent_and_case_insensitive() -> None:
    for text in ["POLIŢIA", "poliția", "Témoin", "TEMOIN", "Съдът", "la Cour", "Caso 12"]:
        assert forbidden_in_sms(text), text
    for text in ["courant", "Open the app", "Bună!", "showcase"]:
        assert not forbidden_in_sms(text), text
    assert forbidden_in_sms("Your hearing")
    assert not forbidden_in_app("Your hearing")


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
@pytest.mark.parametrize("name", WITNESS_SMS)
def test_witness_sms_never_names_police_court_case_or_witness(name: str, language: str) -> None:
    text = WITNESS_SMS[name](language)
    assert text.strip()
    assert not forbidden_in_sms(text), f"{language} {name}: {text!r}"


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
@pytest.mark.parametrize("name", WITNESS_SMS)
def test_witness_sms_fits_one_segment(name: str, language: str) -> None:
    text = WITNESS_SMS[name](language)
    assert measure_sms(text).segments == 1, f"{language} {name}: {measure_sms(text)}"
    if language == "en":
        assert is_gsm7(text)


# --- SMS to staff ----------------------------------------------------------------------


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
@pytest.mark.parametrize("severity", SEVERITIES)
@pytest.mark.parametrize("count", [1, 2, 5, 19, 20, 21, 101, 999])
def test_staff_alert_sms_shows_count_and_reference_and_stays_short(
    language: str, severity: str, count: int
) -> None:
    reference = "K7Q2-ZX94ABC"  # the longest allowed: 12 characters
    text = staff_alert_sms(language, severity=severity, count=count, reference=reference)
    assert text.startswith("witnesslink: ")
    assert re.search(rf"(?<!\d){count}(?!\d)", text)
    assert reference in text
    assert not forbidden_in_sms(text.replace("witnesslink", ""))
    length = measure_sms(text)
    if language == "en":
        assert length.encoding == "GSM-7"
        assert length.units <= 160
    else:
        assert length.segments <= 2, f"{language}: {length} {text!r}"
        if length.encoding == "UCS-2":
            assert length.units <= 2 * 67


def test_staff_alert_sms_english_wording() -> None:
    assert staff_alert_sms("en", severity="critical", count=3, reference="K7Q2") == (
        "witnesslink: 3 critical alerts need attention. Open the app. Ref K7Q2"
    )
    assert staff_alert_sms("en-GB", severity="normal", count=1, reference="A1") == (
        "witnesslink: 1 new alert needs attention. Open the app. Ref A1"
    )


def test_staff_alert_sms_uses_each_languages_plural_forms() -> None:
    def critical(language: str, count: int) -> str:
        return staff_alert_sms(language, severity="critical", count=count, reference="K7Q2")

    assert "1 alertă critică" in critical("ro", 1)
    assert "2 alerte critice" in critical("ro", 2)
    assert "20 de alerte critice" in critical("ro", 20)
    assert "101 alerte critice" in critical("ro", 101)
    assert "1 критичен сигнал" in critical("bg", 1)
    assert "5 критични сигнала" in critical("bg", 5)
    assert "1 njoftim kritik" in critical("sq", 1)
    assert "2 njoftime kritike" in critical("sq", 2)
    assert "1 alerte critique" in critical("fr", 1)
    assert "2 alertes critiques" in critical("fr", 2)
    assert "2 alertas críticas" in critical("es", 2)


@pytest.mark.parametrize(
    ("severity", "count", "reference"),
    [
        ("info", 1, "K7Q2"),
        ("critical", 0, "K7Q2"),
        ("critical", 1, ""),
        ("critical", 1, "Maria B"),
        ("critical", 1, "CASE-2024-00017"),
    ],
)
def test_staff_alert_sms_rejects_bad_input(severity: str, count: int, reference: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case fails for its own reason
        staff_alert_sms("en", severity=severity, count=count, reference=reference)


# --- in-app reminders ------------------------------------------------------------------


def test_reminder_titles_in_english() -> None:
    assert reminder_title("en", kind="hearing", days=2, hours=0) == "Your hearing is in 2 days"
    assert reminder_title("en", kind="video_link", days=0, hours=2) == (
        "Your video link appointment is in 2 hours"
    )
    assert reminder_title("en", kind="test_call", days=1, hours=30) == (
        "Your test call is tomorrow"
    )
    assert reminder_title("en", kind="hearing", days=0, hours=1) == "Your hearing is in 1 hour"
    assert reminder_title("en", kind="test_call", days=0, hours=0) == ("Your test call starts soon")


@pytest.mark.parametrize(
    ("days", "hours", "expected"),
    [
        (2, 0, "Audierea ta este peste 2 zile"),
        (19, 0, "Audierea ta este peste 19 zile"),
        (20, 0, "Audierea ta este peste 20 de zile"),
        (101, 0, "Audierea ta este peste 101 zile"),
        (120, 0, "Audierea ta este peste 120 de zile"),
        (1, 0, "Audierea ta este mâine"),
        (0, 1, "Audierea ta este peste 1 oră"),
        (0, 5, "Audierea ta este peste 5 ore"),
        (0, 0, "Audierea ta începe în curând"),
    ],
)
def test_romanian_reminder_titles_use_three_plural_forms(
    days: int, hours: int, expected: str
) -> None:
    assert reminder_title("ro-RO", kind="hearing", days=days, hours=hours) == expected


@pytest.mark.parametrize(
    ("language", "days", "hours", "expected"),
    [
        ("bg", 2, 0, "Изслушването ти е след 2 дни"),  # noqa: RUF001 - the Bulgarian word for "is"
        ("bg", 0, 1, "Изслушването ти е след 1 час"),  # noqa: RUF001
        ("bg", 0, 3, "Изслушването ти е след 3 часа"),  # noqa: RUF001
        ("sq", 3, 0, "Seanca jote është pas 3 ditësh"),
        ("sq", 0, 1, "Seanca jote është pas 1 ore"),
        ("fr", 2, 0, "Ton audience a lieu dans 2 jours"),
        ("es", 0, 1, "Tu audiencia es dentro de 1 hora"),
        ("es", 0, 4, "Tu audiencia es dentro de 4 horas"),
    ],
)
def test_reminder_titles_follow_each_languages_plural_rule(
    language: str, days: int, hours: int, expected: str
) -> None:
    assert reminder_title(language, kind="hearing", days=days, hours=hours) == expected


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
@pytest.mark.parametrize("kind", REMINDER_KINDS)
def test_reminders_render_in_every_language_without_naming_police_or_court(
    language: str, kind: str
) -> None:
    for days, hours in [(14, 0), (2, 0), (1, 0), (0, 6), (0, 1), (0, 0)]:
        title = reminder_title(language, kind=kind, days=days, hours=hours)
        if days >= 2:
            assert str(days) in title
        elif days == 0 and hours >= 1:
            assert str(hours) in title
        assert not forbidden_in_app(title), f"{language}: {title!r}"
    body = reminder_body(language, kind=kind)
    assert body.strip()
    assert not forbidden_in_app(body), f"{language}: {body!r}"
    if language != "en":
        assert reminder_title(language, kind=kind, days=3, hours=0) != reminder_title(
            "en", kind=kind, days=3, hours=0
        )


def test_reminders_reject_unknown_kinds_and_past_times() -> None:
    with pytest.raises(ValueError, match="kind"):
        reminder_title("en", kind="trial", days=1, hours=0)
    with pytest.raises(ValueError, match="kind"):
        reminder_body("en", kind="trial")
    with pytest.raises(ValueError, match="not started"):
        reminder_title("en", kind="hearing", days=-1, hours=0)


# --- SMS length ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "encoding", "units", "segments"),
    [
        ("a" * 160, "GSM-7", 160, 1),
        ("a" * 161, "GSM-7", 161, 2),
        ("€" * 80, "GSM-7", 160, 1),
        ("é à ñ ü ¿ ¡", "GSM-7", 11, 1),
        ("ă" * 70, "UCS-2", 70, 1),
        ("ă" * 71, "UCS-2", 71, 2),
        ("ș" * 134, "UCS-2", 134, 2),
        ("ș" * 135, "UCS-2", 135, 3),
        ("я", "UCS-2", 1, 1),
    ],
)
def test_measure_sms(text: str, encoding: str, units: int, segments: int) -> None:
    length = measure_sms(text)
    assert (length.encoding, length.units, length.segments) == (encoding, units, segments)
