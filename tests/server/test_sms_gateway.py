"""The SMS gateway and Twilio webhook checks, through the real ``twilio`` client.

Every gateway test talks to the Twilio-shaped fake on 127.0.0.1 with the real client
(``AsyncTwilioHttpClient``); nothing of ours is mocked. The classification rules under
test decide whether a witness's support worker gets an alert twice, once, or never.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from twilio.base.exceptions import TwilioRestException

from server.clock import ManualClock
from server.notify.sms import (
    CLOCK_SKEW,
    LogSmsGateway,
    ReconciliationUnavailable,
    SendOutcome,
    SendResult,
    SmsGateway,
    TwilioSmsGateway,
    classify_twilio_error,
    redact_number,
)
from server.notify.webhooks import (
    InboundSms,
    MalformedWebhook,
    StatusUpdate,
    TwilioWebhookVerifier,
    parse_inbound_sms,
    parse_status_callback,
)
from tests.fakes.twilio_server import MAGIC_TO_ERRORS, FakeTwilio

ACCOUNT_SID = "AC" + "7a" * 16
AUTH_TOKEN = "auth-token-for-the-fake-only"
SENDER = "+15005550006"  # Twilio's magic valid sender
# Non-magic numbers in Twilio's +1 500 555 test range: the fake accepts them as valid
# recipients (the magic valid number is the sender, and To may not equal From).
RECIPIENT = "+15005550011"
OTHER_RECIPIENT = "+15005550012"
MESSAGING_SERVICE = "MG" + "3c" * 16
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
BODY = "Hi, it's Mira. Just checking in - reply 1 if all is well."


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
async def fake(clock: ManualClock) -> AsyncIterator[FakeTwilio]:
    async with FakeTwilio.running(
        account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, clock=clock.now
    ) as running:
        yield running


def open_gateway(base_url: str, *, sender: str = SENDER, timeout_s: float = 20) -> TwilioSmsGateway:
    return TwilioSmsGateway(ACCOUNT_SID, AUTH_TOKEN, sender, base_url=base_url, timeout_s=timeout_s)


@pytest.fixture
async def gateway(fake: FakeTwilio) -> AsyncIterator[TwilioSmsGateway]:
    sms = open_gateway(fake.base_url)
    yield sms
    await sms.close()


def assert_no_number(text: str | None, number: str) -> None:
    """The number appears nowhere, not even without its "+" or country code."""
    assert text is not None
    assert number not in text
    assert number.lstrip("+")[1:] not in text


def closed_port_url() -> str:
    """An http URL on 127.0.0.1 where nothing listens."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# ---------------------------------------------------------------- sending


async def test_both_gateways_satisfy_the_protocol(gateway: TwilioSmsGateway) -> None:
    gateways: list[SmsGateway] = [gateway, LogSmsGateway()]
    assert len(gateways) == 2


async def test_a_sent_message_returns_its_sid_and_twilio_has_exactly_it(
    fake: FakeTwilio, gateway: TwilioSmsGateway
) -> None:
    callback = "https://witnesslink.example.org/twilio/status?outbox=17"

    outcome = await gateway.send(RECIPIENT, BODY, status_callback=callback)

    assert outcome.result is SendResult.SENT
    assert outcome.error_code is None
    assert outcome.error_message is None
    (message,) = fake.sent
    assert outcome.provider_id == message.sid
    assert (message.to, message.from_, message.body) == (RECIPIENT, SENDER, BODY)
    assert message.status_callback == callback


async def test_no_status_callback_is_sent_when_none_is_given(
    fake: FakeTwilio, gateway: TwilioSmsGateway
) -> None:
    await gateway.send(RECIPIENT, BODY, status_callback=None)

    assert "StatusCallback" not in fake.sent[0].form


async def test_a_messaging_service_sid_is_sent_instead_of_a_from_number(
    fake: FakeTwilio,
) -> None:
    sms = open_gateway(fake.base_url, sender=MESSAGING_SERVICE)
    try:
        outcome = await sms.send(RECIPIENT, BODY)
    finally:
        await sms.close()

    assert outcome.result is SendResult.SENT
    (message,) = fake.sent
    assert message.messaging_service_sid == MESSAGING_SERVICE
    assert message.from_ is None


