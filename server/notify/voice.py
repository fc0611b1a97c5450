"""Phone calls through the real ``twilio`` client, and the TwiML they speak.

A call is an outbox row like an SMS (``channel = "voice"``), delivered by the same
:class:`~server.notify.dispatcher.Dispatcher` under the same lease, classification and
reconciliation rules: :class:`TwilioVoiceGateway` has the gateway shape the dispatcher
uses (``send`` / ``find_sent`` / ``timeout`` / ``close``). For a call the row's "body"
is the path of the webhook Twilio fetches when the call is answered
(:func:`alert_call_path`), so a retry or a reconciliation concerns the same call.

Reconciliation cannot compare bodies (Twilio's Call resource does not show the URL):
a call to the same number created since the uncertain attempt, and not already recorded
for another row, is taken to be this row's call. Two calls to one person at the same
moment are possible only for two alerts fired together; at worst one of them is
recorded as placed when it was the other, and the person was still called.

The TwiML says only that "a witnesslink alert needs attention": never a witness,
police, court or case, because others may hear a phone on speaker.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Final

from twilio.twiml.voice_response import Gather, VoiceResponse

from server.notify.sms import (
    SendOutcome,
    TwilioSmsGateway,
    _as_utc,
)
from wire.i18n import texts

# The client imports its API modules on first use; do it at start-up (see sms.py).
import twilio.rest.api.v2010.account.call  # noqa: F401  # isort: skip

__all__ = [
    "ALERT_CALL_PREFIX",
    "CHECKIN_CALL_PREFIX",
    "CHECKIN_MENU_PATH",
    "CHECKIN_PIN_PATH",
    "INCOMING_CALL_PATH",
    "VOICE_STATUS_PATH",
    "TwilioVoiceGateway",
    "alert_call_path",
    "alert_prompt_twiml",
    "call_path",
    "checkin_menu_twiml",
    "is_machine",
    "pin_prompt_twiml",
    "spoken_twiml",
]

#: Where Twilio fetches an alert call's TwiML: ``{prefix}/{notification id}``.
ALERT_CALL_PREFIX: Final = "/v1/twilio/voice/alert"
#: Where Twilio reports a call's final status.
VOICE_STATUS_PATH: Final = "/v1/twilio/voice/status"
#: The voice URL of our number: a caller dialling in (a witness checking in).
INCOMING_CALL_PATH: Final = "/v1/twilio/voice/incoming"
#: Where a check-in call posts the PIN entered, and the menu choice.
CHECKIN_PIN_PATH: Final = "/v1/twilio/voice/checkin/pin"
CHECKIN_MENU_PATH: Final = "/v1/twilio/voice/checkin/menu"
#: Where Twilio fetches the TwiML of a check-in call we place to a witness.
CHECKIN_CALL_PREFIX: Final = "/v1/twilio/voice/checkin/call"
#: Seconds Twilio waits for a key press.
GATHER_TIMEOUT_S: Final = 8

#: Twilio's ``<Say language>`` per catalogue language.
_SAY_LANGUAGES: Final = {
    "en": "en-GB",
    "ro": "ro-RO",
    "es": "es-ES",
    "fr": "fr-FR",
    "de": "de-DE",
    "bg": "bg-BG",
    "sq": "en-GB",  # Twilio has no Albanian voice; the text is still Albanian.
}


def alert_call_path(notification_id: str) -> str:
    """The webhook path of the alert call that delivers ``notification_id``."""
    return f"{ALERT_CALL_PREFIX}/{notification_id}"


def call_path(purpose: str, notification_id: str) -> str:
    """The webhook path of a call row: an alert call to staff, or a check-in call."""
    if purpose == "alert":
        return alert_call_path(notification_id)
    return f"{CHECKIN_CALL_PREFIX}/{notification_id}"


def is_machine(answered_by: str | None) -> bool:
    """Whether Twilio's ``AnsweredBy`` says a machine (or fax) took the call."""
    return bool(answered_by) and answered_by not in ("human", "unknown")


def _say_language(language: str) -> str:
    return _SAY_LANGUAGES.get(language.split("-")[0].lower(), "en-GB")


def alert_prompt_twiml(language: str, key_action: str) -> str:
    """The alert call: "a witnesslink alert needs attention, press 1 to acknowledge",
    once more if nothing is pressed, then goodbye."""
    response = VoiceResponse()
    say_as = _say_language(language)
    for _ in range(2):
        gather = Gather(num_digits=1, action=key_action, method="POST", timeout=GATHER_TIMEOUT_S)
        gather.say(texts.staff_alert_call(language), language=say_as)
        response.append(gather)
    response.say(texts.staff_alert_call_goodbye(language), language=say_as)
    response.hangup()
    return str(response)


