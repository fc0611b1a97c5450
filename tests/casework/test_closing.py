"""Closing a case after the trial: the outcome reaches the witness end to end encrypted
in their language, everything scheduled stops, and the phone is retired — erased on its
next connection — once the outcome reached it or after the grace period. Only the
case's managers may close it."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from client_sdk import ApiError, CaseReviewDue, VaultWiped
from server.domain.case_lifecycle import OUTCOMES as SERVER_OUTCOMES
from server.domain.caseload import Caseload
from server.domain.models import Case, OwnerKind, Staff
from server.storage.protocols import UnitOfWork
from tests.support.kdf import WITNESS_PIN
from tests.support.welfare import advance
from tests.support.world import World
from tests.vault.helpers import open_phone, unlock_state
from tests.welfare.helpers import audit_entries, open_case
from wire.case_outcome import OUTCOME_TEXTS, OUTCOMES, outcome_message

GRACE = timedelta(days=7)


def test_every_language_has_every_outcome_and_the_server_knows_the_same_categories() -> None:
    assert OUTCOMES == SERVER_OUTCOMES
    assert set(OUTCOME_TEXTS) == {"en", "ro", "bg", "sq", "fr", "es"}
    for texts in OUTCOME_TEXTS.values():
        assert set(texts) == set(OUTCOMES)
        assert len(set(texts.values())) == len(OUTCOMES)
    assert outcome_message("ro", "acquitted") != outcome_message("en", "acquitted")
    assert outcome_message("xx", "convicted") == OUTCOME_TEXTS["en"]["convicted"]


async def _checkins_left(world: World, witness_id: str) -> list[str]:
    async with world.services.store.read() as uow:
        history = await uow.checkins.history(witness_id, 100)
        current = await uow.checkins.current(witness_id)
    states = [c.state.value for c in history]
    return [*states, *([] if current is None else [current.state.value])]


async def test_closing_tells_the_witness_once_in_their_language_stops_checkins_and_wipes_the_phone(
    world: World,
) -> None:
    talk, store = await open_case(world, language="ro")
    await talk.officer.set_checkin_plan(talk.witness_id, every_hours=24)
    await talk.witness.sync()
    device_id = talk.witness.device_id

    closed = await talk.officer.close_case(talk.case_id, "convicted")
    assert (closed["closed"], closed["newly_closed"], closed["outcome"]) == (
        True,
        True,
        "convicted",
    )
    assert closed["revoked_devices"] == []  # not yet: the witness must read the outcome
    with pytest.raises(ApiError) as restart:  # nothing can schedule check-ins again
        await talk.officer.set_checkin_plan(talk.witness_id, every_hours=24)
    assert restart.value.status == 409
    # Both staff clients get the content-free event; the first sends, the other sees it.
    await talk.officer.sync()
    await talk.worker.sync()
    await talk.witness.sync()
    outcomes = [m for m in await talk.witness.messages() if m.kind == "case_outcome"]
    assert [m.text for m in outcomes] == [outcome_message("ro", "convicted")]
    # The server never saw the text, only the category.
    (entry,) = await audit_entries(world, action="case.closed")
    assert json.loads(entry.details) == {"outcome": "convicted", "phones": 1}

    # Check-ins stop: days later nothing is due, missed or alerted, though the phone
    # still reports in (it is not retired until it fetched the outcome).
    await talk.witness.heartbeat()
    await advance(world, timedelta(days=4))
    assert set(await _checkins_left(world, talk.witness_id)) <= {"cancelled"}
    assert await talk.worker.alerts() == []

    # The outcome was fetched: the next sweep retires the phone, long before the grace.
    assert await world.services.case_lifecycle.retire_due_phones() == 1
    assert (await unlock_state(world, device_id)).erased_reason == "case-closed"
    await talk.witness.close()
    with pytest.raises(VaultWiped):
        await open_phone(world, store, WITNESS_PIN)
    assert await world.services.case_lifecycle.retire_due_phones() == 0

    again = await talk.officer.close_case(talk.case_id, "acquitted")
    assert (again["newly_closed"], again["outcome"]) == (False, "convicted")


async def test_a_phone_that_never_fetches_the_outcome_is_retired_after_the_grace_period(
    world: World,
) -> None:
    talk, _store = await open_case(world)
    await talk.witness.close()
    await talk.officer.close_case(talk.case_id, "discontinued")
    await talk.officer.sync()  # the outcome is sent; the phone is off
    lifecycle = world.services.case_lifecycle
    world.clock.advance(GRACE - timedelta(minutes=1))
    assert await lifecycle.retire_due_phones() == 0
    world.clock.advance(timedelta(minutes=2))
    assert await lifecycle.retire_due_phones() == 1
    assert (await unlock_state(world, talk.witness.device_id)).erased_reason == "case-closed"


async def test_only_the_cases_managers_can_close_it_and_refusals_are_audited(
    world: World,
) -> None:
    talk, _store = await open_case(world)
    outsider = await world.login("outsider")  # an officer of another police agency
    with pytest.raises(ApiError) as hidden:
        await outsider.close_case(talk.case_id, "acquitted")
    assert hidden.value.status == 404
    with pytest.raises(ApiError) as refused:
        await talk.worker.close_case(talk.case_id, "acquitted")
    assert refused.value.status == 403
    with pytest.raises(ApiError) as unknown:
        await talk.officer.close_case(talk.case_id, "executed")
    assert unknown.value.status == 422
    assert await audit_entries(world, action="case.closed") == []
    denied = await audit_entries(world, action="access.denied")
    assert any(e.actor_id == world.staff["outsider"] for e in denied)


async def test_a_due_review_reminds_the_police_team_once_and_a_review_moves_it_on(
    world: World,
) -> None:
    talk, _store = await open_case(world)
    lifecycle = world.services.case_lifecycle
    assert await lifecycle.remind_due_reviews() == 0
    world.clock.advance(lifecycle.review_interval + timedelta(minutes=1))
    assert await lifecycle.remind_due_reviews() == 1
    assert await lifecycle.remind_due_reviews() == 0
    await talk.officer.sync()
    assert CaseReviewDue(talk.case_id) in talk.officer.pending_events()
    await talk.worker.sync()
    assert CaseReviewDue(talk.case_id) not in talk.worker.pending_events()  # police only
    officer = await _staff(world, "officer")
    (row,) = await Caseload(world.services.store, world.clock).rows(officer)
    assert row.case_review_due
    next_review = await talk.officer.review_case(talk.case_id)
    assert next_review.startswith(str((world.clock.now() + lifecycle.review_interval).date()))
    (row,) = await Caseload(world.services.store, world.clock).rows(officer)
    assert not row.case_review_due
    assert row.review_due_at == world.clock.now() + lifecycle.review_interval


async def _staff(world: World, name: str) -> Staff:
    async with world.services.store.read() as uow:
        staff = await uow.staff.get(world.staff[name])
    assert staff is not None
    return staff


async def test_a_server_that_forges_another_outcome_cannot_change_what_the_witness_keeps(
    world: World,
) -> None:
    """A malicious server queues a forged ``case_closed`` event (another outcome) for
    the worker's client: the closing officer's client already told the witness the
    outcome it chose, and the phone keeps the first outcome it received."""
    talk, _store = await open_case(world, language="bg")
    await talk.witness.sync()
    await talk.officer.close_case(talk.case_id, "convicted")  # sends it, from the SDK
    now = world.clock.now()
    async with world.services.store.write() as uow:
        devices = await uow.devices.list_for_owner(OwnerKind.STAFF, world.staff["worker"])
        forged = {"type": "case_closed", "case_id": talk.case_id, "outcome": "acquitted"}
        await uow.device_events.insert_many(
            [d.id for d in devices],
            json.dumps({**forged, "language": "bg"}),
            now,
            now + timedelta(days=1),
        )
    await talk.worker.sync()
    await talk.witness.sync()
    await talk.witness.sync()
    outcomes = [m.text for m in await talk.witness.messages() if m.kind == "case_outcome"]
    assert outcomes == [outcome_message("bg", "convicted")]


async def test_on_close_hooks_run_once_inside_the_closing_transaction(world: World) -> None:
    """How the lead adds "visits stop": a hook that sees the closing's unit of work."""
    talk, _store = await open_case(world)
    seen: list[tuple[str, bool]] = []

    async def stop_visits(uow: UnitOfWork, case: Case, now: datetime) -> int:
        closed = await uow.cases.get(case.id)
        seen.append((case.id, closed is not None and closed.closed_at == now))
        return 0

    lifecycle = world.services.case_lifecycle
    lifecycle.on_close.append(stop_visits)
    try:
        await talk.officer.close_case(talk.case_id, "other")
        await talk.officer.close_case(talk.case_id, "other")
    finally:
        lifecycle.on_close.remove(stop_visits)
    assert seen == [(talk.case_id, True)]
