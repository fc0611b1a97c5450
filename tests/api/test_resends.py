"""Re-sent copies at the HTTP edge (session repair): only the original sender may add a
copy of its message, only for an active device of the case, under the original id;
a retried request adds nothing; a device gets a message again a bounded number of
times; bad requests are RFC 9457 problems with stable codes."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import aiohttp

from scheduler.jobs import Maintenance
from server.domain.resends import MAX_RESENDS_PER_DEVICE
from tests.api.helpers import (
    CaseTeam,
    audit_entries,
    case_team,
    ciphertexts,
    expect_problem,
    raw_login,
)
from tests.api.helpers import client_headers as token
from tests.api.helpers import pending_frames as pending
from tests.api.helpers import put_message as put
from tests.support.world import World


async def resend(
    http: aiohttp.ClientSession,
    sender: dict[str, str],
    case_id: str,
    message_id: str,
    device_id: str,
    body: Any = None,
) -> aiohttp.ClientResponse:
    return await http.put(
        f"/v1/cases/{case_id}/messages/{message_id}/copies/{device_id}",
        json={"type": 1, "body": "YWdhaW4"} if body is None else body,
        headers=sender,
    )


async def sent(world: World, http: aiohttp.ClientSession, message_id: str) -> CaseTeam:
    """A case team whose officer sent ``message_id`` to the witness's phone."""
    team = await case_team(world)
    body = ciphertexts(team.witness.device_id)
    async with await put(http, team.officer, team.case_id, message_id, body) as response:
        assert response.status == 201, await response.text()
    return team


async def test_the_sender_adds_a_copy_for_one_device_under_the_original_id(
    world: World, http: aiohttp.ClientSession
) -> None:
    team = await case_team(world)
    body = ciphertexts(team.witness.device_id, team.worker.device_id)
    async with await put(http, team.officer, team.case_id, "msg-repair-01", body) as response:
        assert response.status == 201
    world.clock.advance(timedelta(minutes=3))
    async with await resend(
        http, token(team.officer), team.case_id, "msg-repair-01", team.witness.device_id
    ) as response:
        assert response.status == 201, await response.text()
        receipt = await response.json()
    assert receipt == {
        "message_id": "msg-repair-01",
        "device_id": team.witness.device_id,
        "stored_at": receipt["stored_at"],
        "duplicate": False,
    }
    copies = await pending(http, team.witness)
    assert [(c["message_id"], c["body"]) for c in copies] == [
        ("msg-repair-01", "b2xtIGNpcGhlcnRleHQ"),
        ("msg-repair-01", "YWdhaW4"),
    ]
    assert copies[0]["copy_id"] < copies[1]["copy_id"]
    assert copies[1]["sender_device_id"] == team.officer.device_id
    assert len(await pending(http, team.worker)) == 1, "only the named device gets a copy"

    # The same request again (say its answer was lost) adds nothing.
    async with await resend(
        http, token(team.officer), team.case_id, "msg-repair-01", team.witness.device_id
    ) as response:
        assert response.status == 200
        assert (await response.json())["duplicate"] is True
    assert len(await pending(http, team.witness)) == 2


async def test_a_message_is_sent_again_to_a_device_a_bounded_number_of_times(
    world: World, http: aiohttp.ClientSession
) -> None:
    team = await sent(world, http, "msg-repair-02")
    for n in range(MAX_RESENDS_PER_DEVICE):
        async with await resend(
            http,
            token(team.officer),
            team.case_id,
            "msg-repair-02",
            team.witness.device_id,
            {"type": 0, "body": f"YWdhaW4{n}"},
        ) as response:
            assert response.status == 201
    async with await resend(
        http,
        token(team.officer),
        team.case_id,
        "msg-repair-02",
        team.witness.device_id,
        {"type": 0, "body": "b25jZW1vcmU"},
    ) as response:
        await expect_problem(response, 409, "resend-limit")
    assert len(await pending(http, team.witness)) == 1 + MAX_RESENDS_PER_DEVICE
    # Another device of the case has its own count.
    async with await resend(
        http, token(team.officer), team.case_id, "msg-repair-02", team.worker.device_id
    ) as response:
        assert response.status == 201


