"""Acknowledging an alert from the phone: the staff member replies to the alert SMS with
its reference. Only a person the SMS was actually sent to can acknowledge; a replayed
webhook acts once; the SMS carries an opaque link to the alert in the console."""

from __future__ import annotations

import re

import aiohttp
import pytest

from tests.fakes.twilio_server import FakeTwilio, WebhookResult
from tests.support.welfare import (
    OFFICER_PHONE,
    WITNESS_PHONE,
    WORKER_PHONE,
    advance_to,
    catch_up,
    sms_to,
    with_phones_and_supervisor,
)
from tests.support.world import TWILIO_SENDER, Conversation, World, open_conversation
from tests.welfare.helpers import EMPTY_TWIML, alerts_of, audit_entries, utc

EVERY_DAY = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DUE = utc("2026-01-06 08:00")
STRANGER_PHONE = "+15005550077"
REFERENCE = re.compile(r"Ref\.? ([0-9A-F]{4})")


def _fake(world: World) -> FakeTwilio:
    assert world.twilio is not None
    return world.twilio


def _webhook(world: World) -> str:
    return world.url + "/v1/twilio/sms"


async def _reply(world: World, from_: str, body: str) -> WebhookResult:
    return await _fake(world).post_inbound_sms(
        _webhook(world), from_=from_, to=TWILIO_SENDER, body=body
    )


async def _help_alert(world: World) -> tuple[Conversation, str, str]:
    """A witness asks for help; returns the team, the alert id and the worker's SMS."""
    talk = await open_conversation(world)
    await with_phones_and_supervisor(world, talk)
    await talk.officer.set_checkin_plan(talk.witness_id, weekdays=EVERY_DAY, times=["10:00"])
    await advance_to(world, DUE)
    await talk.witness.check_in("help")
    await catch_up(world)
    (alert,) = await alerts_of(talk.worker, "help")
    (sms,) = sms_to(world, WORKER_PHONE)
    return talk, alert["alert_id"], sms


def _reference(sms: str) -> str:
    found = REFERENCE.search(sms)
    assert found is not None, sms
    return found.group(1)


def _message(reply: WebhookResult) -> str:
    assert reply.status == 200
    found = re.search(r"<Message>(.*)</Message>", reply.text)
    assert found is not None, reply.text
    return found.group(1)


@pytest.mark.parametrize("shape", ["{ref}", "ack {lower}", "  ACK {spaced} ", "Ack{ref}\n"])
async def test_a_reply_with_the_reference_acknowledges_as_the_person_it_was_sent_to(
    sms_world: World, shape: str
) -> None:
    world = sms_world
    talk, alert_id, sms = await _help_alert(world)
    ref = _reference(sms)
    body = shape.format(ref=ref, lower=ref.lower(), spaced=" ".join(ref))

    answer = _message(await _reply(world, WORKER_PHONE, body))

    assert "acknowledged" in answer
    assert "already" not in answer
    assert ref in answer
    (alert,) = await alerts_of(talk.worker, "help")
    assert alert["status"] == "acknowledged"
    assert alert["acknowledged_by"] == world.staff["worker"]
    (entry,) = await audit_entries(world, action="alert.acknowledged")
    assert (entry.actor_id, entry.subject_id) == (world.staff["worker"], alert_id)
    assert '"channel":"sms"' in entry.details


async def test_a_number_the_sms_was_not_sent_to_acknowledges_nothing(sms_world: World) -> None:
    world = sms_world
    talk, _alert_id, sms = await _help_alert(world)
    ref = _reference(sms)
    assert sms_to(world, OFFICER_PHONE) == []  # level 1 texts only the worker

    for number in (OFFICER_PHONE, STRANGER_PHONE):
        answer = _message(await _reply(world, number, ref))
        assert "nothing to acknowledge" in answer
    (alert,) = await alerts_of(talk.worker, "help")
    assert alert["status"] == "open"
    assert await audit_entries(world, action="alert.acknowledged") == []


async def test_a_wrong_reference_acknowledges_nothing(sms_world: World) -> None:
    world = sms_world
    talk, _alert_id, sms = await _help_alert(world)
    wrong = "0000" if _reference(sms) != "0000" else "0001"

    answer = _message(await _reply(world, WORKER_PHONE, wrong))

    assert "nothing to acknowledge" in answer
    (alert,) = await alerts_of(talk.worker, "help")
    assert alert["status"] == "open"


async def test_an_already_acknowledged_alert_says_so(sms_world: World) -> None:
    world = sms_world
    talk, alert_id, sms = await _help_alert(world)
    await talk.officer.acknowledge(alert_id)

    answer = _message(await _reply(world, WORKER_PHONE, _reference(sms)))

    assert "already acknowledged" in answer
    (alert,) = await alerts_of(talk.worker, "help")
    assert alert["acknowledged_by"] == world.staff["officer"]


async def test_the_same_inbound_sms_replayed_acts_once(sms_world: World) -> None:
    world = sms_world
    _talk, _alert_id, sms = await _help_alert(world)
    headers, form = _fake(world).signed_inbound_sms(
        _webhook(world), WORKER_PHONE, TWILIO_SENDER, _reference(sms)
    )
    answers = []
    async with aiohttp.ClientSession() as http:
        for _ in range(2):
            async with http.post(_webhook(world), data=form, headers=headers) as response:
                assert response.status == 200
                answers.append(await response.text())
    assert "<Message>" in answers[0]
    assert answers[1] == EMPTY_TWIML  # no second confirmation, nothing done twice
    assert len(await audit_entries(world, action="alert.acknowledged")) == 1


async def test_a_witness_texting_something_reference_shaped_gets_no_answer(
    sms_world: World,
) -> None:
    world = sms_world
    _talk, _alert_id, sms = await _help_alert(world)

    reply = await _reply(world, WITNESS_PHONE, _reference(sms))

    assert reply.text == EMPTY_TWIML


async def test_the_alert_sms_links_to_the_alert_by_its_opaque_reference(
    sms_world: World,
) -> None:
    world = sms_world
    talk, _alert_id, sms = await _help_alert(world)
    ref = _reference(sms)

    assert sms.endswith(f" {world.settings.public_url}/console/alerts/{ref}")
    for private in ("Sparrow", "DE-2026-0042", talk.case_id, talk.witness_id, "help", "Help"):
        assert private not in sms
