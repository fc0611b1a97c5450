"""The Twilio-shaped fake behaves like Twilio as seen through the real ``twilio`` client.

Every test drives the fake with the real client (``AsyncTwilioHttpClient``) or with
raw HTTP where the wire format itself is the behaviour under test, so a fake that
drifted from what the client expects would fail here before it misleads other suites.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from tests.fakes.twilio_server import (
    FakeTwilio,
    WebhookResult,
    count_segments,
    point_client_at,
)

ACCOUNT_SID = "AC" + "5e" * 16
AUTH_TOKEN = "auth-token-for-the-fake-only"
SENDER = "+15005550006"  # Twilio's magic valid sender
RECIPIENT = "+15558675310"  # invented
OTHER_RECIPIENT = "+15558675311"  # invented
START = datetime(2024, 1, 15, 9, 30, tzinfo=UTC)  # a Monday


class ManualClock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
async def fake(clock: ManualClock) -> AsyncIterator[FakeTwilio]:
    async with FakeTwilio.running(
        account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, clock=clock
    ) as running:
        yield running


@pytest.fixture
async def client(fake: FakeTwilio) -> Client:
    return fake.client()


@pytest.fixture
async def raw(fake: FakeTwilio) -> AsyncIterator[aiohttp.ClientSession]:
    """A plain HTTP session authenticated as the fake's account."""
    headers = {"Authorization": aiohttp.encode_basic_auth(ACCOUNT_SID, AUTH_TOKEN)}
    async with aiohttp.ClientSession(fake.base_url, headers=headers) as session:
        yield session


REPO_ROOT = Path(__file__).resolve().parents[2]
MESSAGES_PATH = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"


async def send(client: Client, to: str = RECIPIENT, body: str = "Check-in due", **kw: Any) -> Any:
    return await client.messages.create_async(to=to, from_=SENDER, body=body, **kw)


# ---------------------------------------------------------------- create


async def test_listens_only_on_loopback_with_an_ephemeral_port(fake: FakeTwilio) -> None:
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", fake.base_url)
    assert fake.port > 0


async def test_create_returns_a_queued_twilio_shaped_message(
    fake: FakeTwilio, client: Client
) -> None:
    message = await send(client, body="Your appointment is confirmed")

    assert re.fullmatch(r"SM[0-9a-f]{32}", message.sid)
    assert message.account_sid == ACCOUNT_SID
    assert (message.to, message.from_) == (RECIPIENT, SENDER)
    assert message.body == "Your appointment is confirmed"
    assert message.status == "queued"
    assert message.direction == "outbound-api"
    assert message.date_created == START
    assert message.date_sent == START
    assert message.num_segments == "1"
    assert message.error_code is None
    assert message.api_version == "2010-04-01"
    assert message.uri == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{message.sid}.json"
    assert [m.sid for m in fake.sent] == [message.sid]
    assert fake.requests["create"] == 1