async def test_only_the_original_sender_can_add_a_copy(
    world: World, http: aiohttp.ClientSession
) -> None:
    team = await sent(world, http, "msg-repair-03")
    # A colleague in the same case cannot add to the officer's message...
    async with await resend(
        http, token(team.worker), team.case_id, "msg-repair-03", team.witness.device_id
    ) as response:
        await expect_problem(response, 404, "not-found")
    # ... and nobody can add to a message that was never sent.
    async with await resend(
        http, token(team.officer), team.case_id, "msg-never-sent", team.witness.device_id
    ) as response:
        await expect_problem(response, 404, "not-found")
    assert len(await pending(http, team.witness)) == 1


async def test_copies_go_only_to_active_devices_of_the_messages_own_case(
    world: World, http: aiohttp.ClientSession
) -> None:
    team = await sent(world, http, "msg-repair-04")
    other = await case_team(world, reference="DE-2026-0002")
    outsider = await raw_login(http, "outsider")
    for device_id in (outsider.device_id, other.witness.device_id):
        async with await resend(
            http, token(team.officer), team.case_id, "msg-repair-04", device_id
        ) as response:
            problem = await expect_problem(response, 409, "stale-devices")
            assert problem["unknown_devices"] == [device_id]
    # The message belongs to its case: naming the other case does not move it there.
    async with await resend(
        http, token(team.officer), other.case_id, "msg-repair-04", other.witness.device_id
    ) as response:
        await expect_problem(response, 404, "not-found")
    async with await resend(
        http, token(team.officer), team.case_id, "msg-repair-04", team.officer.device_id
    ) as response:
        await expect_problem(response, 422, "invalid-input")
    await team.officer.revoke_device(team.witness.device_id)
    async with await resend(
        http, token(team.officer), team.case_id, "msg-repair-04", team.witness.device_id
    ) as response:
        await expect_problem(response, 409, "stale-devices")
    assert await pending(http, other.witness) == []


async def test_a_non_member_is_refused_and_audited(
    world: World, http: aiohttp.ClientSession
) -> None:
    team = await sent(world, http, "msg-repair-05")
    outsider = await raw_login(http, "outsider")
    async with await resend(
        http, outsider.headers, team.case_id, "msg-repair-05", team.witness.device_id
    ) as response:
        await expect_problem(response, 404, "not-found")
    (entry,) = await audit_entries(world, action="access.denied", actor_id=outsider.staff_id)
    assert entry.case_id == team.case_id
    assert json.loads(entry.details) == {"attempted": "re-send a message"}


async def test_malformed_resends_are_refused(world: World, http: aiohttp.ClientSession) -> None:
    team = await sent(world, http, "msg-repair-06")
    witness = team.witness.device_id
    for body, code in (
        ({"type": 2, "body": "YWdhaW4"}, "invalid-body"),
        ({"type": 1, "body": "not base64!"}, "invalid-body"),
        ({"type": 1, "body": "YWdhaW4", "device_id": witness}, "invalid-body"),
        ({"type": 1, "body": "A" * (96 * 1024 + 4)}, "invalid-body"),
    ):
        async with await resend(
            http, token(team.officer), team.case_id, "msg-repair-06", witness, body
        ) as response:
            await expect_problem(response, 422, code)
    async with await resend(
        http, token(team.officer), team.case_id, "bad id!", witness
    ) as response:
        assert response.status in (404, 422)
    assert len(await pending(http, team.witness)) == 1


async def test_resend_records_are_purged_with_their_message(
    world: World, http: aiohttp.ClientSession
) -> None:
    team = await sent(world, http, "msg-repair-07")
    async with await resend(
        http, token(team.officer), team.case_id, "msg-repair-07", team.witness.device_id
    ) as response:
        assert response.status == 201
    world.clock.advance(timedelta(days=30, minutes=1))
    await Maintenance(world.services).purge_expired()
    async with world.services.db.transaction() as conn:
        assert await conn.fetchval("SELECT COUNT(*) FROM resent_copies") == 0
    async with await resend(
        http, token(team.officer), team.case_id, "msg-repair-07", team.witness.device_id
    ) as response:
        await expect_problem(response, 404, "not-found")
