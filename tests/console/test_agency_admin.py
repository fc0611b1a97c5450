"""A fresh agency, run by its own admin in real Chromium: the operator makes the agency
and its first admin; the admin signs in and creates an officer; the officer signs in,
sets their own alert number and goes off duty; the admin sees neither another agency's
staff nor its audit entries."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import expect

from server.domain.accounts import FirstAdmin
from server.domain.agency_scope import AgencyScope
from server.domain.audit import Actor
from server.domain.models import AgencyKind
from tests.console.conftest import Browsing, Screenshot, submit, totp_now
from tests.support.world import World

pytestmark = pytest.mark.asyncio(loop_scope="session")

ADMIN_PASSWORD = "the fresh agency's admin passphrase"
OFFICER_PASSWORD = "the new officer's first passphrase"


async def test_a_fresh_agencys_admin_runs_it_alone_and_an_officer_sets_phone_and_duty(
    console_world: World, browsing: Browsing, screenshot: Screenshot
) -> None:
    world = console_world
    # The platform operator: `witnesslink admin create-agency --first-admin …`.
    agency, first = await world.services.accounts.create_agency_with_admin(
        Actor.system("admin-cli"),
        name="Polizei Neustadt",
        country="DE",
        kind=AgencyKind.POLICE,
        first_admin=FirstAdmin("neustadt-admin", "Nora Admin", ADMIN_PASSWORD),
    )
    assert first.totp_secret is not None

    admin = await browsing.page()
    await admin.goto("/console/")
    await admin.locator("#username").fill("neustadt-admin")
    await admin.locator("#password").fill(ADMIN_PASSWORD)
    await admin.locator("#totp").fill(totp_now(world, first.totp_secret))
    await submit(admin, admin.locator("form[action='/console/login'] button").click)

    await admin.goto("/console/admin")
    agencies = admin.locator("table.admin-agencies tbody tr")
    await expect(agencies).to_have_count(1)
    await expect(agencies).to_contain_text("Polizei Neustadt")
    await expect(admin.locator("#new-agency-heading")).to_have_count(0)

    await submit(admin, admin.get_by_role("link", name="Polizei Neustadt", exact=True).click)
    await admin.locator("#staff-username").fill("neustadt-officer")
    await admin.locator("#staff-name").fill("Otto Officer")
    await admin.locator("#staff-role").select_option("officer")
    await admin.locator("#staff-password").fill(OFFICER_PASSWORD)
    await admin.locator("#staff-password-again").fill(OFFICER_PASSWORD)
    await admin.locator("#staff-totp").uncheck()
    await submit(admin, admin.locator("#new-staff-heading ~ form button[type=submit]").click)
    await expect(admin.locator("table.admin-staff")).to_contain_text("Otto Officer")
    await screenshot(admin, "fresh-agency-staff")

    # The officer: their own number (masked once saved) and off duty.
    officer = await browsing.page()
    await officer.goto("/console/")
    await officer.locator("#username").fill("neustadt-officer")
    await officer.locator("#password").fill(OFFICER_PASSWORD)
    await submit(officer, officer.locator("form[action='/console/login'] button").click)
    await submit(officer, officer.locator("header.bar .who a[href='/console/account']").click)
    await expect(officer.locator("h1")).to_have_text("My account")
    await officer.locator("#own-phone").fill("+49 151 2345 6789")
    await submit(officer, officer.locator("form[action='/console/account/phone'] button").click)
    await expect(officer.locator(".phone-masked")).to_have_text("+4•••••••••789")
    await expect(officer.locator("main")).not_to_contain_text("2345")
    await submit(officer, officer.locator("#duty-toggle").click)
    await expect(officer.locator("[data-on-duty]")).to_have_attribute("data-on-duty", "no")
    await expect(officer.locator("header.bar .who .badge")).to_be_visible()
    await screenshot(officer, "my-account-off-duty")
    async with world.services.store.read() as uow:
        member = await uow.staff.get_by_username("neustadt-officer")
        assert member is not None
        assert member.on_duty is False
        sealed = await uow.staff.phone(member.id)
    assert sealed is not None
    assert b"2345" not in sealed

    # The admin sees the officer off duty, and nothing of any other agency.
    await admin.goto(f"/console/admin/staff/{member.id}")
    await expect(admin.locator("dd[data-on-duty]")).to_have_attribute("data-on-duty", "no")
    for path in (
        f"/console/admin/agencies/{world.agencies['police']}",
        f"/console/admin/agencies/{world.agencies['support']}/policy",
    ):
        response = await admin.goto(path)
        assert response is not None
        assert response.status == 403, path
    response = await admin.goto(f"/console/admin/staff/{world.staff['officer']}")
    assert response is not None
    assert response.status == 404

    await admin.goto("/console/admin/audit")
    shown = {
        int(seq)
        for seq in await admin.locator("tr[data-seq]").evaluate_all(
            "rows => rows.map(r => r.dataset.seq)"
        )
    }
    async with world.services.store.read() as uow:
        everything = await uow.audit.scan(0, 100_000)
        scope = await AgencyScope.load(uow, agency.id)
    assert shown
    assert shown == {e.seq for e in everything if e.seq in shown and scope.sees(e)}
    others = {world.staff[name] for name in ("officer", "worker", "outsider")}
    assert not any(e.actor_id in others for e in everything if e.seq in shown)
    await expect(admin.locator("main")).not_to_contain_text(re.compile("outsider|Officer One"))
