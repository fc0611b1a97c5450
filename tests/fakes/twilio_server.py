"""A Twilio-shaped HTTP server on 127.0.0.1 for tests and benchmarks.

witnesslink sends SMS through the *real* ``twilio`` client. To test that path without
touching Twilio, the client is pointed at this server, which mimics the parts of
Twilio's REST API 2010-04-01 the product uses: create, list (with Twilio's filters and
paging) and fetch of Message resources, Twilio-style error bodies, Twilio's magic test
numbers, status callbacks and inbound-SMS webhooks signed exactly as Twilio signs them.

Pointing the real client at it (what :meth:`FakeTwilio.client` does)::

    client = Client(account_sid, auth_token, http_client=AsyncTwilioHttpClient())
    point_client_at(client, fake.base_url)

``point_client_at`` sets ``client.api.base_url`` (the ``Api`` domain object that
``client.messages`` and ``client.api.v2010`` go through; it builds
``{base_url}/2010-04-01/Accounts/{sid}/Messages.json``) and clears ``client.edge`` and
``client.region``: if either is set (the constructor reads ``TWILIO_EDGE`` and
``TWILIO_REGION`` from the environment) ``get_hostname`` rewrites the host and would
turn ``127.0.0.1`` into nonsense.

Deliberate simplifications, all documented where they live:

* The magic numbers (``+15005550001`` ...) behave as they do with Twilio *test*
  credentials, whatever the credentials; any other valid number succeeds.
* ``To`` must be strict E.164; Twilio also normalises some national formats.
* Date filters have date granularity (as Twilio documents): any time part of a
  ``DateSent`` value is converted to UTC and dropped.
* Nothing is ever "sent": a message stays ``queued`` (or ``accepted`` for a Messaging
  Service) until a test calls :meth:`FakeTwilio.deliver`.

This module is imported by ``benchmarks/`` too, so it must not import pytest.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import contextlib
import hmac
import itertools
import json
import math
import os
import re
import signal
import sys
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from typing import Any, Final, Literal, cast
from urllib.parse import urlencode, urlsplit

from aiohttp import ClientSession, ClientTimeout, web
from multidict import MultiMapping
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from tests.fakes.twilio_voice import FakeVoice

__all__ = [
    "API_VERSION",
    "DEFAULT_ACCOUNT_SID",
    "DEFAULT_AUTH_TOKEN",
    "MAGIC_FROM_ERRORS",
    "MAGIC_TO_ERRORS",
    "DeliveryStatus",
    "FakeMessage",
    "FakeTwilio",
    "FaultKind",
    "RequestKind",
    "WebhookResult",
    "count_segments",
    "main",
    "point_client_at",
    "twilio_signature",
]

API_VERSION: Final = "2010-04-01"
#: Invented credentials for tests that do not care which account they use.
DEFAULT_ACCOUNT_SID: Final = "AC" + "0123456789abcdef" * 2
DEFAULT_AUTH_TOKEN: Final = "fake-twilio-auth-token-not-a-secret"

#: Twilio's magic ``To`` numbers (test credentials) and the error each one yields.
MAGIC_TO_ERRORS: Final[Mapping[str, int]] = {
    "+15005550001": 21211,  # invalid number
    "+15005550002": 21612,  # cannot route to this number
    "+15005550003": 21408,  # no international permissions
    "+15005550004": 21610,  # recipient has unsubscribed (blacklisted)
    "+15005550009": 21614,  # not a mobile number
}
#: Twilio's magic ``From`` numbers; ``+15005550006`` is the valid one.
MAGIC_FROM_ERRORS: Final[Mapping[str, int]] = {
    "+15005550001": 21212,  # invalid number
    "+15005550007": 21606,  # not owned by the account
    "+15005550008": 21611,  # sender queue is full
}

RequestKind = Literal["create", "list", "fetch", "call_create", "call_list"]
#: Which requests an injected fault applies to; ``"any"`` matches every kind.
FaultKind = Literal["create", "list", "fetch", "call_create", "call_list", "any"]
DeliveryStatus = Literal["sending", "sent", "delivered", "undelivered", "failed", "read"]

_MAX_BODY_CHARS: Final = 1600
_DEFAULT_PAGE_SIZE: Final = 50
_MAX_PAGE_SIZE: Final = 1000
_LIST_FILTERS: Final = ("To", "From", "DateSent", "DateSent<", "DateSent>")

_E164 = re.compile(r"\+[1-9][0-9]{1,14}")
_SHORT_CODE = re.compile(r"[0-9]{5,6}")
_ALPHANUMERIC_SENDER = re.compile(r"(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}")
_SID_HEX = re.compile(r"[0-9a-f]{32}")

# Twilio error catalogue: code -> (HTTP status, message template). The templates use
# str.format fields {to}, {from_}, {sid} and {path}; the wording follows Twilio's.
_ERRORS: Final[Mapping[int, tuple[int, str]]] = {
    20001: (400, "Invalid parameter"),
    20003: (401, "Authenticate"),
    20404: (404, "The requested resource {path} was not found"),
    20429: (429, "Too Many Requests"),
    20500: (500, "Internal Server Error"),
    20503: (503, "Service Unavailable"),
    21211: (400, "Invalid 'To' Phone Number: {to}"),
    21212: (
        400,
        "The 'From' number {from_} is not a valid phone number, shortcode, "
        "or alphanumeric sender ID.",
    ),
    21266: (400, "'To' and 'From' number cannot be the same: {to}"),
    21408: (
        400,
        "Permission to send an SMS has not been enabled for the region indicated by "
        "the 'To' number: {to}",
    ),
    21602: (400, "Message body is required."),
    21603: (400, "A 'From' or 'MessagingServiceSid' parameter is required to send a message"),
    21604: (400, "A 'To' phone number is required."),
    21606: (
        400,
        "The 'From' phone number provided ({from_}) is not a valid message-capable Twilio "
        "phone number for this destination/account.",
    ),
    21609: (400, "Invalid StatusCallback url"),
    21610: (400, "Attempt to send to unsubscribed recipient"),
    21611: (400, "This 'From' number has exceeded the maximum number of queued messages"),
    21612: (
        400,
        "The 'To' phone number: {to}, is not currently reachable using the 'From' "
        "phone number: {from_} via SMS.",
    ),
    21614: (400, "'To' number {to} is not a valid mobile number"),
    21617: (400, "The concatenated message body exceeds the 1600 character limit."),
    21701: (400, "The Messaging Service Sid {sid} is invalid."),
}
# What an injected plain HTTP status reports as its Twilio error code.
_HTTP_STATUS_CODES: Final[Mapping[int, int]] = {
    401: 20003,
    404: 20404,
    429: 20429,
    500: 20500,
    503: 20503,
}
# Carrier error codes used for failed/undelivered callbacks when a test names none.
_DELIVERY_ERRORS: Final[Mapping[int, str]] = {
    30003: "Unreachable destination handset",
    30005: "Unknown destination handset",
    30006: "Landline or unreachable carrier",
    30007: "Message filtered",
    30008: "Unknown error",
}

# GSM 03.38: characters in the basic set cost one septet, extension characters two.
_GSM_BASIC: Final = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENSION: Final = frozenset("^{}\\[~]|€\f")


def _utc_now() -> datetime:
    """Return the current time as an aware UTC datetime (the default clock)."""
    return datetime.now(UTC)


def _new_sid(prefix: str) -> str:
    """Return a Twilio-shaped SID: a two-letter prefix and 32 lowercase hex digits."""
    return prefix + os.urandom(16).hex()


def _rfc2822(moment: datetime | None) -> str | None:
    """Format a datetime as Twilio does in resources ("Mon, 15 Jan 2024 09:30:00 +0000")."""
    return None if moment is None else format_datetime(moment)


def count_segments(body: str) -> int:
    """Return how many SMS segments Twilio bills for ``body``.

    GSM-7 bodies fit 160 septets in one segment and 153 per segment when split;
    anything else is sent as UCS-2: 70 UTF-16 code units, 67 per segment when split.
    """
    septets = 0
    for char in body:
        if char in _GSM_BASIC:
            septets += 1
        elif char in _GSM_EXTENSION:
            septets += 2
        else:
            units = len(body.encode("utf-16-le")) // 2
            return 1 if units <= 70 else math.ceil(units / 67)
    return 1 if septets <= 160 else math.ceil(septets / 153)


def twilio_signature(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    """Return the ``X-Twilio-Signature`` Twilio would send for a form POST to ``url``.

    Uses the real ``RequestValidator.compute_signature`` so a receiver validating with
    ``RequestValidator(auth_token).validate(url, params, signature)`` accepts it.
    """
    return cast(str, RequestValidator(auth_token).compute_signature(url, dict(params)))


def point_client_at(client: Client, base_url: str) -> Client:
    """Point a real ``twilio.rest.Client`` at a Twilio-shaped server and return it.

    Sets ``client.api.base_url`` (the Api domain every Messages call is built from) and
    clears ``edge``/``region``, which would otherwise rewrite the host name.

    Raises:
        ValueError: if ``base_url`` is not an http URL on 127.0.0.1, so a test can never
            send to a real host by mistake.
    """
    parts = urlsplit(base_url)
    if parts.scheme != "http" or parts.hostname != "127.0.0.1":
        raise ValueError(f"fake Twilio must be http on 127.0.0.1, got {base_url!r}")
    client.edge = None
    client.region = None
    client.api.base_url = base_url.rstrip("/")
    return client


@dataclass(slots=True)
class FakeMessage:
    """One Message resource as the fake stores it (a record of what the client sent).

    ``form`` holds the create request's form fields as received, so tests can check
    parameters the resource itself does not echo (e.g. ``ValidityPeriod``).
    """

    seq: int
    sid: str
    account_sid: str
    to: str
    from_: str | None
    body: str
    status: str
    messaging_service_sid: str | None
    status_callback: str | None
    date_created: datetime
    date_updated: datetime
    date_sent: datetime | None
    num_segments: int
    num_media: int = 0
    error_code: int | None = None
    error_message: str | None = None
    form: dict[str, str] = field(default_factory=dict)
    #: With ``sender_rate``: when the message leaves the sender's queue (reaches the
    #: phone), on the fake's clock.
    received_at: datetime | None = None

    @property
    def uri(self) -> str:
        """The resource's own path, as Twilio puts it in ``uri``."""
        return f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{self.sid}.json"

    def to_resource(self) -> dict[str, Any]:
        """Return the JSON body Twilio returns for this message."""
        uri = self.uri
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": self.body,
            "date_created": _rfc2822(self.date_created),
            "date_sent": _rfc2822(self.date_sent),
            "date_updated": _rfc2822(self.date_updated),
            "direction": "outbound-api",
            "error_code": self.error_code,
            "error_message": self.error_message,
            "from": self.from_,
            "messaging_service_sid": self.messaging_service_sid,
            "num_media": str(self.num_media),
            "num_segments": str(self.num_segments),
            "price": None,
            "price_unit": "USD",
            "sid": self.sid,
            "status": self.status,
            "subresource_uris": {"media": uri[: -len(".json")] + "/Media.json"},
            "to": self.to,
            "uri": uri,
        }


