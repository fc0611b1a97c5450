"""Who reaches the administration pages, and what a supervisor may touch.

Only supervisors and admins get in; supervisors stay inside their own agency and never
touch an admin's account or grant the admin role; nobody demotes or deactivates
themselves; a form without the session's CSRF token changes nothing.
"""

from __future__ import annotations

import pytest

from server.domain.models import Role
from tests.console_admin.conftest import Managers
from tests.console_admin.helpers import Browser, signed_in
from tests.support.world import PASSWORD, World

pytestmark = pytest.mark.usefixtures("managers")


def admin_pages(world: World) -> list[str]:
    police = world.agencies["police"]
    return [
        "/console/admin",
        f"/console/admin/agencies/{police}",
        f"/console/admin/agencies/{police}/policy",
        f"/console/admin/staff/{world.staff['officer']}",
        "/console/admin/audit",
    ]


def admin_forms(world: World) -> list[tuple[str, dict[str, str]]]:
    police, officer = world.agencies["police"], world.staff["officer"]
    return [
        (f"/console/admin/staff/{officer}/duty", {"on_duty": "0"}),
        (
            f"/console/admin/agencies/{police}/staff",
            {
                "username": "sneaky",
                "display_name": "Sneaky",
                "role": "admin",
                "password": PASSWORD,
                "password_again": PASSWORD,
            },
        ),
        (f"/console/admin/staff/{officer}/role", {"role": "admin"}),
        (f"/console/admin/staff/{officer}/active", {"active": "0"}),
        (f"/console/admin/staff/{officer}/totp", {"enabled": "1"}),
        (
            f"/console/admin/agencies/{police}/policy",
            {
                "level1_support_support_worker": "1",
                "ack_timeout_minutes": "5",
                "repeat_minutes": "5",
            },
        ),
        ("/console/admin/audit/verify", {}),
    ]


async def staff_state(world: World) -> list[tuple[str, str, bool, bool]]:
    async with world.services.store.read() as uow:
        members = []
        for agency in await uow.agencies.list():
            members += await uow.staff.list_by_agency(agency.id)
    return sorted((m.username, m.role.value, m.active, m.has_totp) for m in members)


async def audit_actions(world: World, actor_id: str) -> list[str]:
    async with world.services.store.read() as uow:
        return [e.action for e in await uow.audit.query(actor_id=actor_id, limit=1000)]


@pytest.mark.parametrize("username", ["officer", "worker"])
async def test_officers_and_support_workers_are_refused_everywhere(
    world: World, username: str
) -> None:
    browser = await signed_in(world, username)
    try:
        for path in admin_pages(world):
            reply = await browser.get(path)
            assert reply.status == 403, path
            assert "Not allowed" in reply.text
        caseload = await browser.get("/console/")
        assert 'href="/console/admin"' not in caseload.text  # no link to what they cannot open
        before = await staff_state(world)
        agencies = len(await world.services.accounts.list_agencies())
        for path, form in admin_forms(world):
            reply = await browser.post(path, form)
            assert reply.status == 403, path
        assert await staff_state(world) == before
        assert len(await world.services.accounts.list_agencies()) == agencies
        assert "audit.viewed" not in await audit_actions(world, world.staff[username])
    finally:
        await browser.close()


