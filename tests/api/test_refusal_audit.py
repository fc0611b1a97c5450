"""Every refused request for case data is audited, once per burst (issue 13, finding:
refusals). Before, only the refusals six services checked themselves left a trace."""

from __future__ import annotations

import json
from datetime import timedelta

import aiohttp
import pytest

from client_sdk.errors import ApiError
from client_sdk.staff import StaffClient
from server.domain.models import AuditEntry
from tests.support.world import Conversation, World, open_conversation

POLICY_ROUTE = "GET /v1/cases/{case_id}/escalation-policy"


async def _denials(world: World) -> list[AuditEntry]:
    async with world.services.store.read() as uow:
        return await uow.audit.query(action="access.denied", limit=1000)


async def _ask_policy(outsider: StaffClient, talk: Conversation) -> None:
    with pytest.raises(ApiError) as refused:
        await outsider.transport.request("GET", f"/v1/cases/{talk.case_id}/escalation-policy")
    assert refused.value.status == 404


async def test_a_refusal_no_service_audits_is_audited_once_per_burst(world: World) -> None:
    talk = await open_conversation(world)
    outsider = await world.login("outsider")

    for _ in range(5):
        await _ask_policy(outsider, talk)

    (entry,) = await _denials(world)
    assert (entry.actor_kind, entry.actor_id) == ("staff", world.staff["outsider"])
    assert entry.case_id == talk.case_id
    assert json.loads(entry.details) == {"attempted": POLICY_ROUTE}

    world.clock.advance(timedelta(minutes=11))  # a new burst
    await _ask_policy(outsider, talk)
    assert len(await _denials(world)) == 2


async def test_a_made_up_case_id_is_audited_without_naming_it(world: World) -> None:
    await open_conversation(world)
    outsider = await world.login("outsider")
    with pytest.raises(ApiError):
        await outsider.transport.request("GET", "/v1/cases/case_madeup/escalation-policy")
    (entry,) = await _denials(world)
    assert entry.case_id is None
    assert "case_madeup" not in repr(entry)


async def test_a_refusal_a_service_audits_is_not_audited_twice(world: World) -> None:
    talk = await open_conversation(world)
    outsider = await world.login("outsider")
    with pytest.raises(ApiError):
        await outsider.case(talk.case_id)
    (entry,) = await _denials(world)  # the service's own entry, not a second one
    assert json.loads(entry.details)["attempted"] != "GET /v1/cases/{case_id}"


async def test_an_unauthenticated_refusal_is_not_audited(world: World) -> None:
    talk = await open_conversation(world)
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{world.url}/v1/cases/{talk.case_id}/escalation-policy") as response,
    ):
        assert response.status == 401
    assert await _denials(world) == []