async def test_resource_json_uses_rfc_2822_dates_and_nulls_like_twilio(
    client: Client, raw: aiohttp.ClientSession
) -> None:
    message = await send(client)

    async with raw.get(f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{message.sid}.json") as r:
        assert r.status == 200
        assert r.content_type == "application/json"
        payload = await r.json()

    assert payload["date_created"] == "Mon, 15 Jan 2024 09:30:00 +0000"
    assert payload["date_updated"] == payload["date_sent"] == payload["date_created"]
    assert payload["price"] is None
    assert payload["error_message"] is None
    assert payload["from"] == SENDER
    assert payload["num_media"] == "0"


async def test_the_form_fields_the_client_sent_are_recorded(
    fake: FakeTwilio, client: Client
) -> None:
    await send(client, status_callback="https://example.test/status", validity_period=600)

    (recorded,) = fake.sent
    assert recorded.status_callback == "https://example.test/status"
    assert recorded.form["ValidityPeriod"] == "600"


async def test_messaging_service_messages_are_accepted_without_a_sender(
    fake: FakeTwilio, client: Client
) -> None:
    service = "MG" + "ab" * 16
    message = await client.messages.create_async(
        to=RECIPIENT, messaging_service_sid=service, body="hello"
    )

    assert message.status == "accepted"
    assert message.from_ is None
    assert message.messaging_service_sid == service
    await fake.deliver(message.sid)
    assert fake.message(message.sid).from_ == "+15005550006"


@pytest.mark.parametrize(
    ("to", "code"),
    [
        ("+15005550001", 21211),
        ("+15005550002", 21612),
        ("+15005550003", 21408),
        ("+15005550004", 21610),
        ("+15005550009", 21614),
    ],
)
async def test_magic_recipients_fail_with_twilio_error_codes(
    fake: FakeTwilio, client: Client, to: str, code: int
) -> None:
    with pytest.raises(TwilioRestException) as raised:
        await send(client, to=to)

    assert raised.value.code == code
    assert raised.value.status == 400
    assert fake.sent == []


async def test_the_magic_valid_number_succeeds_as_recipient(client: Client) -> None:
    message = await client.messages.create_async(to="+15005550006", from_="+15557654321", body="hi")
    assert message.status == "queued"


@pytest.mark.parametrize(
    ("sender", "code"),
    [("+15005550001", 21212), ("+15005550007", 21606), ("+15005550008", 21611), ("+1", 21212)],
)
async def test_magic_and_malformed_senders_fail(
    fake: FakeTwilio, client: Client, sender: str, code: int
) -> None:
    with pytest.raises(TwilioRestException) as raised:
        await client.messages.create_async(to=RECIPIENT, from_=sender, body="hi")
    assert raised.value.code == code
    assert fake.sent == []


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"to": "5558675310"}, 21211),  # not E.164
        ({"to": "+1555867531O"}, 21211),  # letter O, not zero
        ({"body": ""}, 21602),
        ({"body": "x" * 1601}, 21617),
        ({"to": SENDER}, 21266),
        ({"status_callback": "not a url"}, 21609),
    ],
)
async def test_invalid_requests_get_twilio_validation_errors(
    fake: FakeTwilio, client: Client, fields: dict[str, str], code: int
) -> None:
    arguments = {"to": RECIPIENT, "body": "hi", **fields}
    with pytest.raises(TwilioRestException) as raised:
        await client.messages.create_async(from_=SENDER, **arguments)
    assert raised.value.code == code
    assert raised.value.status == 400
    assert fake.sent == []


async def test_a_sender_allow_list_rejects_other_senders() -> None:
    async with FakeTwilio.running(
        account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, senders={SENDER}
    ) as fake:
        client = fake.client()
        await send(client)
        with pytest.raises(TwilioRestException) as raised:
            await client.messages.create_async(to=RECIPIENT, from_="+15557654321", body="x")
        assert raised.value.code == 21606
        assert len(fake.sent) == 1


@pytest.mark.parametrize(
    ("body", "segments"),
    [
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("{" * 80, 1),  # extension characters cost two septets
        ("{" * 81, 2),
        ("ж" * 70, 1),  # UCS-2
        ("ж" * 71, 2),
        ("\U0001f600" * 35, 1),  # surrogate pairs: two UTF-16 units each
        ("\U0001f600" * 36, 2),
    ],
)
def test_segments_are_counted_like_twilio(body: str, segments: int) -> None:
    assert count_segments(body) == segments


async def test_num_segments_is_reported_on_the_resource(client: Client) -> None:
    message = await send(client, body="b" * 161)
    assert message.num_segments == "2"


# ---------------------------------------------------------------- auth


async def test_wrong_auth_token_is_a_401_twilio_error(fake: FakeTwilio) -> None:
    http_client = AsyncTwilioHttpClient()
    try:
        client = point_client_at(
            Client(ACCOUNT_SID, "wrong-token", http_client=http_client), fake.base_url
        )
        with pytest.raises(TwilioRestException) as raised:
            await send(client)
    finally:
        await http_client.close()

    assert raised.value.status == 401
    assert raised.value.code == 20003
    assert fake.sent == []


