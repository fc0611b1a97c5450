"""Each alert kind's face: the label, colour and sound staff know it by.

One registry for the console's templates (through :func:`face_of` and the
``_alert_face.html`` fragment) and its script (the ``data-sound`` attribute names one
of the tones ``console.js`` plays). Panic and duress need different responses — a
panic press is a witness asking openly for help; duress means someone may be watching
the witness, so a call could endanger them — so they never share a label, colour or
sound. A kind this registry does not know yet (added by another part of the system)
gets a generic face instead of breaking the page.

Labels are message ids of the console's catalogue (marked with ``N_`` so extraction
finds them); templates translate them with ``_()``. Colours are names of CSS classes
(``face-<colour>`` in console.css): the console's content security policy forbids
inline styles. Alert SMS never carry any of this: they name no kind, because others
may read the phone.
"""

from __future__ import annotations

from dataclasses import dataclass

from server.domain.welfare_models import AlertKind


def N_(message: str) -> str:  # noqa: N802 (gettext's conventional marker)
    """Mark a text for extraction into the console catalogue; translated when shown."""
    return message


@dataclass(frozen=True, slots=True)
class AlertFace:
    """How one alert kind looks and sounds in the console."""

    kind: str
    label: str  # a console message id; translate with _() when rendering
    colour: str  # CSS class suffix: face-<colour>
    sound: str  # tone name console.js knows: siren, pulse, triple, double, chime


FACES: dict[str, AlertFace] = {
    face.kind: face
    for face in (
        AlertFace(AlertKind.PANIC.value, N_("Panic button"), "rust", "siren"),
        AlertFace(AlertKind.DURESS.value, N_("Duress"), "red", "pulse"),
        AlertFace(AlertKind.HELP.value, N_("Asks for help"), "magenta", "triple"),
        AlertFace(AlertKind.MISSED_CHECKIN.value, N_("Missed check-in"), "amber", "double"),
        AlertFace(AlertKind.DEVICE_SILENT.value, N_("Phone silent"), "slate", "chime"),
        AlertFace(AlertKind.CONTACT_REQUESTED.value, N_("Asks to be contacted"), "blue", "chime"),
        AlertFace(
            AlertKind.STORE_WIPED.value, N_("Phone wiped after wrong PINs"), "brown", "double"
        ),
        AlertFace(AlertKind.MISSED_APPOINTMENT.value, N_("Missed appointment"), "teal", "double"),
        AlertFace(AlertKind.NO_CONFIRMATION.value, N_("Appointment not confirmed"), "sky", "chime"),
        AlertFace(AlertKind.NOT_READY.value, N_("Not ready for appointment"), "olive", "double"),
        AlertFace(
            AlertKind.HANDOVER_NOT_ACCEPTED.value, N_("Handover not accepted"), "plum", "double"
        ),
        AlertFace(AlertKind.REVIEW_OVERDUE.value, N_("Risk review overdue"), "sand", "chime"),
        AlertFace(AlertKind.VISIT_OVERDUE.value, N_("Welfare visit overdue"), "indigo", "double"),
        AlertFace(
            AlertKind.WRONG_VISITOR.value, N_("Not the expected visitor"), "crimson", "siren"
        ),
    )
}

#: The face of a kind this registry does not know (added elsewhere after it was written).
GENERIC = AlertFace("other", N_("Alert"), "grey", "chime")


def face_of(kind: str) -> AlertFace:
    """The face of ``kind`` (an ``AlertKind`` value or any other string)."""
    return FACES.get(str(kind), GENERIC)
