"""What calls say, in every language: translated (not the English fallback), and never
naming police, court, case, witness or hearing (staff calls say "witnesslink", as the
staff SMS do), because a phone on speaker is heard by others."""

from __future__ import annotations

import pytest

from tests.server.test_i18n import TRANSLATED, forbidden_in_sms
from wire.i18n import texts

CALL_TEXTS = (
    texts.staff_alert_call,
    texts.staff_alert_call_acknowledged,
    texts.staff_alert_call_not_acknowledged,
    texts.staff_alert_call_goodbye,
    texts.witness_call_pin,
    texts.witness_call_menu,
    texts.witness_call_thanks,
    texts.witness_call_goodbye,
    texts.witness_call_neutral,
)


@pytest.mark.parametrize("language", TRANSLATED)
@pytest.mark.parametrize("text", CALL_TEXTS, ids=lambda f: f.__name__)
def test_call_texts_are_translated_and_name_no_institution(language: str, text) -> None:  # type: ignore[no-untyped-def]
    said = text(language)
    assert said != text("en")
    # Staff calls name the product, as the staff SMS do; nothing else is allowed.
    assert forbidden_in_sms(said.replace("witnesslink", "")) == []


@pytest.mark.parametrize("language", TRANSLATED)
def test_the_check_in_menu_keeps_its_keys(language: str) -> None:
    menu = texts.witness_call_menu(language)
    assert [d for d in menu if d.isdigit()] == ["1", "2", "9"]
