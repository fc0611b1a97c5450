"""The alert outcome is sealed at rest like the note (issue 13, finding: outcome).

Staff still read it through the API and the console; the database holds only the
sealed form, and outcomes stored in plaintext before are sealed when the server starts.
"""

from __future__ import annotations

from tests.support.world import World, open_conversation
from tests.welfare.helpers import server_bytes

OUTCOME = "home visit: Ioana safe at her aunt's"
NOTE = "Spoke for ten minutes."


async def _resolved_alert(world: World) -> str:
    talk = await open_conversation(world)
    await talk.witness.panic()
    (alert,) = await talk.worker.alerts()
    await talk.worker.resolve(alert["alert_id"], OUTCOME, NOTE)
    return str(alert["alert_id"])


async def test_the_outcome_is_sealed_at_rest_and_read_back_by_staff(
    world: World, backend: str
) -> None:
    alert_id = await _resolved_alert(world)

    async with world.services.store.read() as uow:
        row = await uow.alerts.get(alert_id)
    assert row is not None
    assert row.outcome is None
    assert row.outcome_sealed is not None
    assert world.services.sealer.open(row.outcome_sealed) == OUTCOME
    assert OUTCOME.encode() not in await server_bytes(world, backend)
    talk_worker = await world.login("worker")
    (listed,) = await talk_worker.alerts(include_resolved=True)
    assert listed["outcome"] == OUTCOME


async def test_outcomes_stored_in_plaintext_before_are_sealed_at_start(world: World) -> None:
    alert_id = await _resolved_alert(world)
    async with world.services.store.write() as uow:  # as a row resolved before the fix
        await uow.conn.execute(
            "UPDATE alerts SET outcome = $2, outcome_sealed = NULL WHERE id = $1",
            alert_id,
            OUTCOME,
        )

    assert await world.services.alert_desk.seal_plaintext_outcomes() == 1

    async with world.services.store.read() as uow:
        row = await uow.alerts.get(alert_id)
        assert await uow.alerts.plaintext_outcomes(10) == []
    assert row is not None
    assert row.outcome is None
    assert row.outcome_sealed is not None
    assert world.services.sealer.open(row.outcome_sealed) == OUTCOME
    assert await world.services.alert_desk.seal_plaintext_outcomes() == 0
