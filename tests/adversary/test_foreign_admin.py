"""The review's attack, replayed over real HTTP: the admin of a foreign support
organisation reaches into a police agency.

Before agencies governed themselves, that admin created a supervisor inside the police
agency, signed in as it and opened a police case; other agencies' admins changed roles,
reset TOTP, deactivated staff and read the whole audit log. Here the same admin (of the
support agency that works case after case with this police agency) tries each step
through the console — with a valid session and a valid CSRF token, so only the
authorization rule stands in the way — and through the API with a valid device token.
Every attempt is refused, the database is unchanged, and each refusal is in the audit
log, visible to both agencies. Then the audit viewer is probed for leaks of another
agency's entries through filters, paging, counts and the verify button.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from client_sdk.errors import ApiError
from server.domain.agency_scope import AgencyScope
from server.domain.audit import Actor
from server.domain.models import AgencyKind, AuditEntry, Role
from tests.console_admin.helpers import Browser, signed_in
from tests.support.world import PASSWORD, World

SEQS = re.compile(r'data-seq="(\d+)"')
POLICY = {
    "levels": [{"after_minutes": 0, "notify": [{"agency": "support", "roles": ["officer"]}]}],
    "ack_timeout_minutes": 5,
    "repeat_minutes": 5,
}


async def police_state(world: World) -> Any:
    """Everything of the police agency an admin could change: accounts (with their
    sealed TOTP secrets and duty), its default policy and its playbooks."""
    police = world.agencies["police"]
    async with world.services.store.read() as uow:
        members = await uow.staff.list_by_agency(police)
        return (
            sorted(
                (
                    m.id,
                    m.username,
                    m.role.value,
                    m.active,
                    m.on_duty,
                    m.totp_secret_sealed,
                    m.totp_last_step,
                )
                for m in members
            ),
            await uow.policies.get(f"agency:{police}"),
            sorted((await uow.alert_response.playbooks(police)).items()),
            len(await uow.agencies.list()),
        )


async def denials_by(world: World, staff_id: str) -> list[AuditEntry]:
    async with world.services.store.read() as uow:
        return await uow.audit.query(actor_id=staff_id, action="access.denied", limit=100)


@pytest.fixture
async def attacker(world: World) -> AsyncIterator[Browser]:
    """The support agency's admin, signed in to the console."""
    await world.add_staff("supportadmin", "support", Role.ADMIN)
    await world.add_staff("police-admin", "police", Role.ADMIN)
    browser = await signed_in(world, "supportadmin")
    try:
        yield browser
    finally:
        await browser.close()


async def test_a_foreign_admins_console_attack_is_refused_audited_and_changes_nothing(
    world: World, attacker: Browser
) -> None:
    police, officer = world.agencies["police"], world.staff["officer"]
    # A valid CSRF token of the attacker's own session, taken from their own page.
    own = await attacker.get(f"/console/admin/agencies/{world.agencies['support']}")
    assert own.status == 200
    assert attacker.csrf
    before = await police_state(world)

    attempts = [
        (
            f"/console/admin/agencies/{police}/staff",
            {
                "username": "planted",
                "display_name": "Planted Supervisor",
                "role": "supervisor",
                "password": PASSWORD,
                "password_again": PASSWORD,
            },
            403,
            ("agency", police),
        ),
        (f"/console/admin/staff/{officer}/role", {"role": "supervisor"}, 404, ("staff", officer)),
        (f"/console/admin/staff/{officer}/totp", {"enabled": "1"}, 404, ("staff", officer)),
        (f"/console/admin/staff/{officer}/active", {"active": "0"}, 404, ("staff", officer)),
        (f"/console/admin/staff/{officer}/duty", {"on_duty": "0"}, 404, ("staff", officer)),
        (
            f"/console/admin/agencies/{police}/policy",
            {"level1_support_officer": "on", "ack_timeout_minutes": "5", "repeat_minutes": "5"},
            403,
            ("agency", police),
        ),
        (
            f"/console/admin/agencies/{police}/playbooks",
            {"kind": "panic", "steps": "Do nothing"},
            403,
            ("agency", police),
        ),
    ]
    for path, form, status, _subject in attempts:
        reply = await attacker.post(path, form)
        assert reply.status == status, path
    for path in (
        f"/console/admin/agencies/{police}",
        f"/console/admin/agencies/{police}/policy",
        f"/console/admin/agencies/{police}/playbooks",
        f"/console/admin/staff/{officer}",
    ):
        assert (await attacker.get(path)).status in {403, 404}, path
    # No page creates an agency any more.
    made = await attacker.post("/console/admin/agencies", {"name": "Mine", "country": "RO"})
    assert made.status == 404

    assert await police_state(world) == before
    async with world.services.store.read() as uow:
        assert await uow.staff.get_by_username("planted") is None
    planted = Browser(world)
    try:
        assert (await planted.sign_in("planted")).status == 401
    finally:
        await planted.close()

    # Every refused change and read is audited, naming what it was aimed at.
    denied = await denials_by(world, world.staff["supportadmin"])
    subjects = [(e.subject_kind, e.subject_id) for e in denied]
    attempted = {json.loads(e.details)["attempted"] for e in denied}
    assert {
        "staff.create",
        "staff.role_change",
        "staff.totp_reset",
        "staff.active_change",
        "staff.duty_change",
        "agency.policy_change",
        "playbook.change",
        "agency.view",
        "agency.policy_view",
        "playbook.view",
        "staff.view",
    } <= attempted
    for _path, _form, _status, subject in attempts:
        assert subject in subjects
    assert all(e.case_id is None for e in denied)

    # The police agency's own admin sees the attempts on their agency and staff.
    police_admin = await signed_in(world, "police-admin")
    try:
        log = await police_admin.get("/console/admin/audit?action=access.denied")
        shown = {int(s) for s in SEQS.findall(log.text)}
        assert {e.seq for e in denied} <= shown
    finally:
        await police_admin.close()


