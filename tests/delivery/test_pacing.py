"""Pacing (issue 14): the most urgent alert first, within the real limits of SMS.

The fake Twilio plays the real one: it accepts every message at once but, with
``sender_rate``, sends each sender's messages one a second in arrival order, and
records when each would reach the phone (``received_at``) on the tests' clock. The
dispatchers here are paced (the test worlds are not, so the rest of the suite keeps
its timings); time is moved, never slept.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from server.domain.effects import Effects
from server.domain.welfare.alerts import AlertSpec
from server.domain.welfare.checkins import witness_sms
from server.domain.welfare.urgency import ROUTINE, alert_urgency
from server.domain.welfare_models import (
    Alert,
    AlertKind,
    NotificationStatus,
    Severity,
)
from server.notify.backlog import BacklogReader
from server.notify.dispatcher import LEASE, Dispatcher
from server.notify.pacing import DEBT_S, PacingSettings
from server.notify.sms import SmsGateway, TwilioSmsGateway
from tests.console_witness.conftest import sign_in
from tests.fakes.twilio_server import FakeMessage, FakeTwilio
from tests.support.world import TWILIO_SENDER, World

from .helpers import WITNESS_PHONE, WORKER_PHONE, Lapse, Team, lapsing_cases, notifications, staffed

SECOND = timedelta(seconds=1)
OTHER_SENDER = "+15005550099"


def fake_of(world: World) -> FakeTwilio:
    assert world.twilio is not None
    return world.twilio


def paced(
    world: World,
    *,
    senders: dict[str, SmsGateway] | None = None,
    sms_per_second: float = 1.0,
    batch: int = 20000,
) -> Dispatcher:
    """A dispatcher like one instance's, paced at ``sms_per_second`` per sender."""
    svc = world.services
    gateways = senders or {TWILIO_SENDER: svc.dispatcher.gateway}
    return Dispatcher(
        svc.store,
        svc.clock,
        svc.events,
        next(iter(gateways.values())),
        svc.phones,
        svc.alerts,
        senders=gateways,
        pacing=PacingSettings(sms_per_second, 1.0),
        batch=batch,
    )


async def one_witness(world: World) -> tuple[Team, Lapse]:
    team = await staffed(world)
    (lapse,) = await lapsing_cases(world, team, 1, witness_phones=[WITNESS_PHONE])
    return team, lapse


async def queue_routine(
    world: World, witness_id: str, count: int, *, urgency: int = ROUTINE, label: str = "Routine"
) -> list[str]:
    """``count`` SMS to the witness (reminder-like rows, never folded), oldest first by a
    millisecond each; returns their bodies in age order."""
    now = world.clock.now()
    async with world.services.store.read() as uow:
        witness = await uow.witnesses.get(witness_id)
    assert witness is not None
    rows = [
        replace(
            witness_sms(witness, "checkin_nudge", f"{label} {i}", now),
            created_at=now - timedelta(milliseconds=count - i),
            urgency=urgency,
        )
        for i in range(count)
    ]
    async with world.services.store.write() as uow:
        await uow.notifications.insert_many(rows)
    return [r.body or "" for r in rows]


async def raise_alert(world: World, lapse: Lapse, kind: AlertKind, source: str) -> Alert:
    svc = world.services
    async with svc.store.write() as uow:
        (alert,) = await svc.alerts.raise_alerts(
            uow,
            [AlertSpec(lapse.case_id, lapse.witness_id, kind, source)],
            svc.clock.now(),
            Effects(),
        )
    return alert


async def tick(
    world: World, dispatchers: Sequence[Dispatcher], seconds: float, step: float = 1.0
) -> None:
    """Let ``seconds`` of time pass in steps, the dispatchers draining at each."""
    steps = round(seconds / step)
    for _ in range(steps):
        await asyncio.gather(*(d.drain() for d in dispatchers))
        world.clock.advance(timedelta(seconds=step))


def routine(messages: Sequence[FakeMessage]) -> list[FakeMessage]:
    return [m for m in messages if m.body.startswith("Routine")]


# ------------------------------------------------------------------------- order


