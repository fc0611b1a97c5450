"""A lapse becomes an alert, and the alert keeps escalating — in the app and by SMS
through the real twilio client — until someone acknowledges and later resolves it."""

from __future__ import annotations

from datetime import timedelta

from server.domain.welfare_models import AlertStatus
from tests.support.welfare import (
    OFFICER_PHONE,
    SUPERVISOR_PHONE,
    WITNESS_PHONE,
    WORKER_PHONE,
    advance,
    advance_to,
    sms_to,
    with_phones_and_supervisor,
)
from tests.support.world import World, open_conversation

FORBIDDEN_IN_SMS = ["Sparrow", "DE-2026-0042", "police agency", "support agency", "other agency"]


async def test_lapse_alert_escalation_acknowledgement_expiry_and_resolution(
    sms_world: World,
) -> None:
    world = sms_world
    talk = await open_conversation(world)
    await with_phones_and_supervisor(world, talk)
    plan = await talk.officer.set_checkin_plan(
        talk.witness_id,
        weekdays=["mon", "thu"],
        times=["10:00"],
        window_minutes=60,
        grace_minutes=30,
    )
    due = plan["current"]["due_at"]
    # Monday 2026-01-05 09:00 UTC is 11:00 in Bucharest: the first prompt is Thursday
    # 10:00 local, 08:00 UTC.
    assert due == "2026-01-08T08:00:00.000Z"

    # The phone reports in on Wednesday morning, then goes quiet.
    await advance_to(world, world.clock.now().replace(day=7, hour=6, minute=0))
    await talk.witness.heartbeat()
    await advance_to(world, world.clock.now().replace(day=8, hour=8, minute=0))
    # The phone has not been online for a day: a neutral SMS nudge goes out.
    (nudge,) = sms_to(world, WITNESS_PHONE)
    assert all(word not in nudge for word in FORBIDDEN_IN_SMS)
    assert sms_to(world, WORKER_PHONE) == []

    # Window (60 min) and grace (30 min) pass without an answer.
    await advance(world, timedelta(minutes=89))
    assert await talk.worker.alerts() == []
    await advance(world, timedelta(minutes=1))
    (alert,) = await talk.worker.alerts()
    assert (alert["kind"], alert["severity"], alert["level"]) == ("missed_checkin", "high", 1)
    (level_1,) = sms_to(world, WORKER_PHONE)
    assert "1" in level_1
    assert sms_to(world, SUPERVISOR_PHONE) == []

    # Level 2 after 15 minutes: the support organisation's supervisor.
    await advance(world, timedelta(minutes=14))
    assert sms_to(world, SUPERVISOR_PHONE) == []
    await advance(world, timedelta(minutes=1))
    assert len(sms_to(world, SUPERVISOR_PHONE)) == 1
    assert (await talk.worker.alert(alert["alert_id"]))["level"] == 2

    # The support worker acknowledges: escalation stops (no level 3 at +30 minutes).
    taken = await talk.worker.acknowledge(alert["alert_id"])
    assert taken["status"] == "acknowledged"
    await advance(world, timedelta(minutes=30))
    assert sms_to(world, OFFICER_PHONE) == []

    # The acknowledgement expires (60 minutes) without a resolution: escalation resumes.
    await advance(world, timedelta(minutes=30))
    assert len(sms_to(world, OFFICER_PHONE)) == 1
    resumed = await talk.officer.alert(alert["alert_id"])
    assert (resumed["status"], resumed["level"]) == ("open", 3)

    # Resolving needs an outcome and a note; then everything stops.
    closed = await talk.officer.resolve(
        alert["alert_id"], "home visit: witness safe", "Phone had been confiscated by a relative."
    )
    assert closed["status"] == AlertStatus.RESOLVED.value
    sent_before = len(world.twilio.sent) if world.twilio else 0
    await advance(world, timedelta(hours=3))
    assert world.twilio is not None
    assert len(world.twilio.sent) == sent_before
    detail = await talk.officer.alert(alert["alert_id"])
    assert detail["note"] == "Phone had been confiscated by a relative."
    assert {n["recipient_id"] for n in detail["notifications"] if n["channel"] == "sms"} == {
        world.staff["worker"],
        world.staff["supervisor"],
        world.staff["officer"],
    }

    for body in (m.body for m in world.twilio.sent):
        assert all(word not in body for word in FORBIDDEN_IN_SMS), body
