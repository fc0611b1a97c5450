"""Twilio webhooks: checking that a request really came from Twilio, and reading it.

Twilio signs every webhook (delivery status callbacks, inbound SMS) with the account's
auth token over the exact URL it called plus the POSTed form fields, and sends the
result in ``X-Twilio-Signature``. Behind a reverse proxy the URL this server sees
(``http://app:8080/...``) is not the one Twilio signed (``https://sms.example.org/...``),
so the verifier rebuilds the *public* URL from configuration, never from request
headers an attacker controls.

While the auth token is rotated, Twilio may sign with the old token or the new one
(requests already queued, or the console change taking effect), so the verifier accepts
a signature made with the current token or one previous token; nothing is ever *sent*
with the previous token.

No aiohttp here: the server's handlers read the form and the header, call
:meth:`TwilioWebhookVerifier.verify`, and then the ``parse_*`` functions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import urlsplit

from twilio.request_validator import RequestValidator

__all__ = [
    "FINAL_STATUSES",
    "InboundSms",
    "MalformedWebhook",
    "StatusUpdate",
    "TwilioWebhookVerifier",
    "parse_inbound_sms",
    "parse_status_callback",
]

#: Message statuses after which Twilio sends no further callbacks for that message.
FINAL_STATUSES: Final = frozenset({"delivered", "undelivered", "failed", "read", "canceled"})


class MalformedWebhook(ValueError):
    """A (verified) webhook lacks a field Twilio always sends; the text names the field."""


class TwilioWebhookVerifier:
    """Checks ``X-Twilio-Signature`` with ``twilio.request_validator.RequestValidator``."""

    def __init__(
        self, auth_token: str, public_base_url: str, previous_auth_token: str | None = None
    ) -> None:
        """Configure the verifier.

        Args:
            auth_token: the Twilio account's auth token (the signing key).
            previous_auth_token: the token being rotated out, still accepted for
                signatures until the operator removes it.
            public_base_url: scheme and host (and optional path prefix) under which
                Twilio reaches this server, e.g. ``https://sms.example.org``; the URL
                configured in Twilio is this plus the webhook's path and query.

        Raises:
            ValueError: if the token is empty (anyone could sign with an empty key) or
                the base URL is not an absolute http(s) URL without query or fragment.
        """
        if not auth_token:
            raise ValueError("auth_token must not be empty")
        parts = urlsplit(public_base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("public_base_url must be an absolute http(s) URL")
        if parts.query or parts.fragment:
            raise ValueError("public_base_url must not have a query or fragment")
        self._validators = [RequestValidator(auth_token)]
        if previous_auth_token and previous_auth_token != auth_token:
            self._validators.append(RequestValidator(previous_auth_token))
        self._public_base_url = public_base_url.rstrip("/")

    def __repr__(self) -> str:
        return f"TwilioWebhookVerifier(public_base_url={self._public_base_url!r})"

    def public_url(self, path_and_query: str) -> str:
        """The URL Twilio called for ``path_and_query`` (e.g. ``/sms/status?o=42``)."""
        if not path_and_query.startswith("/"):
            path_and_query = "/" + path_and_query
        return self._public_base_url + path_and_query

    def verify(
        self, path_and_query: str, form: Mapping[str, str], signature_header: str | None
    ) -> bool:
        """True only if the signature matches the public URL and exactly this form.

        ``path_and_query`` is the request's path and raw query string as received
        (aiohttp's ``request.raw_path``); ``form`` is the POSTed fields (a multidict
        with repeated keys is fine); ``signature_header`` is ``X-Twilio-Signature``.
        A missing or empty signature is rejected. The comparison is constant-time, and
        every token is tried so the time taken does not say which one matched.
        """
        if not signature_header:
            return False
        url = self.public_url(path_and_query)
        matches = [bool(v.validate(url, form, signature_header)) for v in self._validators]
        return any(matches)


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    """A delivery status callback for a message we sent.

    ``status`` is Twilio's lower-case ``MessageStatus`` as sent (``queued``, ``sent``,
    ``delivered``, ``undelivered``, ``failed``, ``read``, ...): Twilio adds statuses
    over time, so unknown values are passed through rather than rejected.
    """

    provider_id: str
    status: str
    error_code: str | None = None

    @property
    def is_final(self) -> bool:
        """True once Twilio will report nothing more about this message."""
        return self.status in FINAL_STATUSES


@dataclass(frozen=True, slots=True)
class InboundSms:
    """An SMS a witness sent to our number. ``repr`` hides the numbers and the text."""

    provider_id: str
    from_number: str = field(repr=False)
    to_number: str = field(repr=False)
    body: str = field(repr=False)


def _required(form: Mapping[str, str], *names: str) -> str:
    """The first of ``names`` present and non-empty in ``form``.

    Raises:
        MalformedWebhook: if none is.
    """
    for name in names:
        value = form.get(name)
        if value:
            return value.strip()
    raise MalformedWebhook(f"webhook is missing {names[0]}")


def parse_status_callback(form: Mapping[str, str]) -> StatusUpdate:
    """Read a message status callback (call only after :meth:`verify` accepted it).

    Uses ``MessageSid``/``MessageStatus``, falling back to the older ``SmsSid``/
    ``SmsStatus``; ``ErrorCode`` is present for failed and undelivered messages.

    Raises:
        MalformedWebhook: if the message id or the status is missing.
    """
    provider_id = _required(form, "MessageSid", "SmsSid")
    status = _required(form, "MessageStatus", "SmsStatus").lower()
    error_code = (form.get("ErrorCode") or "").strip() or None
    return StatusUpdate(provider_id=provider_id, status=status, error_code=error_code)


def parse_inbound_sms(form: Mapping[str, str]) -> InboundSms:
    """Read an inbound SMS webhook (call only after :meth:`verify` accepted it).

    The body is kept exactly as sent (it may be empty, e.g. for a picture message).

    Raises:
        MalformedWebhook: if the message id, ``From`` or ``To`` is missing.
    """
    return InboundSms(
        provider_id=_required(form, "MessageSid", "SmsMessageSid", "SmsSid"),
        from_number=_required(form, "From"),
        to_number=_required(form, "To"),
        body=form.get("Body") or "",
    )
