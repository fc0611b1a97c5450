"""Console steps more than one browser test takes (through the real forms)."""

from __future__ import annotations

from playwright.async_api import Locator, Page, expect

from tests.console.conftest import submit


async def request_handover(page: Page, case_id: str, return_on: str, consent: str) -> None:
    """On the witness page, the police record the return date (``YYYY-MM-DD``) and the
    witness's consent ("in_person", "phone_call") and send the handover request."""
    form = page.locator(f"form[action='/console/cases/{case_id}/handover']")
    await form.get_by_label("Planned return date").fill(return_on)
    await form.get_by_label("The witness's consent to the handover").select_option(consent)
    await submit(page, form.get_by_role("button").click)
    await expect(page.locator("[data-handover-state]")).to_have_attribute(
        "data-handover-state", "requested"
    )
    await expect(page.locator("[data-return-on]")).to_have_text(return_on)


async def accept_handover(page: Page, request_row: Locator, primary: str, alternate: str) -> None:
    """On "Handover requests", accept a request naming two contacts (display names)."""
    await request_row.get_by_label("Primary contact").select_option(label=primary)
    await request_row.get_by_label("Alternate contact").select_option(label=alternate)
    await submit(page, request_row.get_by_role("button", name="Accept").click)


async def record_assessment(
    page: Page, case_id: str, level: str, factors: list[str], notes: str
) -> None:
    """On the witness page, record a risk assessment: a level, factors (their labels)
    and sealed notes."""
    form = page.locator(f"form[action='/console/cases/{case_id}/assessments']")
    await form.get_by_label("Risk level").select_option(level)
    for factor in factors:
        await form.get_by_label(factor).check()
    await form.get_by_label("Notes (sealed; every reading is recorded)").fill(notes)
    await submit(page, form.get_by_role("button", name="Record the assessment").click)
