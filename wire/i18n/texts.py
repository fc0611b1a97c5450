"""Every text the product sends or shows, in one place, in the recipient's language.

Code asks for a text by what it is for (``checkin_nudge(language)``), never builds one
from fragments, so translators see whole sentences and reviewers can check every text
against the rules below.

Rules, which the tests enforce in every language:

* **SMS to a witness** (``checkin_nudge``, ``checkin_nudge_with_sms_reply``,
  ``appointment_nudge``) may be read by someone who controls the phone. They say
  nothing about what the app is for: no police, court, case, trial, witness, judge,
  prosecutor or hearing, no name, no alias. One SMS segment each.
* **SMS to staff** (``staff_alert_sms``) carry only a count, a severity word and a
  short reference code: no alias, case reference or agency name. One GSM-7 segment in
  English, at most two UCS-2 segments in other languages.
* **In-app reminders** (``reminder_title``, ``reminder_body``) are shown only inside
  the unlocked app and may say what the appointment is. They must never be used as a
  lock-screen or push notification text; use ``appointment_nudge`` for that.

Translation comments marked ``TRANSLATORS:`` are extracted into the catalogues.
"""

from __future__ import annotations

import re
from typing import Final

from wire.i18n.catalogues import translator

__all__ = [
    "REMINDER_KINDS",
    "SEVERITIES",
    "appointment_nudge",
    "checkin_nudge",
    "checkin_nudge_with_sms_reply",
    "reminder_body",
    "reminder_title",
    "staff_alert_call",
    "staff_alert_call_acknowledged",
    "staff_alert_call_goodbye",
    "staff_alert_call_not_acknowledged",
    "staff_alert_sms",
    "witness_call_goodbye",
    "witness_call_menu",
    "witness_call_neutral",
    "witness_call_pin",
    "witness_call_thanks",
]

#: Alert severities ``staff_alert_sms`` knows, most severe first.
SEVERITIES: Final = ("critical", "high", "normal")
#: Appointment kinds the in-app reminders know.
REMINDER_KINDS: Final = ("hearing", "video_link", "test_call")

# A short code staff look up in the app: letters, digits and hyphens only, so nothing
# that reads like an alias or a case reference with spaces can slip into an SMS.
_REFERENCE: Final = re.compile(r"[A-Za-z0-9-]{1,12}")


# --- SMS to a witness's phone ------------------------------------------------------


def checkin_nudge(language: str) -> str:
    """SMS asking the witness to open the app and check in; says nothing else."""
    t = translator(language)
    # TRANSLATORS: SMS to a phone someone else may read. Friendly and
    # informal, like a text from a friend. Never mention police, court, case,
    # trial, witness, hearing or any name. Keep it under 70 characters (one
    # SMS).
    return t.gettext("Hi, it's been a while. Please open the app when you can.")


def checkin_nudge_with_sms_reply(language: str) -> str:
    """SMS asking the witness to open the app, or to reply with their agreed word."""
    t = translator(language)
    # TRANSLATORS: SMS to a phone someone else may read. "your word" is the
    # check-in word the person agreed on; they may reply to this SMS with it.
    # Same rules as the other SMS: friendly, no police, court, case, hearing
    # or names, under 70 characters.
    return t.gettext("Hi, please open the app when you can, or reply with your word.")


def appointment_nudge(language: str) -> str:
    """SMS saying there is something new in the app, without saying what."""
    t = translator(language)
    # TRANSLATORS: SMS to a phone someone else may read. It must not say what
    # the reminder is about. Friendly, no police, court, case, hearing or
    # names, under 70 characters.
    return t.gettext("Hi, you have a new reminder. Please open the app.")


# --- SMS to staff --------------------------------------------------------------------


