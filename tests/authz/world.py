"""The one seeded world the authorization matrix is walked in.

Two cases, each with an enrolled witness phone:

* case A (German police + Romanian support): the officer and the support worker are
  assigned; its witness is :attr:`Actor.WITNESS`. Everything the matrix asks about
  points at case A and its witness, alert, appointment, check-in and attachment.
* case B (French police + a second, unrelated Romanian support agency): its witness is
  :attr:`Actor.OTHER_WITNESS`; the French officer, the French supervisor and the
  second agency's support worker are the "agency not on case A" actors.
* case H (case A's agencies, officer and support worker, a witness not enrolled): the
  handover routes that send requests point at it, so case A never has a handover. A
  request still open holds the support agency's unassigned staff (SA) back from its
  case (``access.held_back_by_handover``); on case A that would make every later row's
  SA cell depend on the order the rows are walked in.

Around them: an officer of the German police who is not assigned to case A (a
colleague), a supervisor and an admin of the German police (not assigned either: they
reach it through their role), an admin of the Romanian support agency (not assigned),
a staff device that was revoked, and, for the console, a
new signed-in session per staff actor and cell. Staff credentials are the real ones the
SDK obtained by logging in; console sessions are started through the console's own
:class:`~server.console.sessions.ConsoleSessions`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import aiohttp

from client_sdk import StaffClient, WitnessClient
from client_sdk import _vault_header as vault_header
from client_sdk.vault import default_wrapper
from server.console.sessions import session_hash
from server.console.web import CONSOLE
from server.domain.models import AgencyKind, ConsoleSession, Role
from tests.authz.matrix import Actor
from tests.support.welfare import advance
from tests.support.world import World, open_conversation

#: Staff actors and the username each one logs in as.
STAFF_USERNAMES: dict[Actor, str] = {
    Actor.OFFICER: "officer",
    Actor.WORKER: "worker",
    Actor.COLLEAGUE: "colleague",
    Actor.FOREIGN_OFFICER: "outsider",
    Actor.FOREIGN_WORKER: "foreignworker",
    Actor.FOREIGN_SUPERVISOR: "foreignsupervisor",
    Actor.SUPERVISOR: "supervisor",
    Actor.ADMIN: "admin",
    Actor.SUPPORT_ADMIN: "supportadmin",
}


@dataclass
class AuthzWorld:
    """The seeded world, the actors' credentials, and the ids recipes point at."""

    world: World
    officer: StaffClient
    witness: WitnessClient
    case_id: str
    witness_id: str
    other_case_id: str
    other_witness_id: str
    #: Case H: where handover requests are sent (see the module's docstring).
    handover_case_id: str
    #: Bearer token per actor that has a device (revoked included).
    tokens: dict[Actor, str] = field(default_factory=dict)
    #: The witnesses' unlock credentials (kept in their phones' vault headers), which
    #: the vault's unlock routes take instead of a device token.
    unlock_tokens: dict[Actor, str] = field(default_factory=dict)
    #: A message each member of case A's conversation sent there (for re-sending).
    sent_messages: dict[Actor, str] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.world.url

    def staff_id(self, actor: Actor) -> str:
        return self.world.staff[STAFF_USERNAMES[actor]]

    async def console_session(self, actor: Actor) -> tuple[str, str]:
        """A new signed-in console session of a staff actor: its cookie and CSRF token
        (a new one per cell, so the clock moving on never idles one out)."""
        async with self.world.services.store.read() as uow:
            staff = await uow.staff.get(self.staff_id(actor))
        assert staff is not None
        cookie, session = await self.world.app[CONSOLE].sessions.start(staff, "en")
        return cookie, session.csrf

    async def expired_session(self) -> tuple[str, str]:
        """A fresh session of the officer that has been idle for longer than allowed
        (a new one per use: the console deletes an expired session when it sees it)."""
        sessions = self.world.app[CONSOLE].sessions
        cookie = secrets.token_urlsafe(32)
        now = self.world.clock.now()
        idle_since = now - sessions.idle - timedelta(minutes=1)
        csrf = secrets.token_urlsafe(24)
        session = ConsoleSession(
            id_hash=session_hash(cookie),
            staff_id=self.staff_id(Actor.OFFICER),
            csrf=csrf,
            language="en",
            created_at=idle_since,
            last_seen_at=idle_since,
            expires_at=idle_since + sessions.max_age,
        )
        async with self.world.services.store.write() as uow:
            await uow.console_sessions.insert(session)
        return cookie, csrf


