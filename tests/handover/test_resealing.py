"""The sealed decline reason and assessment notes follow a rotation of the server key:
the re-seal job finds them (they are registered sealed columns), and after the old key
is gone both still open."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.handover.helpers import requested_case
from tests.secrets.test_key_rotation import new_key, restart_with
from tests.support.world import World

START = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)


async def test_a_key_rotation_reseals_the_decline_reason_and_the_notes(world: World) -> None:
    case = await requested_case(world, START)
    talk = case.talk
    await case.lead.decline_handover(case.handover_id, "REASON-SEALED-UNDER-THE-OLD-KEY")
    assessment = await talk.officer.record_assessment(talk.case_id, "low", [], "NOTES-OLD-KEY")

    new = new_key()
    await restart_with(world, secret_key_b64=new)
    before = await world.services.resealer.report()
    assert before.remaining["handovers.decline_reason_sealed"] == 1
    assert before.remaining["risk_assessments.notes_sealed"] == 1
    await world.services.resealer.run()
    world.settings.secret_key_path.unlink()
    await restart_with(world, secret_key_b64=new)
    assert not world.services.sealer.has_previous_keys

    seen = (await talk.officer.handover(talk.case_id))["handover"]
    assert seen["decline_reason"] == "REASON-SEALED-UNDER-THE-OLD-KEY"
    notes = await talk.officer.assessment_notes(assessment["assessment_id"])
    assert notes == "NOTES-OLD-KEY"
