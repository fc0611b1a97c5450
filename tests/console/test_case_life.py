"""The whole life of one case, driven through the console in real Chromium (issue 11).

Every step a person does in the console is done in the browser: the police officer
opens the case, adds the witness, sets the SMS number, asks for the handover, records
the assessment and applies the check-in plan, plans and schedules the visit, records it,
schedules the hearing, marks it attended and closes the case; the support organisation's
lead accepts the handover in a browser of their own. What happens on devices goes
through the real SDK: the officer's staff app makes the enrolment code and vouches for
the new contacts, the visitor's staff app tells the phone who comes and when and starts
the door check, the phone enrols, shows the visit and the door code, reads the outcome,
and is wiped on its first connection after the case was closed. Then the clock passes the
retention period, the scheduler's sweep erases the case, a byte scan of the database
files finds none of its personal data and ``witnesslink admin verify-audit`` passes.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.async_api import Dialog, Page, expect

from client_sdk import StaffClient, VaultWiped, WitnessClient
from client_sdk.events import DoorAnswered, DoorCodeShown
from client_sdk.visits import VisitError
from scheduler.jobs import WelfareSweeps
from server.domain.models import Role
from server.domain.visit_models import VisitOutcome, VisitStatus
from tests.casework.test_retention import encodings
from tests.console.conftest import Browsing, Screenshot, nav_link, sign_in, state_badge, submit
from tests.console.helpers import accept_handover, record_assessment, request_handover
from tests.support.kdf import WITNESS_PIN
from tests.support.world import World, finish_in_person
from tests.vault.helpers import open_phone
from tests.welfare.helpers import audit_entries, next_event, start_and_connect
from wire.case_outcome import outcome_message
from wire.door import door_code, new_door_nonce

pytestmark = pytest.mark.asyncio(loop_scope="session")

START = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)
REFERENCE = "DE-2026-LIFE-0777"
ALIAS = "Wrenfeather"
NUMBER = "+40712345987"
NOTES = "NOTES-UNCLE-OWES-THE-RECRUITER-4000"
CONCERNS = "CONCERNS-A-CAR-WAITED-OUTSIDE-7"
COURT = "COURT-LANDGERICHT-ROOM-B129"
# The visit, in the witness's time (Bucharest, UTC+3 in May) and in UTC.
VISIT_FROM, VISIT_UNTIL = "2026-05-06T10:00", "2026-05-06T12:00"
VISIT_START = datetime(2026, 5, 6, 7, 0, tzinfo=UTC)
# The hearing, in the court's time (Berlin, UTC+2 in May).
HEARING_START = datetime(2026, 5, 20, 8, 0, tzinfo=UTC)


async def _leave_the_console(page: Page) -> None:
    """Close the console page before the clock jumps: once the session has gone idle the
    page's own script leads to the sign-in page, and that navigation would race the
    test's next one."""
    await page.goto("about:blank")