async def test_another_accounts_path_is_refused(fake: FakeTwilio) -> None:
    other = "AC" + "77" * 16
    http_client = AsyncTwilioHttpClient()
    try:
        client = point_client_at(Client(other, AUTH_TOKEN, http_client=http_client), fake.base_url)
        with pytest.raises(TwilioRestException) as raised:
            await send(client)
    finally:
        await http_client.close()
    assert raised.value.status == 401


async def test_missing_credentials_get_a_basic_challenge(fake: FakeTwilio) -> None:
    async with (
        aiohttp.ClientSession(fake.base_url) as session,
        session.post(MESSAGES_PATH, data={"To": RECIPIENT, "From": SENDER, "Body": "x"}) as r,
    ):
        assert r.status == 401
        assert r.headers["WWW-Authenticate"].startswith("Basic")
        assert (await r.json())["code"] == 20003
    assert fake.sent == []


def test_point_client_at_refuses_anything_but_loopback_http() -> None:
    client = Client(ACCOUNT_SID, AUTH_TOKEN)
    with pytest.raises(ValueError, match=r"127\.0\.0\.1"):
        point_client_at(client, "https://api.twilio.com")


# ---------------------------------------------------------------- fetch


async def test_fetch_returns_the_stored_message(client: Client) -> None:
    created = await send(client, body="Hearing moved")

    fetched = await client.messages(created.sid).fetch_async()

    assert (fetched.sid, fetched.body, fetched.status) == (created.sid, "Hearing moved", "queued")


async def test_fetch_of_an_unknown_sid_is_a_404_twilio_error(client: Client) -> None:
    with pytest.raises(TwilioRestException) as raised:
        await client.messages("SM" + "0" * 32).fetch_async()
    assert raised.value.status == 404
    assert raised.value.code == 20404


async def test_unknown_paths_answer_twilio_404_json(raw: aiohttp.ClientSession) -> None:
    async with raw.get("/2010-04-01/Accounts/Calls.json") as r:
        assert r.status == 404
        assert (await r.json())["code"] == 20404


# ---------------------------------------------------------------- list


async def test_list_by_recipient_walks_every_page_newest_first(
    fake: FakeTwilio, client: Client, clock: ManualClock
) -> None:
    expected = []
    for i in range(7):
        expected.append((await send(client, to=RECIPIENT, body=f"to A {i}")).sid)
        await send(client, to=OTHER_RECIPIENT, body=f"to B {i}")
        clock.advance(minutes=1)

    listed = await client.messages.list_async(to=RECIPIENT, page_size=3)

    assert [m.sid for m in listed] == expected[::-1]
    assert fake.requests["list"] == 3  # pages of 3, 3 and 1


async def test_list_by_sender(client: Client) -> None:
    await send(client)
    other = await client.messages.create_async(to=RECIPIENT, from_="+15557654321", body="x")

    listed = await client.messages.list_async(from_="+15557654321")

    assert [m.sid for m in listed] == [other.sid]


async def test_date_filters_have_date_granularity_across_pages(
    fake: FakeTwilio, client: Client, clock: ManualClock
) -> None:
    sids = {}
    for moment in ("2024-01-10T09:00", "2024-01-11T08:00", "2024-01-11T20:00", "2024-01-12T10:00"):
        clock.now = datetime.fromisoformat(moment).replace(tzinfo=UTC)
        sids[moment] = (await send(client, body=moment)).sid

    # 12:00 on the 11th: the 08:00 message that day still matches (date granularity).
    after = await client.messages.list_async(
        date_sent_after=datetime(2024, 1, 11, 12, 0, tzinfo=UTC), page_size=2
    )
    assert [m.body for m in after] == ["2024-01-12T10:00", "2024-01-11T20:00", "2024-01-11T08:00"]
    assert fake.requests["list"] == 2

    before = await client.messages.list_async(date_sent_before=date(2024, 1, 11))
    assert [m.body for m in before] == ["2024-01-11T20:00", "2024-01-11T08:00", "2024-01-10T09:00"]

    on = await client.messages.list_async(date_sent=date(2024, 1, 11), to=RECIPIENT)
    assert {m.sid for m in on} == {sids["2024-01-11T08:00"], sids["2024-01-11T20:00"]}


