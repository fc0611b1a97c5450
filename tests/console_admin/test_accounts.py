"""Agencies and staff accounts through the console: create, roles, deactivation, TOTP.

A new TOTP secret appears exactly once — in the response that created it — and no page
ever shows a password.
"""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest

from client_sdk.errors import ApiError
from server.domain.accounts import FirstAdmin
from server.domain.audit import Actor
from server.domain.models import AgencyKind, Role
from server.errors import Conflict, InvalidInput
from tests.console_admin.conftest import Managers
from tests.console_admin.helpers import Browser, signed_in, totp_code
from tests.support.world import PASSWORD, World

NEW_PASSWORD = "a long and different passphrase"
SECRET_ON_PAGE = re.compile(r'<code class="secret">([A-Z2-7]{16,})</code>')


def one_time_secret(page: str) -> str:
    found = SECRET_ON_PAGE.search(page)
    assert found is not None, "no one-time secret on the page"
    return found.group(1)


async def every_admin_page(world: World, browser: Browser) -> list[str]:
    """The text of every administration page the browser can open."""
    texts = []
    overview = await browser.get("/console/admin")
    texts.append(overview.text)
    for agency_id in sorted(
        set(re.findall(r"/console/admin/agencies/(agn_[\w-]+)", overview.text))
    ):
        agency = await browser.get(f"/console/admin/agencies/{agency_id}")
        texts.append(agency.text)
        texts.append((await browser.get(f"/console/admin/agencies/{agency_id}/policy")).text)
        for staff_id in sorted(set(re.findall(r"/console/admin/staff/(stf_[\w-]+)", agency.text))):
            texts.append((await browser.get(f"/console/admin/staff/{staff_id}")).text)
    texts.append((await browser.get("/console/admin/audit")).text)
    return texts


async def create_account(
    browser: Browser, agency_id: str, username: str, role: str, *, totp: bool
) -> str:
    form = {
        "username": username,
        "display_name": f"{username.title()} Example",
        "role": role,
        "password": NEW_PASSWORD,
        "password_again": NEW_PASSWORD,
    }
    if totp:
        form["totp"] = "1"
    reply = await browser.post(f"/console/admin/agencies/{agency_id}/staff", form)
    return reply.text if totp else str(reply.status)


async def test_the_operator_creates_an_agency_with_its_first_admin_who_then_adds_staff(
    world: World, managers: Managers
) -> None:
    """Agencies are the platform operator's (``witnesslink admin create-agency
    --first-admin``); the agency's first admin runs it from there, alone."""
    admin = managers.admin
    assert "New agency" not in (await admin.get("/console/admin")).text
    agency, first = await world.services.accounts.create_agency_with_admin(
        Actor.system("admin-cli"),
        name="Stichting Hulp",
        country="NL",
        kind=AgencyKind.SUPPORT,
        requires_reason=True,
        first_admin=FirstAdmin("hulp-admin", "Hulp Admin", NEW_PASSWORD, with_totp=False),
    )
    assert (agency.country, agency.kind.value, agency.requires_reason) == ("NL", "support", True)
    assert (first.staff.agency_id, first.staff.role) == (agency.id, Role.ADMIN)
    # The police admin does not even see it.
    assert "Stichting Hulp" not in (await admin.get("/console/admin")).text
    assert (await admin.get(f"/console/admin/agencies/{agency.id}")).status == 403

    hulp = Browser(world)
    try:
        assert (await hulp.sign_in("hulp-admin", password=NEW_PASSWORD)).status == 303
        overview = await hulp.get("/console/admin")
        assert "Stichting Hulp" in overview.text
        assert "police agency" not in overview.text
        await hulp.get(f"/console/admin/agencies/{agency.id}")
        created = await hulp.post(
            f"/console/admin/agencies/{agency.id}/staff",
            {
                "username": "anna",
                "display_name": "Anna de Vries",
                "role": "support_worker",
                "password": NEW_PASSWORD,
                "password_again": NEW_PASSWORD,
            },
        )
        assert created.status == 303
        listing = await hulp.get(f"/console/admin/agencies/{agency.id}")
        assert "Anna de Vries" in listing.text
    finally:
        await hulp.close()

    anna = Browser(world)
    try:
        assert (await anna.sign_in("anna", password=NEW_PASSWORD)).status == 303
        assert (await anna.get("/console/")).status == 200
    finally:
        await anna.close()


