"""A malicious server replays what was once true: a device list from before a device
was removed, a roster from before a member left, a revoked device brought back. Clients
remember the newest versions they checked and refuse to go back."""

from __future__ import annotations

from client_sdk import TrustWarning
from tests.adversary.server import (
    attacker_device,
    copies_for,
    device_list_of,
    insert_device,
    roster_of,
    set_device_list,
    set_roster,
)
from tests.support.world import World, introduce, open_conversation
from wire.keys import object_hash


def reasons(events: list[object]) -> set[str]:
    return {e.reason for e in events if isinstance(e, TrustWarning)}


async def test_a_revoked_device_and_its_old_device_list_replayed_are_refused(
    world: World,
) -> None:
    talk = await open_conversation(world)
    laptop = await world.login("officer")  # the officer's second client, same identity
    talk.witness.trust.mark_stale(talk.case_id)  # as the server's keys_changed push does
    sent = await talk.witness.send("to both of the officer's clients")
    assert laptop.device_id in sent.recipients  # vouched for by the officer's identity
    old_list = await device_list_of(world, talk.officer.owner)

    await laptop.logout()  # a new device list without it, and revoked on the server
    for client in (talk.witness, talk.worker):
        client.trust.mark_stale(talk.case_id)
        sent = await client.send_text(talk.case_id, "after the laptop was lost")
        assert laptop.device_id not in sent.recipients

    # The server brings the laptop back and replays the list that named it.
    async with world.services.db.transaction() as conn:
        await conn.execute("UPDATE devices SET revoked_at = NULL WHERE id = $1", laptop.device_id)
    await set_device_list(world, talk.officer.owner, old_list)
    talk.witness.trust.mark_stale(talk.case_id)
    talk.worker.trust.mark_stale(talk.case_id)
    talk.witness.pending_events()
    talk.worker.pending_events()

    from_phone = await talk.witness.send("is anyone reading this?")
    from_worker = await talk.worker.send("new address", case_id=talk.case_id)

    for sent, client in ((from_phone, talk.witness), (from_worker, talk.worker)):
        assert laptop.device_id not in sent.recipients
        assert talk.officer.device_id in sent.recipients
        assert "device-list-rollback" in reasons(client.pending_events())


async def test_an_older_roster_replayed_is_refused(world: World) -> None:
    talk = await open_conversation(world)
    before_the_witness = await roster_of(world, talk.case_id)
    # The roster that lists the witness is newer; the worker leaves in a newer one still.
    await talk.officer.unassign(talk.case_id, talk.worker.staff_id)
    sent = await talk.witness.send("after the worker left")
    assert talk.worker.device_id not in sent.recipients
    current = await roster_of(world, talk.case_id)
    assert current["version"] > before_the_witness["version"]

    await set_roster(world, talk.case_id, before_the_witness)
    async with world.services.db.transaction() as conn:  # and puts the worker back
        await conn.execute(
            "INSERT INTO case_staff (case_id, staff_id, added_by, added_at) VALUES ($1, $2, $2, 0)",
            talk.case_id,
            talk.worker.staff_id,
        )
    talk.witness.trust.mark_stale(talk.case_id)
    talk.witness.pending_events()

    sent = await talk.witness.send("who is reading?")

    assert "roster-rollback" in reasons(talk.witness.pending_events())
    assert talk.worker.device_id not in sent.recipients
    assert talk.witness.trust.roster(talk.case_id).version == current["version"]  # type: ignore[union-attr]


async def test_a_removed_member_stops_receiving_at_once(world: World) -> None:
    talk = await open_conversation(world)
    await talk.witness.send("before")
    await talk.officer.send("also before", case_id=talk.case_id)

    await talk.officer.unassign(talk.case_id, talk.worker.staff_id)

    # What waited for the worker in this case is gone from the server ...
    async with world.services.store.read() as uow:
        assert await uow.messages.count_pending(talk.worker.device_id) == 0
    # ... and nobody encrypts to them any more, without waiting for a refresh.
    assert talk.worker.device_id not in (await talk.witness.send("after")).recipients
    officer_sent = await talk.officer.send("after", case_id=talk.case_id)
    assert talk.worker.device_id not in officer_sent.recipients
    async with world.services.store.read() as uow:
        assert await uow.messages.count_pending(talk.worker.device_id) == 0
    # The next look at the case shows the roster the officer signed without them.
    await talk.witness.refresh_devices(talk.case_id)
    roster = talk.witness.trust.roster(talk.case_id)
    assert roster is not None
    assert roster.member(talk.worker.owner) is None


async def test_an_identity_someone_moved_away_from_cannot_come_back(world: World) -> None:
    talk = await open_conversation(world)
    old = talk.worker.trust.personal_identity
    assert old is not None
    await talk.worker.replace_identity()  # e.g. the old laptop was stolen
    await introduce(talk.officer, talk.worker)
    await talk.officer.vouch(talk.case_id, talk.worker.owner)  # the roster moves to the new key
    talk.witness.trust.mark_stale(talk.case_id)
    assert talk.worker.device_id in (await talk.witness.send("welcome back")).recipients

    # Whoever holds the old identity key signs a new, higher device list with it, for a
    # device of its own, and the server serves it.
    thief = attacker_device(talk.worker.owner)
    await insert_device(world, thief)
    stolen = old.device_list(
        talk.worker.owner, 99, {thief.device_id: object_hash(thief.key_object())}, world.clock.now()
    )
    await set_device_list(world, talk.worker.owner, stolen)
    for client in (talk.witness, talk.officer):
        client.trust.mark_stale(talk.case_id)
        client.pending_events()

    for client, sent in (
        (talk.witness, await talk.witness.send("who is there?")),
        (talk.officer, await talk.officer.send("who is there?", case_id=talk.case_id)),
    ):
        assert thief.device_id not in sent.recipients
        assert "retired-identity" in reasons(client.pending_events())
    assert await copies_for(world, thief.device_id) == []
