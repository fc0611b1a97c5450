"""The message that tells a witness how their case ended, in their language.

The server records only the outcome category; a staff client renders this template in
the witness's language and sends it end to end encrypted (``StaffClient``, on the
``case_closed`` device event), and the phone keeps one copy however many staff clients
sent it (``notice_id``). Shown only inside the unlocked app, never as an SMS or a
lock-screen notification: it may say what the app was for.

The texts are here rather than in the gettext catalogues because they are whole
messages chosen by category, shipped with both sides; each language has every category
(``tests/casework`` checks it). English is the fallback for any other language.
"""

from __future__ import annotations

from typing import Final

__all__ = ["OUTCOMES", "OUTCOME_TEXTS", "notice_id", "outcome_message"]

#: The categories, as the server stores them.
OUTCOMES: Final = ("convicted", "acquitted", "discontinued", "closed_without_trial", "other")

_ENDING: Final = {
    "en": (
        "Thank you for your courage and your help. This phone will stop working in a few"
        " days and erase what is on it. Your support worker can still help you."
    ),
    "ro": (
        "Îți mulțumim pentru curajul și ajutorul tău. Acest telefon se va opri în câteva"
        " zile și va șterge tot ce conține. Consilierul tău te poate ajuta în continuare."
    ),
    "bg": (
        "Благодарим ти за смелостта и помощта. Този телефон ще спре да работи след"
        " няколко дни и ще изтрие съдържанието си. Социалният ти работник може да ти"
        " помага и занапред."
    ),
    "sq": (
        "Të falënderojmë për guximin dhe ndihmën tënde. Ky telefon do të ndalojë së"
        " punuari pas disa ditësh dhe do të fshijë gjithçka që ka. Punonjësi yt social"
        " mund të të ndihmojë ende."
    ),
    "fr": (
        "Merci pour ton courage et ton aide. Ce téléphone cessera de fonctionner dans"
        " quelques jours et effacera son contenu. Ton accompagnant peut toujours t'aider."
    ),
    "es": (
        "Gracias por tu valentía y tu ayuda. Este teléfono dejará de funcionar en unos"
        " días y borrará su contenido. Tu trabajador de apoyo puede seguir ayudándote."
    ),
}

_HEADLINES: Final = {
    "en": {
        "convicted": "The trial is over: the court found the accused guilty.",
        "acquitted": "The trial is over: the court did not find the accused guilty.",
        "discontinued": "The proceedings have been stopped.",
        "closed_without_trial": "The case has been closed without a trial.",
        "other": "Your case has been closed.",
    },
    "ro": {
        "convicted": "Procesul s-a încheiat: instanța i-a găsit vinovați pe acuzați.",
        "acquitted": "Procesul s-a încheiat: instanța nu i-a găsit vinovați pe acuzați.",
        "discontinued": "Procedura a fost oprită.",
        "closed_without_trial": "Cazul a fost închis fără proces.",
        "other": "Cazul tău a fost închis.",
    },
    "bg": {
        "convicted": "Делото приключи: съдът призна обвиняемите за виновни.",
        "acquitted": "Делото приключи: съдът не призна обвиняемите за виновни.",
        "discontinued": "Производството беше прекратено.",
        "closed_without_trial": "Случаят беше приключен без съдебен процес.",
        "other": "Твоят случай беше приключен.",
    },
    "sq": {
        "convicted": "Gjyqi mbaroi: gjykata i shpalli fajtorë të akuzuarit.",
        "acquitted": "Gjyqi mbaroi: gjykata nuk i shpalli fajtorë të akuzuarit.",
        "discontinued": "Procedimi u ndërpre.",
        "closed_without_trial": "Çështja u mbyll pa gjyq.",
        "other": "Çështja jote u mbyll.",
    },
    "fr": {
        "convicted": "Le procès est terminé : le tribunal a déclaré les accusés coupables.",
        "acquitted": "Le procès est terminé : le tribunal n'a pas déclaré les accusés coupables.",
        "discontinued": "La procédure a été arrêtée.",
        "closed_without_trial": "L'affaire a été classée sans procès.",
        "other": "Ton affaire a été close.",
    },
    "es": {
        "convicted": "El juicio ha terminado: el tribunal declaró culpables a los acusados.",
        "acquitted": "El juicio ha terminado: el tribunal no declaró culpables a los acusados.",
        "discontinued": "El procedimiento se ha detenido.",
        "closed_without_trial": "El caso se ha cerrado sin juicio.",
        "other": "Tu caso se ha cerrado.",
    },
}

#: Every message, by language and outcome.
OUTCOME_TEXTS: Final = {
    language: {outcome: f"{headline} {_ENDING[language]}" for outcome, headline in by.items()}
    for language, by in _HEADLINES.items()
}


def outcome_message(language: str, outcome: str) -> str:
    """The message for ``outcome`` in ``language`` (English if the language is not
    translated; the "other" text for an unknown category)."""
    texts = OUTCOME_TEXTS.get(language.split("-")[0].lower(), OUTCOME_TEXTS["en"])
    return texts.get(outcome, texts["other"])


def notice_id(case_id: str) -> str:
    """The notice's id, the same from every staff client, so the phone keeps one."""
    return f"outcome:{case_id}"