async def test_an_agency_and_its_first_admin_are_made_together_or_not_at_all(
    world: World,
) -> None:
    accounts = world.services.accounts
    before = len(await accounts.list_agencies())
    with pytest.raises(InvalidInput):
        await accounts.create_agency_with_admin(
            Actor.system("admin-cli"),
            name="Half Made",
            country="NL",
            kind=AgencyKind.POLICE,
            first_admin=FirstAdmin("x", "X", "tiny"),
        )
    with pytest.raises(Conflict):
        await accounts.create_agency_with_admin(
            Actor.system("admin-cli"),
            name="Half Made",
            country="NL",
            kind=AgencyKind.POLICE,
            first_admin=FirstAdmin("officer", "Taken Username", NEW_PASSWORD),
        )
    assert len(await accounts.list_agencies()) == before


async def test_bad_account_forms_are_refused(world: World, managers: Managers) -> None:
    admin = managers.admin
    police = world.agencies["police"]
    await admin.get(f"/console/admin/agencies/{police}")
    differ = await admin.post(
        f"/console/admin/agencies/{police}/staff",
        {
            "username": "typo",
            "display_name": "Typo",
            "role": "officer",
            "password": NEW_PASSWORD,
            "password_again": NEW_PASSWORD + "!",
        },
    )
    assert differ.status == 422
    assert "not the same" in differ.text
    short = await admin.post(
        f"/console/admin/agencies/{police}/staff",
        {
            "username": "short",
            "display_name": "Short",
            "role": "officer",
            "password": "tiny",
            "password_again": "tiny",
        },
    )
    assert short.status == 422
    async with world.services.store.read() as uow:
        assert await uow.staff.get_by_username("typo") is None
        assert await uow.staff.get_by_username("short") is None
    for text in (differ.text, short.text):
        assert NEW_PASSWORD not in text
        assert "tiny" not in text


async def test_a_new_totp_secret_is_shown_once_and_never_again(
    world: World, managers: Managers
) -> None:
    admin = managers.admin
    police = world.agencies["police"]
    await admin.get(f"/console/admin/agencies/{police}")
    page = await admin.post(
        f"/console/admin/agencies/{police}/staff",
        {
            "username": "tomas",
            "display_name": "Tomas Example",
            "role": "officer",
            "password": NEW_PASSWORD,
            "password_again": NEW_PASSWORD,
            "totp": "1",
        },
    )
    assert page.status == 201
    assert page.headers.get("Cache-Control") == "no-store"
    assert "<svg" in page.text
    secret = one_time_secret(page.text)
    assert f"secret={secret}" in html.unescape(page.text)  # the otpauth:// URI
    assert "otpauth://totp/" in html.unescape(page.text)
    assert NEW_PASSWORD not in page.text

    tomas = Browser(world)
    try:
        assert (await tomas.sign_in("tomas", password=NEW_PASSWORD)).status == 401
        world.clock.advance(timedelta(seconds=31))
        reply = await tomas.sign_in("tomas", password=NEW_PASSWORD, totp=totp_code(world, secret))
        assert reply.status == 303
    finally:
        await tomas.close()

    for text in await every_admin_page(world, admin):
        assert secret not in text
        assert NEW_PASSWORD not in text
        assert PASSWORD not in text
        assert managers.admin_secret not in text
        assert managers.supervisor_secret not in text
        assert "password_hash" not in text
        assert "$argon2" not in text