@pytest.mark.parametrize(("number", "code"), sorted(MAGIC_TO_ERRORS.items()))
async def test_recipient_errors_are_permanent_and_never_name_the_number(
    fake: FakeTwilio, gateway: TwilioSmsGateway, number: str, code: int
) -> None:
    outcome = await gateway.send(number, BODY)

    assert outcome.result is SendResult.PERMANENT_FAILURE
    assert outcome.error_code == str(code)
    assert outcome.provider_id is None
    assert_no_number(outcome.error_message, number)
    assert BODY not in (outcome.error_message or "")
    assert fake.sent == []


async def test_the_number_in_twilios_message_is_replaced_not_dropped(
    gateway: TwilioSmsGateway,
) -> None:
    outcome = await gateway.send("+15005550001", BODY)

    assert outcome.error_message is not None
    assert "Invalid 'To' Phone Number" in outcome.error_message


@pytest.mark.parametrize("status", [500, 503])
async def test_a_twilio_5xx_is_uncertain(
    fake: FakeTwilio, gateway: TwilioSmsGateway, status: int
) -> None:
    fake.fail_next(status=status)

    outcome = await gateway.send(RECIPIENT, BODY)

    assert outcome.result is SendResult.UNCERTAIN
    assert outcome.error_code in {"20500", "20503"}
    assert fake.injected["fail"] == 1


@pytest.mark.parametrize("status", [429, 20429])
async def test_rate_limiting_is_retryable(
    fake: FakeTwilio, gateway: TwilioSmsGateway, status: int
) -> None:
    fake.fail_next(status=status)

    outcome = await gateway.send(RECIPIENT, BODY)

    assert outcome.result is SendResult.RETRYABLE_FAILURE
    assert outcome.error_code == "20429"
    assert not outcome.configuration_problem
    assert fake.sent == []


async def test_a_full_sender_queue_is_retryable(fake: FakeTwilio) -> None:
    sms = open_gateway(fake.base_url, sender="+15005550008")  # magic "queue full" sender
    try:
        outcome = await sms.send(RECIPIENT, BODY)
    finally:
        await sms.close()

    assert outcome.result is SendResult.RETRYABLE_FAILURE
    assert outcome.error_code == "21611"
    assert not outcome.configuration_problem


