"""End to end: a witness and two staff members of different agencies talk, in real Olm
sessions, through a real running server."""

from __future__ import annotations

from client_sdk import IncomingMessage
from tests.support.world import World


async def test_witness_and_team_exchange_messages_both_ways(world: World) -> None:
    officer = await world.login("officer")
    worker = await world.login("worker")
    case = await officer.create_case("DE-2026-0042", world.agencies["support"])
    assert await officer.assign(case["case_id"], world.staff["worker"])
    enrolment = await officer.add_witness(
        case["case_id"], alias="Sparrow", language="ro", timezone="Europe/Bucharest"
    )
    witness = await world.enrol(enrolment)

    sent = await witness.send("I arrived home safely")
    assert sent.status == "sent"
    assert set(sent.recipients) == {officer.device_id, worker.device_id}

    for staff in (officer, worker):
        assert await staff.sync() == 1
        (event,) = staff.pending_events()[-1:]
        assert isinstance(event, IncomingMessage)
        assert event.text == "I arrived home safely"
        assert event.sender_kind == "witness"

    reply = await worker.send("We will visit on Thursday", case_id=case["case_id"])
    assert witness.device_id in reply.recipients
    assert await witness.sync() == 1
    incoming = [e for e in witness.pending_events() if isinstance(e, IncomingMessage)]
    assert [m.text for m in incoming] == ["We will visit on Thursday"]
    assert [m.text for m in await witness.messages()] == [
        "I arrived home safely",
        "We will visit on Thursday",
    ]