async def test_a_role_change_takes_effect_at_once(world: World, managers: Managers) -> None:
    worker_browser = await signed_in(world, "officer")
    try:
        assert (await worker_browser.get("/console/admin")).status == 403
        worker = world.staff["officer"]
        await managers.admin.get(f"/console/admin/staff/{worker}")
        reply = await managers.admin.post(
            f"/console/admin/staff/{worker}/role", {"role": "supervisor"}
        )
        assert reply.status == 303
        assert reply.location == f"/console/admin/staff/{worker}?done=saved"
        page = await managers.admin.get(reply.location)
        assert 'data-role="supervisor"' in page.text
        assert "Saved." in page.text
        # The same console session now opens the administration pages.
        assert (await worker_browser.get("/console/admin")).status == 200
        async with world.services.store.read() as uow:
            entries = await uow.audit.query(action="staff.role_changed", limit=5)
        assert entries[0].subject_id == worker
        assert entries[0].actor_id == world.staff["root"]
    finally:
        await worker_browser.close()


async def test_deactivation_ends_sessions_refuses_sign_in_and_devices(
    world: World, managers: Managers
) -> None:
    worker = world.staff["worker"]
    console = await signed_in(world, "worker")
    app = await world.login("worker")
    assert await app.cases() == []
    try:
        await managers.supervisor.get(f"/console/admin/staff/{worker}")
        reply = await managers.supervisor.post(
            f"/console/admin/staff/{worker}/active", {"active": "0"}
        )
        assert reply.status == 303
        assert not (await world.services.accounts.get_staff(worker)).active
        page = await managers.supervisor.get(f"/console/admin/staff/{worker}")
        assert 'data-active="no"' in page.text

        # The open console session is over, and a new one cannot start.
        after = await console.get("/console/")
        assert after.status == 302
        assert after.location is not None
        assert after.location.startswith("/console/login")
        again = Browser(world)
        try:
            assert (await again.sign_in("worker")).status == 401
        finally:
            await again.close()
        # The phone app's device token is refused, even though it was cached.
        with pytest.raises(ApiError) as refused:
            await app.cases()
        assert refused.value.status == 401

        # Reactivated, the person can sign in again (deactivation deleted nothing).
        reply = await managers.supervisor.post(
            f"/console/admin/staff/{worker}/active", {"active": "1"}
        )
        assert reply.status == 303
        back = await signed_in(world, "worker")
        await back.close()
    finally:
        await console.close()
    async with world.services.store.read() as uow:
        actions = [e.action for e in await uow.audit.query(actor_id=world.staff["boss"], limit=50)]
    assert "staff.deactivated" in actions
    assert "staff.reactivated" in actions


async def test_a_totp_reset_shows_a_new_code_once_and_the_old_one_stops_working(
    world: World, managers: Managers
) -> None:
    old_secret = await world.add_staff("nadia", "support", Role.SUPPORT_WORKER, totp=True)
    assert old_secret is not None
    nadia = world.staff["nadia"]
    boss = managers.supervisor
    await boss.get(f"/console/admin/staff/{nadia}")
    page = await boss.post(f"/console/admin/staff/{nadia}/totp", {"enabled": "1"})
    assert page.status == 200
    assert page.headers.get("Cache-Control") == "no-store"
    assert "<svg" in page.text
    new_secret = one_time_secret(page.text)
    assert new_secret != old_secret
    assert old_secret not in page.text

    browser = Browser(world)
    try:
        world.clock.advance(timedelta(seconds=31))
        assert (await browser.sign_in("nadia", totp=totp_code(world, old_secret))).status == 401
        world.clock.advance(timedelta(seconds=31))
        assert (await browser.sign_in("nadia", totp=totp_code(world, new_secret))).status == 303
    finally:
        await browser.close()

    for text in await every_admin_page(world, boss):
        assert new_secret not in text
        assert old_secret not in text

    # Turned off, the account signs in with its password alone.
    reply = await boss.post(f"/console/admin/staff/{nadia}/totp", {"enabled": "0"})
    assert reply.status == 303
    assert not (await world.services.accounts.get_staff(nadia)).has_totp
    plain = Browser(world)
    try:
        assert (await plain.sign_in("nadia")).status == 303
    finally:
        await plain.close()