async def test_a_foreign_admins_api_attack_is_refused_audited_and_changes_nothing(
    world: World, attacker: Browser
) -> None:
    police = world.agencies["police"]
    client = await world.login("supportadmin")
    before = await police_state(world)
    with pytest.raises(ApiError) as refused:
        await client.set_agency_policy(police, POLICY)
    assert refused.value.status == 403
    assert await police_state(world) == before
    denied = await denials_by(world, world.staff["supportadmin"])
    assert [(e.subject_kind, e.subject_id) for e in denied] == [("agency", police)]
    assert json.loads(denied[0].details) == {"attempted": "agency.policy_change"}
    # Their own agency's policy they do set.
    await client.set_agency_policy(world.agencies["support"], POLICY)


async def test_the_audit_viewer_leaks_nothing_of_another_agency(
    world: World, attacker: Browser
) -> None:
    """A police case the support agency is not on (its support agency is another one),
    and a police officer's sign-ins: none of it reaches the support agency's admin —
    not by filter, not by paging, not in the counts, not by the verify button."""
    await world.add_agency("othersupport", kind=AgencyKind.SUPPORT, country="RO")
    officer = await world.login("officer")
    far_case = await officer.create_case("DE-FAR-1", world.agencies["othersupport"])
    far = far_case["case_id"]
    police_officer = world.staff["officer"]
    async with world.services.store.write() as uow:
        for _ in range(260):  # more than a page and a scan batch
            await world.services.audit.append(
                uow.audit, Actor.staff(police_officer), "witness.viewed", case_id=far
            )

    async with world.services.store.read() as uow:
        everything = await uow.audit.scan(0, 100_000)
        scope = await AgencyScope.load(uow, world.agencies["support"])
    foreign = {e.seq for e in everything if e.case_id == far or e.actor_id == police_officer}
    assert len(foreign) > 260

    seen: set[int] = set()
    for query in (
        "",
        f"?case={far}",
        f"?actor={police_officer}",
        "?action=witness.viewed",
        "?action=case.created",
        "?action=staff.login",
    ):
        link: str | None = "/console/admin/audit" + query
        pages = 0
        while link is not None and pages < 20:
            page = await attacker.get(link)
            assert page.status == 200
            seen |= {int(s) for s in SEQS.findall(page.text)}
            rows = [row for row in page.text.split("<tr") if "data-seq=" in row]
            assert not any(far in row for row in rows), query
            found = re.search(r'<a href="([^"]+)" rel="next">', page.text)
            link = None if found is None else found.group(1).replace("&amp;", "&")
            pages += 1
    assert seen
    assert not seen & foreign
    assert all(scope.sees(e) for e in everything if e.seq in seen)

    # The counts recorded for each read are the attacker's own pages, never more.
    async with world.services.store.read() as uow:
        reads = await uow.audit.query(
            actor_id=world.staff["supportadmin"], action="audit.viewed", limit=500
        )
    assert all(json.loads(e.details)["entries"] <= 50 for e in reads)

    # The verify button checks the whole chain but counts only the agency's entries.
    await attacker.get("/console/admin/audit")
    verified = await attacker.post("/console/admin/audit/verify")
    counted = re.search(r'data-entries="(\d+)"', verified.text)
    assert counted is not None
    async with world.services.store.read() as uow:
        now_all = await uow.audit.scan(0, 100_000)
        scope = await AgencyScope.load(uow, world.agencies["support"])
    # What existed when the chain was checked: everything before the check's own entry.
    check = next(e for e in now_all if e.action == "audit.chain_verified")
    checked = [e for e in now_all if e.seq < check.seq]
    assert int(counted.group(1)) == sum(1 for e in checked if scope.sees(e))
    assert int(counted.group(1)) < len(checked) - 260
