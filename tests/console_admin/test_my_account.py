"""My account: a staff member's own alert number (sealed, validated, shown masked) and
on-duty state; an agency's managers put their own staff on or off duty; the operator's
review of what cross-agency administration left behind."""

from __future__ import annotations

import json

from server.domain.agency_scope import review_governance
from server.domain.audit import Actor
from server.domain.models import Role
from tests.console_admin.conftest import Managers
from tests.console_admin.helpers import signed_in
from tests.support.world import World

NUMBER = "+40 712 345 678"


async def test_a_staff_member_sets_their_own_number_sealed_and_shown_masked(
    world: World,
) -> None:
    browser = await signed_in(world, "worker")
    try:
        empty = await browser.get("/console/account")
        assert empty.status == 200
        assert 'data-phone=""' in empty.text
        saved = await browser.post("/console/account/phone", {"number": NUMBER})
        assert saved.status == 303
        page = await browser.get("/console/account")
        assert 'data-phone="+4•••••••678"' in page.text
        assert "712" not in page.text.replace("712 345 678", "")  # only the example
        async with world.services.store.read() as uow:
            sealed = await uow.staff.phone(world.staff["worker"])
        assert sealed is not None
        assert b"712345678" not in sealed
        assert world.services.phones.open(sealed) == "+40712345678"

        bad = await browser.post("/console/account/phone", {"number": "0712 345"})
        assert bad.status == 422
        erased = await browser.post("/console/account/phone", {"erase": "1"})
        assert erased.status == 303
        async with world.services.store.read() as uow:
            assert await uow.staff.phone(world.staff["worker"]) is None
            entries = await uow.audit.query(actor_id=world.staff["worker"], limit=20)
        actions = [e.action for e in entries]
        assert "staff.phone_changed" in actions
        assert "staff.phone_erased" in actions
        assert all("712" not in e.details for e in entries)
    finally:
        await browser.close()


async def test_going_off_duty_in_the_console_is_what_the_sdk_sees(world: World) -> None:
    browser = await signed_in(world, "worker")
    app = await world.login("worker")
    try:
        await browser.get("/console/account")
        off = await browser.post("/console/account/duty", {"on_duty": "0"})
        assert off.status == 303
        page = await browser.get("/console/account")
        assert 'data-on-duty="no"' in page.text
        assert (await world.services.accounts.get_staff(world.staff["worker"])).on_duty is False
        await app.set_on_duty(True)  # the SDK's own switch, same state
        again = await browser.get("/console/account")
        assert 'data-on-duty="yes"' in again.text
    finally:
        await browser.close()


async def test_a_supervisor_puts_their_own_agencys_staff_off_duty_never_another_agencys(
    world: World, managers: Managers
) -> None:
    boss = managers.supervisor  # supervisor of the support agency
    worker, officer = world.staff["worker"], world.staff["officer"]
    await boss.get(f"/console/admin/staff/{worker}")
    done = await boss.post(f"/console/admin/staff/{worker}/duty", {"on_duty": "0"})
    assert done.status == 303
    assert (await world.services.accounts.get_staff(worker)).on_duty is False
    page = await boss.get(f"/console/admin/staff/{worker}")
    assert 'data-on-duty="no"' in page.text

    refused = await boss.post(f"/console/admin/staff/{officer}/duty", {"on_duty": "0"})
    assert refused.status == 404
    assert (await world.services.accounts.get_staff(officer)).on_duty is True
    async with world.services.store.read() as uow:
        denied = await uow.audit.query(
            actor_id=world.staff["boss"], action="access.denied", limit=10
        )
    assert [(e.subject_id, json.loads(e.details)) for e in denied] == [
        (officer, {"attempted": "staff.duty_change"})
    ]


async def test_the_operator_review_finds_what_cross_agency_admins_left_behind(
    world: World,
) -> None:
    """Old entries (from before agencies governed themselves) of a support admin who
    planted a supervisor in the police agency; and an agency without an admin."""
    await world.add_staff("supportadmin", "support", Role.ADMIN)
    await world.add_staff("policeadmin", "police", Role.ADMIN)
    await world.add_staff("planted", "police", Role.SUPERVISOR)
    attacker, planted = world.staff["supportadmin"], world.staff["planted"]
    async with world.services.store.write() as uow:
        audit = world.services.audit
        await audit.append(
            uow.audit,
            Actor.staff(attacker),
            "staff.created",
            subject=("staff", planted),
            details={"agency_id": world.agencies["police"], "role": "supervisor"},
        )
        await audit.append(
            uow.audit, Actor.staff(attacker), "staff.deactivated", subject=("staff", planted)
        )
        await audit.append(
            uow.audit, Actor.staff(attacker), "staff.totp_reset", subject=("staff", attacker)
        )
    review = await review_governance(world.services.store)
    assert [(c.action, c.actor_id, c.subject) for c in review.changes] == [
        ("staff.created", attacker, ("staff", planted)),
        ("staff.deactivated", attacker, ("staff", planted)),
    ]
    assert review.changes[0].subject_agency_id == world.agencies["police"]
    assert world.agencies["other"] in review.without_admin
    assert world.agencies["police"] not in review.without_admin