async def test_date_filters_skip_unsent_messages_when_date_sent_is_null() -> None:
    async with FakeTwilio.running(
        account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, date_sent_on_create=False
    ) as fake:
        client = fake.client()
        message = await send(client)
        assert message.date_sent is None
        today = datetime.now(UTC)
        assert await client.messages.list_async(date_sent_after=today) == []

        await fake.deliver(message.sid, "sent")

        assert [m.sid for m in await client.messages.list_async(date_sent_after=today)] == [
            message.sid
        ]


async def test_paging_metadata_links_pages_like_twilio(
    client: Client, raw: aiohttp.ClientSession, clock: ManualClock
) -> None:
    for i in range(5):
        await send(client, body=str(i))
        clock.advance(seconds=1)

    async with raw.get(MESSAGES_PATH, params={"To": RECIPIENT, "PageSize": "2"}) as r:
        first = await r.json()
    assert [m["body"] for m in first["messages"]] == ["4", "3"]
    assert (first["page"], first["page_size"], first["start"], first["end"]) == (0, 2, 0, 1)
    assert first["previous_page_uri"] is None
    assert first["first_page_uri"].startswith(MESSAGES_PATH + "?To=%2B15558675310")

    async with raw.get(first["next_page_uri"]) as r:
        second = await r.json()
    assert [m["body"] for m in second["messages"]] == ["2", "1"]
    assert (second["page"], second["start"], second["end"]) == (1, 2, 3)
    assert second["previous_page_uri"] == first["first_page_uri"]

    async with raw.get(second["next_page_uri"]) as r:
        third = await r.json()
    assert [m["body"] for m in third["messages"]] == ["0"]
    assert third["next_page_uri"] is None

    async with raw.get(third["previous_page_uri"]) as r:
        back = await r.json()
    assert [m["body"] for m in back["messages"]] == ["2", "1"]


async def test_messages_created_while_paging_do_not_shift_later_pages(
    client: Client, clock: ManualClock
) -> None:
    for i in range(4):
        await send(client, body=str(i))
        clock.advance(seconds=1)

    first = await client.messages.page_async(to=RECIPIENT, page_size=2)
    await send(client, body="new")
    second = await first.next_page_async()

    assert [m.body for m in first] == ["3", "2"]
    assert [m.body for m in second] == ["1", "0"]


@pytest.mark.parametrize(
    "params",
    [{"DateSent>": "yesterday"}, {"DateSent": ">=2024-01-01"}, {"PageSize": "0"}],
)
async def test_malformed_list_parameters_are_400_errors(
    raw: aiohttp.ClientSession, params: dict[str, str]
) -> None:
    async with raw.get(MESSAGES_PATH, params=params) as r:
        assert r.status == 400
        assert (await r.json())["code"] == 20001


# ---------------------------------------------------------------- injected faults


async def test_injected_500_raises_and_creates_nothing(fake: FakeTwilio, client: Client) -> None:
    fake.fail_next()

    with pytest.raises(TwilioRestException) as raised:
        await send(client)

    assert raised.value.status == 500
    assert raised.value.code == 20500
    assert fake.sent == []
    assert (await send(client)).status == "queued"  # transient: the next one works
    assert len(fake.sent) == 1


async def test_injected_failures_are_consumed_in_order(fake: FakeTwilio, client: Client) -> None:
    fake.fail_next(2, status=503)
    fake.fail_next(1, status=21610)

    statuses = []
    for _ in range(3):
        with pytest.raises(TwilioRestException) as raised:
            await send(client)
        statuses.append((raised.value.status, raised.value.code))
    await send(client)

    assert statuses == [(503, 20503), (503, 20503), (400, 21610)]
    assert fake.injected["fail"] == 3
    assert len(fake.sent) == 1


async def test_faults_for_lists_leave_creates_alone(fake: FakeTwilio, client: Client) -> None:
    fake.fail_next(kind="list")

    await send(client)
    with pytest.raises(TwilioException):
        await client.messages.list_async(to=RECIPIENT)
    assert len(await client.messages.list_async(to=RECIPIENT)) == 1