async def build_authz_world(world: World) -> AuthzWorld:
    """Seed ``world`` (which has the standard cast) with every actor of the matrix."""
    world.staff_verify_each_other = False
    await world.add_agency("othersupport", kind=AgencyKind.SUPPORT, country="RO")
    await world.add_staff("foreignworker", "othersupport", Role.SUPPORT_WORKER)
    await world.add_staff("foreignsupervisor", "other", Role.SUPERVISOR)
    await world.add_staff("colleague", "police", Role.OFFICER)
    await world.add_staff("supervisor", "police", Role.SUPERVISOR)
    await world.add_staff("admin", "police", Role.ADMIN)
    await world.add_staff("supportadmin", "support", Role.ADMIN)
    await world.add_staff("leaver", "police", Role.OFFICER)
    # Whose account the admin pages are asked to change (on no case: changes to it
    # spoil nothing).
    await world.add_staff("target", "police", Role.OFFICER)

    talk = await open_conversation(world)
    outsider = await world.login("outsider")
    other_case = await outsider.create_case("FR-2026-0007", world.agencies["othersupport"])
    other_enrolment = await outsider.add_witness(
        other_case["case_id"], alias="Heron", language="ro", timezone="Europe/Bucharest"
    )
    other_witness = await world.enrol(other_enrolment, name="other-witness")

    handover_case = await talk.officer.create_case("DE-2026-0043", world.agencies["support"])
    await talk.officer.assign(handover_case["case_id"], world.staff["worker"])
    await talk.officer.add_witness(
        handover_case["case_id"], alias="Wren", language="ro", timezone="Europe/Bucharest"
    )

    seeded = AuthzWorld(
        world=world,
        officer=talk.officer,
        witness=talk.witness,
        case_id=talk.case_id,
        witness_id=talk.witness_id,
        other_case_id=other_case["case_id"],
        other_witness_id=other_enrolment.witness_id,
        handover_case_id=handover_case["case_id"],
    )
    clients: dict[Actor, StaffClient | WitnessClient] = {
        Actor.OFFICER: talk.officer,
        Actor.WORKER: talk.worker,
        Actor.FOREIGN_OFFICER: outsider,
        Actor.WITNESS: talk.witness,
        Actor.OTHER_WITNESS: other_witness,
    }
    for actor in (
        Actor.COLLEAGUE,
        Actor.FOREIGN_WORKER,
        Actor.FOREIGN_SUPERVISOR,
        Actor.SUPERVISOR,
        Actor.ADMIN,
        Actor.SUPPORT_ADMIN,
    ):
        clients[actor] = await world.login(STAFF_USERNAMES[actor])
    for actor, client in clients.items():
        token = client.transport.token
        assert token is not None
        seeded.tokens[actor] = token

    for actor, name in ((Actor.WITNESS, "witness"), (Actor.OTHER_WITNESS, "other-witness")):
        store = world.tmp / f"{name}.store"
        header, _sequence = vault_header.read(store, default_wrapper(store))
        assert header.locator is not None
        seeded.unlock_tokens[actor] = header.locator.unlock_token

    leaver = await world.login("leaver")
    assert leaver.transport.token is not None
    seeded.tokens[Actor.REVOKED] = leaver.transport.token
    me = await leaver.transport.request("GET", "/v1/me")
    await leaver.transport.request("POST", f"/v1/devices/{me['device']['device_id']}/revoke")

    await _seed_case_resources(seeded, talk.officer, talk.witness, other_witness)
    await _seed_sent_messages(seeded)
    return seeded


