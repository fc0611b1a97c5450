"""The SMS gateway the notification dispatcher calls: Twilio, or the log without credentials.

The dispatcher delivers outbox rows at least once and de-duplicates (design principle
5). What makes that safe is how every failure is classified, because the class decides
whether a person gets two SMS or none:

``SENT``
    Twilio accepted the message and returned its SID.
``PERMANENT_FAILURE``
    Twilio refused the message for a reason tied to *this recipient or this message*
    (HTTP 4xx other than those listed below): 21211 invalid number, 21610
    unsubscribed, 21612 unroutable, 21614 not a mobile number, 21408 no permission for
    the region, 21602/21617 bad body... Retrying cannot help; nothing was sent.
``RETRYABLE_FAILURE``
    Nothing was sent, and a later attempt may succeed:

    * 429 / 20429 (rate limited) and 21611 (the sender's queue is full);
    * problems with *our* configuration rather than the recipient: 401, 403 and
      20003 (credentials), 404 / 20404 (wrong account or API URL), 21212, 21603,
      21606 and 21701 (the sender or Messaging Service is not usable). Treating these
      as permanent would silently drop every alert until someone noticed; as
      retryable, delivery resumes once an operator fixes the configuration. The
      gateway logs an error the first time it sees one (and again only after a
      success);
    * the connection could not be made (``aiohttp.ClientConnectorError`` and its
      subclasses: refused, DNS, TLS handshake, proxy; ``aiohttp.ConnectionTimeoutError``):
      the request never left.
``UNCERTAIN``
    Twilio may or may not have created the message: HTTP 5xx, a timeout, the server
    disconnecting (``ServerDisconnectedError``), a broken response
    (``ClientPayloadError``), a connection reset after the request went out, and any
    error this module does not recognise. The dispatcher must call
    :meth:`SmsGateway.find_sent` before trying again.

No ``error_message`` ever contains the recipient's number or the message body: Twilio
puts the number into some messages (``Invalid 'To' Phone Number: +1...``), so the exact
recipient and body are replaced by ``[redacted]`` and then anything else shaped like a
phone number by ``[number]``.
"""

from __future__ import annotations

import asyncio
import contextvars
import enum
import json
import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Final, Protocol

import aiohttp
from twilio.base.exceptions import (
    TwilioException,
    TwilioRestException,
    TwilioServiceException,
)
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response as TwilioResponse
from twilio.rest import Client

# The client imports its API modules on first use; importing them here moves that cost
# (a quarter of a second on a busy machine) from the first SMS of a wave to start-up.
import twilio.rest.api.v2010.account.message  # noqa: F401  # isort: skip

__all__ = [
    "CLOCK_SKEW",
    "RECONCILE_MARGIN",
    "LogSmsGateway",
    "ReconciliationUnavailable",
    "SendOutcome",
    "SendResult",
    "SmsGateway",
    "TwilioSmsGateway",
    "classify_twilio_error",
    "redact_number",
    "scrub_error_message",
]

log = logging.getLogger(__name__)

#: How far before ``since`` :meth:`SmsGateway.find_sent` still accepts a message when
#: ``since`` is given on Twilio's clock, or Twilio's response carried no ``Date``.
CLOCK_SKEW: Final = timedelta(minutes=5)
#: Room added to a window measured on our clock and laid on Twilio's (plus the call's
#: timeout): the ``Date`` header's whole seconds, and the time between reading our clock
#: and Twilio stamping its answer.
RECONCILE_MARGIN: Final = timedelta(minutes=1)
#: How many of a recipient's newest messages reconciliation looks through.
DEFAULT_RECONCILE_LIMIT: Final = 100

# Twilio codes that mean nothing was sent but a later attempt may succeed.
_RATE_LIMIT_CODES: Final = frozenset({20429, 21611})
# Codes (and HTTP statuses) that point at our account configuration, not the recipient.
_CONFIG_CODES: Final = frozenset({20003, 20404, 21212, 21603, 21606, 21701})
_CONFIG_STATUSES: Final = frozenset({401, 403, 404})