@pytest.mark.slow
async def test_a_duress_alert_after_a_wave_of_2000_routine_sms_is_the_next_sent_and_received_first(
    sms_world: World,
) -> None:
    world, fake = sms_world, fake_of(sms_world)
    fake.sender_rate = 1.0  # Twilio: one a second from a long code, first in first out
    _team, lapse = await one_witness(world)
    await queue_routine(world, lapse.witness_id, 2000)
    dispatcher = paced(world)

    await tick(world, [dispatcher], 5)
    assert len(fake.sent) == 5  # one a second, the rest waits in our outbox
    world.clock.advance(timedelta(milliseconds=300))
    raised_at = world.clock.now()
    await raise_alert(world, lapse, AlertKind.DURESS, "duress-after-wave")
    await tick(world, [dispatcher], 10)

    after = [m for m in fake.sent if m.date_created >= raised_at]
    # The duress SMS to each person of the first level (one a second), before any
    # more of the routine backlog.
    duress = [m for m in after if not m.body.startswith("Routine")]
    assert WORKER_PHONE in {m.to for m in duress}
    assert after[: len(duress)] == duress, "the duress SMS are the next submitted"
    assert duress[0].received_at is not None
    assert duress[0].received_at - raised_at < 2 * SECOND
    last = max(m.received_at for m in duress if m.received_at)
    assert all(m.received_at and m.received_at > last for m in routine(after))
    # Twilio's own queue never grew: every message left as it arrived.
    assert fake.queue_peak[TWILIO_SENDER] <= 1
    assert len(fake.sent) <= 5 + 10 + 1
    rows = await notifications(world)
    assert sum(r["status"] == "pending" for r in rows) >= 2000 - 16


async def test_urgency_then_first_round_then_oldest_first(sms_world: World) -> None:
    world, fake = sms_world, fake_of(sms_world)
    _team, lapse = await one_witness(world)
    for urgency in (4, 3, 2, 1, 0):
        await queue_routine(world, lapse.witness_id, 2, urgency=urgency, label=f"U{urgency}")
    dispatcher = paced(world)

    await tick(world, [dispatcher], 10)

    assert [m.body for m in fake.sent] == [f"U{u} {i}" for u in range(5) for i in range(2)]


async def test_real_alerts_carry_their_urgency(sms_world: World) -> None:
    world = sms_world
    _team, lapse = await one_witness(world)
    for kind in (AlertKind.HELP, AlertKind.DURESS, AlertKind.MISSED_CHECKIN):
        await raise_alert(world, lapse, kind, f"src-{kind.value}")
    rows = await notifications(world)
    async with world.services.store.read() as uow:
        urgencies = {r["alert_id"]: (await uow.notifications.get(r["id"])) for r in rows}
    by_kind: dict[str, set[int]] = {}
    async with world.services.store.read() as uow:
        for alert_id, row in urgencies.items():
            assert row is not None
            assert alert_id is not None
            alert = await uow.alerts.get(alert_id)
            assert alert is not None
            by_kind.setdefault(alert.kind.value, set()).add(row.urgency)
    # Help is "high" by default, and still critical for the senders' order.
    assert by_kind == {"help": {0}, "duress": {0}, "missed_checkin": {2}}
    assert alert_urgency(AlertKind.MISSED_CHECKIN, Severity.HIGH, 2) == 3
    assert alert_urgency(AlertKind.REVIEW_OVERDUE, Severity.CRITICAL, 1) == 0


# ------------------------------------------------------------- acknowledgement


async def test_an_alert_acknowledged_while_its_sms_waits_is_never_sent(sms_world: World) -> None:
    world, fake = sms_world, fake_of(sms_world)
    team, lapse = await one_witness(world)
    await queue_routine(world, lapse.witness_id, 20, urgency=0, label="Ahead")
    dispatcher = paced(world)
    await tick(world, [dispatcher], 2)
    alert = await raise_alert(world, lapse, AlertKind.MISSED_CHECKIN, "waits-behind")
    await tick(world, [dispatcher], 3)
    assert not fake.sent_to(WORKER_PHONE)

    await team.worker.acknowledge(alert.id)
    await tick(world, [dispatcher], 40)

    assert len(fake.sent) == 20
    assert not fake.sent_to(WORKER_PHONE)
    async with world.services.store.read() as uow:
        rows = await uow.notifications.for_alert(alert.id)
    assert rows
    assert {r.status for r in rows} == {NotificationStatus.CANCELLED}


# ------------------------------------------------------------------------ limits


async def test_a_rate_limited_answer_holds_the_sender_back_and_nothing_is_lost(
    sms_world: World,
) -> None:
    world, fake = sms_world, fake_of(sms_world)
    _team, lapse = await one_witness(world)
    bodies = await queue_routine(world, lapse.witness_id, 6)
    dispatcher = paced(world)
    fake.fail_next(1, 429)

    await tick(world, [dispatcher], DEBT_S)
    assert fake.sent == [], "after a 429 the sender waits its debt out"
    await tick(world, [dispatcher], 30)

    assert sorted(m.body for m in fake.sent) == sorted(bodies)
    assert fake.requests["create"] == len(bodies) + 1