async def test_bad_credentials_are_retryable_and_logged_once_until_fixed(
    fake: FakeTwilio, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = TwilioSmsGateway(ACCOUNT_SID, "not-the-token", SENDER, base_url=fake.base_url)
    try:
        with caplog.at_level(logging.ERROR, logger="server.notify.sms"):
            first = await wrong.send(RECIPIENT, BODY)
            second = await wrong.send(RECIPIENT, BODY)
    finally:
        await wrong.close()

    for outcome in (first, second):
        assert outcome.result is SendResult.RETRYABLE_FAILURE
        assert outcome.error_code == "20003"
        assert outcome.configuration_problem
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "20003" in errors[0].getMessage()
    assert fake.sent == []


async def test_an_injected_auth_failure_clears_after_a_success(
    fake: FakeTwilio, gateway: TwilioSmsGateway, caplog: pytest.LogCaptureFixture
) -> None:
    fake.fail_next(status=20003)
    with caplog.at_level(logging.ERROR, logger="server.notify.sms"):
        assert (await gateway.send(RECIPIENT, BODY)).result is SendResult.RETRYABLE_FAILURE
        assert (await gateway.send(RECIPIENT, BODY)).result is SendResult.SENT
        fake.fail_next(status=20003)
        assert (await gateway.send(RECIPIENT, BODY)).result is SendResult.RETRYABLE_FAILURE

    assert len([r for r in caplog.records if r.levelno == logging.ERROR]) == 2


@pytest.mark.parametrize(
    ("sender", "code"),
    [("+15005550001", "21212"), ("+15005550007", "21606")],
)
async def test_an_unusable_sender_is_a_retryable_configuration_problem(
    fake: FakeTwilio, sender: str, code: str
) -> None:
    sms = open_gateway(fake.base_url, sender=sender)
    try:
        outcome = await sms.send(RECIPIENT, BODY)
    finally:
        await sms.close()

    assert outcome.result is SendResult.RETRYABLE_FAILURE
    assert outcome.error_code == code
    assert outcome.configuration_problem
    assert_no_number(outcome.error_message, sender)


async def test_a_closed_port_is_retryable_because_nothing_left() -> None:
    sms = open_gateway(closed_port_url())
    try:
        outcome = await sms.send(RECIPIENT, BODY)
    finally:
        await sms.close()

    assert outcome.result is SendResult.RETRYABLE_FAILURE
    assert outcome.error_code == "connect"
    assert_no_number(outcome.error_message, RECIPIENT)


async def test_a_dropped_connection_after_twilio_stored_it_is_uncertain(
    fake: FakeTwilio, gateway: TwilioSmsGateway
) -> None:
    fake.hang_next(mode="drop")

    outcome = await gateway.send(RECIPIENT, BODY)

    assert outcome.result is SendResult.UNCERTAIN
    assert outcome.error_code == "disconnected"
    assert outcome.provider_id is None
    assert [m.body for m in fake.sent] == [BODY]


async def test_a_timeout_is_uncertain_and_the_message_is_then_found(
    fake: FakeTwilio,
) -> None:
    sms = open_gateway(fake.base_url, timeout_s=0.2)
    try:
        fake.hang_next(mode="stall")
        outcome = await sms.send(RECIPIENT, BODY)
        fake.release_stalled()

        assert outcome.result is SendResult.UNCERTAIN
        assert outcome.error_code == "timeout"
        (message,) = fake.sent
        assert await sms.find_sent(RECIPIENT, BODY, START) == message.sid
    finally:
        await sms.close()


async def test_a_closed_gateway_refuses_to_send(fake: FakeTwilio) -> None:
    sms = open_gateway(fake.base_url)
    await sms.close()

    with pytest.raises(RuntimeError):
        await sms.send(RECIPIENT, BODY)


def test_construction_needs_no_event_loop_and_rejects_bad_settings() -> None:
    TwilioSmsGateway(ACCOUNT_SID, AUTH_TOKEN, SENDER)  # nothing opened yet
    with pytest.raises(ValueError, match="required"):
        TwilioSmsGateway(ACCOUNT_SID, "", SENDER)
    with pytest.raises(ValueError, match="timeout"):
        TwilioSmsGateway(ACCOUNT_SID, AUTH_TOKEN, SENDER, timeout_s=0)
    with pytest.raises(ValueError, match="base_url"):
        TwilioSmsGateway(ACCOUNT_SID, AUTH_TOKEN, SENDER, base_url="ftp://127.0.0.1")


# ---------------------------------------------------------------- reconciliation


@pytest.mark.parametrize("date_sent_on_create", [True, False])
async def test_find_sent_finds_the_message_a_dropped_send_left_behind(
    clock: ManualClock, date_sent_on_create: bool
) -> None:
    async with FakeTwilio.running(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        clock=clock.now,
        date_sent_on_create=date_sent_on_create,
    ) as fake:
        sms = open_gateway(fake.base_url)
        try:
            attempt_started = clock.now()
            clock.advance(timedelta(seconds=2))
            fake.hang_next(mode="drop")
            assert (await sms.send(RECIPIENT, BODY)).result is SendResult.UNCERTAIN
            clock.advance(timedelta(minutes=1))

            found = await sms.find_sent(RECIPIENT, BODY, attempt_started)
        finally:
            await sms.close()

    (message,) = fake.sent
    # Live Twilio leaves date_sent empty while queued: a DateSent filter would miss it.
    assert message.date_sent == (START + timedelta(seconds=2) if date_sent_on_create else None)
    assert found == message.sid


async def test_find_sent_returns_none_when_twilio_never_got_it(
    fake: FakeTwilio, gateway: TwilioSmsGateway
) -> None:
    fake.fail_next(status=500)
    assert (await gateway.send(RECIPIENT, BODY)).result is SendResult.UNCERTAIN

    assert await gateway.find_sent(RECIPIENT, BODY, START) is None


async def test_find_sent_ignores_other_bodies_other_recipients_and_older_messages(
    fake: FakeTwilio, gateway: TwilioSmsGateway, clock: ManualClock
) -> None:
    await gateway.send(RECIPIENT, BODY)  # yesterday's identical nudge
    clock.advance(timedelta(days=1))
    since = clock.now()
    await gateway.send(RECIPIENT, BODY + " ")
    await gateway.send(RECIPIENT, "Reply 1 if all is well.")
    await gateway.send(OTHER_RECIPIENT, BODY)

    assert await gateway.find_sent(RECIPIENT, BODY, since) is None

    today = await gateway.send(RECIPIENT, BODY)
    assert await gateway.find_sent(RECIPIENT, BODY, since) == today.provider_id


async def test_find_sent_tolerates_clock_skew_but_no_more(
    fake: FakeTwilio, gateway: TwilioSmsGateway, clock: ManualClock
) -> None:
    sent = await gateway.send(RECIPIENT, BODY)

    assert await gateway.find_sent(RECIPIENT, BODY, START + CLOCK_SKEW) == sent.provider_id
    late = START + CLOCK_SKEW + timedelta(seconds=1)
    assert await gateway.find_sent(RECIPIENT, BODY, late) is None


@pytest.mark.parametrize("skew", [timedelta(hours=2), -timedelta(hours=2)])
async def test_find_sent_with_now_measures_the_window_on_twilios_clock(
    fake: FakeTwilio, gateway: TwilioSmsGateway, clock: ManualClock, skew: timedelta
) -> None:
    """``since`` and ``now`` on a clock two hours off Twilio's: only the time between
    them counts, laid back from the ``Date`` of Twilio's answer (plus a margin of a
    minute and the 20 s timeout)."""
    earlier = await gateway.send(RECIPIENT, BODY)
    clock.advance(timedelta(minutes=10))
    sent = await gateway.send(RECIPIENT, BODY)
    since = clock.now() + skew - timedelta(seconds=30)  # the attempt, on our clock
    now = clock.now() + skew

    found = await gateway.find_sent(RECIPIENT, BODY, since, now=now, exclude={sent.provider_id})
    assert found is None  # ten minutes before the attempt: not this attempt's
    assert await gateway.find_sent(RECIPIENT, BODY, since, now=now) == sent.provider_id
    wide = now - timedelta(minutes=8, seconds=40)
    assert await gateway.find_sent(RECIPIENT, BODY, wide, now=now, exclude={sent.provider_id}) == (
        earlier.provider_id
    )


async def test_find_sent_treats_a_naive_since_as_utc(
    fake: FakeTwilio, gateway: TwilioSmsGateway
) -> None:
    sent = await gateway.send(RECIPIENT, BODY)

    assert await gateway.find_sent(RECIPIENT, BODY, START.replace(tzinfo=None)) == sent.provider_id


async def test_a_failing_list_makes_reconciliation_unavailable(
    fake: FakeTwilio, gateway: TwilioSmsGateway
) -> None:
    fake.fail_next(status=500, kind="list")

    with pytest.raises(ReconciliationUnavailable) as raised:
        await gateway.find_sent(RECIPIENT, BODY, START)

    assert raised.value.error_code == "20500"
    assert raised.value.__cause__ is None
    assert raised.value.__suppress_context__
    assert_no_number(str(raised.value), RECIPIENT)


@pytest.mark.parametrize(("status", "code"), [(429, "20429"), (401, "20003"), (503, "20503")])
async def test_any_list_error_response_makes_reconciliation_unavailable(
    fake: FakeTwilio, gateway: TwilioSmsGateway, status: int, code: str
) -> None:
    fake.fail_next(status=status, kind="list")

    with pytest.raises(ReconciliationUnavailable) as raised:
        await gateway.find_sent(RECIPIENT, BODY, START)

    assert raised.value.error_code == code
    # The fault is consumed: the next attempt reconciles normally.
    assert await gateway.find_sent(RECIPIENT, BODY, START) is None


async def test_dropped_lists_make_reconciliation_unavailable(
    fake: FakeTwilio, gateway: TwilioSmsGateway
) -> None:
    # aiohttp retries an idempotent GET once on a dropped keep-alive connection.
    fake.hang_next(2, kind="list")

    with pytest.raises(ReconciliationUnavailable):
        await gateway.find_sent(RECIPIENT, BODY, START)


async def test_an_unreachable_twilio_makes_reconciliation_unavailable() -> None:
    sms = open_gateway(closed_port_url())
    try:
        with pytest.raises(ReconciliationUnavailable) as raised:
            await sms.find_sent(RECIPIENT, BODY, START)
    finally:
        await sms.close()

    assert raised.value.error_code == "connect"


async def test_a_stalled_list_times_out_as_reconciliation_unavailable(fake: FakeTwilio) -> None:
    sms = open_gateway(fake.base_url, timeout_s=0.2)
    try:
        fake.hang_next(kind="list", mode="stall")
        with pytest.raises(ReconciliationUnavailable) as raised:
            await sms.find_sent(RECIPIENT, BODY, START)
        fake.release_stalled()
    finally:
        await sms.close()

    assert raised.value.error_code == "timeout"


# ---------------------------------------------------------------- privacy


async def test_the_twilio_client_logs_no_numbers(
    fake: FakeTwilio, gateway: TwilioSmsGateway, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        await gateway.send(RECIPIENT, BODY)
        await gateway.find_sent(RECIPIENT, BODY, START)
        await gateway.send("+15005550001", BODY)

    for record in caplog.records:
        assert_no_number(record.getMessage(), RECIPIENT)
        assert_no_number(record.getMessage(), "+15005550001")


async def test_log_gateway_logs_the_body_but_not_the_number(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sms = LogSmsGateway()
    with caplog.at_level(logging.INFO, logger="server.notify.sms"):
        outcome = await sms.send(RECIPIENT, BODY, status_callback=None)

    assert outcome.result is SendResult.SENT
    assert outcome.provider_id is not None
    assert outcome.provider_id.startswith("log-")
    (record,) = caplog.records
    assert record.levelno == logging.INFO
    text = record.getMessage()
    assert BODY in text
    assert redact_number(RECIPIENT) in text
    assert_no_number(text, RECIPIENT)
    assert await sms.find_sent(RECIPIENT, BODY, START) is None
    await sms.close()


async def test_log_gateway_ids_are_unique() -> None:
    sms = LogSmsGateway()
    first = await sms.send(RECIPIENT, BODY)
    second = await sms.send(RECIPIENT, BODY)

    assert first.provider_id != second.provider_id


@pytest.mark.parametrize(
    ("number", "redacted"),
    [
        ("+15005550006", "+1••••••••06"),
        ("+447700900123", "+4•••••••••23"),
        ("+44 7700 900-123", "+4•••••••••23"),
        ("15005550006", "15•••••••06"),
        ("12345", "•••45"),
        ("123", "•••"),
        ("", ""),
    ],
)
def test_redact_number(number: str, redacted: str) -> None:
    assert redact_number(number) == redacted


def test_an_error_message_is_scrubbed_whoever_builds_the_outcome() -> None:
    outcome = SendOutcome(
        SendResult.PERMANENT_FAILURE, error_message="'To' number +1 (500) 555-0009 is bad"
    )

    assert outcome.error_message == "'To' number [number] is bad"


def test_classification_removes_the_body_when_a_message_quotes_it() -> None:
    error = TwilioRestException(
        400, "/Messages.json", f"Unable to create record: body {BODY!r} refused", 21602
    )

    outcome = classify_twilio_error(error, redact=(RECIPIENT, BODY))

    assert outcome.result is SendResult.PERMANENT_FAILURE
    assert outcome.error_code == "21602"
    assert BODY not in (outcome.error_message or "")


@pytest.mark.parametrize(
    ("status", "code", "result"),
    [
        (400, 21610, SendResult.PERMANENT_FAILURE),
        (401, 20003, SendResult.RETRYABLE_FAILURE),
        (403, 20003, SendResult.RETRYABLE_FAILURE),
        (404, 20404, SendResult.RETRYABLE_FAILURE),
        (429, 20429, SendResult.RETRYABLE_FAILURE),
        (500, 20500, SendResult.UNCERTAIN),
        (502, None, SendResult.UNCERTAIN),
        (302, None, SendResult.UNCERTAIN),
    ],
)
def test_classification_of_twilio_responses(
    status: int, code: int | None, result: SendResult
) -> None:
    outcome = classify_twilio_error(TwilioRestException(status, "/x", "msg", code))

    assert outcome.result is result


def test_unknown_errors_are_uncertain() -> None:
    assert classify_twilio_error(ValueError("bad JSON")).result is SendResult.UNCERTAIN


# ---------------------------------------------------------------- webhooks

PUBLIC_BASE = "https://witnesslink.example.org"
INBOUND_PATH = "/twilio/sms/inbound?line=2"


@dataclass
class Receiver:
    """A tiny webhook endpoint that records what Twilio POSTed to it."""

    base_url: str = ""
    seen: list[tuple[str, dict[str, str], str | None]] = field(default_factory=list)


@pytest.fixture
async def receiver(
    aiohttp_server: Callable[[web.Application], Awaitable[Any]],
) -> Receiver:
    state = Receiver()

    async def handle(request: web.Request) -> web.Response:
        form = {key: str(value) for key, value in (await request.post()).items()}
        state.seen.append((request.raw_path, form, request.headers.get("X-Twilio-Signature")))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/twilio/{hook}", handle)
    server = await aiohttp_server(app)
    state.base_url = str(server.make_url("")).rstrip("/")
    return state


async def test_a_signed_status_callback_verifies_and_parses(
    fake: FakeTwilio, gateway: TwilioSmsGateway, receiver: Receiver
) -> None:
    sent = await gateway.send(
        RECIPIENT, BODY, status_callback=f"{receiver.base_url}/twilio/status?outbox=17"
    )
    assert sent.provider_id is not None

    await fake.deliver(sent.provider_id, "delivered")

    ((path, form, signature),) = receiver.seen
    verifier = TwilioWebhookVerifier(AUTH_TOKEN, receiver.base_url)
    assert path == "/twilio/status?outbox=17"
    assert verifier.verify(path, form, signature)
    assert not verifier.verify("/twilio/status?outbox=18", form, signature)
    update = parse_status_callback(form)
    assert update == StatusUpdate(sent.provider_id, "delivered", None)
    assert update.is_final


async def test_a_failed_delivery_callback_carries_its_error_code(
    fake: FakeTwilio, gateway: TwilioSmsGateway, receiver: Receiver
) -> None:
    sent = await gateway.send(RECIPIENT, BODY, status_callback=f"{receiver.base_url}/twilio/s")
    assert sent.provider_id is not None

    await fake.deliver(sent.provider_id, "undelivered", error_code=30003)

    ((path, form, signature),) = receiver.seen
    assert TwilioWebhookVerifier(AUTH_TOKEN, receiver.base_url).verify(path, form, signature)
    assert parse_status_callback(form) == StatusUpdate(sent.provider_id, "undelivered", "30003")


def test_a_signed_inbound_sms_verifies_at_its_public_url_and_parses(fake: FakeTwilio) -> None:
    headers, form = fake.signed_inbound_sms(PUBLIC_BASE + INBOUND_PATH, RECIPIENT, SENDER, "1")
    signature = headers["X-Twilio-Signature"]

    assert TwilioWebhookVerifier(AUTH_TOKEN, PUBLIC_BASE).verify(INBOUND_PATH, form, signature)
    # Behind the proxy the app sees http://10.0.0.5:8080/...; that URL was not signed.
    internal = TwilioWebhookVerifier(AUTH_TOKEN, "http://10.0.0.5:8080")
    assert not internal.verify(INBOUND_PATH, form, signature)

    inbound = parse_inbound_sms(form)
    assert inbound == InboundSms(form["MessageSid"], RECIPIENT, SENDER, "1")
    assert RECIPIENT not in repr(inbound)


def test_a_public_base_url_with_a_path_prefix_is_honoured(fake: FakeTwilio) -> None:
    url = PUBLIC_BASE + "/witnesslink" + INBOUND_PATH
    headers, form = fake.signed_inbound_sms(url, RECIPIENT, SENDER, "ok")

    verifier = TwilioWebhookVerifier(AUTH_TOKEN, PUBLIC_BASE + "/witnesslink/")
    assert verifier.verify(INBOUND_PATH, form, headers["X-Twilio-Signature"])


@pytest.mark.parametrize("signature", [None, ""])
def test_an_unsigned_webhook_is_rejected(fake: FakeTwilio, signature: str | None) -> None:
    _, form = fake.signed_inbound_sms(PUBLIC_BASE + INBOUND_PATH, RECIPIENT, SENDER, "1")

    assert not TwilioWebhookVerifier(AUTH_TOKEN, PUBLIC_BASE).verify(INBOUND_PATH, form, signature)


def test_a_webhook_signed_with_another_token_is_rejected(fake: FakeTwilio) -> None:
    headers, form = fake.signed_inbound_sms(
        PUBLIC_BASE + INBOUND_PATH, RECIPIENT, SENDER, "1", sign_with="attacker-token"
    )

    verifier = TwilioWebhookVerifier(AUTH_TOKEN, PUBLIC_BASE)
    assert not verifier.verify(INBOUND_PATH, form, headers["X-Twilio-Signature"])


@pytest.mark.parametrize(
    "tamper",
    [
        {"Body": "3"},  # "help" turned into "fine", or the reverse
        {"From": OTHER_RECIPIENT},
        {"Extra": "field"},
    ],
)
def test_a_webhook_whose_form_was_altered_is_rejected(
    fake: FakeTwilio, tamper: dict[str, str]
) -> None:
    headers, form = fake.signed_inbound_sms(PUBLIC_BASE + INBOUND_PATH, RECIPIENT, SENDER, "1")

    altered = {**form, **tamper}
    verifier = TwilioWebhookVerifier(AUTH_TOKEN, PUBLIC_BASE)
    assert not verifier.verify(INBOUND_PATH, altered, headers["X-Twilio-Signature"])


def test_the_verifier_refuses_an_empty_token_or_a_relative_base() -> None:
    with pytest.raises(ValueError, match="auth_token"):
        TwilioWebhookVerifier("", PUBLIC_BASE)
    with pytest.raises(ValueError, match="absolute"):
        TwilioWebhookVerifier(AUTH_TOKEN, "/twilio")


def test_webhooks_missing_required_fields_are_malformed() -> None:
    with pytest.raises(MalformedWebhook, match="MessageSid"):
        parse_status_callback({"MessageStatus": "sent"})
    with pytest.raises(MalformedWebhook, match="MessageStatus"):
        parse_status_callback({"MessageSid": "SM" + "0" * 32})
    with pytest.raises(MalformedWebhook, match="From"):
        parse_inbound_sms({"MessageSid": "SM" + "0" * 32, "To": SENDER, "Body": "1"})


def test_older_sms_field_names_are_understood() -> None:
    update = parse_status_callback({"SmsSid": "SM" + "1" * 32, "SmsStatus": "Sent"})

    assert update == StatusUpdate("SM" + "1" * 32, "sent", None)
    assert not update.is_final
