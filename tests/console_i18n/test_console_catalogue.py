"""The staff console's catalogue (gettext domain "console"): English and Romanian.

The template must match what the console's sources mark for translation, the Romanian
catalogue must translate every entry with the same placeholders, and the pages must
render in Romanian through the same loader the console uses, with English as the
fallback for any other language.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir

import server.console
from server.console.i18n import CONSOLE_LANGUAGES, console_translations, pick_language
from server.console.rendering import render
from tests.support.catalogues import PLACEHOLDER, ids, key, load, messages, placeholders, strings

try:
    from babel.messages.frontend import parse_mapping_cfg
except ImportError:  # Babel < 2.15
    from babel.messages.frontend import parse_mapping as parse_mapping_cfg

CONSOLE_DIR = Path(server.console.__file__).parent
LOCALES = CONSOLE_DIR / "locales"
TEMPLATE = LOCALES / "console.pot"
ROMANIAN = LOCALES / "ro" / "LC_MESSAGES" / "console.po"
ROMANIAN_PLURAL_FORMS = (
    "nplurals=3; plural=(n==1 ? 0 : (n==0 || (n%100 > 0 && n%100 < 20)) ? 1 : 2);"
)


@pytest.fixture(scope="module")
def template() -> Catalog:
    return load(TEMPLATE)


@pytest.fixture(scope="module")
def romanian() -> Catalog:
    return load(ROMANIAN, "ro")


# --- the catalogues ------------------------------------------------------------------


def test_template_is_up_to_date_with_the_sources(template: Catalog) -> None:
    # Someone who adds or changes a text must re-run the extraction in babel.cfg's header.
    with (CONSOLE_DIR / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)  # type: ignore[no-untyped-call]
    extracted = {}
    for filename, _line, msgid, _comments, context in extract_from_dir(
        str(CONSOLE_DIR), method_map, options_map
    ):
        text = msgid[0] if isinstance(msgid, tuple) else msgid
        extracted.setdefault((context, text), filename)
    in_template = {key(message) for message in messages(template)}
    assert set(extracted) - in_template == set(), "run pybabel extract (see babel.cfg)"
    assert in_template - set(extracted) == set(), "run pybabel extract (see babel.cfg)"
    assert any(name.endswith(".html") for name in extracted.values()), (
        "no template strings were extracted; is the jinja2 extractor configured?"
    )


def test_romanian_catalogue_has_exactly_the_template_entries(
    template: Catalog, romanian: Catalog
) -> None:
    assert {key(m) for m in messages(romanian)} == {key(m) for m in messages(template)}
    assert not romanian.obsolete


def test_romanian_header_names_the_language_and_its_plural_rule(romanian: Catalog) -> None:
    assert str(romanian.locale) == "ro"
    assert romanian.num_plurals == 3
    assert ROMANIAN_PLURAL_FORMS in ROMANIAN.read_text(encoding="utf-8")
    assert not romanian.fuzzy


def test_every_romanian_entry_is_translated_and_not_fuzzy(romanian: Catalog) -> None:
    untranslated = [key(m) for m in messages(romanian) if not all(s.strip() for s in strings(m))]
    fuzzy = [key(m) for m in messages(romanian) if m.fuzzy]
    assert untranslated == []
    assert fuzzy == []
    for message in messages(romanian):
        if isinstance(message.id, (tuple, list)):
            assert len(strings(message)) == 3, message.id


def test_romanian_translations_keep_the_placeholders(romanian: Catalog) -> None:
    for message in messages(romanian):
        expected = placeholders(ids(message)[0])
        for msgid in ids(message)[1:]:
            assert set(placeholders(msgid)) == set(expected), message.id
        for translation in strings(message):
            assert set(placeholders(translation)) == set(expected), (message.id, translation)
            # Jinja2's new-style gettext %-formats every string, even without variables:
            # a stray "%" would raise while the page renders.
            assert "%" not in PLACEHOLDER.sub("", translation.replace("%%", "")), translation


def test_romanian_translations_keep_markup_and_entities(romanian: Catalog) -> None:
    markup = re.compile(r"<[^>]+>|&[#a-zA-Z0-9]+;")
    for message in messages(romanian):
        expected = sorted(markup.findall(ids(message)[0]))
        for translation in strings(message):
            assert sorted(markup.findall(translation)) == expected, message.id


def test_romanian_uses_comma_below_letters() -> None:
    # ș and ț (comma below), never the cedilla look-alikes ş and ţ.
    text = ROMANIAN.read_text(encoding="utf-8")
    assert not set("şţŞŢ") & set(text)
    assert {"ș", "ț", "ă", "â", "î"} <= set(text)


def test_the_console_loader_uses_every_romanian_translation(romanian: Catalog) -> None:
    # Nothing is dropped when compiling (a broken placeholder would fall back to English).
    translations = console_translations("ro")
    for message in messages(romanian):
        if isinstance(message.id, (tuple, list)):
            continue
        assert translations.gettext(message.id) == message.string, message.id


@pytest.mark.parametrize(
    ("english", "expected"),
    [
        ("Duress", "Constrângere"),
        ("Overdue", "Întârziat"),
        ("Check-in due", "Confirmare așteptată"),
        ("Hearing", "Audiere"),
        ("Video link", "Legătură video"),
        ("Audit log", "Jurnal de audit"),
        ("Interpreter", "Interpret"),
        ("Revoke %(device)s", "Revocați %(device)s"),
    ],
)
def test_console_translations_in_romanian(english: str, expected: str) -> None:
    assert console_translations("ro").gettext(english) == expected


@pytest.mark.parametrize("language", ["en", "xx", "de", ""])
def test_other_languages_fall_back_to_english(language: str) -> None:
    assert console_translations(language).gettext("Duress") == "Duress"


def test_pick_language() -> None:
    assert set(CONSOLE_LANGUAGES) == {"en", "ro"}
    assert pick_language("ro", "en-GB") == "ro"
    assert pick_language(None, "ro-RO,ro;q=0.9,en;q=0.8") == "ro"
    assert pick_language(None, "de-DE,fr;q=0.9") == "en"
    assert pick_language("xx", None) == "en"


# --- rendering ------------------------------------------------------------------------


def page_context(**extra: Any) -> dict[str, Any]:
    """What :meth:`server.console.web.Page.render` gives every template."""
    context: dict[str, Any] = {
        "staff": None,
        "csrf": "token",
        "languages": [("en", "English"), ("ro", "Română")],
        "path": "/console/login",
        "is_manager": False,
        "is_admin": False,
        "notice": None,
        "on_call_screen": False,
    }
    context.update(extra)
    return context


def sign_in_page(language: str) -> str:
    response = render(
        language,
        "login.html",
        status=401,
        language=language,
        **page_context(
            next="/console/",
            error="failed",
            username="ana",
            need_totp=False,
            mode="desk",
            idle_minutes=15,
            shift_hours=12,
            ended="idle",
        ),
    )
    assert response.status == 401
    assert response.text is not None
    return response.text


def caseload_page(language: str) -> str:
    now = datetime(2026, 5, 12, 21, 30, tzinfo=UTC)
    row = SimpleNamespace(
        state="duress",
        case=SimpleNamespace(id="case-1", reference="BUC-2026-0042"),
        witness=SimpleNamespace(alias="Sparrow"),
        open_alerts=2,
        last_contact_at=now,
        next_checkin_at=None,
        next_appointment_kind="hearing",
        next_appointment_at=now,
    )
    states = ("duress", "alert", "overdue", "due", "paused", "ok", "no_plan")
    response = render(
        language,
        "caseload.html",
        language=language,
        **page_context(
            staff=SimpleNamespace(display_name="Ana Popescu"),
            path="/console/",
            notice="acknowledged",
            rows=[row],
            counts={state: int(state == "duress") for state in states},
            states=states,
            state="",
            sort="urgency",
            version="v1",
        ),
    )
    assert response.status == 200
    assert response.text is not None
    return response.text


def test_the_sign_in_page_renders_in_romanian() -> None:
    html = sign_in_page("ro")
    assert '<html lang="ro">' in html
    assert "Autentificare" in html
    assert "Nume de utilizator" in html
    assert "Parolă" in html
    assert "Numele de utilizator, parola sau codul nu sunt corecte." in html
    assert "Sign in" not in html
    assert "Password" not in html


def test_the_caseload_renders_in_romanian() -> None:
    html = caseload_page("ro")
    assert "Cazuri" in html
    assert "Constrângere" in html
    assert "Audiere" in html
    assert "Următoarea confirmare" in html
    assert "Alertă preluată. Escaladarea este suspendată cât timp interveniți." in html
    assert "Deconectați-vă" in html
    assert "Sparrow" in html
    assert "Duress" not in html
    assert "Caseload" not in html


@pytest.mark.parametrize("language", ["en", "xx"])
def test_pages_render_in_english_for_english_and_unknown_languages(language: str) -> None:
    sign_in = sign_in_page(language)
    assert "Sign in" in sign_in
    assert "The username, password or code is not right." in sign_in
    assert "Autentificare" not in sign_in
    caseload = caseload_page(language)
    assert "Caseload" in caseload
    assert "Duress" in caseload
    assert "Constrângere" not in caseload
