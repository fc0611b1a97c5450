"""Console sessions at a desk and as an on-call screen, on SQLite and PostgreSQL.

A desk session ends after the idle time; an on-call screen (mode "shift") ignores idleness
and ends with the shift, and every change posted from it needs the password again (a
fresh sign-in), while reading, giving a consultation reason and choosing the language do
not. The browser side is in tests/console/test_oncall_screen.py.
"""

from __future__ import annotations

from datetime import timedelta

import aiohttp

from server.console.sessions import COOKIE, DESK, SHIFT, ConsoleSessions
from server.console.web import CONSOLE
from server.domain.models import Staff
from server.domain.welfare_models import AlertStatus
from tests.support.world import PASSWORD, World, open_conversation

IDLE = timedelta(minutes=15)
SHIFT_LENGTH = timedelta(hours=12)


async def staff_member(world: World, name: str) -> Staff:
    async with world.services.store.read() as uow:
        staff = await uow.staff.get(world.staff[name])
    assert staff is not None
    return staff


def sessions(world: World) -> ConsoleSessions:
    return ConsoleSessions(
        world.services.store, world.services.audit, world.clock, idle=IDLE, shift=SHIFT_LENGTH
    )


async def test_an_on_call_screen_outlasts_the_idle_time_and_ends_with_the_shift(
    world: World,
) -> None:
    console = sessions(world)
    worker = await staff_member(world, "worker")
    desk_cookie, desk = await console.start(worker, "en")
    screen_cookie, screen = await console.start(worker, "en", mode=SHIFT)
    assert (desk.mode, screen.mode) == (DESK, SHIFT)
    assert screen.expires_at == world.clock.now() + SHIFT_LENGTH
    async with world.services.store.read() as uow:
        stored = await uow.console_sessions.get(screen.id_hash)
    assert stored is not None
    assert stored.mode == SHIFT  # the mode is stored, not just remembered

    assert console.ending(desk).reason == "idle"
    assert console.ending(screen).reason == "expiry"
    world.clock.advance(IDLE + timedelta(seconds=1))
    assert await console.resolve(desk_cookie, touch=False) is None
    still = await console.resolve(screen_cookie, touch=False)
    assert still is not None
    assert still.on_call_screen

    world.clock.advance(SHIFT_LENGTH - IDLE - timedelta(seconds=2))
    assert await console.resolve(screen_cookie, touch=False) is not None
    world.clock.advance(timedelta(seconds=1))
    assert await console.resolve(screen_cookie, touch=False) is None


async def test_the_sign_out_warning_comes_minutes_before_at_a_desk_and_half_an_hour_on_shift(
    world: World,
) -> None:
    console = sessions(world)
    assert console.warn_before(DESK) == timedelta(minutes=3)
    assert console.warn_before(SHIFT) == timedelta(minutes=30)
    short = ConsoleSessions(
        world.services.store, world.services.audit, world.clock, idle=timedelta(minutes=3)
    )
    assert short.warn_before(DESK) == timedelta(minutes=1)  # never the whole idle time


async def test_every_change_from_an_on_call_screen_needs_the_password_again(
    world: World,
) -> None:
    talk = await open_conversation(world)
    await talk.witness.panic()
    (alert,) = await talk.worker.alerts()
    worker = await staff_member(world, "worker")
    cookie, session = await world.app[CONSOLE].sessions.start(worker, "en", mode=SHIFT)
    csrf = {"csrf": session.csrf}
    acknowledge = f"{world.url}/console/alerts/{alert['alert_id']}/acknowledge"
    async with aiohttp.ClientSession(cookies={COOKIE: cookie}) as http:
        # Reading stays open, and so do the language and a consultation reason.
        async with http.get(f"{world.url}/console/alerts", allow_redirects=False) as page:
            assert page.status == 200
            assert 'name="password"' in await page.text()
        async with http.post(
            f"{world.url}/console/language",
            data={**csrf, "language": "ro", "next": "/console/"},
            allow_redirects=False,
        ) as chosen:
            assert chosen.status == 303
        async with http.post(
            f"{world.url}/console/cases/{talk.case_id}/consult",
            data={**csrf, "reason": "on-call check"},
            allow_redirects=False,
        ) as consulted:
            assert consulted.status == 200

        # Any change without the password, or with a wrong one, is refused.
        async with http.post(
            f"{world.url}/console/cases/{talk.case_id}/settings",
            data={**csrf, "offline_after_minutes": "30", "silent_after_hours": "24"},
            allow_redirects=False,
        ) as settings:
            assert settings.status == 401
        for form in (csrf, {**csrf, "password": "wrong password"}):
            async with http.post(acknowledge, data=form, allow_redirects=False) as refused:
                assert refused.status == 401
                assert "Traceback" not in await refused.text()
        async with world.services.store.read() as uow:
            still_open = await uow.alerts.get(alert["alert_id"])
        assert still_open is not None
        assert still_open.status is AlertStatus.OPEN

        async with http.post(
            acknowledge, data={**csrf, "password": PASSWORD}, allow_redirects=False
        ) as done:
            assert done.status == 303
    async with world.services.store.read() as uow:
        taken = await uow.alerts.get(alert["alert_id"])
    assert taken is not None
    assert (taken.status, taken.acknowledged_by) == (AlertStatus.ACKNOWLEDGED, worker.id)


async def test_a_desk_session_acts_without_the_password_as_before(world: World) -> None:
    talk = await open_conversation(world)
    await talk.witness.panic()
    (alert,) = await talk.worker.alerts()
    worker = await staff_member(world, "worker")
    cookie, session = await world.app[CONSOLE].sessions.start(worker, "en")
    async with (
        aiohttp.ClientSession(cookies={COOKIE: cookie}) as http,
        http.post(
            f"{world.url}/console/alerts/{alert['alert_id']}/acknowledge",
            data={"csrf": session.csrf},
            allow_redirects=False,
        ) as done,
    ):
        assert done.status == 303
