"""The audit log viewer: filters, paging, who sees what, reading is itself audited,
and chain verification before and after someone tampers with the table."""

from __future__ import annotations

import json
import re
from datetime import timedelta

from server.domain.agency_scope import AgencyScope
from server.domain.audit import Actor
from server.domain.models import AuditEntry
from tests.console_admin.conftest import Managers
from tests.support.world import World

SEQS = re.compile(r'data-seq="(\d+)"')
ACTIONS = re.compile(r'data-action="([^"]+)"')
NEXT = re.compile(r'<a href="([^"]+)" rel="next">')


def seqs(page: str) -> list[int]:
    return [int(s) for s in SEQS.findall(page)]


async def viewed_entries(world: World, actor_id: str) -> list[AuditEntry]:
    async with world.services.store.read() as uow:
        return await uow.audit.query(actor_id=actor_id, action="audit.viewed", limit=100)


async def test_an_admin_sees_their_agencys_entries_newest_first_and_each_read_is_audited(
    world: World, managers: Managers
) -> None:
    page = await managers.admin.get("/console/admin/audit")
    assert page.status == 200
    shown = seqs(page.text)
    assert shown == sorted(shown, reverse=True)
    assert shown[-1] == 1  # fewer than a page: everything, down to the first entry
    assert "agency.created" in page.text
    assert "staff.login_failed" not in ACTIONS.findall(page.text)
    first = shown[0]
    # Time, actor, action, subject, case, reason, details and hash prefix per entry.
    row = page.text.split(f'data-seq="{first}"')[1].split("</tr>")[0]
    assert "UTC" in row
    assert "<code" in row

    viewed = await viewed_entries(world, world.staff["root"])
    assert len(viewed) == 1
    assert json.loads(viewed[0].details) == {"entries": len(shown)}
    # The next read shows the previous one.
    again = await managers.admin.get("/console/admin/audit")
    assert "audit.viewed" in ACTIONS.findall(again.text)


async def test_filters_narrow_the_log_and_are_recorded(world: World, managers: Managers) -> None:
    admin = managers.admin
    officer = world.staff["officer"]

    by_action = await admin.get("/console/admin/audit?action=staff.created")
    assert set(ACTIONS.findall(by_action.text)) == {"staff.created"}
    # Of officer, worker, outsider, root and boss, only the police agency's own two.
    assert len(seqs(by_action.text)) == 2

    officer_staff = await world.services.accounts.get_staff(officer)
    cases = []
    for reference in ("DE-F-1", "DE-F-2"):
        case = await world.services.cases.create_case(
            officer_staff, reference=reference, support_agency_id=world.agencies["support"]
        )
        cases.append(case.id)
    async with world.services.store.write() as uow:
        await world.services.audit.append(
            uow.audit, Actor.staff(officer), "witness.viewed", case_id=cases[0], reason="hearing"
        )
        await world.services.audit.append(
            uow.audit, Actor.staff(officer), "witness.viewed", case_id=cases[1]
        )
    by_case = await admin.get(f"/console/admin/audit?case={cases[0]}")
    assert ACTIONS.findall(by_case.text)[0] == "witness.viewed"
    assert ACTIONS.findall(by_case.text).count("witness.viewed") == 1
    assert "hearing" in by_case.text
    by_actor = await admin.get(f"/console/admin/audit?actor={officer}")
    assert ACTIONS.findall(by_actor.text)[:2] == ["witness.viewed", "witness.viewed"]
    combined = await admin.get(f"/console/admin/audit?actor={officer}&action=witness.viewed")
    assert len(seqs(combined.text)) == 2

    today = world.clock.now().date()
    same_day = await admin.get(
        f"/console/admin/audit?action=witness.viewed&from={today}&to={today}"
    )
    assert len(seqs(same_day.text)) == 2
    tomorrow = today + timedelta(days=1)
    later = await admin.get(f"/console/admin/audit?action=witness.viewed&from={tomorrow}")
    assert seqs(later.text) == []
    assert "No entries match." in later.text
    earlier = await admin.get(f"/console/admin/audit?to={today - timedelta(days=1)}")
    assert seqs(earlier.text) == []
    assert (await admin.get("/console/admin/audit?from=yesterday")).status == 422

    recorded = [json.loads(e.details) for e in await viewed_entries(world, world.staff["root"])]
    assert {"case_id": cases[0], "entries": len(seqs(by_case.text))} in recorded
    assert {"actor_id": officer, "action": "witness.viewed", "entries": 2} in recorded
    assert any(d.get("since", "").startswith(str(tomorrow)) for d in recorded)


