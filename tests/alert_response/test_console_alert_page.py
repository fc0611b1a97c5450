"""The console side of an alert: panic and duress look different; the SMS link opens
the alert after sign-in, for the person it was texted to only; the agency's playbook
and the witness's response instructions (sealed at rest) are shown on the alert."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import aiohttp
import pytest

from server.domain.models import Role
from tests.console_witness.conftest import ConsoleUser, csrf_in, sign_in
from tests.support.welfare import (
    WITNESS_PHONE,
    WORKER_PHONE,
    advance_to,
    catch_up,
    sms_to,
    with_phones_and_supervisor,
)
from tests.support.world import PASSWORD, TWILIO_SENDER, Conversation, World, open_conversation
from tests.welfare.helpers import alerts_of, audit_entries, server_bytes, utc

EVERY_DAY = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DUE = utc("2026-01-06 08:00")
INSTRUCTIONS = "Never call: her brother checks the phone. Text only, in Romanian."
PLAYBOOK = "1. Text the witness the check-in word.\n2. If no answer in 10 minutes, visit."


@pytest.fixture
async def users(sms_world: World) -> AsyncIterator[list[ConsoleUser]]:
    signed_in: list[ConsoleUser] = []
    yield signed_in
    for user in signed_in:
        await user.close()


async def _signed_in(world: World, users: list[ConsoleUser], username: str) -> ConsoleUser:
    user = await sign_in(world, username)
    users.append(user)
    return user


async def _help_alert(world: World) -> tuple[Conversation, str, str]:
    """A witness asks for help; the worker (level 1) is texted. Returns the team, the
    alert id and the SMS reference."""
    talk = await open_conversation(world)
    await with_phones_and_supervisor(world, talk)
    await talk.officer.set_checkin_plan(talk.witness_id, weekdays=EVERY_DAY, times=["10:00"])
    await advance_to(world, DUE)
    await talk.witness.check_in("help")
    await catch_up(world)
    (alert,) = await alerts_of(talk.worker, "help")
    (sms,) = sms_to(world, WORKER_PHONE)
    found = re.search(r"/console/alerts/([0-9A-F]{4})$", sms)
    assert found is not None, sms
    return talk, alert["alert_id"], found.group(1)


def _face(page: str, kind: str) -> str:
    found = re.search(rf'<span class="face ([^"]+)" data-kind="{kind}"[^>]*>([^<]+)</span>', page)
    assert found is not None, f"no face for {kind}"
    tone = re.search(rf'data-kind="{kind}" data-face="{kind}" data-sound="([a-z]+)"', page)
    assert tone is not None
    return f"{found.group(1)}|{found.group(2)}|{tone.group(1)}"


async def test_panic_and_duress_look_and_sound_different(
    sms_world: World, users: list[ConsoleUser]
) -> None:
    world = sms_world
    talk = await open_conversation(world)
    await with_phones_and_supervisor(world, talk)
    await talk.witness.set_sms_words("Lalea", "Ciocarlie")
    await talk.witness.panic()
    assert world.twilio is not None
    await world.twilio.post_inbound_sms(
        world.url + "/v1/twilio/sms", from_=WITNESS_PHONE, to=TWILIO_SENDER, body="Ciocarlie"
    )
    worker = await _signed_in(world, users, "worker")

    inbox = (await worker.get("/console/alerts")).text
    panic, duress = _face(inbox, "panic"), _face(inbox, "duress")
    assert panic == "face-rust|Panic button|siren"
    assert duress == "face-red|Duress|pulse"
    # Each has its own banner; a panic press is no longer announced as duress.
    assert 'class="panic" role="alert" data-panic="1"' in inbox
    assert 'class="duress" role="alert" data-duress="1"' in inbox
    assert "PANIC — a witness pressed the panic button." in inbox
    # Every console page carries both live banners, each with its own tone.
    assert re.search(r'id="panic-banner"[^>]*data-sound="siren"', inbox)
    assert re.search(r'id="duress-banner"[^>]*data-sound="pulse"', inbox)

    (panic_alert,) = await alerts_of(talk.worker, "panic")
    page = (await worker.get(f"/console/alerts/{panic_alert['alert_id']}")).text
    assert _face(page, "panic") == panic
    assert 'data-kind="duress"' not in page


async def test_the_caseload_shows_a_panic_press_as_panic(
    sms_world: World, users: list[ConsoleUser]
) -> None:
    world = sms_world
    talk = await open_conversation(world)
    await talk.witness.panic()
    officer = await _signed_in(world, users, "officer")

    rows = (await officer.get("/console/caseload/rows")).text

    assert f'<tr class="state-panic" data-case="{talk.case_id}">' in rows
    assert 'data-state="panic">Panic</span>' in rows
    assert "state-duress" not in rows


async def test_the_sms_link_opens_the_alert_after_sign_in(sms_world: World) -> None:
    world = sms_world
    _talk, alert_id, ref = await _help_alert(world)
    link = f"/console/alerts/{ref}"
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(world.url + link) as response:
            login_page = await response.text()
            assert response.url.path == "/console/login"
            assert response.url.query["next"] == link
        form = {
            "csrf": csrf_in(login_page),
            "next": link,
            "username": "worker",
            "password": PASSWORD,
        }
        async with http.post(world.url + "/console/login", data=form) as response:
            page = await response.text()
            assert response.status == 200
            assert str(response.url).endswith(link)
    assert f'id="alert-{alert_id}"' in page
    assert "Sparrow" in page
    assert f'action="/console/alerts/{alert_id}/acknowledge"' in page


async def test_a_reference_opens_nothing_for_someone_it_was_not_texted_to(
    sms_world: World, users: list[ConsoleUser]
) -> None:
    world = sms_world
    _talk, alert_id, ref = await _help_alert(world)
    officer = await _signed_in(world, users, "officer")

    assert (await officer.get(f"/console/alerts/{ref}")).status == 404
    # By its id the officer of the case sees it as always.
    assert (await officer.get(f"/console/alerts/{alert_id}")).status == 200


async def test_the_playbook_and_the_instructions_are_shown_on_the_alert(
    sms_world: World, users: list[ConsoleUser], backend: str
) -> None:
    world = sms_world
    await world.add_staff("chief", "support", Role.ADMIN)
    talk, alert_id, ref = await _help_alert(world)
    chief = await _signed_in(world, users, "chief")
    worker = await _signed_in(world, users, "worker")
    support = world.agencies["support"]

    saved = await chief.post(
        f"/console/admin/agencies/{support}/playbooks", {"kind": "help", "steps": PLAYBOOK}
    )
    assert saved.status == 200
    assert saved.url.endswith("/playbooks?done=saved")
    saved = await worker.post(
        f"/console/cases/{talk.case_id}/instructions", {"instructions": INSTRUCTIONS}
    )
    assert saved.status == 200
    assert INSTRUCTIONS in saved.text  # shown back on the witness page

    page = (await worker.get(f"/console/alerts/{ref}")).text
    assert f'id="alert-{alert_id}"' in page
    steps = re.search(
        r'<div class="steps" data-playbook>\s*<h4>([^<]+)</h4>\s*<p class="pre">([^<]+)</p>', page
    )
    assert steps is not None
    assert steps.group(2) == PLAYBOOK
    assert f'<p class="pre">{INSTRUCTIONS}</p>' in page
    # The change and each consultation are audited, never with the text.
    (changed,) = await audit_entries(world, action="witness.instructions_changed")
    assert changed.actor_id == world.staff["worker"]
    consulted = await audit_entries(world, action="witness.instructions_consulted")
    assert consulted
    for entry in [changed, *consulted]:
        assert "brother" not in entry.details
    # Sealed at rest: the text is nowhere in what the server stored.
    stored = await server_bytes(world, backend)
    assert INSTRUCTIONS.encode() not in stored
    assert b"her brother checks the phone" not in stored


async def test_instructions_with_direction_characters_are_refused(
    sms_world: World, users: list[ConsoleUser]
) -> None:
    world = sms_world
    talk = await open_conversation(world)
    worker = await _signed_in(world, users, "worker")

    answer = await worker.post(
        f"/console/cases/{talk.case_id}/instructions", {"instructions": "text \u202eonly"}
    )

    assert answer.status == 422
    assert await audit_entries(world, action="witness.instructions_changed") == []


async def test_only_the_agencys_own_admin_edits_its_playbooks(
    sms_world: World, users: list[ConsoleUser]
) -> None:
    world = sms_world
    await world.add_staff("chief", "support", Role.ADMIN)
    await world.add_staff("boss", "support", Role.SUPERVISOR)
    police = world.agencies["police"]
    chief = await _signed_in(world, users, "chief")
    boss = await _signed_in(world, users, "boss")
    support = world.agencies["support"]

    for user, path in ((chief, police), (boss, support)):
        answer = await user.post(
            f"/console/admin/agencies/{path}/playbooks", {"kind": "panic", "steps": "x"}
        )
        assert answer.status == 403
    async with world.services.store.read() as uow:
        assert await uow.alert_response.playbooks(police) == {}
        assert await uow.alert_response.playbooks(support) == {}