async def test_a_queue_overflow_report_holds_the_senders_back(sms_world: World) -> None:
    world, fake = sms_world, fake_of(sms_world)
    _team, lapse = await one_witness(world)
    await queue_routine(world, lapse.witness_id, 6)
    dispatcher = paced(world)
    await dispatcher.drain()
    (first,) = fake.sent

    await dispatcher.status_callback(first.sid, "undelivered", "30001")
    await tick(world, [dispatcher], DEBT_S)
    assert fake.sent == [first]
    await tick(world, [dispatcher], 3)
    assert len(fake.sent) > 1


async def test_several_senders_share_the_load_each_at_its_own_rate(sms_world: World) -> None:
    world, fake = sms_world, fake_of(sms_world)
    fake.sender_rate = 1.0
    _team, lapse = await one_witness(world)
    await queue_routine(world, lapse.witness_id, 20)
    svc = world.services
    other = TwilioSmsGateway(
        fake.account_sid, fake.auth_token, OTHER_SENDER, base_url=fake.base_url
    )
    try:
        dispatcher = paced(
            world, senders={TWILIO_SENDER: svc.dispatcher.gateway, OTHER_SENDER: other}
        )
        await tick(world, [dispatcher], 5)
    finally:
        await other.close()

    by_sender = Counter(m.from_ for m in fake.sent)
    assert by_sender == {TWILIO_SENDER: 5, OTHER_SENDER: 5}
    assert max(fake.queue_peak.values()) <= 1


async def test_two_instances_together_never_exceed_the_limit(sms_world: World) -> None:
    """Two dispatchers (two instances) over one database, draining four times a
    second: the buckets are shared, so one SMS a second in all, each sent once."""
    world, fake = sms_world, fake_of(sms_world)
    _team, lapse = await one_witness(world)
    bodies = await queue_routine(world, lapse.witness_id, 30)
    start = world.clock.now()
    instances = [paced(world), paced(world)]

    await tick(world, instances, 20, step=0.25)

    moments = sorted(m.date_created for m in fake.sent)
    assert 19 <= len(moments) <= 21
    _assert_at_most_per_window(moments, start, per_second=1.0)
    assert len({m.body for m in fake.sent}) == len(fake.sent)
    assert {m.body for m in fake.sent} <= set(bodies)


def _assert_at_most_per_window(
    moments: Sequence[datetime], start: datetime, per_second: float
) -> None:
    """In every window of W seconds at most W * rate + 1 sends (one token of burst)."""
    for width in (1, 3, 10):
        window = timedelta(seconds=width)
        for i, first in enumerate(moments):
            inside = [m for m in moments[i:] if m < first + window]
            assert len(inside) <= width * per_second + 1, (width, first - start, len(inside))


async def test_a_crash_while_paced_sends_nothing_twice_and_loses_nothing(sms_world: World) -> None:
    """One instance dies while Twilio holds its request; the other drains the rest
    at the rate, takes the dead one's row when its lease runs out, finds the message
    already sent, and never sends it again."""
    world, fake = sms_world, fake_of(sms_world)
    _team, lapse = await one_witness(world)
    bodies = await queue_routine(world, lapse.witness_id, 8)
    dying, survivor = paced(world), paced(world)
    fake.hang_next(mode="stall")
    task = asyncio.create_task(dying.drain())
    await fake.wait_until_stalled()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    fake.release_stalled()
    world.clock.advance(SECOND)

    await tick(world, [survivor], LEASE.total_seconds() + 10)

    assert sorted(m.body for m in fake.sent) == sorted(bodies)
    assert fake.requests["create"] == len(bodies)
    rows = await notifications(world)
    assert {r["status"] for r in rows} == {"sent"}
    assert len({r["provider_id"] for r in rows}) == len(bodies)


# ---------------------------------------------------------------------- folding