@dataclass(frozen=True, slots=True)
class WebhookResult:
    """What a webhook receiver answered, plus exactly what was sent to it."""

    status: int
    text: str
    url: str
    params: Mapping[str, str]
    headers: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class _Fault:
    """One injected misbehaviour, consumed by the next matching request."""

    action: Literal["fail", "drop", "stall"]
    http_status: int = 0
    code: int = 0


class _TwilioError(Exception):
    """Raised inside handlers to answer with a Twilio error body."""

    def __init__(self, code: int, **fields: str) -> None:
        status, template = _ERRORS.get(code, (400, f"Twilio error {code}"))
        super().__init__(template.format(**fields) if fields else template)
        self.code = code
        self.http_status = status


def _basic_credentials(header: str) -> tuple[str, str] | None:
    """Return (login, password) from a Basic ``Authorization`` header, or None."""
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    login, colon, password = decoded.partition(":")
    return (login, password) if colon else None


def _order_key(message: FakeMessage) -> tuple[datetime, int]:
    """Sort key for lists: Twilio returns the most recent message first."""
    return (message.date_created, message.seq)


def _parse_filter_date(value: str) -> date | None:
    """Parse a DateSent filter value to a UTC date; None if it is not a date.

    Twilio documents YYYY-MM-DD; the Python client sends ``YYYY-MM-DDTHH:MM:SSZ`` for
    datetimes, which Twilio accepts. The time part is dropped (date granularity).
    """
    try:
        if len(value) == 10:
            return date.fromisoformat(value)
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.date()