async def test_a_supervisor_sees_and_manages_only_their_own_agency(
    world: World, managers: Managers
) -> None:
    boss = managers.supervisor
    police, support = world.agencies["police"], world.agencies["support"]

    overview = await boss.get("/console/admin")
    assert overview.status == 200
    assert f"/console/admin/agencies/{support}" in overview.text
    assert f"/console/admin/agencies/{police}" not in overview.text
    assert "New agency" not in overview.text  # the platform operator creates agencies

    assert (await boss.get(f"/console/admin/agencies/{police}")).status == 403
    assert (await boss.get(f"/console/admin/agencies/{police}/policy")).status == 403
    assert (await boss.get(f"/console/admin/staff/{world.staff['officer']}")).status == 404

    before = await staff_state(world)
    officer = world.staff["officer"]
    assert (
        await boss.post(f"/console/admin/staff/{officer}/role", {"role": "supervisor"})
    ).status == 404
    assert (
        await boss.post(f"/console/admin/staff/{officer}/active", {"active": "0"})
    ).status == 404
    assert (await boss.post(f"/console/admin/staff/{officer}/totp", {"enabled": "0"})).status == 404
    created = await boss.post(
        f"/console/admin/agencies/{police}/staff",
        {
            "username": "planted",
            "display_name": "Planted",
            "role": "officer",
            "password": PASSWORD,
            "password_again": PASSWORD,
        },
    )
    assert created.status == 403
    policy = await boss.post(
        f"/console/admin/agencies/{police}/policy",
        {"level1_police_officer": "1", "ack_timeout_minutes": "60", "repeat_minutes": "30"},
    )
    assert policy.status == 403
    made = await boss.post(
        "/console/admin/agencies", {"name": "X", "country": "NL", "kind": "support"}
    )
    assert made.status == 404  # no page creates agencies any more
    assert await staff_state(world) == before

    # Inside their own agency they do manage accounts.
    own = await boss.get(f"/console/admin/agencies/{support}")
    assert own.status == 200
    assert "worker" in own.text
    assert '<option value="admin"' not in own.text
    worker = world.staff["worker"]
    reply = await boss.post(f"/console/admin/staff/{worker}/role", {"role": "supervisor"})
    assert reply.status == 303
    assert (await world.services.accounts.get_staff(worker)).role is Role.SUPERVISOR


async def test_a_supervisor_cannot_grant_admin_or_touch_an_admin_account(
    world: World, managers: Managers
) -> None:
    boss = managers.supervisor
    await world.add_staff("support-admin", "support", Role.ADMIN)
    their_admin = world.staff["support-admin"]
    worker = world.staff["worker"]
    before = await staff_state(world)

    assert (await boss.post(f"/console/admin/staff/{worker}/role", {"role": "admin"})).status == 403
    created = await boss.post(
        f"/console/admin/agencies/{world.agencies['support']}/staff",
        {
            "username": "second-admin",
            "display_name": "Second",
            "role": "admin",
            "password": PASSWORD,
            "password_again": PASSWORD,
        },
    )
    assert created.status == 403
    assert (await boss.get(f"/console/admin/staff/{their_admin}")).status == 403
    for path, form in [
        (f"/console/admin/staff/{their_admin}/role", {"role": "officer"}),
        (f"/console/admin/staff/{their_admin}/active", {"active": "0"}),
        (f"/console/admin/staff/{their_admin}/totp", {"enabled": "1"}),
    ]:
        assert (await boss.post(path, form)).status == 403, path
    assert await staff_state(world) == before


async def test_nobody_demotes_or_deactivates_themselves(world: World, managers: Managers) -> None:
    root, boss = world.staff["root"], world.staff["boss"]
    before = await staff_state(world)
    for browser, me in ((managers.admin, root), (managers.supervisor, boss)):
        assert (
            await browser.post(f"/console/admin/staff/{me}/role", {"role": "officer"})
        ).status == 403
        assert (
            await browser.post(f"/console/admin/staff/{me}/active", {"active": "0"})
        ).status == 403
        own_page = await browser.get(f"/console/admin/staff/{me}")
        assert f"/console/admin/staff/{me}/role" not in own_page.text
        assert f"/console/admin/staff/{me}/active" not in own_page.text
    assert await staff_state(world) == before


async def test_a_form_without_the_csrf_token_changes_nothing(
    world: World, managers: Managers
) -> None:
    before = await staff_state(world)
    agencies = len(await world.services.accounts.list_agencies())
    for path, form in admin_forms(world):
        missing = await managers.admin.post(path, form, csrf=False)
        assert missing.status == 403, path
        wrong = await managers.admin.post(path, {**form, "csrf": "not-the-token"})
        assert wrong.status == 403, path
    assert await staff_state(world) == before
    assert len(await world.services.accounts.list_agencies()) == agencies
    assert "audit.chain_verified" not in await audit_actions(world, world.staff["root"])


async def test_signed_out_visitors_are_sent_to_sign_in(world: World) -> None:
    browser = Browser(world)
    try:
        reply = await browser.get("/console/admin/audit")
        assert reply.status == 302
        assert reply.location is not None
        assert reply.location.startswith("/console/login?next=")
    finally:
        await browser.close()