async def _seed_case_resources(
    seeded: AuthzWorld, officer: StaffClient, witness: WitnessClient, other: WitnessClient
) -> None:
    """Things of case A the recipes point at: devices, a check-in that is open, an alert,
    an appointment, a pending enrolment, an attachment. The clock moves here (to open
    the check-in), before any console session starts."""
    ids = seeded.ids
    world = seeded.world
    ids["case_id"] = seeded.case_id
    ids["handover_case_id"] = seeded.handover_case_id
    ids["witness_id"] = seeded.witness_id
    ids["agency_id"] = world.agencies["police"]
    ids["support_agency_id"] = world.agencies["support"]
    ids["officer_id"] = seeded.staff_id(Actor.OFFICER)
    ids["worker_id"] = seeded.staff_id(Actor.WORKER)
    ids["staff_id"] = world.staff["target"]
    for key, client in (("witness_device", witness), ("other_witness_device", other)):
        me = await client.transport.request("GET", "/v1/me")
        ids[key] = me["device"]["device_id"]
    officer_me = await officer.transport.request("GET", "/v1/me")
    ids["officer_device"] = officer_me["device"]["device_id"]
    ids["device_id"] = ids["witness_device"]

    await officer.set_checkin_plan(seeded.witness_id, every_hours=1, window_minutes=120)
    await advance(world, timedelta(hours=1, minutes=5))
    current = await witness.transport.request("GET", "/v1/checkins/current")
    ids["checkin_id"] = current["checkin"]["checkin_id"]
    ids["checkin_nonce"] = current["checkin"]["nonce"]

    await witness.panic()
    alerts: list[dict[str, Any]] = await officer.alerts()
    ids["alert_id"] = alerts[0]["alert_id"]
    starts = world.clock.now().replace(microsecond=0) + timedelta(days=30)
    ids["in_a_month"] = starts.isoformat()
    ids["in_a_month_and_two_hours"] = (starts + timedelta(hours=2)).isoformat()
    ids["in_a_month_local"] = starts.strftime("%Y-%m-%dT%H:%M")
    ids["in_a_month_and_two_hours_local"] = (starts + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    appointment = await officer.schedule_hearing(
        seeded.case_id,
        starts_at=starts,
        ends_at=starts + timedelta(hours=2),
        timezone="Europe/Berlin",
        details={"court": "Landgericht"},
    )
    ids["appointment_id"] = appointment["appointment_id"]
    enrolment = await officer.new_enrolment(seeded.case_id, seeded.witness_id, "Sparrow")
    ids["enrolment_id"] = enrolment.enrolment_id
    attachment = await witness.transport.request(
        "POST",
        f"/v1/cases/{seeded.case_id}/attachments",
        data=b"\x00" * 64,
        params={"recipients": ids["officer_device"]},
        headers={"Content-Type": "application/octet-stream"},
    )
    ids["attachment_id"] = attachment["attachment_id"]


async def _seed_sent_messages(seeded: AuthzWorld) -> None:
    """A message from each member of case A's conversation (opaque ciphertext to one
    other member: the server never reads it), so each has one of their own to re-send."""
    ids = seeded.ids
    async with aiohttp.ClientSession() as http:
        for actor, to in (
            (Actor.WITNESS, "officer_device"),
            (Actor.OFFICER, "witness_device"),
            (Actor.WORKER, "witness_device"),
        ):
            message_id = f"seed-{actor.value}-{secrets.token_hex(4)}"
            async with http.put(
                f"{seeded.url}/v1/cases/{seeded.case_id}/messages/{message_id}",
                json={"ciphertexts": [{"device_id": ids[to], "type": 0, "body": "AAAA"}]},
                headers={"Authorization": f"Bearer {seeded.tokens[actor]}"},
            ) as response:
                assert response.status == 201, await response.text()
            seeded.sent_messages[actor] = message_id