async def test_the_whole_life_of_one_case_in_the_console(
    console_world: World, page: Page, browsing: Browsing, screenshot: Screenshot
) -> None:
    world = console_world
    world.clock.set(START)
    await world.add_staff("supportlead", "support", Role.SUPERVISOR)
    await world.add_staff("alternate", "support", Role.SUPPORT_WORKER)
    # The staff apps (each compares safety numbers with the others as they sign in).
    officer_app = await world.login("officer")
    worker_app = await world.login("worker")
    alternate_app = await world.login("alternate")

    # 1. Open the case from an empty caseload, add the witness, enrol the phone.
    await sign_in(page, "officer")
    await expect(page.locator("#caseload-rows")).to_contain_text("Nobody here.")
    await page.fill("#case-reference", REFERENCE)
    await page.select_option("#case-support", world.agencies["support"])
    await submit(page, page.locator("form[data-form='open-case'] button[type='submit']").click)
    await expect(page.locator("p.notice")).to_contain_text("Case opened")
    case_id = _case_id(page.url)
    case_page = f"/console/cases/{case_id}"
    await page.fill("#witness-alias", ALIAS)
    await page.select_option("#witness-language", "ro")
    await submit(page, page.locator("form[data-form='add-witness'] button[type='submit']").click)
    await expect(page.locator("h1")).to_contain_text(ALIAS)
    await expect(page.locator("[data-enrolment]")).to_have_attribute("data-enrolment", "none")

    detail = await officer_app.case(case_id)
    witness_id = str(detail["witness"]["witness_id"])
    enrolment = await officer_app.new_enrolment(case_id, witness_id, ALIAS)
    await page.reload()
    await expect(page.locator("[data-enrolment]")).to_have_attribute("data-enrolment", "issued")
    pending = await world.start_enrolment(enrolment, name="phone")
    phone_store = world.tmp / "phone.store"
    phone = await finish_in_person(officer_app, enrolment, pending)
    await page.reload()
    await expect(page.locator("[data-enrolment]")).to_have_attribute("data-enrolment", "enrolled")

    await page.fill("#witness-phone", NUMBER)
    await submit(page, page.locator("#witness-phone ~ div button[type='submit']").click)
    await expect(page.locator("[data-phone-hint]")).to_have_attribute("data-phone-hint", "••87")
    assert NUMBER[4:] not in await page.content()
    await screenshot(page, "1-enrolled")

    # 2. The handover: return date, consent, request; the support lead accepts.
    await request_handover(page, case_id, "2026-06-01", "in_person")
    await expect(page.locator("[data-consents]")).to_contain_text("Given in person")

    support = await browsing.page()
    await sign_in(support, "supportlead")
    await nav_link(support, "Handover requests").click()
    request_row = support.locator("tr[data-status='requested']")
    await expect(request_row).to_contain_text(ALIAS)
    await expect(request_row).to_contain_text("2026-06-01")
    await expect(request_row).to_contain_text("Not assessed")
    shown = await support.content()
    for hidden in (REFERENCE, case_id, NUMBER, "Officer"):
        assert hidden not in shown, f"{hidden} shown to the support organisation before accepting"
    await screenshot(support, "2-handover-request")
    await accept_handover(support, request_row, "Worker", "Alternate")
    await expect(support.locator("tr[data-status='accepted']")).to_contain_text(ALIAS)

    await page.reload()
    await expect(page.locator("[data-handover-state]")).to_have_attribute(
        "data-handover-state", "accepted"
    )
    await expect(page.locator("[data-contacts]")).to_contain_text("Worker (primary)")
    await expect(page.locator("[data-contacts]")).to_contain_text("Alternate (alternate)")
    # The server put both contacts on the team; the officer's app, which compared
    # safety numbers with them, signs them into the roster the phone trusts.
    for contact in ("worker", "alternate"):
        await officer_app.vouch(case_id, f"staff:{world.staff[contact]}")

    # 3. The risk and needs assessment; the default check-in plan it offers.
    await record_assessment(page, case_id, "high", ["Threats from the network", "Debt"], NOTES)
    await expect(page.locator("tr[data-level='high']")).to_contain_text(
        "Threats from the network, Debt"
    )
    assert NOTES not in await page.content()
    await expect(page.locator("[data-visit-plan]")).to_have_attribute("data-visit-plan", "14")
    await expect(page.locator("[data-checkin-suggestion]")).to_contain_text("every 24 hours")
    await submit(page, page.get_by_role("button", name="Apply the default check-in plan").click)
    await expect(page.locator("[data-checkin-suggestion]")).to_have_count(0)
    await nav_link(page, "Caseload").click()
    await expect(state_badge(page, case_id)).to_have_attribute("data-state", "ok")
    await expect(page.locator(f"tr[data-case='{case_id}'] [data-handover]")).to_have_text(
        "Accepted"
    )
    await screenshot(page, "3-caseload-assessed")
    async with support.expect_navigation():
        await support.reload()
    await expect(support.locator("tr[data-status='accepted']")).to_contain_text("High")

    # 4. The visit: the plan follows the level; scheduled in the console, with the
    # primary contact visiting; their app tells the phone who comes and when.
    await page.goto(case_page)
    await submit(page, page.get_by_role("button", name="Save the plan").click)
    await expect(page.locator("[data-visit-plan]")).to_have_attribute("data-visit-plan", "14")
    await page.select_option("#visit-visitor", label="Worker")
    await page.fill("#visit-start", VISIT_FROM)
    await page.fill("#visit-end", VISIT_UNTIL)
    await submit(page, page.get_by_role("button", name="Schedule the visit").click)
    visit_row = page.locator("tr[data-visit]")
    await expect(visit_row).to_have_attribute("data-status", "scheduled")
    visit_id = str(await visit_row.get_attribute("data-visit"))
    await worker_app.sync()  # the visit event: the worker's app sends the notice
    await phone.sync()
    (upcoming,) = await phone.upcoming_visits()
    assert (upcoming.visit_id, upcoming.visitor_name) == (visit_id, "Worker")
    assert (upcoming.window_start, upcoming.window_end) == (
        VISIT_START,
        VISIT_START + timedelta(hours=2),
    )

    await _leave_the_console(page)
    world.clock.set(VISIT_START + timedelta(minutes=20))
    shown_at_the_door = await worker_app.at_the_door(visit_id)
    await phone.sync()
    assert await phone.door_code(visit_id) == shown_at_the_door
    assert any(
        isinstance(e, DoorCodeShown) and e.code == shown_at_the_door for e in phone.pending_events()
    )
    await _another_team_members_device_is_not_the_visitor(
        alternate_app, phone, visit_id, witness_id, shown_at_the_door
    )
    # The visitor's app is online at the door and sees the witness's answer.
    await start_and_connect(world, worker_app)
    await phone.answer_door(visit_id, is_the_person=True)
    answered = await next_event(worker_app, DoorAnswered)
    assert (answered.visit_id, answered.answer) == (visit_id, "confirmed")

    world.clock.set(VISIT_START + timedelta(minutes=95))
    await sign_in(page, "officer", start=case_page)  # a new day: signed out while idle
    record = page.locator(f"form[action='/console/cases/{case_id}/visits/{visit_id}/record']")
    await record.get_by_label("Outcome").select_option("held")
    await record.get_by_label("Seen alone").check()
    await record.get_by_label("Concerns (sealed; every reading is recorded)").fill(CONCERNS)
    await submit(page, record.get_by_role("button", name="Record the visit").click)
    await expect(visit_row).to_have_attribute("data-status", "recorded")
    await expect(visit_row).to_contain_text("Seen alone")
    assert CONCERNS not in await page.content()
    visit = (await worker_app.visit(visit_id))["visit"]
    assert (visit["status"], visit["outcome"], visit["seen_alone"]) == (
        VisitStatus.RECORDED.value,
        VisitOutcome.HELD.value,
        True,
    )
    await screenshot(page, "4-visit-recorded")
    await nav_link(page, "Caseload").click()  # the visit counts as contact
    await expect(page.locator(f"tr[data-case='{case_id}']")).to_contain_text("2026-05-06 08:35 UTC")

    # 5. The hearing, scheduled in the console; the private details go from the
    # officer's app to the phone, which confirms; marked attended on the day.
    await page.goto(case_page)
    await page.fill("#apt-timezone", "Europe/Berlin")
    await page.fill("#apt-start", "2026-05-20T10:00")
    await page.fill("#apt-end", "2026-05-20T12:00")
    await submit(page, page.locator("form.appointment-form button[type='submit']").click)
    hearing = page.locator("tr[data-appointment]")
    await expect(hearing).to_have_attribute("data-status", "scheduled")
    await expect(hearing).to_contain_text("2026-05-20 08:00 UTC")
    hearing_id = str(await hearing.get_attribute("data-appointment"))
    await officer_app.send_appointment_details(case_id, hearing_id, {"court": COURT})
    await phone.sync()
    (on_the_phone,) = await phone.upcoming()
    assert (on_the_phone.appointment_id, on_the_phone.starts_at, on_the_phone.details) == (
        hearing_id,
        HEARING_START,
        {"court": COURT},
    )
    await phone.confirm(hearing_id)
    await page.reload()
    await expect(hearing).to_contain_text("Confirmed")
    assert COURT not in await page.content()
    assert COURT.encode() not in _database_bytes(world)  # end to end: never on the server
    await _leave_the_console(page)
    world.clock.set(HEARING_START + timedelta(minutes=5))
    await sign_in(page, "officer", start=case_page)
    await submit(page, hearing.get_by_role("button", name="Mark attended").click)
    await expect(hearing).to_have_attribute("data-status", "attended")

    # 6. Closing: the outcome reaches the phone in Romanian; then the phone is wiped.
    await _leave_the_console(page)
    world.clock.set(HEARING_START + timedelta(days=3))
    await sign_in(page, "officer", start=case_page)
    page.on("dialog", _accept)
    await page.select_option("#close-outcome", "convicted")
    await submit(page, page.locator("form[data-form='close'] button[type='submit']").click)
    await expect(page.locator("[data-closed]")).to_have_attribute("data-closed", "convicted")
    await screenshot(page, "6-closed")
    for app in (officer_app, worker_app, alternate_app):
        await app.sync()  # the case_closed event: one of them tells the witness
    await phone.sync()
    outcomes = [m.text for m in await phone.messages() if m.kind == "case_outcome"]
    assert outcomes == [outcome_message("ro", "convicted")]
    assert outcome_message("ro", "convicted") != outcome_message("en", "convicted")
    await phone.close()

    sweeps = WelfareSweeps(world.services)
    await _leave_the_console(page)
    world.clock.advance(world.services.case_lifecycle.phone_grace + timedelta(minutes=1))
    await sweeps.case_lifecycle()
    with pytest.raises(VaultWiped):
        await open_phone(world, phone_store, WITNESS_PIN)

    # 7. Past the retention period the sweep erases the case's personal data.
    assert ALIAS.encode() in _database_bytes(world)  # the scan sees what it looks for
    async with world.services.store.read() as uow:
        sealed_number = await uow.witnesses.phone(witness_id)
    assert sealed_number
    world.clock.advance(world.services.case_lifecycle.retention)
    assert await sweeps.case_lifecycle() >= 1
    found = _database_bytes(world)
    assert sealed_number not in found  # deleted, not merely left under the key
    for secret in [
        ALIAS.encode(),
        REFERENCE.encode(),
        NOTES.encode(),
        CONCERNS.encode(),
        *encodings(NUMBER),
    ]:
        assert secret not in found, secret
    verified = await _verify_audit(world)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    (erased,) = await audit_entries(world, action="case.erased")
    assert erased.case_id == case_id
    for entry in await audit_entries(world, case_id=case_id):
        text = json.dumps([entry.details, entry.reason, entry.subject_id])
        for secret in (ALIAS, NOTES, CONCERNS, NUMBER, NUMBER.lstrip("+")):
            assert secret not in text, (entry.action, secret)
    await sign_in(page, "officer")
    await expect(page.locator("#caseload-rows")).not_to_contain_text(ALIAS)
    await screenshot(page, "7-erased")


