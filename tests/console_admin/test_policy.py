"""An agency's default escalation policy, set in the console and used by new alerts."""

from __future__ import annotations

import json

from tests.console_admin.conftest import Managers
from tests.support.world import World, open_conversation

POLICY_FORM = {
    "level1_support_support_worker": "1",
    "level2_after": "10",
    "level2_support_supervisor": "1",
    "level3_after": "20",
    "level3_police_officer": "1",
    "level3_police_supervisor": "1",
    "ack_timeout_minutes": "45",
    "repeat_minutes": "25",
}
EXPECTED_LEVELS = [
    {
        "after_minutes": 0,
        "notify": [
            {
                "agency": "support",
                "roles": ["support_worker"],
                "staff_ids": [],
                "on_duty_only": True,
                "call": False,
            }
        ],
    },
    {
        "after_minutes": 10,
        "notify": [
            {
                "agency": "support",
                "roles": ["supervisor"],
                "staff_ids": [],
                "on_duty_only": False,
                "call": False,
            }
        ],
    },
    {
        "after_minutes": 20,
        "notify": [
            {
                "agency": "police",
                "roles": ["officer"],
                "staff_ids": [],
                "on_duty_only": False,
                "call": False,
            },
            {
                "agency": "police",
                "roles": ["supervisor"],
                "staff_ids": [],
                "on_duty_only": False,
                "call": False,
            },
        ],
    },
]


async def test_the_built_in_default_is_shown_until_the_agency_sets_its_own(
    world: World, managers: Managers
) -> None:
    support = world.agencies["support"]
    page = await managers.supervisor.get(f"/console/admin/agencies/{support}/policy")
    assert page.status == 200
    assert 'data-policy-source="default"' in page.text
    assert "When the alert fires" in page.text
    # The form starts from what is in force: the default's three levels.
    assert 'name="level1_support_support_worker" value="1" checked' in page.text
    assert 'name="level2_after" type="number"' in page.text
    assert 'value="15"' in page.text


async def test_a_saved_agency_policy_is_used_for_new_alerts(
    world: World, managers: Managers
) -> None:
    support = world.agencies["support"]
    boss = managers.supervisor
    await boss.get(f"/console/admin/agencies/{support}/policy")
    reply = await boss.post(f"/console/admin/agencies/{support}/policy", POLICY_FORM)
    assert reply.status == 303
    assert reply.location == f"/console/admin/agencies/{support}/policy?done=saved"

    page = await boss.get(reply.location)
    assert f'data-policy-source="agency:{support}"' in page.text
    assert "After 20 minutes" in page.text
    assert 'name="level3_police_supervisor" value="1" checked' in page.text

    talk = await open_conversation(world)
    shown = await talk.officer._call("GET", f"/v1/cases/{talk.case_id}/escalation-policy")
    assert shown["source"] == f"agency:{support}"
    assert shown["levels"] == EXPECTED_LEVELS
    assert (shown["ack_timeout_minutes"], shown["repeat_minutes"]) == (45, 25)

    await talk.witness.panic()
    async with world.services.store.read() as uow:
        alerts = await uow.alerts.open_for_case(talk.case_id)
    assert alerts
    snapshot = json.loads(alerts[0].policy)
    assert snapshot["levels"] == EXPECTED_LEVELS
    assert snapshot["ack_timeout_minutes"] == 45

    async with world.services.store.read() as uow:
        changes = await uow.audit.query(action="agency.escalation_policy_changed", limit=5)
    assert changes[0].actor_id == world.staff["boss"]
    assert changes[0].subject_id == support


async def test_a_policy_the_domain_refuses_is_not_saved(world: World, managers: Managers) -> None:
    support = world.agencies["support"]
    boss = managers.supervisor
    await boss.get(f"/console/admin/agencies/{support}/policy")
    no_targets = await boss.post(
        f"/console/admin/agencies/{support}/policy",
        {**POLICY_FORM, "level2_support_supervisor": ""},
    )
    assert no_targets.status == 422
    assert "level 2" in no_targets.text
    backwards = await boss.post(
        f"/console/admin/agencies/{support}/policy", {**POLICY_FORM, "level3_after": "5"}
    )
    assert backwards.status == 422
    not_a_number = await boss.post(
        f"/console/admin/agencies/{support}/policy", {**POLICY_FORM, "repeat_minutes": "soon"}
    )
    assert not_a_number.status == 422
    async with world.services.store.read() as uow:
        assert await uow.policies.get(f"agency:{support}") is None


async def test_an_admin_of_another_agency_neither_sees_nor_changes_the_policy(
    world: World, managers: Managers
) -> None:
    support = world.agencies["support"]
    page = await managers.admin.get(f"/console/admin/agencies/{support}/policy")
    assert page.status == 403
    await managers.admin.get("/console/admin")
    reply = await managers.admin.post(f"/console/admin/agencies/{support}/policy", POLICY_FORM)
    assert reply.status == 403
    async with world.services.store.read() as uow:
        assert await uow.policies.get(f"agency:{support}") is None
