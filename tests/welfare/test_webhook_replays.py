"""Signed Twilio webhooks replayed later change nothing (issue 13, finding: replays).

A signature proves Twilio sent the request, not that it is new. Each inbound SMS is
acted on once by its MessageSid, each status callback once per MessageSid + status,
however much later the same signed request arrives again.
"""

from __future__ import annotations

from datetime import timedelta

import aiohttp

from server.notify.replays import WebhookReplayGuard
from tests.delivery.helpers import LAPSE_AFTER, WITNESS_PHONE, WORKER_PHONE, lapsing_cases, staffed
from tests.fakes.twilio_server import FakeTwilio, WebhookResult
from tests.support.welfare import advance_to, with_phones_and_supervisor
from tests.support.world import TWILIO_SENDER, World, open_conversation
from tests.welfare.helpers import EMPTY_TWIML

CHECKIN_WORD = "Lalea"
DURESS_WORD = "Ciocarlie"


def _fake(world: World) -> FakeTwilio:
    assert world.twilio is not None
    return world.twilio


async def _replay(earlier: WebhookResult) -> tuple[int, str]:
    """POST exactly the signed request Twilio sent before."""
    async with (
        aiohttp.ClientSession() as http,
        http.post(earlier.url, data=dict(earlier.params), headers=earlier.headers) as response,
    ):
        return response.status, await response.text()


async def test_a_checkin_sms_replayed_two_hours_later_is_not_fresh_contact(
    sms_world: World,
) -> None:
    world = sms_world
    talk = await open_conversation(world)
    await with_phones_and_supervisor(world, talk)
    await talk.witness.set_sms_words(CHECKIN_WORD, DURESS_WORD)
    first = await _fake(world).post_inbound_sms(
        world.url + "/v1/twilio/sms", from_=WITNESS_PHONE, to=TWILIO_SENDER, body=CHECKIN_WORD
    )
    assert first.status == 200
    async with world.services.store.read() as uow:
        before = await uow.contact.get(talk.witness_id)
    assert before is not None
    assert before.last_contact_at == world.clock.now()

    await advance_to(world, world.clock.now() + timedelta(hours=2))
    status, text = await _replay(first)

    assert (status, text) == (200, EMPTY_TWIML)  # the same silent answer as the first time
    async with world.services.store.read() as uow:
        after = await uow.contact.get(talk.witness_id)
    assert after == before  # neither the last contact nor the silence deadline moved


async def test_a_status_callback_replayed_is_counted_once(sms_world: World) -> None:
    world, fake = sms_world, _fake(sms_world)
    team = await staffed(world)
    lapses = await lapsing_cases(world, team, 1)
    await advance_to(world, lapses[0].deadline - LAPSE_AFTER)
    await advance_to(world, lapses[0].deadline)
    (message,) = fake.sent_to(WORKER_PHONE)
    report = await fake.deliver(message.sid, "undelivered", error_code=30003)
    assert report is not None
    assert report.status == 204
    outcomes = world.services.delivery.outcomes
    assert outcomes[("sms", "undelivered")] == 1

    await advance_to(world, world.clock.now() + timedelta(hours=2))
    status, _text = await _replay(report)

    assert status == 204
    assert outcomes[("sms", "undelivered")] == 1


async def test_a_claim_whose_handling_fails_is_withdrawn_so_the_retry_runs(
    sms_world: World,
) -> None:
    guard = WebhookReplayGuard(sms_world.services.store, sms_world.clock)

    class HandlingFailed(Exception):
        pass

    try:
        async with guard.once("sms", "SMfailing") as fresh:
            assert fresh
            raise HandlingFailed
    except HandlingFailed:
        pass
    async with guard.once("sms", "SMfailing") as fresh:
        assert fresh
    async with guard.once("sms", "SMfailing") as fresh:
        assert not fresh


async def test_receipts_expire_after_the_window_and_are_purged(sms_world: World) -> None:
    guard = WebhookReplayGuard(
        sms_world.services.store, sms_world.clock, keep_for=timedelta(days=1)
    )
    assert await guard.first_sighting("sms-status", "SM1:delivered")
    assert not await guard.first_sighting("sms-status", "SM1:delivered")
    assert await guard.first_sighting("sms-status", "SM1:failed")  # another status
    sms_world.clock.advance(timedelta(days=1))
    assert await guard.purge_expired() == 2
    assert await guard.first_sighting("sms-status", "SM1:delivered")