def pin_prompt_twiml(language: str) -> str:
    """Asks for the voice PIN (ended by #); nothing entered ends the call."""
    response = VoiceResponse()
    gather = Gather(
        action=CHECKIN_PIN_PATH, method="POST", timeout=GATHER_TIMEOUT_S, finish_on_key="#"
    )
    gather.say(texts.witness_call_pin(language), language=_say_language(language))
    response.append(gather)
    response.say(texts.witness_call_goodbye(language), language=_say_language(language))
    response.hangup()
    return str(response)


def checkin_menu_twiml(language: str) -> str:
    """The check-in menu (1 well, 2 contact me, 9 help), said twice if need be. The same
    bytes whichever PIN led here: a duress PIN must sound exactly like the real one."""
    response = VoiceResponse()
    say_as = _say_language(language)
    for _ in range(2):
        gather = Gather(
            num_digits=1, action=CHECKIN_MENU_PATH, method="POST", timeout=GATHER_TIMEOUT_S
        )
        gather.say(texts.witness_call_menu(language), language=say_as)
        response.append(gather)
    response.say(texts.witness_call_goodbye(language), language=say_as)
    response.hangup()
    return str(response)


def spoken_twiml(language: str, text: str) -> str:
    """TwiML that says ``text`` and hangs up."""
    response = VoiceResponse()
    response.say(text, language=_say_language(language))
    response.hangup()
    return str(response)


class TwilioVoiceGateway(TwilioSmsGateway):
    """Places calls through the real ``twilio`` client (``client.calls``).

    Shares the SMS gateway's client set-up, timeouts, error classification and
    number-free logging; only what is created and how it is found again differ.
    """

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        caller_id: str,
        public_url: str,
        *,
        machine_detection: bool = True,
        base_url: str | None = None,
        timeout_s: float = 20,
    ) -> None:
        """Configure the gateway.

        Args:
            caller_id: the ``From`` number of every call (+E.164).
            public_url: where Twilio reaches this server; call webhooks are under it.
            machine_detection: ask Twilio for ``AnsweredBy`` (person or machine).

        Raises:
            ValueError: as :class:`TwilioSmsGateway`, or a public URL that is not http(s).
        """
        super().__init__(account_sid, auth_token, caller_id, base_url=base_url, timeout_s=timeout_s)
        if not public_url.startswith(("http://", "https://")):
            raise ValueError("public_url must be an http(s) URL")
        self._caller_id = caller_id
        self._public_url = public_url.rstrip("/")
        self._machine_detection = machine_detection

    def __repr__(self) -> str:
        return f"TwilioVoiceGateway(public_url={self._public_url!r})"

    async def send(self, to: str, body: str, *, status_callback: str | None = None) -> SendOutcome:
        """Place a call to ``to`` whose TwiML is at ``body`` (a path under the public URL).

        ``status_callback`` is ignored: calls always report to :data:`VOICE_STATUS_PATH`.
        Never raises for provider or network errors.
        """
        client = self._twilio()
        fields: dict[str, str] = {
            "to": to,
            "from_": self._caller_id,
            "url": self._public_url + body,
            "status_callback": self._public_url + VOICE_STATUS_PATH,
        }
        if self._machine_detection:
            fields["machine_detection"] = "Enable"
        return await self._submit(
            lambda: client.calls.create_async(**fields),
            action="Call to",
            to=to,
            redact=(to,),
            noun="call",
        )

    async def find_sent(
        self,
        to: str,
        body: str,
        since: datetime,
        *,
        exclude: Collection[str] = (),
        now: datetime | None = None,
    ) -> str | None:
        """The SID of a call to ``to`` created since ``since`` and not in ``exclude``;
        see the module docstring for why the body is not compared. The cutoff is laid
        on Twilio's own clock exactly as for SMS (:meth:`TwilioSmsGateway.find_sent`):
        only the time since ``since`` crosses from our clock to Twilio's.

        Raises:
            ReconciliationUnavailable: Twilio could not be asked.
        """
        calls, twilio_now = await self._list_dated(
            "Reconciling calls to",
            "calls",
            to,
            (to,),
            lambda client: client.calls.list_async(to=to, limit=self._reconcile_limit),
        )
        cutoff = self._cutoff(since, now, twilio_now)
        for call in calls:
            sid = getattr(call, "sid", None)
            created = getattr(call, "date_created", None)
            if (
                isinstance(sid, str)
                and sid
                and sid not in exclude
                and isinstance(created, datetime)
                and _as_utc(created) >= cutoff
            ):
                return sid
        return None