_MESSAGING_SERVICE_SID = re.compile(r"MG[0-9a-fA-F]{32}")
# A digit followed by at least six more, with up to three separators between digits:
# catches "+15005550001", "1 (500) 555-0001", "+44 7700 900123". It also eats long
# dates and IP addresses, which is harmless in an error message.
_PHONE_LIKE = re.compile(r"\+?\(?\d(?:[\s().\-/]{0,3}\d){6,}")
_NUMBER_SEPARATORS = re.compile(r"[\s().\-/]")
_MAX_ERROR_MESSAGE_CHARS: Final = 300
_MASK: Final = "•"


class SendResult(enum.Enum):
    """What happened to one send attempt (see the module docstring for the rules)."""

    SENT = "sent"
    PERMANENT_FAILURE = "permanent_failure"
    RETRYABLE_FAILURE = "retryable_failure"
    UNCERTAIN = "uncertain"


@dataclass(frozen=True, slots=True)
class SendOutcome:
    """The result of one send attempt, safe to store and log.

    ``error_code`` is Twilio's error code as a string (``"21211"``) for Twilio errors,
    or one of ``"connect"``, ``"timeout"``, ``"disconnected"``, ``"payload"``,
    ``"connection"``, ``"client"``, ``"unexpected"`` for failures on the way there.
    ``error_message`` is scrubbed of phone numbers on construction, whoever builds it.
    ``configuration_problem`` marks a retryable failure caused by our own account or
    sender setup (credentials, account, From number): every SMS will fail the same way
    until an operator acts, so it is worth an alarm of its own.
    """

    result: SendResult
    provider_id: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    configuration_problem: bool = False

    def __post_init__(self) -> None:
        if self.error_message is not None:
            object.__setattr__(self, "error_message", scrub_error_message(self.error_message))


class ReconciliationUnavailable(Exception):
    """The provider could not be asked whether a message was already sent.

    The dispatcher must wait and ask again later; sending blindly could deliver twice.
    The message and attributes never contain the phone number or the body, and the
    provider's own exception is deliberately not chained (it may contain both).
    """

    def __init__(self, message: str, *, error_code: str | None = None) -> None:
        super().__init__(scrub_error_message(message))
        self.error_code = error_code


class SmsGateway(Protocol):
    """Sends SMS and answers reconciliation queries; what the dispatcher depends on."""

    @property
    def timeout(self) -> timedelta:
        """The longest one call (a send, or a reconciliation query) can take."""
        ...

    async def send(self, to: str, body: str, *, status_callback: str | None) -> SendOutcome:
        """Send ``body`` to ``to`` (E.164) once; never raises for provider or network errors.

        ``status_callback`` is the public URL the provider reports delivery status to.
        """
        ...

    async def find_sent(
        self,
        to: str,
        body: str,
        since: datetime,
        *,
        exclude: Collection[str] = (),
        now: datetime | None = None,
    ) -> str | None:
        """Reconciliation after a crash or an uncertain outcome.

        Return the provider id of a message to ``to`` with exactly this body created
        at or after ``since``, if the provider has one, other than those in
        ``exclude`` (messages already recorded for other notifications: a nudge has
        the same text as the one before it).

        With ``now`` (the present on the clock ``since`` is on), only the time between
        them counts: the window is laid back from the provider's own present, so no
        difference between our clocks and the provider's can move it. Without, ``since``
        is taken to be on the provider's clock.

        Raises:
            ReconciliationUnavailable: the provider could not be asked; try later.
        """
        ...

    async def close(self) -> None:
        """Release network resources; the gateway is not used afterwards."""
        ...


def redact_number(number: str) -> str:
    """Mask a phone number for logs: ``"+15005550006"`` becomes ``"+1••••••••06"``.

    Keeps the first two characters (the ``+`` and the country code's first digit) and
    the last two digits; spaces and punctuation are dropped first. Inputs shorter than
    eight characters keep only their last two characters (or nothing, if shorter than
    four), so a short or malformed value is not printed nearly whole.
    """
    compact = _NUMBER_SEPARATORS.sub("", number)
    length = len(compact)
    if length < 4:
        return _MASK * length
    if length < 8:
        return _MASK * (length - 2) + compact[-2:]
    return compact[:2] + _MASK * (length - 4) + compact[-2:]