async def test_critical_alerts_never_fold_with_routine_ones(sms_world: World) -> None:
    world = sms_world
    _team, lapse = await one_witness(world)
    alerts = [
        await raise_alert(world, lapse, AlertKind.DURESS, "fold-duress"),
        await raise_alert(world, lapse, AlertKind.MISSED_CHECKIN, "fold-missed"),
        await raise_alert(world, lapse, AlertKind.CONTACT_REQUESTED, "fold-contact"),
    ]

    await world.services.dispatcher.drain()

    sms = fake_of(world).sent_to(WORKER_PHONE)
    groups: dict[str | None, set[str]] = {}
    async with world.services.store.read() as uow:
        for alert in alerts:
            for row in await uow.notifications.for_alert(alert.id):
                if row.channel == "sms" and row.recipient_id == world.staff["worker"]:
                    groups.setdefault(row.group_ref, set()).add(alert.kind.value)
    assert len(sms) == 2 == len(groups)
    assert sorted(map(sorted, groups.values())) == [
        ["contact_requested", "missed_checkin"],
        ["duress"],
    ]


async def test_paced_alerts_still_fold_into_one_sms_per_person_and_class(
    sms_world: World,
) -> None:
    """One token per SMS, not per alert: a person's other alerts of the class ride
    along, so a wave costs one SMS per person (critical ones apart, and first)."""
    world, fake = sms_world, fake_of(sms_world)
    _team, lapse = await one_witness(world)
    alerts = [
        await raise_alert(world, lapse, AlertKind.MISSED_CHECKIN, "paced-missed"),
        await raise_alert(world, lapse, AlertKind.CONTACT_REQUESTED, "paced-contact"),
        await raise_alert(world, lapse, AlertKind.NO_CONFIRMATION, "paced-unconfirmed"),
        await raise_alert(world, lapse, AlertKind.HELP, "paced-help"),
    ]
    dispatcher = paced(world)

    await tick(world, [dispatcher], 20)

    sms = fake.sent_to(WORKER_PHONE)
    refs: dict[str, str | None] = {}
    async with world.services.store.read() as uow:
        for alert in alerts:
            (row,) = [
                r
                for r in await uow.notifications.for_alert(alert.id)
                if r.channel == "sms" and r.recipient_id == world.staff["worker"]
            ]
            assert row.status is NotificationStatus.SENT
            refs[alert.kind.value] = row.provider_id
    assert len(sms) == 2
    assert refs["help"] == sms[0].sid
    assert refs["missed_checkin"] == refs["contact_requested"] == refs["no_confirmation"]
    assert refs["missed_checkin"] == sms[1].sid


# ---------------------------------------------------------------------- backlog


async def test_the_backlog_by_class_its_expected_wait_and_the_critical_warning(
    sms_world: World,
) -> None:
    world = sms_world
    _team, lapse = await one_witness(world)
    await queue_routine(world, lapse.witness_id, 30)
    await raise_alert(world, lapse, AlertKind.DURESS, "backlog-duress")
    dispatcher = paced(world)
    reader = BacklogReader(world.services.store, world.clock, dispatcher.pacer, 30.0)

    first = await reader.read()
    world.clock.advance(timedelta(seconds=31))
    later = await reader.read()

    assert first.depth["routine"] == 30
    assert first.depth["alert"] == 0
    critical = first.depth["critical"]
    assert critical >= 1
    assert first.routine_sms_wait_s == pytest.approx(30 + critical)
    # Alerts for one person fold into one SMS: the wait counts them once.
    await raise_alert(world, lapse, AlertKind.MISSED_CHECKIN, "backlog-missed")
    await raise_alert(world, lapse, AlertKind.CONTACT_REQUESTED, "backlog-contact")
    folded = await reader.read()
    assert folded.depth["alert"] == 2  # two alerts for the one support worker...
    assert folded.routine_sms_wait_s == pytest.approx(30 + critical + 1)  # ...one SMS
    assert not first.warning
    assert later.warning
    assert later.oldest_critical_wait_s == pytest.approx(31)

    await dispatcher.drain()  # one token: the duress goes first
    after = await reader.read()
    assert after.depth["critical"] == critical - 1
    assert after.depth["routine"] == 30


async def test_the_alert_inbox_shows_the_backlog_and_warns_of_a_waiting_critical_alert(
    sms_world: World,
) -> None:
    world = sms_world
    _team, lapse = await one_witness(world)
    await queue_routine(world, lapse.witness_id, 12)
    await raise_alert(world, lapse, AlertKind.DURESS, "inbox-duress")
    worker = await sign_in(world, "worker")
    try:
        calm = (await worker.get("/console/alerts")).text
        world.clock.advance(timedelta(seconds=45))
        late = (await worker.get("/console/alerts")).text
    finally:
        await worker.close()

    assert 'data-depth="routine">12<' in calm
    assert re.search(r'data-depth="critical">[1-9]', calm)
    assert "data-critical-waiting" not in calm
    assert 'data-critical-waiting="45"' in late
    assert "A critical alert has waited 45 seconds to be sent." in late
