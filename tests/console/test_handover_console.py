"""The handover and the risk assessment in the console, in real Chromium: the police
record the return date and the witness's consent and send the request, record an
assessment; the support organisation sees only the minimum on its "Handover requests"
page and accepts, naming two contacts; the police see the acceptance; notes are read
one at a time, audited."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from playwright.async_api import Page, expect

from server.domain.models import Role
from tests.console.conftest import Browsing, Screenshot, nav_link, sign_in, submit
from tests.console.helpers import accept_handover, record_assessment, request_handover
from tests.court.helpers import audit_entries
from tests.support.world import World, open_conversation

pytestmark = pytest.mark.asyncio(loop_scope="session")

START = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)
NOTES = "NOTES-BROTHER-IN-LAW-RECRUITED-HER"


async def test_handover_and_assessment_from_police_to_support_in_the_console(
    console_world: World, page: Page, browsing: Browsing, screenshot: Screenshot
) -> None:
    world = console_world
    world.clock.set(START)
    talk = await open_conversation(world)
    await world.add_staff("supportlead", "support", Role.SUPERVISOR)
    await world.add_staff("alternate", "support", Role.SUPPORT_WORKER)

    # The police: return date, consent given in person, the request.
    await sign_in(page, "officer")
    await page.goto(f"/console/cases/{talk.case_id}")
    await request_handover(page, talk.case_id, "2026-06-01", "in_person")
    await expect(page.locator("[data-consents]")).to_contain_text("Given in person")

    # ... and a risk assessment.
    await record_assessment(page, talk.case_id, "high", ["Threats from the network", "Debt"], NOTES)
    row = page.locator("tr[data-level='high']")
    await expect(row).to_contain_text("Threats from the network, Debt")
    assert NOTES not in await page.content(), "notes are not on the page until asked for"
    await screenshot(page, "witness-handover-section")

    # The support organisation: the minimum, then accept with two contacts.
    support = await browsing.page()
    await sign_in(support, "supportlead")
    await nav_link(support, "Handover requests").click()
    await expect(support).to_have_url(re.compile(r"/console/handovers$"))
    request_row = support.locator("tr[data-status='requested']")
    await expect(request_row).to_contain_text("Sparrow")
    await expect(request_row).to_contain_text("High")
    await expect(request_row).to_contain_text("2026-06-01")
    content = await support.content()
    for hidden in ("DE-2026-0042", NOTES, "Debt", talk.case_id):
        assert hidden not in content, f"{hidden} shown before acceptance"
    await screenshot(support, "handover-requests")
    await accept_handover(support, request_row, "Worker", "Alternate")
    await expect(support).to_have_url(re.compile(r"\?done=accepted$"))
    accepted = support.locator("tr[data-status='accepted']")
    await expect(accepted.get_by_role("link", name="Sparrow")).to_have_attribute(
        "href", f"/console/cases/{talk.case_id}"
    )

    # The police see the acceptance and the contacts; the caseload shows it too.
    await page.goto(f"/console/cases/{talk.case_id}")
    await expect(page.locator("[data-handover-state]")).to_have_attribute(
        "data-handover-state", "accepted"
    )
    await expect(page.locator("[data-contacts]")).to_contain_text("Worker (primary)")
    await expect(page.locator("[data-contacts]")).to_contain_text("Alternate (alternate)")
    await nav_link(page, "Caseload").click()
    await expect(page.locator(f"tr[data-case='{talk.case_id}'] [data-handover]")).to_have_text(
        "Accepted"
    )

    # Reading the notes is a consultation of its own, with the reason recorded.
    await page.goto(f"/console/cases/{talk.case_id}")
    notes_form = page.locator("tr[data-level='high'] form")
    await notes_form.get_by_label("Reason for reading (recorded)").fill("before the visit")
    await submit(page, notes_form.get_by_role("button", name="Read the notes").click)
    await expect(page.locator("[data-notes]")).to_have_text(NOTES)
    (entry,) = await audit_entries(
        world, action="assessment.notes_consulted", actor_id=world.staff["officer"]
    )
    assert entry.reason == "before the visit"