async def test_a_dropped_create_is_recorded_and_findable_by_list(
    fake: FakeTwilio, client: Client
) -> None:
    fake.hang_next()

    with pytest.raises(aiohttp.ClientError):
        await send(client, body="lost reply")

    (recorded,) = fake.sent
    found = await client.messages.list_async(to=RECIPIENT)
    assert [(m.sid, m.body) for m in found] == [(recorded.sid, "lost reply")]
    assert fake.injected["drop"] == 1
    assert (await send(client)).status == "queued"  # the connection pool recovers


async def test_dropped_lists_fail_once_the_client_retry_is_also_dropped(
    fake: FakeTwilio, client: Client
) -> None:
    await send(client)
    # aiohttp retries an idempotent GET once on a dropped pooled connection.
    fake.hang_next(2, kind="list")

    with pytest.raises(aiohttp.ClientError):
        await client.messages.list_async(to=RECIPIENT)

    assert fake.injected["drop"] == 2
    assert len(await client.messages.list_async(to=RECIPIENT)) == 1


async def test_a_stalled_create_is_recorded_before_the_client_gives_up(
    fake: FakeTwilio, client: Client
) -> None:
    fake.hang_next(mode="stall")

    pending = asyncio.create_task(send(client, body="stalled"))
    await asyncio.wait_for(fake.wait_until_stalled(1), timeout=10)
    assert [m.body for m in fake.sent] == ["stalled"]
    assert not pending.done()

    fake.release_stalled()
    with pytest.raises(aiohttp.ClientError):
        await pending
    assert fake.stalled == 0


async def test_clear_forgets_messages_counters_and_pending_faults(
    fake: FakeTwilio, client: Client
) -> None:
    await send(client)
    fake.fail_next(3)

    fake.clear()

    assert fake.sent == []
    assert sum(fake.requests.values()) == 0
    assert (await send(client)).status == "queued"
    assert await client.messages.list_async(to=RECIPIENT) != []


# ---------------------------------------------------------------- webhooks


@dataclass
class Receiver:
    """A tiny webhook endpoint that checks signatures as witnesslink's server will."""

    base_url: str = ""
    seen: list[tuple[str, dict[str, str], bool]] = field(default_factory=list)


@pytest.fixture
async def receiver(
    aiohttp_server: Callable[[web.Application], Awaitable[Any]],
) -> Receiver:
    state = Receiver()
    validator = RequestValidator(AUTH_TOKEN)

    async def handle(request: web.Request) -> web.Response:
        form = {key: str(value) for key, value in (await request.post()).items()}
        signature = request.headers.get("X-Twilio-Signature", "")
        valid = validator.validate(str(request.url), form, signature)
        state.seen.append((request.path, form, valid))
        return web.Response(status=204 if valid else 403)

    app = web.Application()
    app.router.add_post("/{hook}", handle)
    server = await aiohttp_server(app)
    state.base_url = str(server.make_url("")).rstrip("/")
    assert state.base_url.startswith("http://127.0.0.1:")
    return state


async def test_status_callback_is_signed_and_carries_twilio_fields(
    fake: FakeTwilio, client: Client, receiver: Receiver, clock: ManualClock
) -> None:
    callback = f"{receiver.base_url}/status?attempt=1"
    message = await send(client, status_callback=callback)
    clock.advance(seconds=5)

    result = await fake.deliver(message.sid, "delivered")

    assert isinstance(result, WebhookResult)
    assert result.status == 204
    ((path, form, valid),) = receiver.seen
    assert valid
    assert path == "/status"
    assert form["MessageSid"] == form["SmsSid"] == message.sid
    assert form["MessageStatus"] == form["SmsStatus"] == "delivered"
    assert (form["To"], form["From"]) == (RECIPIENT, SENDER)
    assert form["AccountSid"] == ACCOUNT_SID
    assert form["ApiVersion"] == "2010-04-01"
    assert "ErrorCode" not in form
    # The signature really depends on the token: another token does not validate.
    assert not RequestValidator("another-token").validate(
        callback, form, result.headers["X-Twilio-Signature"]
    )
    fetched = await client.messages(message.sid).fetch_async()
    assert fetched.status == "delivered"
    assert fetched.date_updated == START + timedelta(seconds=5)


