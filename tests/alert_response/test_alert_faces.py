"""Every alert kind has its own face (label, colour, tone); panic and duress never
share one; a kind added later gets a generic face instead of breaking a page."""

from __future__ import annotations

from server.console.alert_faces import FACES, GENERIC, face_of
from server.console.i18n import console_translations
from server.domain.welfare_models import AlertKind


def test_every_alert_kind_has_a_face_of_its_own() -> None:
    assert {kind.value for kind in AlertKind} <= set(FACES)
    labels = [face.label for face in FACES.values()]
    assert len(set(labels)) == len(labels)
    assert GENERIC.label not in labels


def test_panic_and_duress_differ_in_label_colour_and_tone() -> None:
    panic, duress = face_of("panic"), face_of("duress")
    assert panic.label != duress.label
    assert panic.colour != duress.colour
    assert panic.sound != duress.sound


def test_a_kind_the_registry_does_not_know_gets_the_generic_face() -> None:
    assert face_of("voice_call_unanswered") is GENERIC


def test_every_label_is_translated_into_romanian() -> None:
    romanian = console_translations("ro")
    for face in [*FACES.values(), GENERIC]:
        assert romanian.gettext(face.label) != face.label, face.label