def staff_alert_sms(language: str, *, severity: str, count: int, reference: str) -> str:
    """Short SMS telling a staff member that alerts wait for them in the app.

    Only the count, the severity and ``reference`` (a short code the app can look up)
    appear; never an alias, case reference or agency, because others may see the SMS.

    Raises:
        ValueError: if ``severity`` is not one of :data:`SEVERITIES`, ``count`` is less
            than 1, or ``reference`` is not 1-12 letters, digits or hyphens.
    """
    if count < 1:
        raise ValueError(f"an alert SMS needs at least one alert, not {count}")
    if not _REFERENCE.fullmatch(reference):
        raise ValueError("the reference must be 1-12 letters, digits or hyphens")
    t = translator(language)
    if severity == "critical":
        # TRANSLATORS: SMS to a staff member's phone; others may see it. Keep
        # "witnesslink" as it is. At most about 130 characters. %(reference)s is a
        # short code like K7Q2 that staff look up in the app.
        text = t.ngettext(
            "witnesslink: %(count)d critical alert needs attention. "
            "Open the app. Ref %(reference)s",
            "witnesslink: %(count)d critical alerts need attention. "
            "Open the app. Ref %(reference)s",
            count,
        )
    elif severity == "high":
        # TRANSLATORS: as the "critical" alert SMS, for high severity ("urgent").
        text = t.ngettext(
            "witnesslink: %(count)d urgent alert needs attention. Open the app. Ref %(reference)s",
            "witnesslink: %(count)d urgent alerts need attention. Open the app. Ref %(reference)s",
            count,
        )
    elif severity == "normal":
        # TRANSLATORS: as the "critical" alert SMS, for normal severity ("new").
        text = t.ngettext(
            "witnesslink: %(count)d new alert needs attention. Open the app. Ref %(reference)s",
            "witnesslink: %(count)d new alerts need attention. Open the app. Ref %(reference)s",
            count,
        )
    else:
        raise ValueError(f"unknown alert severity {severity!r}; expected one of {SEVERITIES}")
    return text % {"count": count, "reference": reference}


# --- Calls to staff ------------------------------------------------------------------


def staff_alert_call(language: str) -> str:
    """What an alert call says: an alert waits, press 1 to acknowledge. Like the SMS it
    names no witness, police, court or case (a phone on speaker is heard by others)."""
    # TRANSLATORS: spoken by a phone call to a staff member. Keep "witnesslink".
    return translator(language).gettext(
        "This is witnesslink. An alert needs your attention. Press 1 to acknowledge it."
    )


def staff_alert_call_acknowledged(language: str) -> str:
    """Spoken after the key press that acknowledged the alert."""
    # TRANSLATORS: spoken on the alert call after the person pressed 1.
    return translator(language).gettext("The alert is acknowledged. Thank you.")


def staff_alert_call_not_acknowledged(language: str) -> str:
    """Spoken when the key press did not acknowledge (another key, or taken already)."""
    # TRANSLATORS: spoken on the alert call when pressing a key did not acknowledge.
    return translator(language).gettext(
        "The alert was not acknowledged by this call. Please open witnesslink."
    )


def staff_alert_call_goodbye(language: str) -> str:
    """Spoken when nobody pressed a key: the alert stays open and escalation goes on."""
    # TRANSLATORS: spoken at the end of an alert call when no key was pressed.
    return translator(language).gettext("No key was pressed. Goodbye.")


# --- Check-in calls with witnesses -----------------------------------------------------
# Others may hear the phone: these never name witnesslink's purpose, police, court or
# case, and sound the same whichever PIN (real or duress) was entered.


def witness_call_pin(language: str) -> str:
    """Asks for the voice PIN."""
    # TRANSLATORS: spoken on a phone call; others may hear it. Keep it neutral.
    return translator(language).gettext("Hello. Please enter your PIN, then press hash.")


def witness_call_menu(language: str) -> str:
    """The check-in menu: 1 well, 2 to be contacted, 9 for help."""
    # TRANSLATORS: spoken on a phone call; others may hear it. Keep the key numbers.
    return translator(language).gettext(
        "Press 1 if you are well. Press 2 if you would like us to contact you. "
        "Press 9 if you need help."
    )


def witness_call_thanks(language: str) -> str:
    """Said after any menu choice (the same words for every choice and either PIN)."""
    # TRANSLATORS: spoken on a phone call after the person pressed a key.
    return translator(language).gettext("Thank you. Goodbye.")


def witness_call_goodbye(language: str) -> str:
    """Said when nothing (or nothing valid) was pressed."""
    # TRANSLATORS: spoken on a phone call when no valid key was pressed.
    return translator(language).gettext("Goodbye.")


def witness_call_neutral(language: str) -> str:
    """What an unknown caller, or a wrong PIN, hears: nothing about anyone."""
    # TRANSLATORS: spoken to a caller we do not recognise; it must reveal nothing.
    return translator(language).gettext("This number cannot take your call. Goodbye.")