def scrub_error_message(message: str, redact: Iterable[str] = ()) -> str:
    """Remove phone numbers, and each non-empty string in ``redact``, from ``message``.

    Exact strings in ``redact`` (the recipient, the body) become ``[redacted]`` first;
    then anything shaped like a phone number becomes ``[number]``. The result is
    trimmed to a few hundred characters.
    """
    for secret in sorted((s for s in redact if s), key=len, reverse=True):
        message = message.replace(secret, "[redacted]")
    message = _PHONE_LIKE.sub("[number]", message)
    if len(message) > _MAX_ERROR_MESSAGE_CHARS:
        message = message[: _MAX_ERROR_MESSAGE_CHARS - 1] + "…"
    return message


def classify_twilio_error(exc: BaseException, *, redact: Iterable[str] = ()) -> SendOutcome:
    """Map an exception from a Twilio call to a :class:`SendOutcome`.

    The rules are in the module docstring. ``redact`` lists strings that must not appear
    in ``error_message`` (pass the recipient and the body); phone-number-shaped text is
    removed in any case.
    """
    secrets = tuple(redact)
    if isinstance(exc, TwilioRestException | TwilioServiceException):
        return _classify_twilio_response(exc, secrets)
    if isinstance(exc, TwilioException):
        response = next((arg for arg in exc.args if isinstance(arg, TwilioResponse)), None)
        if response is not None:
            return _classify_page_error(exc, response, secrets)

    result = SendResult.UNCERTAIN
    if isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError):
        # The TCP (or TLS, or proxy) connection never came up: the request never left.
        result, code = SendResult.RETRYABLE_FAILURE, "connect"
    elif isinstance(exc, TimeoutError):
        # Includes asyncio.timeout expiring and aiohttp's read timeouts.
        code = "timeout"
    elif isinstance(exc, aiohttp.ServerDisconnectedError):
        code = "disconnected"
    elif isinstance(exc, aiohttp.ClientPayloadError):
        code = "payload"
    elif isinstance(exc, aiohttp.ClientConnectionError):
        code = "connection"
    elif isinstance(exc, aiohttp.ClientError):
        code = "client"
    else:
        code = "unexpected"
    detail = str(exc)
    text = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    return SendOutcome(result, error_code=code, error_message=scrub_error_message(text, secrets))


def _classify_twilio_response(exc: Any, secrets: tuple[str, ...]) -> SendOutcome:
    """Classify an error response (legacy TwilioRestException or RFC 9457 problem)."""
    status = exc.status if isinstance(exc.status, int) else 0
    code = exc.code if isinstance(exc.code, int) else None
    if isinstance(exc, TwilioServiceException):
        text = ": ".join(str(part) for part in (exc.title, exc.detail) if part)
    else:
        text = str(exc.msg or "")
    return _classify_status(status, code, text, secrets)


def _classify_page_error(exc: Any, response: Any, secrets: tuple[str, ...]) -> SendOutcome:
    """Classify ``TwilioException("Unable to fetch page", response)`` from list calls.

    The client raises this bare exception, not a TwilioRestException, for an error
    page; the status is on the response and Twilio's code in its JSON body.
    """
    status = response.status_code if isinstance(response.status_code, int) else 0
    code: int | None = None
    text = str(exc.args[0]) if exc.args and isinstance(exc.args[0], str) else ""
    try:
        payload = json.loads(response.text)
    except (TypeError, ValueError):
        payload = None
    if isinstance(payload, dict):
        if isinstance(payload.get("code"), int):
            code = payload["code"]
        if isinstance(payload.get("message"), str):
            text = f"{text}: {payload['message']}" if text else payload["message"]
    return _classify_status(status, code, text, secrets)


