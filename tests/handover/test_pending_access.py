"""While a handover is pending, the receiving support agency sees only the request.

Its supervisors and admins, who are not on the case's team, get the handover request
(alias, language, return date, risk level) and nothing else: every route about the case
answers as if it did not exist, lists leave it out, and its alerts do not reach them.
Staff the police assigned keep their access; acceptance restores the agency's; a case
that never had a handover is as before. The adversary is the support agency's admin
(SA of the authorization matrix) and its supervisor, probing every route of the app.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, timedelta
from typing import Any

from client_sdk import ApiError, StaffClient
from server.domain.models import Role
from tests.authz.matrix import TABLE, Actor, Row, parse
from tests.authz.recipes import RECIPES, fresh_case
from tests.authz.walker import walk
from tests.authz.world import STAFF_USERNAMES, AuthzWorld, build_authz_world
from tests.console_witness.conftest import SignIn, console
from tests.court.helpers import api_error
from tests.handover.helpers import alerts_of, receiving_team, requested
from tests.support.welfare import advance
from tests.support.world import Conversation, World, open_conversation

__all__ = ["console"]  # the console fixture, for the console probes

START = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)
#: Path parameters that name case A or one of its things.
CASE_BOUND = {
    "case_id",
    "witness_id",
    "alert_id",
    "appointment_id",
    "assessment_id",
    "attachment_id",
    "checkin_id",
    "device_id",
    "enrolment_id",
    "visit_id",
    "message_id",
}
REFUSED = {"302", "401", "403", "404", "-"}


def about_case_a(row: Row) -> bool:
    """Whether the row's request points at case A (not at a fresh case, nor case H)."""
    recipe = RECIPES[(row.method, row.route)]
    if recipe.fresh is fresh_case or recipe.bind.get("case_id") == "handover_case_id":
        return False
    return bool(CASE_BOUND & set(re.findall(r"{(\w+)}", row.route)))


@dataclass
class ActingAs(AuthzWorld):
    """The matrix's world with the SA column played by another staff member."""

    stand_in: str = ""

    def staff_id(self, actor: Actor) -> str:
        if actor is Actor.SUPPORT_ADMIN:
            return self.world.staff[self.stand_in]
        return super().staff_id(actor)


async def _sa_cells(aw: AuthzWorld, rows: list[Row]) -> dict[tuple[str, str], str]:
    only_sa = [Row(r.method, r.route, {Actor.SUPPORT_ADMIN: "?"}) for r in rows]
    walked = await walk(aw, only_sa)
    return {key: cells[Actor.SUPPORT_ADMIN] for key, cells in walked.items()}


async def test_the_receiving_agencys_staff_probe_every_case_route_and_are_told_nothing(
    world: World,
) -> None:
    aw = await build_authz_world(world)
    await world.add_staff("supportlead", "support", Role.SUPERVISOR)
    officer = world.services.store
    async with officer.read() as uow:
        police = await uow.staff.get(aw.staff_id(Actor.OFFICER))
    assert police is not None
    await world.services.handovers.request(police, aw.case_id, date(2099, 1, 15))

    rows = parse(TABLE)
    baseline = {(r.method, r.route): r.expected[Actor.SUPPORT_ADMIN] for r in rows}
    on_case_a = [r for r in rows if about_case_a(r)]
    allowed_before = [r for r in on_case_a if baseline[(r.method, r.route)] not in REFUSED]
    assert len(allowed_before) > 40, "the admin used to reach the whole case"

    as_admin = await _sa_cells(aw, on_case_a)
    lead_token = (await world.login("supportlead")).transport.token
    assert lead_token is not None
    lead_world = ActingAs(
        **{f.name: getattr(aw, f.name) for f in fields(AuthzWorld)}, stand_in="supportlead"
    )
    lead_world.tokens = {**aw.tokens, Actor.SUPPORT_ADMIN: lead_token}
    as_lead = await _sa_cells(lead_world, on_case_a)

    # Exactly what a supervisor of an agency not on the case gets (FS): a stranger.
    stranger = {(r.method, r.route): r.expected[Actor.FOREIGN_SUPERVISOR] for r in rows}
    leaks = [
        f"{who} {r.method} {r.route}: {got[(r.method, r.route)]}"
        f" (a stranger: {stranger[(r.method, r.route)]})"
        for who, got in (("admin", as_admin), ("supervisor", as_lead))
        for r in on_case_a
        if got[(r.method, r.route)] != stranger[(r.method, r.route)]
    ]
    assert leaks == [], "\n".join(leaks)

    # The request itself (the minimum) is still theirs to read and decide.
    (request,) = [
        h
        for h in await (await world.login("supportadmin")).handover_requests()
        if h["alias"] == "Sparrow"
    ]
    assert request["case_id"] is None
    assert STAFF_USERNAMES[Actor.SUPPORT_ADMIN] == "supportadmin"


async def _case_and_receiving_team(world: World) -> tuple[Conversation, StaffClient, str]:
    """Case A with its enrolled witness, the receiving agency's supervisor (signed in)
    and a second support worker's id (to name as alternate contact)."""
    world.clock.set(START)
    talk = await open_conversation(world)
    lead, alternate_id = await receiving_team(world)
    return talk, lead, alternate_id


