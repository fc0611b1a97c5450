"""Escalation policies that name outsiders are refused (issue 13, finding: policies).

Alerts only reach staff of the case's agencies; a policy naming anyone else used to be
accepted and the name silently dropped when an alert fired. Now the policy is refused
with a 422 problem naming the offending field, and the policy in force is unchanged.
"""

from __future__ import annotations

from typing import Any

import pytest

from client_sdk.errors import ApiError
from server.domain.models import Role
from tests.support.world import World, open_conversation


def _named(*levels: list[str]) -> dict[str, Any]:
    return {
        "levels": [
            {"after_minutes": 15 * number, "notify": [{"staff_ids": ids}]}
            for number, ids in enumerate(levels)
        ],
        "ack_timeout_minutes": 60,
        "repeat_minutes": 30,
    }


async def test_a_case_policy_naming_staff_of_another_agency_is_refused(world: World) -> None:
    talk = await open_conversation(world)
    worker, outsider = world.staff["worker"], world.staff["outsider"]

    with pytest.raises(ApiError) as refused:
        await talk.officer.set_escalation_policy(talk.case_id, _named([worker], [worker, outsider]))

    problem = refused.value
    assert (problem.status, problem.code) == (422, "invalid-input")
    assert problem.extra["field"] == "levels[1].notify[0].staff_ids[1]"
    assert problem.detail is not None
    assert problem.detail.startswith("levels[1].notify[0].staff_ids[1] is not active staff")
    in_force = await talk.officer.transport.request(
        "GET", f"/v1/cases/{talk.case_id}/escalation-policy"
    )
    assert in_force["source"] == "default"


async def test_a_case_policy_naming_an_unknown_id_is_refused_alike(world: World) -> None:
    talk = await open_conversation(world)
    with pytest.raises(ApiError) as refused:
        await talk.officer.set_escalation_policy(talk.case_id, _named(["stf_nobody"]))
    assert refused.value.extra["field"] == "levels[0].notify[0].staff_ids[0]"


async def test_a_case_policy_naming_the_case_agencies_staff_is_kept(world: World) -> None:
    talk = await open_conversation(world)
    worker, officer = world.staff["worker"], world.staff["officer"]

    await talk.officer.set_escalation_policy(talk.case_id, _named([worker], [officer]))

    in_force = await talk.officer.transport.request(
        "GET", f"/v1/cases/{talk.case_id}/escalation-policy"
    )
    assert in_force["source"] == f"case:{talk.case_id}"


async def test_an_agency_policy_naming_staff_of_another_agency_is_refused(world: World) -> None:
    await world.add_staff("boss", "support", Role.SUPERVISOR)
    boss = await world.login("boss")
    support = world.agencies["support"]

    with pytest.raises(ApiError) as refused:
        await boss.set_agency_policy(support, _named([world.staff["outsider"]]))
    assert (refused.value.status, refused.value.extra["field"]) == (
        422,
        "levels[0].notify[0].staff_ids[0]",
    )
    await boss.set_agency_policy(support, _named([world.staff["worker"]]))