async def test_the_log_is_paged_fifty_at_a_time(world: World, managers: Managers) -> None:
    async with world.services.store.write() as uow:
        for _ in range(120):
            await world.services.audit.append(
                uow.audit,
                Actor.system("test"),
                "test.filler",
                subject=("agency", world.agencies["police"]),
            )
    first = await managers.admin.get("/console/admin/audit?action=test.filler")
    assert len(seqs(first.text)) == 50
    link = NEXT.search(first.text)
    assert link is not None
    second = await managers.admin.get(link.group(1).replace("&amp;", "&"))
    assert len(seqs(second.text)) == 50
    assert max(seqs(second.text)) < min(seqs(first.text))
    third_link = NEXT.search(second.text)
    assert third_link is not None
    third = await managers.admin.get(third_link.group(1).replace("&amp;", "&"))
    assert len(seqs(third.text)) == 20
    everything = seqs(first.text) + seqs(second.text) + seqs(third.text)
    assert len(set(everything)) == 120
    recorded = [json.loads(e.details) for e in await viewed_entries(world, world.staff["root"])]
    assert any("before_seq" in d for d in recorded)


async def test_a_supervisor_sees_only_their_agencys_cases_and_staff(
    world: World, managers: Managers
) -> None:
    support, police = world.agencies["support"], world.agencies["police"]
    worker, officer, outsider = (
        world.staff["worker"],
        world.staff["officer"],
        world.staff["outsider"],
    )
    async with world.services.store.write() as uow:
        audit = world.services.audit
        await audit.append(uow.audit, Actor.staff(outsider), "witness.viewed", case_id="case_far")
        await audit.append(uow.audit, Actor.staff(officer), "case.created", case_id="case_far")
    async with world.services.store.read() as uow:
        everything = await uow.audit.query(limit=1000)

    page = await managers.supervisor.get("/console/admin/audit")
    assert page.status == 200
    assert "your agency" in page.text
    visible = set(seqs(page.text))
    for entry in everything:
        about_support = (entry.subject_kind, entry.subject_id) in {
            ("staff", worker),
            ("staff", world.staff["boss"]),
            ("agency", support),
        } or entry.actor_id in {worker, world.staff["boss"]}
        if about_support:
            assert entry.seq in visible, entry.action
        if entry.case_id == "case_far" or entry.subject_id in {officer, outsider, police}:
            assert entry.seq not in visible, entry.action
    # A filter cannot reach outside the agency either.
    far = await managers.supervisor.get("/console/admin/audit?case=case_far")
    assert seqs(far.text) == []


async def test_a_supervisor_sees_entries_of_their_agencys_cases(
    world: World, managers: Managers
) -> None:
    officer = await world.login("officer")
    case = await officer.create_case("DE-2026-0100", world.agencies["support"])
    page = await managers.supervisor.get(f"/console/admin/audit?case={case['case_id']}")
    assert "case.created" in ACTIONS.findall(page.text)


async def test_chain_verification_reports_intact_then_the_broken_entry(
    world: World, managers: Managers
) -> None:
    admin = managers.admin
    await admin.get("/console/admin/audit")
    async with world.services.store.read() as uow:
        head = await uow.audit.head()
    assert head is not None
    reply = await admin.post("/console/admin/audit/verify")
    assert reply.status == 200
    intact = re.search(r'data-chain="intact" data-entries="(\d+)"', reply.text)
    assert intact is not None
    # Every entry is checked, but only the agency's own are counted: the check does not
    # tell one agency how much the others do.
    async with world.services.store.read() as uow:
        root = await uow.staff.get(world.staff["root"])
        assert root is not None
        scope = await AgencyScope.load(uow, root.agency_id)
        everything = await uow.audit.scan(0, 10_000)
    assert int(intact.group(1)) == sum(1 for e in everything if e.seq <= head[0] and scope.sees(e))
    assert int(intact.group(1)) < head[0]
    assert f"The chain is intact: {intact.group(1)} entries verified." in reply.text

    # Someone with raw database access removes the guard and edits entry 3.
    async with world.services.db.transaction() as conn:
        if conn.dialect.is_postgres:
            await conn.execute("DROP TRIGGER audit_log_append_only ON audit_log")
        else:
            await conn.execute("DROP TRIGGER audit_log_no_update")
            await conn.execute("DROP TRIGGER audit_log_no_delete")
        assert await conn.execute("UPDATE audit_log SET details = '{}' WHERE seq = 3") == 1

    broken = await admin.post("/console/admin/audit/verify")
    assert broken.status == 200
    assert 'data-chain="broken" data-broken-at="3"' in broken.text
    assert "The chain is broken at entry 3:" in broken.text
    assert "content does not match its hash" in broken.text
    assert 'role="alert"' in broken.text

    # A supervisor's check says the same.
    await managers.supervisor.get("/console/admin/audit")
    theirs = await managers.supervisor.post("/console/admin/audit/verify")
    assert 'data-broken-at="3"' in theirs.text

    async with world.services.store.read() as uow:
        checks = await uow.audit.query(action="audit.chain_verified", limit=10)
    results = [json.loads(e.details) for e in reversed(checks)]
    assert [r["ok"] for r in results] == [True, False, False]
    assert results[1]["first_broken_seq"] == 3