async def test_failed_delivery_reports_an_error_code(
    fake: FakeTwilio, client: Client, receiver: Receiver
) -> None:
    message = await send(client, status_callback=f"{receiver.base_url}/status")

    await fake.deliver(message.sid, "undelivered", error_code=30003)

    ((_, form, valid),) = receiver.seen
    assert valid
    assert form["MessageStatus"] == "undelivered"
    assert form["ErrorCode"] == "30003"
    fetched = await client.messages(message.sid).fetch_async()
    assert (fetched.status, fetched.error_code) == ("undelivered", 30003)


async def test_delivery_without_a_callback_only_changes_status(
    fake: FakeTwilio, client: Client
) -> None:
    message = await send(client)
    assert await fake.deliver(message.sid, "failed") is None
    assert fake.message(message.sid).status == "failed"
    assert fake.message(message.sid).error_code == 30008


async def test_inbound_sms_is_signed_like_twilio(fake: FakeTwilio, receiver: Receiver) -> None:
    url = f"{receiver.base_url}/sms"

    result = await fake.post_inbound_sms(url, from_=RECIPIENT, to=SENDER, body="OK 1")

    assert result.status == 204
    ((path, form, valid),) = receiver.seen
    assert (path, valid) == ("/sms", True)
    assert (form["From"], form["To"], form["Body"]) == (RECIPIENT, SENDER, "OK 1")
    assert form["NumMedia"] == "0"
    assert form["AccountSid"] == ACCOUNT_SID
    assert re.fullmatch(r"SM[0-9a-f]{32}", form["MessageSid"])
    assert form["SmsSid"] == form["MessageSid"]


async def test_inbound_sms_signed_with_another_token_is_rejected(
    fake: FakeTwilio, receiver: Receiver
) -> None:
    result = await fake.post_inbound_sms(
        f"{receiver.base_url}/sms", from_=RECIPIENT, to=SENDER, body="x", sign_with="forged"
    )
    assert result.status == 403
    assert receiver.seen[0][2] is False


def test_signed_inbound_sms_validates_offline() -> None:
    fake = FakeTwilio(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN)
    url = "https://witnesslink.example.test/twilio/sms"

    headers, form = fake.signed_inbound_sms(url, RECIPIENT, SENDER, "HELP")

    validator = RequestValidator(AUTH_TOKEN)
    assert validator.validate(url, form, headers["X-Twilio-Signature"])
    assert not validator.validate(url, {**form, "Body": "OK"}, headers["X-Twilio-Signature"])


# ---------------------------------------------------------------- subprocess


async def test_runs_as_a_separate_process_and_reports_its_port() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.fakes.twilio_server",
        "--port",
        "0",
        "--account-sid",
        ACCOUNT_SID,
        "--auth-token",
        AUTH_TOKEN,
        cwd=REPO_ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    try:
        listening = json.loads(await asyncio.wait_for(process.stdout.readline(), timeout=30))
        assert listening["event"] == "listening"
        assert listening["base_url"] == f"http://127.0.0.1:{listening['port']}"
        http_client = AsyncTwilioHttpClient()
        try:
            client = point_client_at(
                Client(ACCOUNT_SID, AUTH_TOKEN, http_client=http_client), listening["base_url"]
            )
            message = await send(client)
            assert [m.sid for m in await client.messages.list_async(to=RECIPIENT)] == [message.sid]
        finally:
            await http_client.close()
        process.send_signal(signal.SIGTERM)
        stopped = json.loads(await asyncio.wait_for(process.stdout.readline(), timeout=30))
        assert stopped == {
            "event": "stopped",
            "requests": {"create": 1, "list": 1},
            "injected": {},
            "messages": 1,
        }
        assert await asyncio.wait_for(process.wait(), timeout=30) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
