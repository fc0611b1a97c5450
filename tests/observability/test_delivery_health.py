"""SMS delivery health: when Twilio keeps refusing, the server says so (one warning
line and a metric) instead of letting alerts silently reach nobody, and says so again
when delivery recovers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from server.clock import ManualClock
from server.observability.delivery_health import DeliveryMonitor
from tests.conftest import world_on
from tests.fakes.twilio_server import FakeTwilio
from tests.observability.scraping import scrape, value
from tests.support.processes import free_port
from tests.support.welfare import WORKER_PHONE, with_phones_and_supervisor
from tests.support.world import World, open_conversation

BAD_CREDENTIALS = 20003


@pytest.fixture
async def touchy_sms_world(
    backend: str, tmp_path: Path, clock: ManualClock, twilio: FakeTwilio
) -> AsyncIterator[World]:
    """SMS through the fake Twilio; delivery counts as failing after two failures."""
    overrides = {"sms_failing_after": 2, "metrics_listen": f"127.0.0.1:{free_port()}"}
    async with world_on(backend, tmp_path, clock, twilio, overrides) as w:
        yield w


def test_the_monitor_warns_once_when_the_threshold_is_crossed_and_once_on_recovery(
    caplog: pytest.LogCaptureFixture,
) -> None:
    monitor = DeliveryMonitor(failing_after=3)
    caplog.set_level(logging.INFO, logger="witnesslink.delivery")
    monitor.record("sms", "skipped")  # no number on file: not the provider's fault
    monitor.record("app", "failed")  # not SMS
    for _ in range(2):
        monitor.record("sms", "retry", error_code="20003")
    assert not monitor.failing
    assert caplog.records == []
    for _ in range(3):
        monitor.record("sms", "uncertain", error_code="timeout")
    assert monitor.failing
    assert monitor.consecutive_sms_failures == 5
    assert [r.getMessage().split(":")[0] for r in caplog.records] == ["SMS delivery is failing"]
    monitor.record("sms", "sent")
    assert not monitor.failing
    assert monitor.consecutive_sms_failures == 0
    assert caplog.records[-1].getMessage() == "SMS delivery has recovered after 5 failures"
    assert monitor.provider_errors == {("20003", "retry"): 2, ("timeout", "uncertain"): 3}
    monitor.record("sms", "failed", error_code="not a code: +15005550014")
    assert ("other", "failed") in monitor.provider_errors


async def test_twilio_refusing_our_credentials_shows_as_failing_sms_in_log_and_metrics(
    touchy_sms_world: World, twilio: FakeTwilio, caplog: pytest.LogCaptureFixture
) -> None:
    world = touchy_sms_world
    talk = await open_conversation(world)
    await with_phones_and_supervisor(world, talk)
    caplog.set_level(logging.INFO, logger="witnesslink.delivery")
    twilio.fail_next(50, BAD_CREDENTIALS)
    await talk.witness.panic()
    await world.services.dispatcher.drain()
    world.clock.advance(timedelta(seconds=6))  # past the first retry's backoff
    await world.services.dispatcher.drain()

    text = await scrape(world)
    assert value(text, "witnesslink_sms_delivery_failing") == 1
    refused = value(
        text, "witnesslink_twilio_errors_total", code=str(BAD_CREDENTIALS), outcome="retry"
    )
    assert refused >= 2
    assert value(text, "witnesslink_notifications_total", channel="sms", outcome="retry") == refused
    assert WORKER_PHONE not in text
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert warnings[0].startswith("SMS delivery is failing")

    twilio.clear()
    world.clock.advance(timedelta(minutes=11))  # past the longest backoff
    await world.services.dispatcher.drain()
    assert twilio.sent_to(WORKER_PHONE)
    text = await scrape(world)
    assert value(text, "witnesslink_sms_delivery_failing") == 0
    assert value(text, "witnesslink_notifications_total", channel="sms", outcome="sent") >= 1
    assert caplog.records[-1].getMessage().startswith("SMS delivery has recovered")