async def _reaches(call: Awaitable[Any]) -> bool:
    """True when the call succeeds; a refusal must be a 404 (told nothing exists)."""
    try:
        await call
    except ApiError as refused:
        status = refused.status
    else:
        return True
    assert status == 404
    return False


async def _case_a_seen_by(lead: StaffClient, talk: Conversation) -> dict[str, bool]:
    """What of case A the receiving agency's supervisor reaches through the API."""
    return {
        "listed": talk.case_id in {c["case_id"] for c in await lead.cases()},
        "alerts": any(a["case_id"] == talk.case_id for a in await lead.alerts()),
        "case": await _reaches(lead.case(talk.case_id)),
        "assessments": await _reaches(lead.assessments(talk.case_id)),
        "visits": await _reaches(lead.visits(talk.case_id)),
        "handover": await _reaches(lead.handover(talk.case_id)),
    }


async def test_only_the_request_until_acceptance_then_the_case(
    world: World, console: SignIn
) -> None:
    talk, lead, alternate_id = await _case_and_receiving_team(world)
    await talk.witness.panic()
    handover = await requested(world, talk)

    before = await _case_a_seen_by(lead, talk)
    assert not any(before.values()), before
    (listed,) = await lead.handover_requests()
    assert (listed["alias"], listed["case_id"]) == ("Sparrow", None)
    page = await console("supportlead")
    caseload = await page.get("/console/")
    assert talk.case_id not in caseload.text
    assert "DE-2026-0042" not in caseload.text
    assert (await page.get(f"/console/cases/{talk.case_id}")).status == 404
    requests_page = await page.get("/console/handovers")
    assert "Sparrow" in requests_page.text
    assert talk.case_id not in requests_page.text

    await lead.accept_handover(handover["handover_id"], world.staff["worker"], alternate_id)
    after = await _case_a_seen_by(lead, talk)
    assert all(after.values()), after
    assert "DE-2026-0042" in (await page.get("/console/")).text
    assert (await page.get(f"/console/cases/{talk.case_id}")).status == 200


async def test_a_decline_keeps_the_hold_and_a_case_without_handover_is_as_before(
    world: World,
) -> None:
    talk, lead, _alternate = await _case_and_receiving_team(world)
    assert (await lead.case(talk.case_id))["case_id"] == talk.case_id, "no handover: as before"

    handover = await requested(world, talk)
    await lead.decline_handover(handover["handover_id"], "no capacity")
    assert (await api_error(lead.case(talk.case_id))).status == 404
    assert (await api_error(lead.assign(talk.case_id, world.staff["supportlead"]))).status == 404


async def test_staff_the_police_assigned_keep_their_access(world: World) -> None:
    talk, lead, _alternate = await _case_and_receiving_team(world)
    await talk.officer.assign(talk.case_id, world.staff["supportlead"])
    await requested(world, talk)
    assert (await lead.case(talk.case_id))["case_id"] == talk.case_id
    assert (await talk.worker.case(talk.case_id))["case_id"] == talk.case_id
    assert (await talk.officer.case(talk.case_id))["case_id"] == talk.case_id


async def test_an_assigned_support_worker_cannot_lift_the_hold_for_a_colleague(
    world: World,
) -> None:
    talk, lead, _alternate = await _case_and_receiving_team(world)
    await requested(world, talk)
    refused = await api_error(talk.worker.assign(talk.case_id, world.staff["supportlead"]))
    assert refused.status == 403
    assert (await api_error(lead.case(talk.case_id))).status == 404
    await talk.officer.assign(talk.case_id, world.staff["supportlead"])
    assert (await lead.case(talk.case_id))["case_id"] == talk.case_id, "the police may"


async def _told(world: World, alert_id: str) -> set[str]:
    async with world.services.store.read() as uow:
        return {n.recipient_id for n in await uow.notifications.for_alert(alert_id)}


async def test_alerts_reach_the_receiving_agencys_supervisors_only_after_acceptance(
    world: World,
) -> None:
    """The default policy tells the support supervisors at its second level: not while
    their agency has not accepted the case."""
    talk, lead, alternate_id = await _case_and_receiving_team(world)
    handover = await requested(world, talk)
    await talk.witness.panic()
    await advance(world, timedelta(minutes=16))
    (pending,) = await alerts_of(talk.officer, "panic")
    assert world.staff["supportlead"] not in await _told(world, pending["alert_id"])
    assert world.staff["worker"] in await _told(world, pending["alert_id"]), "assigned: told"

    await lead.accept_handover(handover["handover_id"], world.staff["worker"], alternate_id)
    await talk.officer.resolve(pending["alert_id"], "false_alarm", "test")
    await talk.witness.panic()
    await advance(world, timedelta(minutes=16))
    (accepted,) = [
        a for a in await alerts_of(talk.officer, "panic") if a["alert_id"] != pending["alert_id"]
    ]
    assert world.staff["supportlead"] in await _told(world, accepted["alert_id"])