def _classify_status(
    status: int, code: int | None, text: str, secrets: tuple[str, ...]
) -> SendOutcome:
    """Apply the classification rules to an HTTP status and Twilio error code."""
    message = scrub_error_message(text or f"HTTP {status}", secrets)
    code_text = str(code) if code is not None else (str(status) if status else None)

    if status == 429 or code in _RATE_LIMIT_CODES:
        return SendOutcome(
            SendResult.RETRYABLE_FAILURE, error_code=code_text, error_message=message
        )
    if status in _CONFIG_STATUSES or code in _CONFIG_CODES:
        return SendOutcome(
            SendResult.RETRYABLE_FAILURE,
            error_code=code_text,
            error_message=message,
            configuration_problem=True,
        )
    if 400 <= status < 500:
        return SendOutcome(
            SendResult.PERMANENT_FAILURE, error_code=code_text, error_message=message
        )
    # 5xx: Twilio may have stored the message before failing. Anything else (a 3xx,
    # no status at all) is equally unexplained.
    return SendOutcome(SendResult.UNCERTAIN, error_code=code_text, error_message=message)


def _as_utc(moment: datetime) -> datetime:
    """An aware UTC datetime; a naive one is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


#: Twilio's ``Date`` on the last response the current task received (Twilio's clock).
_TWILIO_DATE: contextvars.ContextVar[datetime | None] = contextvars.ContextVar(
    "twilio_date", default=None
)


def _http_date(value: object) -> datetime | None:
    """An HTTP ``Date`` header as an aware UTC datetime; None if absent or malformed."""
    if not isinstance(value, str):
        return None
    try:
        return _as_utc(parsedate_to_datetime(value))
    except (TypeError, ValueError):
        return None


class _DatedHttpClient(AsyncTwilioHttpClient):  # type: ignore[misc]
    """Twilio's HTTP client, noting each response's ``Date`` (Twilio's clock).

    The date is kept per task (a context variable), so concurrent calls through one
    client each see the date of their own response.
    """

    async def request(self, *args: Any, **kwargs: Any) -> Any:
        response = await super().request(*args, **kwargs)
        _TWILIO_DATE.set(_http_date(response.headers.get("Date")))
        return response


def _quiet_logger() -> logging.Logger:
    """A logger that drops everything, for the Twilio HTTP client.

    ``AsyncTwilioHttpClient`` logs every request at INFO, list queries included
    (``To=+1...``): with the application at INFO that would put witnesses' numbers in
    the log. This logger is not registered with ``logging``, so no configuration can
    turn it back on by name.
    """
    quiet = logging.Logger("witnesslink.notify.twilio_http", level=logging.CRITICAL + 1)
    quiet.propagate = False
    quiet.disabled = True
    return quiet


class TwilioSmsGateway:
    """Sends SMS through the real ``twilio`` client (``AsyncTwilioHttpClient``).

    The Twilio client and its aiohttp session are created on first use, so the gateway
    can be built before the event loop runs; :meth:`close` releases them.
    """

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        sender: str,
        *,
        base_url: str | None = None,
        timeout_s: float = 20,
        reconcile_limit: int = DEFAULT_RECONCILE_LIMIT,
    ) -> None:
        """Configure the gateway.

        Args:
            account_sid: the Twilio account SID ("AC...").
            auth_token: the account's auth token.
            sender: the ``From`` number (or short code or alphanumeric ID), or a
                Messaging Service SID ("MG" + 32 hex digits), which Twilio then uses to
                pick the sender.
            base_url: the API's base URL instead of ``https://api.twilio.com``, for a
                Twilio-shaped test server; edge and region are cleared so the host is
                not rewritten.
            timeout_s: limit on each whole Twilio call (send or reconciliation). The
                twilio client ignores its own ``timeout`` setting, so it is enforced here.
            reconcile_limit: how many of the recipient's newest messages
                :meth:`find_sent` examines.

        Raises:
            ValueError: on an empty credential or sender, a non-positive timeout or
                limit, or a base URL that is not http(s).
        """
        if not account_sid or not auth_token or not sender:
            raise ValueError("account_sid, auth_token and sender are all required")
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        if not 1 <= reconcile_limit <= 1000:
            raise ValueError("reconcile_limit must be between 1 and 1000")
        if base_url is not None and not base_url.startswith(("http://", "https://")):
            raise ValueError("base_url must be an http(s) URL")
        self._account_sid = account_sid
        self._auth_token = auth_token
        if _MESSAGING_SERVICE_SID.fullmatch(sender):
            self._sender_fields = {"messaging_service_sid": sender}
        else:
            self._sender_fields = {"from_": sender}
        self._base_url = base_url.rstrip("/") if base_url is not None else None
        self._timeout_s = float(timeout_s)
        self._reconcile_limit = reconcile_limit
        self._client: Any = None
        self._http: Any = None
        self._closed = False
        # The configuration problem already reported, so it is logged once, not per SMS.
        self._reported_problem: str | None = None

    @property
    def timeout(self) -> timedelta:
        """The limit on each whole Twilio call."""
        return timedelta(seconds=self._timeout_s)

    def __repr__(self) -> str:
        return f"TwilioSmsGateway(account_sid={self._account_sid!r}, base_url={self._base_url!r})"

    def _twilio(self) -> Any:
        """The Twilio client, created on first use (it needs a running event loop)."""
        if self._closed:
            raise RuntimeError("TwilioSmsGateway is closed")
        if self._client is None:
            http = _DatedHttpClient(timeout=self._timeout_s, logger=_quiet_logger())
            client = Client(self._account_sid, self._auth_token, http_client=http)
            if self._base_url is not None:
                client.edge = None
                client.region = None
                client.api.base_url = self._base_url
            self._http, self._client = http, client
        return self._client

    async def send(self, to: str, body: str, *, status_callback: str | None = None) -> SendOutcome:
        """Ask Twilio to send ``body`` to ``to``; classify any failure (never raises).

        Raises:
            RuntimeError: if the gateway has been closed.
        """
        client = self._twilio()
        fields: dict[str, str] = {"to": to, "body": body, **self._sender_fields}
        if status_callback is not None:
            fields["status_callback"] = status_callback
        return await self._submit(
            lambda: client.messages.create_async(**fields),
            action="SMS to",
            to=to,
            redact=(to, body),
            noun="message",
        )

    async def _submit(
        self,
        create: Callable[[], Awaitable[object]],
        *,
        action: str,
        to: str,
        redact: tuple[str, ...],
        noun: str,
    ) -> SendOutcome:
        """Create a message or call on Twilio within the timeout and say what became
        of it: a classified (redacted) failure, SENT with its SID, or UNCERTAIN when a
        2xx came without one."""
        try:
            async with asyncio.timeout(self._timeout_s):
                created = await create()
        except Exception as exc:
            outcome = classify_twilio_error(exc, redact=redact)
            self._report_failure(action, to, outcome)
            return outcome
        sid = getattr(created, "sid", None)
        if not isinstance(sid, str) or not sid:
            # A 2xx without a SID: Twilio has something, we cannot tell what.
            return SendOutcome(
                SendResult.UNCERTAIN,
                error_code="unexpected",
                error_message=f"Twilio accepted the request but returned no {noun} SID",
            )
        self._reported_problem = None
        return SendOutcome(SendResult.SENT, provider_id=sid)

    async def find_sent(
        self,
        to: str,
        body: str,
        since: datetime,
        *,
        exclude: Collection[str] = (),
        now: datetime | None = None,
    ) -> str | None:
        """Return the SID of a message to ``to`` with exactly ``body``, created since ``since``.

        SIDs in ``exclude`` (already recorded for other notifications) never count.

        Lists the recipient's newest messages (up to ``reconcile_limit``) with only a
        ``To`` filter: a ``DateSent`` filter would miss messages still queued, whose
        ``date_sent`` Twilio leaves empty. A message counts if its body is identical and
        its ``date_created`` is no earlier than the cutoff, on Twilio's clock:

        * with ``now``: Twilio's ``Date`` on the list response, minus ``now - since``,
          minus :data:`RECONCILE_MARGIN` and the timeout. Only a duration crosses from
          our clock to Twilio's, so a skew of any size between them changes nothing
          (a Twilio-side marker cannot be used instead: listed messages do not show
          their StatusCallback). Without a ``Date`` (never from Twilio itself), our
          clock stands in, with :data:`CLOCK_SKEW` more room;
        * without ``now``: ``since`` (on Twilio's clock) minus :data:`CLOCK_SKEW`.

        A naive ``since`` or ``now`` is taken to be UTC.

        Raises:
            ReconciliationUnavailable: Twilio could not be asked (any error or timeout).
            RuntimeError: if the gateway has been closed.
        """
        messages, twilio_now = await self._list_dated(
            "Reconciling SMS to",
            "messages",
            to,
            (to, body),
            lambda client: client.messages.list_async(to=to, limit=self._reconcile_limit),
        )
        # Not a reset of the reported configuration problem: listing works while the
        # sender is unusable, so only a successful send counts as the problem gone.
        cutoff = self._cutoff(since, now, twilio_now)
        for message in messages:
            created = getattr(message, "date_created", None)
            if (
                getattr(message, "body", None) == body
                and isinstance(created, datetime)
                and _as_utc(created) >= cutoff
            ):
                sid = getattr(message, "sid", None)
                if isinstance(sid, str) and sid and sid not in exclude:
                    return sid
        return None

    async def _list_dated(
        self,
        action: str,
        what: str,
        to: str,
        redact: tuple[str, ...],
        list_call: Callable[[Client], Awaitable[list[Any]]],
    ) -> tuple[list[Any], datetime | None]:
        """``list_call``'s records with the ``Date`` of Twilio's answer (its own clock).

        Raises:
            ReconciliationUnavailable: Twilio could not be asked (any error or timeout).
            RuntimeError: if the gateway has been closed.
        """
        client = self._twilio()
        try:
            async with asyncio.timeout(self._timeout_s):
                _TWILIO_DATE.set(None)
                records = await list_call(client)
                return records, _TWILIO_DATE.get()
        except Exception as exc:
            outcome = classify_twilio_error(exc, redact=redact)
            self._report_failure(action, to, outcome)
            # Not chained: the original exception's text can hold the number.
            raise ReconciliationUnavailable(
                f"could not list {what}: {outcome.error_message}",
                error_code=outcome.error_code,
            ) from None

    def _cutoff(
        self, since: datetime, now: datetime | None, twilio_now: datetime | None
    ) -> datetime:
        """The earliest ``date_created`` (Twilio's clock) reconciliation accepts."""
        if now is None:
            return _as_utc(since) - CLOCK_SKEW
        elapsed = _as_utc(now) - _as_utc(since)
        margin = RECONCILE_MARGIN + self.timeout
        if twilio_now is None:
            twilio_now, margin = datetime.now(UTC), margin + CLOCK_SKEW
        return twilio_now - elapsed - margin

    async def close(self) -> None:
        """Close the HTTP session; later calls raise ``RuntimeError``."""
        self._closed = True
        http, self._http, self._client = self._http, None, None
        if http is not None:
            await http.close()

    def _report_failure(self, action: str, to: str, outcome: SendOutcome) -> None:
        """Log a failure without the number; a configuration problem once, as an error."""
        if outcome.configuration_problem:
            if self._reported_problem != outcome.error_code:
                self._reported_problem = outcome.error_code
                log.error(
                    "Twilio refused our account or sender configuration (%s: %s); SMS "
                    "delivery is retried but cannot succeed until this is fixed",
                    outcome.error_code,
                    outcome.error_message,
                )
            return
        log.warning(
            "%s %s: %s (%s)",
            action,
            redact_number(to),
            outcome.result.value,
            outcome.error_code,
        )


class LogSmsGateway:
    """Writes SMS to the log instead of sending them, for running without credentials.

    Logs ``SMS to +1••••••••06: <body>`` at INFO; the number is always redacted.
    """

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._log = logger if logger is not None else log

    async def send(self, to: str, body: str, *, status_callback: str | None = None) -> SendOutcome:
        """Log the message and report it sent under a made-up id ``log-<uuid>``."""
        self._log.info("SMS to %s: %s", redact_number(to), body)
        return SendOutcome(SendResult.SENT, provider_id=f"log-{uuid.uuid4()}")

    @property
    def timeout(self) -> timedelta:
        """Logging never waits on the network."""
        return timedelta(seconds=1)

    async def find_sent(
        self,
        to: str,
        body: str,
        since: datetime,
        *,
        exclude: Collection[str] = (),
        now: datetime | None = None,
    ) -> str | None:
        """Always None: logged messages leave nothing to reconcile against."""
        return None

    async def close(self) -> None:
        """Nothing to release."""
