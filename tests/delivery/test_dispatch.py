"""The notification dispatcher, end to end through the real twilio client and a
Twilio-shaped server: one SMS per person per moment, failures that bring the next
escalation level forward at once, retries that never send twice, reconciliation of
uncertain sends, delivery reports, and the log-only gateway.

Time never passes by itself here: tests move the manual clock and run the sweeps
(``catch_up``), or drain the dispatcher directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest

from scheduler.jobs import WelfareSweeps
from server.clock import ManualClock
from server.notify.dispatcher import LEASE, UNCERTAIN_RECHECK, Dispatcher
from server.notify.sms import SendResult, TwilioSmsGateway, redact_number
from tests.fakes.twilio_server import FakeTwilio, twilio_signature
from tests.support.welfare import advance, advance_to, catch_up
from tests.support.world import World

from .helpers import (
    FAILING_PHONES,
    LAPSE_AFTER,
    OFFICER_PHONE,
    SUPERVISOR_PHONE,
    WITNESS_PHONE,
    WITNESS_PHONES,
    WORKER2_PHONE,
    WORKER_PHONE,
    Lapse,
    add_worker,
    alert_levels,
    alert_rows,
    lapsing_cases,
    notifications,
    poll,
    staffed,
    world_with_twilio,
)


def fake_of(world: World) -> FakeTwilio:
    assert world.twilio is not None
    return world.twilio


async def lapse(world: World, lapses: list[Lapse]) -> None:
    """Move the clock through the prompt to the moment the check-ins lapse, and let
    the server act (alerts fire; level-1 notifications go out)."""
    deadline = lapses[0].deadline
    await advance_to(world, deadline - LAPSE_AFTER)
    await advance_to(world, deadline)


def count_in(body: str) -> int:
    match = re.search(r"\b(\d+)\b", body)
    assert match is not None, body
    return int(match.group(1))


# ------------------------------------------------------------------- coalescing


async def test_alerts_due_together_reach_each_person_as_one_sms(sms_world: World) -> None:
    world, fake = sms_world, fake_of(sms_world)
    team = await staffed(world)
    lapses = await lapsing_cases(world, team, 3)

    await lapse(world, lapses)

    (message,) = fake.sent_to(WORKER_PHONE)
    assert count_in(message.body) == 3
    rows = await alert_rows(world, world.staff["worker"], level=1)
    assert len(rows) == 3
    assert len({r["alert_id"] for r in rows}) == 3
    assert {r["status"] for r in rows} == {"sent"}
    assert {r["provider_id"] for r in rows} == {message.sid}
    (ref,) = {r["group_ref"] for r in rows}
    assert ref
    assert ref in message.body
    assert {r["body"] for r in rows} == {message.body}
    assert fake.sent_to(SUPERVISOR_PHONE) == []

    # Level 2 (15 minutes) and level 3 (30 minutes): again one SMS each, counting 3.
    await advance(world, timedelta(minutes=15))
    (to_supervisor,) = fake.sent_to(SUPERVISOR_PHONE)
    assert count_in(to_supervisor.body) == 3
    await advance(world, timedelta(minutes=15))
    (to_officer,) = fake.sent_to(OFFICER_PHONE)
    assert count_in(to_officer.body) == 3
    assert {r["provider_id"] for r in await alert_rows(world, world.staff["officer"])} == {
        to_officer.sid
    }
    assert len(fake.sent_to(WORKER_PHONE)) == 1
    assert len({m.body for m in fake.sent}) == len(fake.sent) == 3


# ---------------------------------------------------- failures that escalate early


@pytest.mark.parametrize("number", FAILING_PHONES)
async def test_a_refused_number_fails_the_row_and_the_next_level_is_told_at_once(
    sms_world: World, number: str
) -> None:
    world, fake = sms_world, fake_of(sms_world)
    team = await staffed(world, worker_phone=number)
    lapses = await lapsing_cases(world, team, 2)

    await lapse(world, lapses)

    rows = await alert_rows(world, world.staff["worker"], level=1)
    assert len(rows) == 2
    assert {r["status"] for r in rows} == {"failed"}
    assert {r["error_code"] for r in rows} == {"21211" if number.endswith("1") else "21614"}
    assert fake.sent_to(number) == []
    creates = fake.requests["create"]
    assert creates == 1  # one coalesced attempt, not retried

    # The next sweep, at the same moment (not 15 minutes later), moves to level 2.
    await catch_up(world)
    assert world.clock.now() == lapses[0].deadline
    assert set((await alert_levels(world)).values()) == {2}
    (to_supervisor,) = fake.sent_to(SUPERVISOR_PHONE)
    assert count_in(to_supervisor.body) == 2

    # The refused number is never tried again.
    await advance(world, timedelta(minutes=10))
    assert fake.requests["create"] == creates + 1
    assert {r["status"] for r in await alert_rows(world, world.staff["worker"])} == {"failed"}


async def test_a_level_with_no_number_to_text_is_skipped_and_escalates_at_once(
    sms_world: World,
) -> None:
    world, fake = sms_world, fake_of(sms_world)
    team = await staffed(world, worker_phone=None)
    lapses = await lapsing_cases(world, team, 1)

    await lapse(world, lapses)

    (row,) = await alert_rows(world, world.staff["worker"], level=1)
    assert (row["status"], row["error_code"]) == ("skipped", "no-recipient")
    assert fake.sent == []
    await catch_up(world)
    assert set((await alert_levels(world)).values()) == {2}
    assert len(fake.sent_to(SUPERVISOR_PHONE)) == 1
    assert world.clock.now() == lapses[0].deadline


async def test_one_failed_sms_of_a_level_does_not_escalate_while_another_got_through(
    sms_world: World,
) -> None:
    world, fake = sms_world, fake_of(sms_world)
    team = await staffed(world, worker_phone=FAILING_PHONES[0])
    await add_worker(world, team, "worker2", WORKER2_PHONE)
    lapses = await lapsing_cases(world, team, 1, workers=("worker", "worker2"))

    await lapse(world, lapses)
    await catch_up(world)

    assert [r["status"] for r in await alert_rows(world, world.staff["worker"])] == ["failed"]
    assert [r["status"] for r in await alert_rows(world, world.staff["worker2"])] == ["sent"]
    assert set((await alert_levels(world)).values()) == {1}
    assert fake.sent_to(SUPERVISOR_PHONE) == []
    await advance(world, timedelta(minutes=15))
    assert len(fake.sent_to(SUPERVISOR_PHONE)) == 1


# ------------------------------------------------------------ retries, uncertainty


@pytest.mark.parametrize("status", [429, 20429])
async def test_a_rate_limited_send_is_retried_after_backoff_and_sent_once(
    sms_world: World, status: int
) -> None:
    world, fake = sms_world, fake_of(sms_world)
    team = await staffed(world)
    lapses = await lapsing_cases(world, team, 1)
    fake.fail_next(status=status)

    await lapse(world, lapses)

    (row,) = await alert_rows(world, world.staff["worker"])
    assert (row["status"], row["error_code"], row["provider_id"]) == ("pending", "20429", None)
    assert fake.sent == []
    await advance(world, timedelta(seconds=4))
    assert fake.sent == []
    await advance(world, timedelta(seconds=1))
    (message,) = fake.sent_to(WORKER_PHONE)
    (row,) = await alert_rows(world, world.staff["worker"])
    assert (row["status"], row["provider_id"]) == ("sent", message.sid)
    await advance(world, timedelta(minutes=5))
    assert len(fake.sent_to(WORKER_PHONE)) == 1
    assert fake.requests["create"] == 2


@pytest.mark.parametrize("date_sent_on_create", [True, False], ids=["documented", "live"])
async def test_an_uncertain_send_is_reconciled_not_repeated(
    backend: str, tmp_path: Path, clock: ManualClock, date_sent_on_create: bool
) -> None:
    """Twilio recorded the message but the connection dropped before the answer: the
    next attempt finds it in the message list instead of sending again. With
    ``date_sent_on_create=False`` the fake behaves like live Twilio, where a queued
    message has no ``date_sent`` yet."""
    async with (
        FakeTwilio.running(clock=clock.now, date_sent_on_create=date_sent_on_create) as fake,
        world_with_twilio(backend, tmp_path, clock, fake) as world,
    ):
        team = await staffed(world)
        lapses = await lapsing_cases(world, team, 2)
        fake.hang_next(mode="drop")

        await lapse(world, lapses)

        (message,) = fake.sent_to(WORKER_PHONE)
        rows = await alert_rows(world, world.staff["worker"])
        assert {(r["status"], r["error_code"], r["provider_id"]) for r in rows} == {
            ("uncertain", "disconnected", None)
        }
        await advance(world, UNCERTAIN_RECHECK - timedelta(seconds=1))
        assert {r["status"] for r in await alert_rows(world, world.staff["worker"])} == {
            "uncertain"
        }
        await advance(world, timedelta(seconds=1))

        rows = await alert_rows(world, world.staff["worker"])
        assert {(r["status"], r["provider_id"]) for r in rows} == {("sent", message.sid)}
        assert fake.sent_to(WORKER_PHONE) == [message]
        assert fake.requests["create"] == 1
        assert fake.requests["list"] >= 1


async def test_a_server_error_is_uncertain_and_the_recheck_sends_when_twilio_has_nothing(
    sms_world: World,
) -> None:
    world, fake = sms_world, fake_of(sms_world)
    team = await staffed(world)
    lapses = await lapsing_cases(world, team, 1)
    fake.fail_next(status=500)

    await lapse(world, lapses)

    (row,) = await alert_rows(world, world.staff["worker"])
    assert (row["status"], row["error_code"]) == ("uncertain", "20500")
    assert fake.sent == []
    await advance(world, UNCERTAIN_RECHECK)
    (message,) = fake.sent_to(WORKER_PHONE)
    (row,) = await alert_rows(world, world.staff["worker"])
    assert (row["status"], row["provider_id"]) == ("sent", message.sid)
    await advance(world, timedelta(minutes=5))
    assert len(fake.sent_to(WORKER_PHONE)) == 1


async def test_no_send_while_twilio_cannot_be_asked_what_it_already_has(
    sms_world: World,
) -> None:
    world, fake = sms_world, fake_of(sms_world)
    team = await staffed(world)
    lapses = await lapsing_cases(world, team, 1)
    fake.hang_next(mode="drop")
    await lapse(world, lapses)
    (message,) = fake.sent

    fake.fail_next(status=503, kind="list")
    await advance(world, UNCERTAIN_RECHECK)
    (row,) = await alert_rows(world, world.staff["worker"])
    assert (row["status"], row["error_code"]) == ("uncertain", "reconcile-unavailable")
    assert fake.requests["create"] == 1

    await advance(world, UNCERTAIN_RECHECK)
    (row,) = await alert_rows(world, world.staff["worker"])
    assert (row["status"], row["provider_id"]) == ("sent", message.sid)
    assert fake.sent == [message]


async def test_rows_of_a_dispatcher_that_died_mid_send_are_reconciled_after_the_lease(
    sms_world: World,
) -> None:
    """The dispatcher is cancelled while Twilio holds its (already recorded) request:
    the rows stay claimed until the lease runs out, then the message is found."""
    world, fake = sms_world, fake_of(sms_world)
    team = await staffed(world)
    lapses = await lapsing_cases(world, team, 2)
    await advance_to(world, lapses[0].deadline - LAPSE_AFTER)
    fake.hang_next(mode="stall")
    world.clock.set(lapses[0].deadline)
    dying = asyncio.create_task(catch_up(world))
    await fake.wait_until_stalled()
    dying.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await dying
    fake.release_stalled()
    (message,) = fake.sent

    await advance(world, LEASE - timedelta(seconds=1))
    rows = await alert_rows(world, world.staff["worker"])
    assert {r["status"] for r in rows} == {"sending"}
    assert fake.sent == [message]

    await advance(world, timedelta(seconds=1))
    rows = await alert_rows(world, world.staff["worker"])
    assert {(r["status"], r["provider_id"]) for r in rows} == {("sent", message.sid)}
    assert fake.sent == [message]
    assert fake.requests["create"] == 1


async def test_dispatchers_racing_over_one_outbox_send_each_sms_once(sms_world: World) -> None:
    """Several dispatchers (as in several server instances) drain at the same time,
    in small batches, over alert SMS (coalesced per person) and witness nudges."""
    world, fake = sms_world, fake_of(sms_world)
    team = await staffed(world)
    await add_worker(world, team, "worker2", WORKER2_PHONE)
    lapses = await lapsing_cases(world, team, 3, workers=("worker",))
    lapses += await lapsing_cases(
        world, team, 6, workers=("worker2",), witness_phones=WITNESS_PHONES, first=10
    )
    svc = world.services
    sweeps = WelfareSweeps(svc)
    dispatchers = [
        Dispatcher(
            svc.store,
            svc.clock,
            svc.events,
            svc.dispatcher.gateway,
            svc.phones,
            svc.alerts,
            status_callback_url=f"{world.url}/v1/twilio/status",
            batch=2,
        )
        for _ in range(4)
    ]
    world.clock.set(lapses[0].deadline - LAPSE_AFTER)
    await sweeps.checkins()  # prompts: six nudges queued
    world.clock.set(lapses[0].deadline)
    await sweeps.checkins()  # nine alerts fire

    handled = await asyncio.gather(*(d.drain() for d in dispatchers))

    everything = await notifications(world, channel=None)
    assert sum(handled) == len(everything)
    rows = await notifications(world)
    assert len(rows) == 6 + 9
    assert {r["status"] for r in rows} == {"sent"}
    assert len({(m.to, m.body) for m in fake.sent}) == len(fake.sent)
    groups = {(r["recipient_id"], r["group_ref"] or r["id"]) for r in rows}
    assert len(fake.sent) == len(groups)
    assert {r["provider_id"] for r in rows} == {m.sid for m in fake.sent}
    assert len(fake.sent_to(WORKER_PHONE)) >= 1
    assert len(fake.sent_to(WORKER2_PHONE)) >= 1


async def test_a_batch_that_outlasts_the_lease_is_not_sent_twice(sms_world: World) -> None:
    """The lease is longer than one send's timeout, but a dispatcher claims a whole
    batch and sends it a few at a time (``concurrency``; in production 100 slots for a
    batch of thousands). While Twilio hangs, each round of sends takes the full 20 s
    timeout, and the rows still waiting for a slot outlive the lease: another
    instance reclaims them and sends them, and then the first dispatcher sends them
    again. Here: six nudges, one slot, each send hanging 20 s."""
    world, fake = sms_world, fake_of(sms_world)
    team = await staffed(world)
    numbers = WITNESS_PHONES[:6]
    (case, *_) = await lapsing_cases(world, team, 6, witness_phones=numbers)
    svc = world.services
    world.clock.set(case.deadline - LAPSE_AFTER)
    await WelfareSweeps(svc).checkins()  # six prompt nudges queued

    def dispatcher(concurrency: int) -> Dispatcher:
        return Dispatcher(
            svc.store,
            svc.clock,
            svc.events,
            svc.dispatcher.gateway,
            svc.phones,
            svc.alerts,
            concurrency=concurrency,
        )

    slow, other = dispatcher(1), dispatcher(100)
    fake.hang_next(5, mode="stall")
    first = asyncio.create_task(slow.run_once())
    for hung in range(1, 6):
        await poll(
            lambda n=hung: fake.injected["stall"] == n and fake.stalled == 1,
            f"send {hung} to hang",
        )
        if hung < 5:
            world.clock.advance(timedelta(seconds=20))  # the gateway's timeout
            fake.release_stalled()
    world.clock.advance(timedelta(seconds=11))  # 91 s after the claim: the lease is over

    await other.drain()  # the other instance reconciles what it can and sends the rest
    fake.release_stalled()
    await first

    per_number = {number: len(fake.sent_to(number)) for number in numbers}
    assert per_number == dict.fromkeys(numbers, 1), (
        f"SMS per witness {per_number}: the first dispatcher sent rows whose lease it "
        "had lost, after the other instance had sent them"
    )


# ---------------------------------------------------------------- delivery reports


@pytest.mark.parametrize("status", ["undelivered", "failed"])
async def test_an_undelivered_report_fails_the_rows_and_brings_the_next_level_forward(
    sms_world: World, status: str
) -> None:
    world, fake = sms_world, fake_of(sms_world)
    team = await staffed(world)
    lapses = await lapsing_cases(world, team, 2)
    await lapse(world, lapses)
    (message,) = fake.sent_to(WORKER_PHONE)
    assert message.status_callback == f"{world.url}/v1/twilio/status"

    answer = await fake.deliver(message.sid, status)  # type: ignore[arg-type]

    assert answer is not None
    assert answer.status == 204
    rows = await alert_rows(world, world.staff["worker"])
    assert {(r["status"], r["error_code"]) for r in rows} == {("failed", "30008")}
    await catch_up(world)
    assert world.clock.now() == lapses[0].deadline
    assert set((await alert_levels(world)).values()) == {2}
    (to_supervisor,) = fake.sent_to(SUPERVISOR_PHONE)
    assert count_in(to_supervisor.body) == 2


async def test_a_delivered_report_marks_the_rows_delivered(sms_world: World) -> None:
    world, fake = sms_world, fake_of(sms_world)
    team = await staffed(world)
    lapses = await lapsing_cases(world, team, 2)
    await lapse(world, lapses)
    (message,) = fake.sent_to(WORKER_PHONE)

    answer = await fake.deliver(message.sid, "delivered")

    assert answer is not None
    assert answer.status == 204
    rows = await alert_rows(world, world.staff["worker"])
    assert {(r["status"], r["provider_id"]) for r in rows} == {("delivered", message.sid)}
    assert all(r["delivered_at"] is not None for r in rows)
    await catch_up(world)
    assert set((await alert_levels(world)).values()) == {1}
    assert fake.sent_to(SUPERVISOR_PHONE) == []


async def test_an_unsigned_or_forged_report_is_refused_and_changes_nothing(
    sms_world: World,
) -> None:
    world, fake = sms_world, fake_of(sms_world)
    team = await staffed(world)
    lapses = await lapsing_cases(world, team, 1)
    await lapse(world, lapses)
    (message,) = fake.sent_to(WORKER_PHONE)
    url = f"{world.url}/v1/twilio/status"
    form = {
        "AccountSid": fake.account_sid,
        "ApiVersion": "2010-04-01",
        "From": "+15005550006",
        "To": WORKER_PHONE,
        "MessageSid": message.sid,
        "MessageStatus": "undelivered",
        "SmsSid": message.sid,
        "SmsStatus": "undelivered",
        "ErrorCode": "30003",
    }
    forged = [
        {},
        {"X-Twilio-Signature": ""},
        {"X-Twilio-Signature": twilio_signature("not the auth token", url, form)},
        # Right token, but signed for another URL.
        {"X-Twilio-Signature": twilio_signature(fake.auth_token, url + "?x=1", form)},
    ]
    async with aiohttp.ClientSession() as session:
        for headers in forged:
            async with session.post(url, data=form, headers=headers) as response:
                assert response.status == 403

    (row,) = await alert_rows(world, world.staff["worker"])
    assert (row["status"], row["error_code"]) == ("sent", None)
    await catch_up(world)
    assert set((await alert_levels(world)).values()) == {1}
    assert fake.sent_to(SUPERVISOR_PHONE) == []


async def test_a_report_that_arrives_before_the_send_is_recorded_is_not_lost(
    sms_world: World,
) -> None:
    """Twilio can report "undelivered" within a second, while the dispatcher is still
    waiting for the other sends of its batch (or never saw this send's answer at
    all). The report must still fail the rows and bring the next level forward."""
    world, fake = sms_world, fake_of(sms_world)
    team = await staffed(world)
    await add_worker(world, team, "worker2", WORKER2_PHONE)
    lapses = await lapsing_cases(world, team, 1, workers=("worker",))
    lapses += await lapsing_cases(world, team, 1, workers=("worker2",), first=2)
    await advance_to(world, lapses[0].deadline - LAPSE_AFTER)
    fake.hang_next(mode="stall")  # one of the two level-1 sends hangs
    world.clock.set(lapses[0].deadline)
    sweep = asyncio.create_task(catch_up(world))
    await fake.wait_until_stalled()
    await poll(lambda: len(fake.sent) == 2, "both level-1 SMS to reach Twilio")
    level_one = list(fake.sent)

    for message in level_one:
        answer = await fake.deliver(message.sid, "undelivered", error_code=30003)
        assert answer is not None
        assert answer.status == 204
    fake.release_stalled()
    await sweep
    await advance(world, UNCERTAIN_RECHECK)  # the hung send is reconciled
    await catch_up(world)

    rows = await alert_rows(world, world.staff["worker"]) + await alert_rows(
        world, world.staff["worker2"]
    )
    assert len(rows) == 2
    assert {m.sid for m in level_one} == {r["provider_id"] for r in rows}
    assert [r["status"] for r in rows] == ["failed", "failed"], (
        "Twilio reported both level-1 SMS undelivered, but the rows say "
        f"{[r['status'] for r in rows]}: the status callback matched no row yet"
    )
    assert set((await alert_levels(world)).values()) == {2}
    # Each alert reached level 2 when its own failure became known (one at the end of
    # the batch, one at the recheck): the supervisor was told about both, once each.
    assert sum(count_in(m.body) for m in fake.sent_to(SUPERVISOR_PHONE)) == 2


# ------------------------------------------------------------------ acknowledgement


async def test_acknowledging_cancels_notifications_not_yet_claimed(sms_world: World) -> None:
    world, fake = sms_world, fake_of(sms_world)
    team = await staffed(world)
    lapses = await lapsing_cases(world, team, 1)
    await advance_to(world, lapses[0].deadline - LAPSE_AFTER)
    world.clock.set(lapses[0].deadline)
    await WelfareSweeps(world.services).checkins()  # the alert fires; nothing sent yet
    (alert,) = await team.worker.alerts()
    queued = await alert_rows(world, world.staff["worker"])
    assert [r["status"] for r in queued] == ["pending"]

    await team.worker.acknowledge(alert["alert_id"])

    # Every outbox row of the alert (whatever the channel) is cancelled.
    rows = [r for r in await notifications(world, channel=None) if r["purpose"] == "alert"]
    assert rows
    assert {r["status"] for r in rows} == {"cancelled"}
    await catch_up(world)
    await advance(world, timedelta(minutes=20))
    assert fake.sent == []


async def test_acknowledging_cancels_a_send_waiting_for_its_retry(sms_world: World) -> None:
    world, fake = sms_world, fake_of(sms_world)
    team = await staffed(world)
    lapses = await lapsing_cases(world, team, 1)
    fake.fail_next(status=429)
    await lapse(world, lapses)
    (alert,) = await team.worker.alerts()
    (row,) = await alert_rows(world, world.staff["worker"])
    assert row["status"] == "pending"

    await team.worker.acknowledge(alert["alert_id"])
    await advance(world, timedelta(minutes=1))

    (row,) = await alert_rows(world, world.staff["worker"])
    assert row["status"] == "cancelled"
    assert fake.sent == []


async def test_acknowledging_cancels_a_send_whose_outcome_is_uncertain(sms_world: World) -> None:
    """Twilio answered 503 (it may or may not have the message). Once someone has
    acknowledged the alert, the recheck must not send it after all."""
    world, fake = sms_world, fake_of(sms_world)
    team = await staffed(world)
    lapses = await lapsing_cases(world, team, 1)
    fake.fail_next(status=503)
    await lapse(world, lapses)
    (alert,) = await team.worker.alerts()
    (row,) = await alert_rows(world, world.staff["worker"])
    assert row["status"] == "uncertain"

    await team.worker.acknowledge(alert["alert_id"])
    await advance(world, UNCERTAIN_RECHECK + timedelta(minutes=1))

    (row,) = await alert_rows(world, world.staff["worker"])
    assert row["status"] == "cancelled"
    assert fake.sent == []


async def test_a_report_for_a_message_no_row_carries_is_forgotten_after_a_week(
    sms_world: World,
) -> None:
    world = sms_world
    dispatcher = world.services.dispatcher
    changed = await dispatcher.status_callback("SM" + "ab" * 16, "undelivered", "30003")
    assert changed == 0

    async def kept() -> int:
        async with world.services.store.read() as uow:
            return int(await uow.conn.fetchval("SELECT COUNT(*) FROM delivery_reports"))

    assert await kept() == 1
    world.clock.advance(timedelta(days=6))
    assert await dispatcher.forget_old_reports() == 0
    assert await kept() == 1
    world.clock.advance(timedelta(days=1, seconds=1))
    assert await dispatcher.forget_old_reports() == 1
    assert await kept() == 0


# ----------------------------------------------------------- reconciliation limits


async def test_a_repeated_nudge_is_not_mistaken_for_the_one_before(sms_world: World) -> None:
    """The reminder nudge has the same text as the prompt nudge five minutes earlier.
    When the reminder's send is uncertain (Twilio answered 503 and created nothing),
    reconciliation must not take the earlier nudge for it: the witness would never
    get the reminder."""
    world, fake = sms_world, fake_of(sms_world)
    team = await staffed(world)
    (case,) = await lapsing_cases(
        world,
        team,
        1,
        witness_phones=[WITNESS_PHONE],
        window_minutes=10,
        reminder_minutes=5,
    )
    due = case.deadline - timedelta(minutes=10 + 30)
    await advance_to(world, due)
    (prompt_nudge,) = fake.sent_to(WITNESS_PHONE)

    fake.fail_next(status=503)
    await advance_to(world, due + timedelta(minutes=5))
    reminder = [r for r in await notifications(world) if r["status"] == "uncertain"]
    assert len(reminder) == 1
    assert reminder[0]["purpose"] == "checkin_nudge"
    assert len(fake.sent_to(WITNESS_PHONE)) == 1

    await advance(world, UNCERTAIN_RECHECK)

    nudges = [r for r in await notifications(world) if r["purpose"] == "checkin_nudge"]
    assert [r["status"] for r in nudges] == ["sent", "sent"]
    assert len({r["provider_id"] for r in nudges}) == 2, (
        "the reminder nudge was recorded as sent under the prompt nudge's SID "
        f"{prompt_nudge.sid}; Twilio only ever got one nudge"
    )
    assert len(fake.sent_to(WITNESS_PHONE)) == 2


async def test_nudges_held_back_by_an_outage_each_go_out_afterwards(sms_world: World) -> None:
    """Twilio refuses our credentials (a configuration problem: retried with backoff)
    from the prompt until after the reminder, 45 minutes later. Once it is fixed, the
    two queued nudges are two SMS: reconciling the second must not take the first's
    message (same neutral text, same number) for its own."""
    world, fake = sms_world, fake_of(sms_world)
    team = await staffed(world)
    (case,) = await lapsing_cases(
        world, team, 1, witness_phones=[WITNESS_PHONE], reminder_minutes=15
    )
    due = case.deadline - LAPSE_AFTER
    fake.fail_next(1000, status=401)
    await advance_to(world, due)
    while world.clock.now() < due + timedelta(minutes=46):
        await advance(world, timedelta(minutes=1))
    nudges = [r for r in await notifications(world) if r["purpose"] == "checkin_nudge"]
    assert [(r["status"], r["error_code"]) for r in nudges] == [("pending", "20003")] * 2
    fake.clear()  # the account is fixed; nothing was ever sent

    first_sent_at = None
    for _ in range(120):
        await advance(world, timedelta(seconds=10))
        nudges = [r for r in await notifications(world) if r["purpose"] == "checkin_nudge"]
        if first_sent_at is None and fake.sent:
            first_sent_at = world.clock.now()
            # The nudges went out one at a time, not together.
            assert [r["status"] for r in nudges].count("pending") == 1
        if all(r["status"] != "pending" for r in nudges):
            break
    assert [r["status"] for r in nudges] == ["sent", "sent"]
    assert len({r["provider_id"] for r in nudges}) == 2, (
        "both nudges were recorded under one Twilio message: the later attempt's"
        " reconciliation found the other nudge's SMS and took it for its own"
    )
    assert len(fake.sent_to(WITNESS_PHONE)) == 2


async def test_a_sender_problem_is_logged_once_while_it_lasts(
    twilio: FakeTwilio, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Our sender is not usable (21606): every send is refused and retried. The gateway
    promises to log this error once, and again only after a success; the retries'
    reconciliation lists (which work) must not count as that success."""
    caplog.set_level(logging.WARNING, logger="server.notify.sms")
    gateway = TwilioSmsGateway(
        twilio.account_sid, twilio.auth_token, "+15005550007", base_url=twilio.base_url
    )
    try:
        for _ in range(3):
            outcome = await gateway.send(WORKER_PHONE, "witnesslink: test")
            assert outcome.result is SendResult.RETRYABLE_FAILURE
            assert outcome.configuration_problem
            # What the dispatcher does before the next attempt.
            assert await gateway.find_sent(WORKER_PHONE, "witnesslink: test", clock.now()) is None
    finally:
        await gateway.close()
    assert twilio.sent == []
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, errors