# --- In-app reminders (shown only inside the unlocked app) ---------------------------


def reminder_title(language: str, *, kind: str, days: int, hours: int) -> str:
    """The title of an in-app reminder: what is coming and how soon.

    ``days`` is the number of calendar days from today to the appointment's date in the
    witness's time zone (0 today, 1 tomorrow); ``hours`` is the number of whole hours
    until it starts and only matters when ``days`` is 0: "in 3 hours", or "starts soon"
    when less than an hour is left.

    Not for SMS or lock-screen notifications: it names the appointment.

    Raises:
        ValueError: if ``kind`` is not one of :data:`REMINDER_KINDS`, or ``days`` or
            ``hours`` is negative.
    """
    if days < 0 or hours < 0:
        raise ValueError("a reminder is for an appointment that has not started yet")
    if kind == "hearing":
        return _hearing_title(language, days, hours)
    if kind == "video_link":
        return _video_link_title(language, days, hours)
    if kind == "test_call":
        return _test_call_title(language, days, hours)
    raise ValueError(f"unknown reminder kind {kind!r}; expected one of {REMINDER_KINDS}")


def reminder_body(language: str, *, kind: str) -> str:
    """The text under an in-app reminder's title: what to do to be ready.

    The time, place and link are end-to-end encrypted and never pass through here; the
    body points to the messages instead.

    Raises:
        ValueError: if ``kind`` is not one of :data:`REMINDER_KINDS`.
    """
    t = translator(language)
    if kind == "hearing":
        # TRANSLATORS: shown inside the app under the hearing reminder. Informal
        # "you".
        return t.gettext(
            "The time and place are in your messages. If you need help getting there, message us."
        )
    if kind == "video_link":
        # TRANSLATORS: shown inside the app under the video appointment reminder.
        return t.gettext("Find a quiet, private place and make sure your phone is charged.")
    if kind == "test_call":
        # TRANSLATORS: shown inside the app under the test call reminder.
        return t.gettext(
            "A short call to check that sound and video work. "
            "Find a quiet place and make sure your phone is charged."
        )
    raise ValueError(f"unknown reminder kind {kind!r}; expected one of {REMINDER_KINDS}")


# Each kind has its own sentences, not one sentence with the kind slotted in, because
# in Romanian, Bulgarian, Albanian, French and Spanish the words around it agree with
# the noun's gender.


def _hearing_title(language: str, days: int, hours: int) -> str:
    t = translator(language)
    if days >= 2:
        # TRANSLATORS: title of a reminder shown inside the app (not an SMS).
        return t.ngettext(
            "Your hearing is in %(days)d day", "Your hearing is in %(days)d days", days
        ) % {"days": days}
    if days == 1:
        return t.gettext("Your hearing is tomorrow")
    if hours >= 1:
        return t.ngettext(
            "Your hearing is in %(hours)d hour", "Your hearing is in %(hours)d hours", hours
        ) % {"hours": hours}
    return t.gettext("Your hearing starts soon")


def _video_link_title(language: str, days: int, hours: int) -> str:
    t = translator(language)
    if days >= 2:
        # TRANSLATORS: title of a reminder shown inside the app. The appointment
        # is a video call from a safe place near home instead of travelling.
        return t.ngettext(
            "Your video link appointment is in %(days)d day",
            "Your video link appointment is in %(days)d days",
            days,
        ) % {"days": days}
    if days == 1:
        return t.gettext("Your video link appointment is tomorrow")
    if hours >= 1:
        return t.ngettext(
            "Your video link appointment is in %(hours)d hour",
            "Your video link appointment is in %(hours)d hours",
            hours,
        ) % {"hours": hours}
    return t.gettext("Your video link appointment starts soon")


def _test_call_title(language: str, days: int, hours: int) -> str:
    t = translator(language)
    if days >= 2:
        # TRANSLATORS: title of a reminder shown inside the app. A short practice
        # call to check that sound and video work before the real appointment.
        return t.ngettext(
            "Your test call is in %(days)d day", "Your test call is in %(days)d days", days
        ) % {"days": days}
    if days == 1:
        return t.gettext("Your test call is tomorrow")
    if hours >= 1:
        return t.ngettext(
            "Your test call is in %(hours)d hour", "Your test call is in %(hours)d hours", hours
        ) % {"hours": hours}
    return t.gettext("Your test call starts soon")
