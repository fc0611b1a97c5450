"""Every form on the witness page: one domain service each, then back to the page;
a POST without the session's CSRF token changes nothing."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from server.domain.court.models import AppointmentStatus
from tests.console_witness.conftest import SignIn, audit_entries
from tests.console_witness.helpers import back_on_page, officer_on_page, staff_of
from tests.support.world import World

CALENDAR_PLAN = [
    ("mode", "calendar"),
    ("weekdays", "mon"),
    ("weekdays", "thu"),
    ("times", "18:30"),
    ("times", "10:00"),
    ("times", ""),
    ("window_minutes", "60"),
    ("grace_minutes", "30"),
    ("reminder_minutes", "15"),
]


async def test_setting_the_check_in_plan(world: World, console: SignIn) -> None:
    talk, officer, path = await officer_on_page(world, console)
    staff = await staff_of(world, "officer")

    answer = await officer.post(
        path + "/plan",
        {
            "mode": "interval",
            "every_hours": "12",
            "start_local": "08:00",
            "window_minutes": "90",
            "grace_minutes": "20",
            "reminder_minutes": "10",
        },
    )
    page = back_on_page(answer, talk.case_id, "saved")
    assert "Saved." in page
    assert "Every 12 hours from 08:00" in page
    assert 'data-plan="interval"' in page
    view = await world.services.plans.view(staff, talk.witness_id)
    assert view is not None
    assert (view.plan.every_hours, view.plan.window_minutes) == (12, 90)
    # 09:00 UTC on 5 January is 11:00 in Bucharest: next due 20:00 local = 18:00 UTC.
    assert view.current is not None
    assert view.current.due_at == datetime(2026, 1, 5, 18, 0, tzinfo=UTC)
    assert "2026-01-05 18:00 UTC · 2026-01-05 20:00 (Europe/Bucharest)" in page

    page = back_on_page(await officer.post(path + "/plan", CALENDAR_PLAN), talk.case_id, "saved")
    assert "Monday, Thursday — 10:00, 18:30" in page
    view = await world.services.plans.view(staff, talk.witness_id)
    assert view is not None
    assert (view.plan.kind, view.plan.weekdays, view.plan.times) == (
        "calendar",
        "0,3",
        "10:00,18:30",
    )
    # The form shows the plan in force.
    assert 'id="day-thu" name="weekdays" value="thu" checked' in page
    assert 'id="day-tue" name="weekdays" value="tue" >' in page
    assert 'id="mode-calendar" name="mode" value="calendar" checked' in page

    # Plans that cannot work are refused with the reason, and nothing changes.
    too_short = [
        *CALENDAR_PLAN[:-3],
        ("window_minutes", "2"),
        ("grace_minutes", "30"),
        ("reminder_minutes", "0"),
    ]
    refused = await officer.post(path + "/plan", too_short)
    assert refused.status == 422
    assert "response window" in refused.text
    no_days = {
        "mode": "calendar",
        "times": "10:00",
        "window_minutes": "60",
        "grace_minutes": "0",
        "reminder_minutes": "0",
    }
    assert (await officer.post(path + "/plan", no_days)).status == 422
    not_a_number = {
        "mode": "interval",
        "every_hours": "often",
        "window_minutes": "60",
        "grace_minutes": "0",
        "reminder_minutes": "0",
    }
    assert (await officer.post(path + "/plan", not_a_number)).status == 422
    view = await world.services.plans.view(staff, talk.witness_id)
    assert view is not None
    assert view.plan.version == 2


async def test_pausing_with_a_reason_and_resuming(world: World, console: SignIn) -> None:
    talk, officer, path = await officer_on_page(world, console)
    staff = await staff_of(world, "officer")
    back_on_page(await officer.post(path + "/plan", CALENDAR_PLAN), talk.case_id, "saved")

    # A pause needs a reason.
    assert (await officer.post(path + "/plan/pause", {"reason": " "})).status == 422

    answer = await officer.post(
        path + "/plan/pause", {"reason": "hospital stay", "until": "2026-01-12T09:30"}
    )
    page = back_on_page(answer, talk.case_id, "saved")
    assert 'data-paused="1"' in page
    assert "hospital stay" in page
    # The resume time is read on the witness's clock (Bucharest, UTC+2 in winter).
    assert "2026-01-12 07:30 UTC" in page
    assert "/plan/resume" in page
    view = await world.services.plans.view(staff, talk.witness_id)
    assert view is not None
    assert view.plan.paused_reason == "hospital stay"
    assert view.plan.paused_until == datetime(2026, 1, 12, 7, 30, tzinfo=UTC)
    assert view.current is None
    (paused,) = await audit_entries(world, action="checkin_plan.paused")
    assert paused.reason == "hospital stay"

    page = back_on_page(await officer.post(path + "/plan/resume"), talk.case_id, "saved")
    assert 'data-paused="1"' not in page
    assert "/plan/pause" in page
    view = await world.services.plans.view(staff, talk.witness_id)
    assert view is not None
    assert not view.plan.paused
    assert view.current is not None


async def test_welfare_settings_and_a_case_escalation_policy(world: World, console: SignIn) -> None:
    talk, officer, path = await officer_on_page(world, console)
    staff = await staff_of(world, "officer")

    answer = await officer.post(
        path + "/settings",
        {
            "nudge_text": "Your order is ready. Open the app.",
            "offline_after_minutes": "45",
            "silent_after_hours": "12",
        },
    )
    page = back_on_page(answer, talk.case_id, "saved")
    assert "Your order is ready. Open the app." in page
    settings = await world.services.welfare.case_settings(staff, talk.case_id)
    assert (settings.offline_after_s, settings.silent_after_s) == (45 * 60, 12 * 3600)

    # The default policy is shown, with where it comes from, and fills the form.
    assert 'data-policy-source="default"' in page
    assert (
        'id="level1-workers_on_duty" name="level1_targets" value="workers_on_duty" checked' in page
    )
    assert 'id="level3-officers" name="level3_targets" value="officers" checked' in page

    answer = await officer.post(
        path + "/policy",
        [
            ("level1_targets", "workers_on_duty"),
            ("level1_targets", "officers"),
            ("level2_minutes", "10"),
            ("level2_targets", "support_supervisors"),
            ("level2_targets", "police_supervisors"),
            ("level3_minutes", ""),
            ("repeat_minutes", "20"),
            ("ack_timeout_minutes", "45"),
        ],
    )
    page = back_on_page(answer, talk.case_id, "saved")
    assert 'data-policy-source="case"' in page
    assert "After 10 minutes" in page
    policy, source = await world.services.welfare.policy_for_case(staff, talk.case_id)
    assert source == f"case:{talk.case_id}"
    assert [level.after_minutes for level in policy.levels] == [0, 10]
    assert [(t.agency, t.on_duty_only) for t in policy.levels[0].targets] == [
        ("support", True),
        ("police", False),
    ]
    assert (policy.repeat_minutes, policy.ack_timeout_minutes) == (20, 45)

    # Levels must go forward in time and name someone; nothing changes otherwise.
    backwards = [
        ("level1_targets", "officers"),
        ("level2_minutes", "10"),
        ("level2_targets", "officers"),
        ("level3_minutes", "5"),
        ("level3_targets", "officers"),
        ("repeat_minutes", "20"),
        ("ack_timeout_minutes", "45"),
    ]
    assert (await officer.post(path + "/policy", backwards)).status == 422
    nobody = [
        ("level2_minutes", "10"),
        ("level2_targets", "officers"),
        ("repeat_minutes", "20"),
        ("ack_timeout_minutes", "45"),
    ]
    refused = await officer.post(path + "/policy", nobody)
    assert refused.status == 422
    assert "level 1" in refused.text
    policy, _source = await world.services.welfare.policy_for_case(staff, talk.case_id)
    assert len(policy.levels) == 2


async def test_scheduling_and_cancelling_court_dates(world: World, console: SignIn) -> None:
    talk, officer, path = await officer_on_page(world, console)
    assert "No court dates." in (await officer.get(path)).text

    answer = await officer.post(
        path + "/appointments",
        {
            "kind": "hearing",
            "timezone": "Europe/Berlin",
            "starts_at": "2026-02-10T09:00",
            "ends_at": "2026-02-10T12:00",
            "location_kind": "",
            "interpreter_language": "ro",
            "test_call_at": "",
            "test_call_ends_at": "",
        },
    )
    page = back_on_page(answer, talk.case_id, "scheduled")
    (hearing,) = await world.services.appointments.for_case(
        await staff_of(world, "officer"), talk.case_id
    )
    assert hearing.starts_at == datetime(2026, 2, 10, 8, 0, tzinfo=UTC)
    assert hearing.interpreter_language == "ro"
    assert f'data-appointment="{hearing.id}" data-status="scheduled"' in page
    # UTC, the witness's time and the court's time.
    assert "2026-02-10 08:00 UTC" in page
    assert "2026-02-10 10:00 (Europe/Bucharest)" in page
    assert "2026-02-10 09:00 (Europe/Berlin)" in page
    assert "Not confirmed yet" in page
    assert "end-to-end encrypted" in page

    answer = await officer.post(
        path + "/appointments",
        {
            "kind": "video_link",
            "timezone": "Europe/Berlin",
            "starts_at": "2026-02-11T09:00",
            "ends_at": "2026-02-11T10:00",
            "location_kind": "support_office",
            "test_call_at": "2026-02-10T15:00",
            "test_call_ends_at": "2026-02-10T15:30",
        },
    )
    page = back_on_page(answer, talk.case_id, "scheduled")
    assert "From the support office" in page
    assert "Test call" in page

    # Cancelling needs a reason.
    cancel = f"{path}/appointments/{hearing.id}/cancel"
    assert (await officer.post(cancel, {"reason": ""})).status == 422
    page = back_on_page(
        await officer.post(cancel, {"reason": "trial postponed"}), talk.case_id, "cancelled"
    )
    assert f'data-appointment="{hearing.id}" data-status="cancelled"' in page
    cancelled = await world.services.appointments.get(await staff_of(world, "officer"), hearing.id)
    assert cancelled.status is AppointmentStatus.CANCELLED
    (entry,) = await audit_entries(world, action="appointment.cancelled")
    assert entry.reason == "trial postponed"
    assert 'data-kind="appointment" data-what="cancelled"' in page

    # Bad input is refused with a reason.
    bad = await officer.post(
        path + "/appointments",
        {
            "kind": "hearing",
            "timezone": "Mars/Olympus",
            "starts_at": "2026-02-10T09:00",
            "ends_at": "2026-02-10T12:00",
        },
    )
    assert bad.status == 422
    past = await officer.post(
        path + "/appointments",
        {
            "kind": "hearing",
            "timezone": "Europe/Berlin",
            "starts_at": "2025-02-10T09:00",
            "ends_at": "2025-02-10T12:00",
        },
    )
    assert past.status == 422


async def test_attendance_is_recorded_once_the_appointment_has_started(
    world: World, console: SignIn
) -> None:
    talk, officer, path = await officer_on_page(world, console)
    back_on_page(
        await officer.post(
            path + "/appointments",
            {
                "kind": "hearing",
                "timezone": "UTC",
                "starts_at": "2026-01-05T10:00",
                "ends_at": "2026-01-05T11:00",
            },
        ),
        talk.case_id,
        "scheduled",
    )
    staff = await staff_of(world, "officer")
    (hearing,) = await world.services.appointments.for_case(staff, talk.case_id)
    attendance = f"{path}/appointments/{hearing.id}/attendance"
    page = (await officer.get(path)).text
    assert attendance not in page
    assert (await officer.post(attendance, {"attended": "yes"})).status == 409

    world.clock.advance(timedelta(minutes=70))
    officer = await console("officer")  # the first session went idle
    page = (await officer.get(path)).text
    assert attendance in page
    assert f"/appointments/{hearing.id}/cancel" not in page
    page = back_on_page(await officer.post(attendance, {"attended": "no"}), talk.case_id, "saved")
    assert f'data-appointment="{hearing.id}" data-status="missed"' in page
    # A missed appointment raises an alert, which shows in the timeline.
    assert 'data-kind="alert" data-what="missed_appointment"' in page
    marked = await world.services.appointments.get(staff, hearing.id)
    assert marked.status is AppointmentStatus.MISSED


async def test_a_post_without_the_csrf_token_changes_nothing(world: World, console: SignIn) -> None:
    talk, officer, path = await officer_on_page(world, console)
    staff = await staff_of(world, "officer")
    before = len(await audit_entries(world))
    attempts = {
        "/plan": CALENDAR_PLAN,
        "/plan/pause": [("reason", "x")],
        "/settings": [("offline_after_minutes", "30"), ("silent_after_hours", "2")],
        "/phone": [("number", "+40712345678")],
        "/policy": [
            ("level1_targets", "officers"),
            ("repeat_minutes", "20"),
            ("ack_timeout_minutes", "45"),
        ],
        "/appointments": [
            ("kind", "hearing"),
            ("timezone", "UTC"),
            ("starts_at", "2026-02-10T09:00"),
            ("ends_at", "2026-02-10T10:00"),
        ],
        f"/devices/{talk.witness.device_id}/revoke": [],
    }
    for suffix, fields in attempts.items():
        for csrf in (None, "not-the-token", ""):
            answer = await officer.post(path + suffix, fields, csrf=csrf)
            assert answer.status == 403, (suffix, csrf)
            assert "<svg" not in answer.text
    assert await world.services.plans.view(staff, talk.witness_id) is None
    assert await world.services.appointments.for_case(staff, talk.case_id) == []
    async with world.services.store.read() as uow:
        device = await uow.devices.get(talk.witness.device_id)
        assert await uow.witnesses.phone(talk.witness_id) is None
    assert device is not None
    assert device.revoked_at is None
    # Refused attempts wrote nothing (not even a consultation).
    assert len(await audit_entries(world)) == before
    assert re.search(r"not come from this console|expired", answer.text)