# ------------------------------------------------------------------ no credentials


async def test_without_twilio_sms_are_logged_with_the_number_masked(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    team = await staffed(world)
    lapses = await lapsing_cases(world, team, 2, witness_phones=[WITNESS_PHONE])

    await lapse(world, lapses)
    await advance(world, timedelta(minutes=15))

    logged = [record.getMessage() for record in caplog.records]
    rows = await notifications(world)
    sent = [r for r in rows if r["status"] == "sent"]
    assert {r["recipient_id"] for r in sent if r["purpose"] == "alert"} == {
        world.staff["worker"],
        world.staff["supervisor"],
    }
    for row in sent:
        assert row["provider_id"].startswith("log-")
    for number, body in (
        (WORKER_PHONE, next(r["body"] for r in sent if r["recipient_id"] == world.staff["worker"])),
        (
            SUPERVISOR_PHONE,
            next(r["body"] for r in sent if r["recipient_id"] == world.staff["supervisor"]),
        ),
        (WITNESS_PHONE, next(r["body"] for r in sent if r["purpose"] == "checkin_nudge")),
    ):
        masked = redact_number(number)
        assert masked != number
        assert masked.endswith(number[-2:])
        assert any(masked in line and body in line for line in logged), (masked, body)
    for number in (WORKER_PHONE, SUPERVISOR_PHONE, OFFICER_PHONE, WITNESS_PHONE):
        leaks = [line for line in logged if number in line or number[1:] in line]
        assert not leaks, leaks
