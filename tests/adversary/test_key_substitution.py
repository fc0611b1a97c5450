"""A malicious server substitutes keys: the Curve25519 key of a device the witness has
verified, a whole device object, the officer's own keys before the enrolment code is
made — in its database, or only in what it answers. Every time the substitute is
refused, the affected people are warned, and nothing readable reaches the attacker."""

from __future__ import annotations

from typing import Any

import pytest
import vodozemac

from client_sdk import (
    KeyChangeWarning,
    ServerTampering,
    StaffClient,
    TrustWarning,
    WitnessClient,
)
from client_sdk.own_keys import own_device_object
from tests.adversary.proxy import RewritingProxy
from tests.adversary.server import (
    attacker_device,
    copies_for,
    key_object_of,
    readable_by,
    set_key_object,
)
from tests.support.world import Conversation, World, open_conversation

WHERE_SHE_IS = "I am at my aunt's house, the blue door on the corner"


def warnings_of(client: StaffClient | WitnessClient, reason: str) -> list[TrustWarning]:
    return [
        e for e in client.pending_events() if isinstance(e, TrustWarning) and e.reason == reason
    ]


async def nothing_readable(
    world: World, attacker: vodozemac.Account, device_id: str, sender: str
) -> None:
    """The attacker's account can open none of the ciphertexts held for ``device_id``."""
    assert readable_by(attacker, sender, await copies_for(world, device_id)) == []


async def test_a_substituted_curve25519_key_on_a_verified_device_is_never_used(
    world: World,
) -> None:
    talk = await open_conversation(world)
    await talk.witness.send("hello")  # the phone has used the officer's device already
    attacker = vodozemac.Account()
    # The reviewer's attack: swap the device's Curve25519 key, keep its Ed25519 key
    # (and so its safety number), in every place the server keeps it.
    obj = await key_object_of(world, talk.officer.device_id)
    obj["keys"]["curve25519"] = attacker.curve25519_key.to_base64()
    await set_key_object(world, talk.officer.device_id, obj)
    async with world.services.db.transaction() as conn:
        await conn.execute(
            "UPDATE devices SET curve25519 = $2 WHERE id = $1",
            talk.officer.device_id,
            attacker.curve25519_key.to_base64(),
        )
    talk.witness.pending_events()
    talk.witness.trust.mark_stale(talk.case_id)

    sent = await talk.witness.send(WHERE_SHE_IS)

    assert talk.officer.device_id not in sent.recipients
    assert sent.recipients == [talk.worker.device_id]
    (warning,) = warnings_of(talk.witness, "invalid-object")
    assert warning.owner == talk.officer.owner
    await nothing_readable(world, attacker, talk.officer.device_id, talk.witness._olm.curve25519)
    # The officer's own client notices that the server shows other keys for it.
    talk.officer.trust.mark_stale(talk.case_id)
    await talk.officer.refresh_devices(talk.case_id)
    assert warnings_of(talk.officer, "own-keys-substituted") != []


async def test_a_whole_new_device_object_under_a_known_device_id_is_refused_for_good(
    world: World,
) -> None:
    talk = await open_conversation(world)
    await talk.witness.send("hello")
    # The attacker can sign a device object only for keys of its own.
    fake = attacker_device(talk.officer.owner, talk.officer.device_id)
    await set_key_object(world, talk.officer.device_id, fake.key_object())
    talk.witness.pending_events()
    talk.witness.trust.mark_stale(talk.case_id)

    sent = await talk.witness.send(WHERE_SHE_IS)

    assert talk.officer.device_id not in sent.recipients
    changed = [e for e in talk.witness.pending_events() if isinstance(e, KeyChangeWarning)]
    assert [e.device_id for e in changed] == [talk.officer.device_id]
    await nothing_readable(
        world, fake.account, talk.officer.device_id, talk.witness._olm.curve25519
    )
    # Putting the genuine object back does not make the phone trust that id again:
    # a device keeps its keys for life, so two sets of keys mean someone lied.
    await set_key_object(world, talk.officer.device_id, await genuine_object(talk))
    talk.witness.trust.mark_stale(talk.case_id)
    sent = await talk.witness.send("still there?")
    assert talk.officer.device_id not in sent.recipients


async def genuine_object(talk: Conversation) -> dict[str, Any]:
    return own_device_object(talk.officer._ctx)


