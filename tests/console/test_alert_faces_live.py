"""In Chromium: a panic press and a duress alert each raise their own banner, in their
own colour, with their own tone — a panic press is never announced as duress."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect

from client_sdk import WitnessClient
from tests.console.conftest import Browsing, sign_in
from tests.support.kdf import DURESS_PIN
from tests.support.world import World
from tests.welfare.helpers import open_case

pytestmark = pytest.mark.asyncio(loop_scope="session")

BACKGROUND = "b => getComputedStyle(b).backgroundColor"


async def test_panic_and_duress_raise_different_banners_and_tones_live(
    console_world: World, browsing: Browsing, audible_browser: Browser
) -> None:
    world = console_world
    talk, store = await open_case(world, duress_pin=DURESS_PIN)
    context = await browsing.context(browser=audible_browser)
    page = await context.new_page()
    await sign_in(page, "worker")
    panic_banner, duress_banner = page.locator("#panic-banner"), page.locator("#duress-banner")
    await expect(panic_banner).to_be_hidden()

    await talk.witness.panic()

    await expect(panic_banner).to_be_visible()
    await expect(panic_banner).to_contain_text("PANIC — a witness pressed the panic button.")
    await expect(duress_banner).to_be_hidden()
    await expect(page.locator("html")).to_have_attribute("data-alarm-tone", "siren")

    # Then someone makes the witness open the app with the duress PIN.
    await talk.witness.close()
    phone = await WitnessClient.open(store, DURESS_PIN, clock=world.clock)
    world.clients.append(phone)

    await expect(duress_banner).to_be_visible()
    await expect(page.locator("html")).to_have_attribute("data-alarm-tone", "pulse")
    assert await panic_banner.evaluate(BACKGROUND) != await duress_banner.evaluate(BACKGROUND)