class FakeTwilio:
    """An in-memory, Twilio-shaped Messages API with controls for tests.

    Test controls are Python attributes, not HTTP endpoints:

    * ``sent``: every message created (including ones whose response was dropped);
    * ``requests``: ``Counter`` of requests received by kind (``create``, ``list``,
      ``fetch``, ``unknown``), counted on arrival whatever the outcome;
    * ``injected``: ``Counter`` of faults that fired (``fail``, ``drop``, ``stall``);
    * :meth:`fail_next`, :meth:`hang_next`, :meth:`release_stalled`, :meth:`clear`;
    * :meth:`deliver` (status callbacks) and :meth:`post_inbound_sms` (inbound webhooks);
    * ``voice``: the Calls API and scripted callees (:mod:`tests.fakes.twilio_voice`).

    ``clock`` is the server's notion of now (resource dates, date filters and every
    response's ``Date`` header, as Twilio's own clock); a naive result is taken to be
    UTC. Give it a clock apart from the server's to model a skew between them.
    """

    def __init__(
        self,
        *,
        account_sid: str = DEFAULT_ACCOUNT_SID,
        auth_token: str = DEFAULT_AUTH_TOKEN,
        clock: Callable[[], datetime] = _utc_now,
        senders: Collection[str] | None = None,
        service_sender: str = "+15005550006",
        date_sent_on_create: bool = True,
        sender_rate: float | None = None,
    ) -> None:
        """Create a stopped fake; use :meth:`start` or :meth:`running` to serve it.

        Args:
            account_sid: the only account this fake knows ("AC" + 32 hex digits).
            auth_token: the account's auth token, for Basic auth and webhook signatures.
            clock: returns "now"; inject one to control dates and date filters.
            senders: if given, the only ``From`` values accepted (others get 21606).
            service_sender: the ``from`` a Messaging Service message gets on delivery.
            date_sent_on_create: fill ``date_sent`` at creation, as Twilio's documented
                examples show. Set False to mimic live Twilio, where a queued message
                has ``date_sent`` null (and so matches no DateSent filter) until sent.
            sender_rate: as Twilio does, accept every message at once but send at most
                this many a second per sender (``From`` or Messaging Service), first in
                first out: each message's ``received_at`` is when it leaves that queue.
                ``queue_peak`` records the longest queue each sender had.

        Raises:
            ValueError: if ``account_sid`` is not shaped like a Twilio account SID.
        """
        if not (account_sid.startswith("AC") and _SID_HEX.fullmatch(account_sid[2:])):
            raise ValueError(f"account_sid must be 'AC' + 32 hex digits, got {account_sid!r}")
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.clock = clock
        self.senders = frozenset(senders) if senders is not None else None
        self.service_sender = service_sender
        self.date_sent_on_create = date_sent_on_create
        self.sender_rate = sender_rate
        #: Per sender: when its queue is empty again; the longest queue it had.
        self._sender_free_at: dict[str, datetime] = {}
        self.queue_peak: Counter[str] = Counter()
        self.sent: list[FakeMessage] = []
        self.requests: Counter[str] = Counter()
        self.injected: Counter[str] = Counter()
        self._by_sid: dict[str, FakeMessage] = {}
        self._seq = itertools.count()
        self._faults: dict[FaultKind, deque[_Fault]] = {
            "create": deque(),
            "list": deque(),
            "fetch": deque(),
            "call_create": deque(),
            "call_list": deque(),
            "any": deque(),
        }
        self._validator = RequestValidator(auth_token)
        self._release = asyncio.Event()
        self._stall_changed = asyncio.Condition()
        self._stalled = 0
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None
        self._webhook_session: ClientSession | None = None
        self._http_clients: list[AsyncTwilioHttpClient] = []
        self.voice = FakeVoice(self)
        self.app = self._build_app()

    # ----------------------------------------------------------------- lifecycle

    @classmethod
    @contextlib.asynccontextmanager
    async def running(
        cls,
        *,
        account_sid: str = DEFAULT_ACCOUNT_SID,
        auth_token: str = DEFAULT_AUTH_TOKEN,
        clock: Callable[[], datetime] = _utc_now,
        port: int = 0,
        senders: Collection[str] | None = None,
        date_sent_on_create: bool = True,
    ) -> AsyncIterator[FakeTwilio]:
        """Serve a fake on 127.0.0.1 for the duration of an ``async with`` block.

        Raises:
            OSError: if the port cannot be bound.
        """
        fake = cls(
            account_sid=account_sid,
            auth_token=auth_token,
            clock=clock,
            senders=senders,
            date_sent_on_create=date_sent_on_create,
        )
        await fake.start(port)
        try:
            yield fake
        finally:
            await fake.stop()

    async def start(self, port: int = 0) -> str:
        """Listen on 127.0.0.1 (an ephemeral port by default) and return the base URL.

        Raises:
            RuntimeError: if already started.
            OSError: if the port cannot be bound.
        """
        if self._runner is not None:
            raise RuntimeError("FakeTwilio is already running")
        # asyncio primitives bind to the loop that first uses them: make fresh ones for
        # the loop this server runs on.
        self._release = asyncio.Event()
        self._stall_changed = asyncio.Condition()
        # Short shutdown grace: in-flight handlers here finish in microseconds, and
        # stalled ones are released before the runner is cleaned up.
        runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        bound_port = int(runner.addresses[0][1])
        self._base_url = f"http://127.0.0.1:{bound_port}"
        return self._base_url

    async def stop(self) -> None:
        """Release stalled requests, close clients made by :meth:`client`, stop serving."""
        self.release_stalled()
        clients, self._http_clients = self._http_clients, []
        for http_client in clients:
            await http_client.close()
        if self._webhook_session is not None:
            await self._webhook_session.close()
            self._webhook_session = None
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` of the running server.

        Raises:
            RuntimeError: if the server has not been started.
        """
        if self._base_url is None:
            raise RuntimeError("FakeTwilio is not running; call start() first")
        return self._base_url

    @property
    def port(self) -> int:
        """The TCP port the running server listens on."""
        port = urlsplit(self.base_url).port
        assert port is not None
        return port

    def client(self, *, timeout: float | None = None) -> Client:
        """Return a real ``twilio.rest.Client`` on ``AsyncTwilioHttpClient``, aimed here.

        Must be called with an event loop running (aiohttp opens its session then).
        The HTTP client is closed by :meth:`stop`.
        """
        http_client = AsyncTwilioHttpClient(timeout=timeout)
        self._http_clients.append(http_client)
        client = Client(self.account_sid, self.auth_token, http_client=http_client)
        return point_client_at(client, self.base_url)

    # ------------------------------------------------------------- test controls

    def fail_next(self, n: int = 1, status: int = 500, *, kind: FaultKind = "create") -> None:
        """Make the next ``n`` matching requests fail without creating anything.

        ``status`` is either an HTTP status (e.g. 500, 503, 429), answered with Twilio's
        matching error body (500 -> code 20500), or a Twilio error code (>= 10000, e.g.
        21610), answered with that code and its usual HTTP status (400 if unknown).
        Faults are consumed in order; kind-specific ones before ``"any"`` ones.

        Raises:
            ValueError: if ``n`` < 1 or ``status`` is neither an HTTP status nor a code.
        """
        if n < 1:
            raise ValueError("n must be at least 1")
        if 400 <= status < 600:
            fault = _Fault("fail", status, _HTTP_STATUS_CODES.get(status, status))
        elif status >= 10000:
            fault = _Fault("fail", _ERRORS.get(status, (400, ""))[0], status)
        else:
            raise ValueError(f"status must be an HTTP 4xx/5xx status or a Twilio code: {status}")
        self._faults[kind].extend([fault] * n)

    def hang_next(
        self,
        n: int = 1,
        *,
        kind: FaultKind = "create",
        mode: Literal["drop", "stall"] = "drop",
    ) -> None:
        """Process the next ``n`` matching requests fully but never answer them cleanly.

        A create is validated and *recorded* (it is in ``sent`` and visible to list and
        fetch) exactly as if it succeeded; then, instead of the response:

        * ``"drop"``: the connection is closed at once. The real client raises
          ``aiohttp.ServerDisconnectedError`` (an ``aiohttp.ClientError``).
        * ``"stall"``: the request is held open until :meth:`release_stalled` (or
          :meth:`stop`), then dropped; a client with a timeout times out first.

        This models a crash or network loss mid-send: Twilio has the message, the
        sender has no SID.

        aiohttp silently retries an idempotent request (GET: list, fetch) once when a
        pooled keep-alive connection is dropped, so one dropped list or fetch usually
        goes unnoticed by the client; use ``n=2`` (or :meth:`fail_next`) to make it
        fail. Creates are POSTs and are never retried.

        Raises:
            ValueError: if ``n`` < 1.
        """
        if n < 1:
            raise ValueError("n must be at least 1")
        self._faults[kind].extend([_Fault(mode)] * n)

    @property
    def stalled(self) -> int:
        """How many requests are currently held open by ``hang_next(mode="stall")``."""
        return self._stalled

    async def wait_until_stalled(self, count: int = 1) -> None:
        """Wait until at least ``count`` requests are held open (no sleeping needed)."""
        async with self._stall_changed:
            await self._stall_changed.wait_for(lambda: self._stalled >= count)

    def release_stalled(self) -> None:
        """Let every currently stalled request finish (by dropping its connection)."""
        self._release.set()
        self._release = asyncio.Event()

    def clear(self) -> None:
        """Forget all messages, counters and pending faults (in place)."""
        self.sent.clear()
        self._by_sid.clear()
        self.requests.clear()
        self.injected.clear()
        for queue in self._faults.values():
            queue.clear()

    def message(self, sid: str) -> FakeMessage:
        """Return the stored message with this SID.

        Raises:
            KeyError: if no such message was created.
        """
        return self._by_sid[sid]

    def sent_to(self, to: str) -> list[FakeMessage]:
        """Return the messages created for recipient ``to``, oldest first."""
        return [message for message in self.sent if message.to == to]

    # ------------------------------------------------------------------ webhooks

    async def deliver(
        self,
        sid: str,
        status: DeliveryStatus = "delivered",
        error_code: int | None = None,
    ) -> WebhookResult | None:
        """Move a message to ``status`` and POST Twilio's status callback for it.

        The callback carries Twilio's fields (MessageSid, MessageStatus, To, From,
        AccountSid, ApiVersion, SmsSid, SmsStatus, ErrorCode when there is one) and a
        valid ``X-Twilio-Signature``. ``failed``/``undelivered`` without ``error_code``
        use 30008 (unknown error), as Twilio always reports a code for those.

        Returns:
            What the callback URL answered, or None if the message has no callback URL
            (its status still changes).

        Raises:
            KeyError: if no message has this SID.
            aiohttp.ClientError: if the callback URL cannot be reached.
        """
        message = self._by_sid[sid]
        now = self._now()
        if status in ("failed", "undelivered") and error_code is None:
            error_code = 30008
        message.status = status
        message.date_updated = now
        if message.date_sent is None and status != "sending":
            message.date_sent = now
        if message.from_ is None:
            message.from_ = self.service_sender
        if error_code is not None:
            message.error_code = error_code
            message.error_message = _DELIVERY_ERRORS.get(error_code, "Unknown error")
        if message.status_callback is None:
            return None
        params = {
            "AccountSid": message.account_sid,
            "ApiVersion": API_VERSION,
            "From": message.from_,
            "MessageSid": message.sid,
            "MessageStatus": status,
            "SmsSid": message.sid,
            "SmsStatus": status,
            "To": message.to,
        }
        if message.messaging_service_sid is not None:
            params["MessagingServiceSid"] = message.messaging_service_sid
        if message.error_code is not None:
            params["ErrorCode"] = str(message.error_code)
        if status in ("delivered", "undelivered"):
            params["RawDlrDoneDate"] = now.strftime("%y%m%d%H%M")
        return await self._post_webhook(message.status_callback, params, self.auth_token)

    def signed_inbound_sms(
        self,
        url: str,
        from_: str,
        to: str,
        body: str,
        *,
        extra: Mapping[str, str] | None = None,
        sign_with: str | None = None,
    ) -> tuple[dict[str, str], dict[str, str]]:
        """Build an inbound-SMS webhook request as Twilio would POST it to ``url``.

        ``extra`` adds or overrides form fields (before signing); ``sign_with`` signs
        with another token, to test that a receiver rejects forged requests.

        Returns:
            ``(headers, form)``: headers include ``X-Twilio-Signature``; post ``form``
            url-encoded to exactly ``url`` (the signature covers the URL).
        """
        sid = _new_sid("SM")
        form = {
            "ToCountry": "",
            "ToState": "",
            "SmsMessageSid": sid,
            "NumMedia": "0",
            "ToCity": "",
            "FromZip": "",
            "SmsSid": sid,
            "FromState": "",
            "SmsStatus": "received",
            "FromCity": "",
            "Body": body,
            "FromCountry": "",
            "To": to,
            "ToZip": "",
            "NumSegments": str(count_segments(body)),
            "MessageSid": sid,
            "AccountSid": self.account_sid,
            "From": from_,
            "ApiVersion": API_VERSION,
        }
        if extra:
            form.update(extra)
        return self._webhook_headers(url, form, sign_with or self.auth_token), form

    async def post_inbound_sms(
        self,
        url: str,
        from_: str,
        to: str,
        body: str,
        *,
        extra: Mapping[str, str] | None = None,
        sign_with: str | None = None,
    ) -> WebhookResult:
        """POST a signed inbound-SMS webhook (see :meth:`signed_inbound_sms`) to ``url``.

        Raises:
            aiohttp.ClientError: if ``url`` cannot be reached.
        """
        headers, form = self.signed_inbound_sms(
            url, from_, to, body, extra=extra, sign_with=sign_with
        )
        return await self._send_webhook(url, form, headers)

    def _webhook_headers(self, url: str, params: Mapping[str, str], token: str) -> dict[str, str]:
        """Headers Twilio sends with a webhook, including a signature made with ``token``."""
        return {
            "X-Twilio-Signature": twilio_signature(token, url, params),
            "I-Twilio-Idempotency-Token": os.urandom(16).hex(),
            "User-Agent": "TwilioProxy/1.1",
        }

    async def _post_webhook(self, url: str, params: Mapping[str, str], token: str) -> WebhookResult:
        return await self._send_webhook(url, params, self._webhook_headers(url, params, token))

    async def _send_webhook(
        self, url: str, params: Mapping[str, str], headers: Mapping[str, str]
    ) -> WebhookResult:
        if self._webhook_session is None or self._webhook_session.closed:
            self._webhook_session = ClientSession(timeout=ClientTimeout(total=15))
        async with self._webhook_session.post(url, data=dict(params), headers=headers) as resp:
            text = await resp.text()
            return WebhookResult(resp.status, text, url, dict(params), dict(headers))

    # ------------------------------------------------------------------ HTTP side

    def _build_app(self) -> web.Application:
        app = web.Application()
        app.on_response_prepare.append(self._stamp_date)
        messages = f"/{API_VERSION}/Accounts/{{account_sid}}/Messages"
        app.router.add_post(messages + ".json", self._handle_create)
        app.router.add_get(messages + ".json", self._handle_list)
        app.router.add_get(messages + "/{sid:[A-Za-z0-9]+}.json", self._handle_fetch)
        self.voice.add_routes(app, f"/{API_VERSION}/Accounts/{{account_sid}}")
        app.router.add_route("*", "/{tail:.*}", self._handle_unknown)
        return app

    async def _stamp_date(self, _request: web.Request, response: web.StreamResponse) -> None:
        """Date every response on this fake's clock, as Twilio's are on Twilio's."""
        response.headers["Date"] = format_datetime(self._now(), usegmt=True)

    def _now(self) -> datetime:
        moment = self.clock()
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)

    def _take_fault(self, kind: RequestKind) -> _Fault | None:
        for queue in (self._faults[kind], self._faults["any"]):
            if queue:
                fault = queue.popleft()
                self.injected[fault.action] += 1
                return fault
        return None

    def _error_response(
        self, http_status: int, code: int, message: str, headers: Mapping[str, str] | None = None
    ) -> web.Response:
        payload = {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": http_status,
        }
        return self._json(http_status, payload, headers)

    @staticmethod
    def _json(
        status: int, payload: Mapping[str, Any], headers: Mapping[str, str] | None = None
    ) -> web.Response:
        response = web.Response(
            body=json.dumps(payload).encode(),
            status=status,
            content_type="application/json",
            charset="utf-8",
            headers=headers,
        )
        response.headers["Twilio-Request-Id"] = _new_sid("RQ")
        return response

    def _authenticate(self, request: web.Request) -> web.Response | None:
        """Check Basic auth and the account in the path; None if both are fine.

        A request for another account's resources is refused like bad credentials
        (this fake has exactly one account).
        """
        credentials = _basic_credentials(request.headers.get("Authorization", ""))
        if (
            credentials is None
            or not hmac.compare_digest(credentials[0].encode(), self.account_sid.encode())
            or not hmac.compare_digest(credentials[1].encode(), self.auth_token.encode())
            or request.match_info["account_sid"] != self.account_sid
        ):
            return self._error_response(
                401,
                20003,
                "Authenticate",
                {"WWW-Authenticate": 'Basic realm="Twilio API"'},
            )
        return None

    async def _answer(
        self, request: web.Request, fault: _Fault | None, response: web.Response
    ) -> web.Response:
        """Return ``response``, unless a hang fault says to drop the connection instead."""
        if fault is None or fault.action == "fail":
            return response
        if fault.action == "stall":
            release = self._release
            async with self._stall_changed:
                self._stalled += 1
                self._stall_changed.notify_all()
            try:
                await release.wait()
            finally:
                async with self._stall_changed:
                    self._stalled -= 1
                    self._stall_changed.notify_all()
        # Closing the transport before aiohttp writes anything means the client sees
        # the connection end with no status line: exactly a crash mid-request.
        transport = request.transport
        if transport is not None:
            transport.close()
        return response

    async def _handle_create(self, request: web.Request) -> web.Response:
        self.requests["create"] += 1
        denied = self._authenticate(request)
        if denied is not None:
            return denied
        fault = self._take_fault("create")
        if fault is not None and fault.action == "fail":
            return self._injected_failure(fault)
        form = await request.post()
        fields = {key: value for key, value in form.items() if isinstance(value, str)}
        try:
            message = self._create_message(fields, num_media=len(form.getall("MediaUrl", [])))
        except _TwilioError as error:
            return await self._answer(
                request, fault, self._error_response(error.http_status, error.code, str(error))
            )
        return await self._answer(request, fault, self._json(201, message.to_resource()))

    def _injected_failure(self, fault: _Fault) -> web.Response:
        message = _ERRORS.get(fault.code, (0, f"Injected Twilio error {fault.code}"))[1]
        return self._error_response(
            fault.http_status, fault.code, message.format(to="", from_="", sid="", path="")
        )

    def _create_message(self, fields: dict[str, str], num_media: int) -> FakeMessage:
        """Validate a create request as Twilio does and store the message.

        Raises:
            _TwilioError: with Twilio's code for the first problem found.
        """
        to = fields.get("To", "")
        from_ = fields.get("From") or None
        service_sid = fields.get("MessagingServiceSid") or None
        body = fields.get("Body", "")
        callback = fields.get("StatusCallback") or None
        if not to:
            raise _TwilioError(21604)
        if not _E164.fullmatch(to):
            raise _TwilioError(21211, to=to)
        if from_ is None and service_sid is None:
            raise _TwilioError(21603)
        if service_sid is not None and not (
            service_sid.startswith("MG") and _SID_HEX.fullmatch(service_sid[2:])
        ):
            raise _TwilioError(21701, sid=service_sid)
        if from_ is not None:
            if from_ in MAGIC_FROM_ERRORS:
                raise _TwilioError(MAGIC_FROM_ERRORS[from_], from_=from_)
            if not (
                _E164.fullmatch(from_)
                or _SHORT_CODE.fullmatch(from_)
                or _ALPHANUMERIC_SENDER.fullmatch(from_)
            ):
                raise _TwilioError(21212, from_=from_)
            if self.senders is not None and from_ not in self.senders:
                raise _TwilioError(21606, from_=from_)
        if not body and not num_media and "ContentSid" not in fields:
            raise _TwilioError(21602)
        if len(body) > _MAX_BODY_CHARS:
            raise _TwilioError(21617)
        if callback is not None:
            parts = urlsplit(callback)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise _TwilioError(21609)
        if from_ == to:
            raise _TwilioError(21266, to=to)
        if to in MAGIC_TO_ERRORS:
            raise _TwilioError(MAGIC_TO_ERRORS[to], to=to, from_=from_ or "")

        now = self._now()
        message = FakeMessage(
            seq=next(self._seq),
            sid=_new_sid("SM"),
            account_sid=self.account_sid,
            to=to,
            from_=from_,
            body=body,
            # Twilio answers "accepted" when a Messaging Service picks the sender later.
            status="accepted" if from_ is None else "queued",
            messaging_service_sid=service_sid,
            status_callback=callback,
            date_created=now,
            date_updated=now,
            date_sent=now if self.date_sent_on_create else None,
            num_segments=count_segments(body) if body else 1,
            num_media=num_media,
            form=fields,
        )
        self._queue(message, from_ or service_sid or "", now)
        self.sent.append(message)
        self._by_sid[message.sid] = message
        return message

    def _queue(self, message: FakeMessage, sender: str, now: datetime) -> None:
        """Send at ``sender_rate`` per sender, in arrival order (Twilio's queue)."""
        if self.sender_rate is None:
            message.received_at = now
            return
        free_at = max(now, self._sender_free_at.get(sender, now))
        message.received_at = free_at
        interval = timedelta(seconds=1 / self.sender_rate)
        self._sender_free_at[sender] = free_at + interval
        waiting = sum(
            1
            for m in self.sent
            if (m.from_ or m.messaging_service_sid or "") == sender
            and m.received_at is not None
            and m.received_at > now
        )
        self.queue_peak[sender] = max(self.queue_peak[sender], waiting + 1 if free_at > now else 0)

    async def _handle_fetch(self, request: web.Request) -> web.Response:
        self.requests["fetch"] += 1
        denied = self._authenticate(request)
        if denied is not None:
            return denied
        fault = self._take_fault("fetch")
        if fault is not None and fault.action == "fail":
            return self._injected_failure(fault)
        message = self._by_sid.get(request.match_info["sid"])
        if message is None:
            response = self._not_found(request.path)
        else:
            response = self._json(200, message.to_resource())
        return await self._answer(request, fault, response)

    async def _handle_list(self, request: web.Request) -> web.Response:
        self.requests["list"] += 1
        denied = self._authenticate(request)
        if denied is not None:
            return denied
        fault = self._take_fault("list")
        if fault is not None and fault.action == "fail":
            return self._injected_failure(fault)
        try:
            response = self._json(200, self._list_page(request.query))
        except _TwilioError as error:
            response = self._error_response(error.http_status, error.code, str(error))
        return await self._answer(request, fault, response)

    async def _handle_unknown(self, request: web.Request) -> web.Response:
        self.requests["unknown"] += 1
        return self._not_found(request.path)

    def _not_found(self, path: str) -> web.Response:
        return self._error_response(
            404, 20404, _ERRORS[20404][1].format(path=path.removesuffix(".json"))
        )

    def _list_page(self, query: MultiMapping[str]) -> dict[str, Any]:
        """Build one page of the Messages list, newest first, as Twilio shapes it.

        Paging is keyset-based like Twilio's ``PageToken`` (``PA``/``PB`` + SID of the
        last/first record seen), so messages created while a client pages through do
        not shift later pages. ``Page`` without a token pages by offset.

        Raises:
            _TwilioError: 20001 for malformed filter or paging parameters.
        """
        filters = [(key, query[key]) for key in _LIST_FILTERS if key in query]
        to = query.get("To")
        from_ = query.get("From")
        dates: dict[str, date] = {}
        for key in ("DateSent", "DateSent<", "DateSent>"):
            if key in query:
                parsed = _parse_filter_date(query[key])
                if parsed is None:
                    raise _TwilioError(20001)
                dates[key] = parsed
        try:
            page_size = int(query.get("PageSize", _DEFAULT_PAGE_SIZE))
            page = int(query.get("Page", 0))
        except ValueError:
            raise _TwilioError(20001) from None
        if page_size < 1 or page < 0:
            raise _TwilioError(20001)
        page_size = min(page_size, _MAX_PAGE_SIZE)
        token = query.get("PageToken")

        on, after, before = dates.get("DateSent"), dates.get("DateSent>"), dates.get("DateSent<")
        matching: list[FakeMessage] = []
        for message in self.sent:
            if (to is not None and message.to != to) or (
                from_ is not None and message.from_ != from_
            ):
                continue
            if dates:
                if message.date_sent is None:
                    continue
                sent_on = message.date_sent.date()
                if (
                    (on is not None and sent_on != on)
                    or (after is not None and sent_on < after)
                    or (before is not None and sent_on > before)
                ):
                    continue
            matching.append(message)
        matching.sort(key=_order_key, reverse=True)

        if token is None:
            first = page * page_size
            records = matching[first : first + page_size]
            has_next = len(matching) > first + page_size
        else:
            anchor = self._by_sid.get(token[2:]) if token[:2] in ("PA", "PB") else None
            if anchor is None:
                raise _TwilioError(20001)
            anchor_key = _order_key(anchor)
            if token.startswith("PA"):
                older = [m for m in matching if _order_key(m) < anchor_key]
                records = older[:page_size]
                has_next = len(older) > page_size
            else:
                newer = [m for m in matching if _order_key(m) > anchor_key]
                records = newer[-page_size:]
                has_next = True

        base = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages.json"

        def page_uri(number: int, page_token: str | None) -> str:
            pairs: list[tuple[str, str | int]] = [*filters, ("PageSize", page_size)]
            pairs.append(("Page", number))
            if page_token is not None:
                pairs.append(("PageToken", page_token))
            return f"{base}?{urlencode(pairs)}"

        first_page_uri = page_uri(0, None)
        next_page_uri = page_uri(page + 1, "PA" + records[-1].sid) if has_next and records else None
        if page == 0:
            previous_page_uri = None
        elif page == 1:
            previous_page_uri = first_page_uri
        else:
            previous_page_uri = page_uri(page - 1, "PB" + records[0].sid) if records else None
        start = page * page_size
        return {
            "end": start + max(len(records) - 1, 0),
            "first_page_uri": first_page_uri,
            "messages": [message.to_resource() for message in records],
            "next_page_uri": next_page_uri,
            "page": page,
            "page_size": page_size,
            "previous_page_uri": previous_page_uri,
            "start": start,
            "uri": page_uri(page, token),
        }


# ---------------------------------------------------------------- subprocess entry


async def _serve(port: int, account_sid: str, auth_token: str) -> None:
    """Serve until SIGTERM/SIGINT or until the parent process goes away."""
    fake = FakeTwilio(account_sid=account_sid, auth_token=auth_token)
    base_url = await fake.start(port)
    print(
        json.dumps({"event": "listening", "port": fake.port, "base_url": base_url}),
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    parent = os.getppid()
    try:
        # Also stop when the parent dies: an orphaned fake would hold its port forever.
        while not stop.is_set() and os.getppid() == parent:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)
    finally:
        await fake.stop()
        print(
            json.dumps(
                {
                    "event": "stopped",
                    "requests": dict(fake.requests),
                    "injected": dict(fake.injected),
                    "messages": len(fake.sent),
                }
            ),
            flush=True,
        )


def main(argv: list[str] | None = None) -> int:
    """Run the fake in its own process; print ``{"event": "listening", "port": ...}``.

    Usage: ``python -m tests.fakes.twilio_server --port 0 --account-sid AC... --auth-token T``.
    On SIGTERM it stops and prints ``{"event": "stopped", "requests": {...}, ...}``.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--account-sid", default=DEFAULT_ACCOUNT_SID)
    parser.add_argument("--auth-token", default=DEFAULT_AUTH_TOKEN)
    args = parser.parse_args(argv)
    try:
        asyncio.run(_serve(args.port, args.account_sid, args.auth_token))
    except ValueError as error:
        print(json.dumps({"event": "error", "error": str(error)}), file=sys.stderr, flush=True)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