async def test_a_colleague_who_never_saw_the_device_does_not_trust_the_substitute(
    world: World,
) -> None:
    talk = await open_conversation(world)
    fake = attacker_device(talk.officer.owner, talk.officer.device_id)
    await set_key_object(world, talk.officer.device_id, fake.key_object())
    # The worker's client has not looked at the case's keys yet: it sees only the
    # substitute, whose hash is not the one the officer's identity vouches for.
    assert talk.worker.trust.get(talk.officer.device_id) is None

    sent = await talk.worker.send(WHERE_SHE_IS, case_id=talk.case_id)

    assert talk.officer.device_id in sent.withheld
    assert talk.officer.device_id not in sent.recipients
    await nothing_readable(world, fake.account, talk.officer.device_id, talk.worker._olm.curve25519)


async def test_the_officers_key_swapped_before_the_code_is_made_stops_the_code(
    world: World,
) -> None:
    officer = await world.login("officer")
    case = await officer.create_case("DE-2026-0301", world.agencies["support"])
    witness = await officer.transport.request(
        "POST",
        f"/v1/cases/{case['case_id']}/witness",
        json={"alias": "Sparrow", "language": "ro", "timezone": "Europe/Bucharest"},
    )
    fake = attacker_device(officer.owner, officer.device_id)
    await set_key_object(world, officer.device_id, fake.key_object())

    # The officer's client checks its own keys as the server shows them, and refuses to
    # vouch for a team through a code while they are not its own.
    with pytest.raises(ServerTampering):
        await officer.new_enrolment(case["case_id"], witness["witness_id"], "Sparrow")
    assert warnings_of(officer, "own-keys-substituted") != []
    async with world.services.store.read() as uow:
        assert await uow.enrolments.for_device(officer.device_id) is None


async def test_a_key_swapped_after_the_code_is_made_never_reaches_the_phone(
    world: World,
) -> None:
    officer = await world.login("officer")
    worker = await world.login("worker")
    case = await officer.create_case("DE-2026-0302", world.agencies["support"])
    await officer.assign(case["case_id"], worker.staff_id)
    enrolment = await officer.add_witness(
        case["case_id"], alias="Sparrow", language="ro", timezone="Europe/Bucharest"
    )
    fake = attacker_device(officer.owner, officer.device_id)
    await set_key_object(world, officer.device_id, fake.key_object())

    pending = await world.start_enrolment(enrolment)
    enroling = await officer.phone_for(enrolment)
    assert enroling is not None
    assert await pending.sas() == enroling.sas
    # The officer's client will not vouch for anyone while the server lies about it...
    with pytest.raises(ServerTampering):
        await officer.confirm_phone(enroling)
    # ... and the phone, which pinned the officer's identity through the MACed roster,
    # never takes the swapped device object: that identity does not vouch for it.
    phone = await pending.confirm()
    sent = await phone.send(WHERE_SHE_IS)

    assert officer.device_id not in sent.recipients
    assert sent.recipients == [worker.device_id]
    await nothing_readable(world, fake.account, officer.device_id, phone._olm.curve25519)


async def test_a_proxy_that_rewrites_the_key_bundle_gets_nothing(world: World) -> None:
    talk = await open_conversation(world)
    attacker = vodozemac.Account()
    proxy = RewritingProxy(world.url)

    def swap_curve(method: str, path: str, body: Any) -> Any:
        if method == "GET" and path.endswith("/keys"):
            for member in body["members"]:
                for device in member["devices"]:
                    if device["device_id"] == talk.officer.device_id:
                        device["key_object"]["keys"]["curve25519"] = (
                            attacker.curve25519_key.to_base64()
                        )
        return body

    proxy.rewrite = swap_curve
    async with proxy.running() as url:
        phone = talk.witness
        phone.transport.base_url = url  # from now on the phone talks to the proxy
        phone.trust.mark_stale(talk.case_id)
        phone.pending_events()
        sent = await phone.send(WHERE_SHE_IS)
    assert talk.officer.device_id not in sent.recipients
    assert warnings_of(phone, "invalid-object") != []
    await nothing_readable(world, attacker, talk.officer.device_id, phone._olm.curve25519)


async def test_an_impostor_object_seen_first_does_not_lock_out_the_real_device(
    world: World,
) -> None:
    talk = await open_conversation(world)
    real = await key_object_of(world, talk.officer.device_id)
    fake = attacker_device(talk.officer.owner, talk.officer.device_id)
    await set_key_object(world, talk.officer.device_id, fake.key_object())
    # The worker's client has never looked at this device: it meets the impostor first.
    first = await talk.worker.send("first", case_id=talk.case_id)
    assert talk.officer.device_id in first.withheld

    await set_key_object(world, talk.officer.device_id, real)
    talk.worker.trust.mark_stale(talk.case_id)
    second = await talk.worker.send("second", case_id=talk.case_id)

    # The impostor's keys were never vouched for, so never used: the real ones replace
    # them, and the officer's identity vouches for those.
    assert talk.officer.device_id in second.recipients