def _case_id(url: str) -> str:
    match = re.search(r"/console/cases/([^/?#]+)", url)
    assert match is not None, url
    return match.group(1)


async def _accept(dialog: Dialog) -> None:
    await dialog.accept()


async def _another_team_members_device_is_not_the_visitor(
    other: StaffClient, phone: WitnessClient, visit_id: str, witness_id: str, real_code: str
) -> None:
    """The alternate contact is on the team (trusted for messages) but not the visitor:
    their app refuses the door check, a door nonce they send anyway shows no code on the
    phone, and the code their own keys would make is not the visitor's."""
    with pytest.raises(VisitError):
        await other.at_the_door(visit_id)
    visit = (await other.visit(visit_id))["visit"]
    case_id = str(visit["case_id"])
    await other.trust.fresh(case_id)
    nonce = new_door_nonce()
    phones = [d.device_id for d in other.known_devices(case_id) if d.owner.startswith("witness:")]
    assert phones, "the alternate's app trusts the phone (it could send it anything)"
    await other.send_payload(
        case_id,
        {"kind": "visit_door", "visit_id": visit_id, "version": visit["version"], "nonce": nonce},
        to=phones,
    )
    await phone.sync()
    assert await phone.door_code(visit_id) == real_code  # still the visitor's, not theirs
    witness_owner = f"witness:{witness_id}"
    witness_key = other.trust.person(witness_owner)
    own_key = other.trust.personal_identity
    assert witness_key is not None
    assert own_key is not None
    theirs = door_code(
        nonce,
        visitor_owner=other.owner,
        visitor_identity_key=own_key.public_key,
        witness_owner=witness_owner,
        witness_identity_key=witness_key.identity_key,
        visit_id=visit_id,
        visit_version=int(visit["version"]),
    )
    assert theirs != real_code


@dataclass(frozen=True)
class _Finished:
    returncode: int
    stdout: str
    stderr: str


def _database_bytes(world: World) -> bytes:
    """The SQLite database files and the server's data folder, byte for byte."""
    database = Path(world.settings.database_url.removeprefix("sqlite:///"))
    files = [*database.parent.glob(database.name + "*"), *world.settings.data_dir.rglob("*")]
    return b"".join(f.read_bytes() for f in files if f.is_file())


async def _verify_audit(world: World) -> _Finished:
    """``witnesslink admin verify-audit`` against the test server's database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WITNESSLINK_")}
    env["WITNESSLINK_DATABASE_URL"] = world.settings.database_url
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "server",
        "admin",
        "verify-audit",
        "--data-dir",
        str(world.settings.data_dir),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await process.communicate()
    return _Finished(process.returncode or 0, out.decode(), err.decode())
