"""The relay at the HTTP edge: idempotent sends under client-chosen ids, all-or-nothing
fan-out to the case's current devices, acknowledgements that touch only the caller's
copies, paging, the 30-day purge, and encrypted attachments for named recipients."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import aiohttp

from scheduler.jobs import Maintenance
from server.domain.messages import OutgoingMessage
from server.storage.protocols import NewCopy
from tests.api.helpers import (
    CaseTeam,
    bearer,
    case_team,
    ciphertexts,
    expect_problem,
    raw_login,
)
from tests.api.helpers import client_headers as token
from tests.api.helpers import pending_frames as pending
from tests.api.helpers import put_message as put
from tests.support.world import World


async def ack(http: aiohttp.ClientSession, device: Any, copy_ids: list[int]) -> None:
    async with http.post(
        "/v1/messages/ack", json={"copy_ids": copy_ids}, headers=token(device)
    ) as response:
        assert response.status == 200, await response.text()


# --------------------------------------------------------------------------- idempotency


async def test_a_retried_send_is_acknowledged_again_without_a_second_copy(
    world: World, http: aiohttp.ClientSession
) -> None:
    team = await case_team(world)
    body = ciphertexts(team.witness.device_id, team.worker.device_id)
    async with await put(http, team.officer, team.case_id, "msg-retry-0001", body) as response:
        assert response.status == 201, await response.text()
        first = await response.json()
    assert first["duplicate"] is False
    world.clock.advance(timedelta(minutes=5))
    async with await put(http, team.officer, team.case_id, "msg-retry-0001", body) as response:
        assert response.status == 200, await response.text()
        second = await response.json()
    assert second["duplicate"] is True
    assert second["stored_at"] == first["stored_at"]
    assert second["message_id"] == "msg-retry-0001"
    for recipient in (team.witness, team.worker):
        copies = await pending(http, recipient)
        assert [c["message_id"] for c in copies] == ["msg-retry-0001"]


async def test_a_retry_after_delivery_does_not_deliver_again(
    world: World, http: aiohttp.ClientSession
) -> None:
    team = await case_team(world)
    body = ciphertexts(team.witness.device_id, team.worker.device_id)
    async with await put(http, team.officer, team.case_id, "msg-retry-0002", body) as response:
        assert response.status == 201
    (copy,) = await pending(http, team.witness)
    await ack(http, team.witness, [copy["copy_id"]])
    async with await put(http, team.officer, team.case_id, "msg-retry-0002", body) as response:
        assert response.status == 200
        assert (await response.json())["duplicate"] is True
    assert await pending(http, team.witness) == []


async def test_concurrent_identical_sends_store_one_copy(
    world: World, http: aiohttp.ClientSession
) -> None:
    team = await case_team(world)
    body = ciphertexts(team.witness.device_id)

    async def send() -> int:
        async with await put(http, team.officer, team.case_id, "msg-race-0001", body) as r:
            return r.status

    statuses = await asyncio.gather(*(send() for _ in range(8)))
    assert sorted(statuses) == [200] * 7 + [201]
    assert len(await pending(http, team.witness)) == 1


async def test_a_message_id_reused_for_other_content_is_refused(
    world: World, http: aiohttp.ClientSession
) -> None:
    team = await case_team(world)
    original = ciphertexts(team.witness.device_id, body="b3JpZ2luYWw")
    async with await put(http, team.officer, team.case_id, "msg-reuse-0001", original) as r:
        assert r.status == 201
    for other in (
        ciphertexts(team.witness.device_id, body="b3RoZXI"),
        ciphertexts(team.witness.device_id, team.worker.device_id, body="b3JpZ2luYWw"),
    ):
        async with await put(http, team.officer, team.case_id, "msg-reuse-0001", other) as r:
            await expect_problem(r, 409, "message-id-reused")
    (copy,) = await pending(http, team.witness)
    assert copy["body"] == "b3JpZ2luYWw"
    assert await pending(http, team.worker) == []


async def test_message_ids_belong_to_the_sending_device(
    world: World, http: aiohttp.ClientSession
) -> None:
    team = await case_team(world)
    async with await put(
        http, team.officer, team.case_id, "msg-shared-0001", ciphertexts(team.witness.device_id)
    ) as response:
        assert response.status == 201
    async with await put(
        http, team.worker, team.case_id, "msg-shared-0001", ciphertexts(team.witness.device_id)
    ) as response:
        assert response.status == 201
        assert (await response.json())["duplicate"] is False
    assert len(await pending(http, team.witness)) == 2


# --------------------------------------------------------------------------- recipients


async def test_a_recipient_outside_the_case_makes_the_send_stale(
    world: World, http: aiohttp.ClientSession
) -> None:
    team = await case_team(world)
    outsider = await raw_login(http, "outsider")
    body = ciphertexts(team.witness.device_id, outsider.device_id)
    async with await put(http, team.officer, team.case_id, "msg-stale-0001", body) as response:
        problem = await expect_problem(response, 409, "stale-devices")
    assert problem["unknown_devices"] == [outsider.device_id]
    assert await pending(http, team.witness) == []
    # The refused attempt did not use up the id.
    body = ciphertexts(team.witness.device_id)
    async with await put(http, team.officer, team.case_id, "msg-stale-0001", body) as response:
        assert response.status == 201, await response.text()


async def test_a_revoked_recipient_makes_the_send_stale(
    world: World, http: aiohttp.ClientSession
) -> None:
    team = await case_team(world)
    await team.officer.revoke_device(team.witness.device_id)
    body = ciphertexts(team.witness.device_id, team.worker.device_id)
    async with await put(http, team.officer, team.case_id, "msg-stale-0002", body) as response:
        problem = await expect_problem(response, 409, "stale-devices")
    assert problem["unknown_devices"] == [team.witness.device_id]
    assert await pending(http, team.worker) == []


async def test_the_receipt_names_case_devices_left_out(
    world: World, http: aiohttp.ClientSession
) -> None:
    team = await case_team(world)
    body = ciphertexts(team.witness.device_id)
    async with await put(http, team.officer, team.case_id, "msg-partial-01", body) as response:
        receipt = await response.json()
    assert receipt["recipients"] == 1
    assert receipt["missing_devices"] == [team.worker.device_id]


async def test_a_device_does_not_send_to_itself(world: World, http: aiohttp.ClientSession) -> None:
    team = await case_team(world)
    body = ciphertexts(team.witness.device_id, team.officer.device_id)
    async with await put(http, team.officer, team.case_id, "msg-self-0001", body) as response:
        await expect_problem(response, 422, "invalid-input")
    assert await pending(http, team.witness) == []


async def test_malformed_sends_are_refused(world: World, http: aiohttp.ClientSession) -> None:
    team = await case_team(world)
    witness = team.witness.device_id
    bad: list[tuple[str, dict[str, Any], str]] = [
        ("msg-twice-0001", ciphertexts(witness, witness), "invalid-input"),
        (
            "msg-type-0001",
            {"ciphertexts": [{"device_id": witness, "type": 2, "body": "eA"}]},
            "invalid-body",
        ),
        (
            "msg-nul-00001",
            {"ciphertexts": [{"device_id": witness, "type": 1, "body": "ab\u0000cd"}]},
            "invalid-body",
        ),
        ("short", ciphertexts(witness), "invalid-input"),
        ("has.a.dot", ciphertexts(witness), "invalid-input"),
        ("x" * 65, ciphertexts(witness), "invalid-input"),
        ("msg-empty-0001", {"ciphertexts": []}, "invalid-body"),
        ("msg-huge-0001", ciphertexts(witness, body="A" * (96 * 1024 + 1)), "invalid-body"),
        (
            "msg-nobody-001",
            {"ciphertexts": [{"device_id": witness, "type": 1, "body": ""}]},
            "invalid-body",
        ),
    ]
    for message_id, body, code in bad:
        async with await put(http, team.officer, team.case_id, message_id, body) as response:
            await expect_problem(response, 422, code)
    assert await pending(http, team.witness) == []


# --------------------------------------------------------------------------- fetch and ack


async def test_an_acknowledgement_deletes_only_the_callers_own_copies(
    world: World, http: aiohttp.ClientSession
) -> None:
    team = await case_team(world)
    body = ciphertexts(team.witness.device_id, team.worker.device_id)
    async with await put(http, team.officer, team.case_id, "msg-ack-00001", body) as response:
        assert response.status == 201
    (witness_copy,) = await pending(http, team.witness)
    (worker_copy,) = await pending(http, team.worker)
    assert witness_copy["copy_id"] != worker_copy["copy_id"]

    await ack(http, team.witness, [worker_copy["copy_id"]])
    await ack(http, team.officer, [worker_copy["copy_id"], witness_copy["copy_id"]])
    assert [c["copy_id"] for c in await pending(http, team.worker)] == [worker_copy["copy_id"]]
    assert [c["copy_id"] for c in await pending(http, team.witness)] == [witness_copy["copy_id"]]

    await ack(http, team.witness, [witness_copy["copy_id"]])
    assert await pending(http, team.witness) == []
    assert len(await pending(http, team.worker)) == 1


async def test_acknowledging_unknown_or_repeated_ids_is_harmless(
    world: World, http: aiohttp.ClientSession
) -> None:
    team = await case_team(world)
    await ack(http, team.witness, [])
    await ack(http, team.witness, [424242, 424242, 2**63 - 1])
    # Ids that no copy can have are malformed, not merely unknown.
    for impossible in ([0], [-1], [2**63]):
        async with http.post(
            "/v1/messages/ack", json={"copy_ids": impossible}, headers=token(team.witness)
        ) as response:
            await expect_problem(response, 422, "invalid-body")
    async with http.post(
        "/v1/messages/ack", json={"copy_ids": list(range(501))}, headers=token(team.witness)
    ) as response:
        await expect_problem(response, 422, "invalid-body")


async def test_a_copy_carries_only_what_the_recipient_needs(
    world: World, http: aiohttp.ClientSession
) -> None:
    team = await case_team(world)
    body = ciphertexts(team.witness.device_id)
    async with await put(http, team.officer, team.case_id, "msg-frame-0001", body) as response:
        receipt = await response.json()
    (copy,) = await pending(http, team.witness)
    assert copy == {
        "type": "message",
        "copy_id": copy["copy_id"],
        "case_id": team.case_id,
        "message_id": "msg-frame-0001",
        "sender_device_id": team.officer.device_id,
        "olm_type": 1,
        "body": body["ciphertexts"][0]["body"],
        "sent_at": receipt["stored_at"],
    }


async def test_pending_copies_page_with_after_and_limit(
    world: World, http: aiohttp.ClientSession
) -> None:
    team = await case_team(world)
    for i in range(5):
        body = ciphertexts(team.witness.device_id, body=f"Y2lwaGVy{i}")
        async with await put(http, team.officer, team.case_id, f"msg-page-{i:04d}", body) as r:
            assert r.status == 201
    everything = await pending(http, team.witness)
    assert [c["message_id"] for c in everything] == [f"msg-page-{i:04d}" for i in range(5)]
    ids = [c["copy_id"] for c in everything]
    assert ids == sorted(ids)

    first = await pending(http, team.witness, limit="2")
    assert [c["copy_id"] for c in first] == ids[:2]
    second = await pending(http, team.witness, after=str(ids[1]), limit="2")
    assert [c["copy_id"] for c in second] == ids[2:4]
    third = await pending(http, team.witness, after=str(ids[3]), limit="2")
    assert [c["copy_id"] for c in third] == ids[4:]
    assert await pending(http, team.witness, after=str(ids[4])) == []
    # A limit is clamped into 1..500 rather than refused.
    assert len(await pending(http, team.witness, limit="0")) == 1
    assert len(await pending(http, team.witness, limit="100000")) == 5
    for params in ({"after": "first"}, {"limit": "ten"}, {"after": "1.5"}):
        async with http.get("/v1/messages", params=params, headers=token(team.witness)) as r:
            await expect_problem(r, 422, "invalid-input")


# --------------------------------------------------------------------------- TTL


async def test_undelivered_copies_are_purged_after_30_days(
    world: World, http: aiohttp.ClientSession
) -> None:
    team = await case_team(world)
    async with await put(
        http, team.officer, team.case_id, "msg-old-00001", ciphertexts(team.witness.device_id)
    ) as response:
        assert response.status == 201
    world.clock.advance(timedelta(days=29))
    async with await put(
        http, team.officer, team.case_id, "msg-new-00001", ciphertexts(team.witness.device_id)
    ) as response:
        assert response.status == 201
    world.clock.advance(timedelta(days=1, minutes=1))
    report = await Maintenance(world.services).purge_expired()
    assert report.message_copies == 1
    assert [c["message_id"] for c in await pending(http, team.witness)] == ["msg-new-00001"]


async def test_nothing_is_purged_before_30_days(world: World, http: aiohttp.ClientSession) -> None:
    team = await case_team(world)
    async with await put(
        http, team.officer, team.case_id, "msg-young-0001", ciphertexts(team.witness.device_id)
    ) as response:
        assert response.status == 201
    world.clock.advance(timedelta(days=30) - timedelta(minutes=1))
    report = await Maintenance(world.services).purge_expired()
    assert report.message_copies == 0
    assert len(await pending(http, team.witness)) == 1


# --------------------------------------------------------------------------- group commit


async def test_a_bad_send_does_not_fail_the_sends_committed_with_it(world: World) -> None:
    """Concurrent sends share one transaction (group commit). One client's odd but
    schema-valid ciphertext (here with a NUL character, which PostgreSQL text cannot
    hold) must not turn everyone else's sends in the same batch into errors."""
    team = await case_team(world)
    auth = world.services.authenticator
    officer = await auth.authenticate(team.officer.transport.token)
    worker = await auth.authenticate(team.worker.transport.token)
    relay = world.services.messages
    bad = OutgoingMessage(
        worker, team.case_id, "msg-poison-01", [NewCopy(team.witness.device_id, 1, "eA\u0000")]
    )
    good = OutgoingMessage(
        officer, team.case_id, "msg-honest-01", [NewCopy(team.witness.device_id, 1, "aG9uZXN0")]
    )
    outcomes = await asyncio.gather(relay.send(bad), relay.send(good), return_exceptions=True)
    assert not isinstance(outcomes[1], BaseException), repr(outcomes[1])
    async with world.services.store.read() as uow:
        stored = await uow.messages.pending_for_device(team.witness.device_id)
    assert "msg-honest-01" in {c.message_id for c in stored}


async def test_a_bad_acknowledgement_does_not_fail_the_ones_committed_with_it(
    world: World, http: aiohttp.ClientSession
) -> None:
    team = await case_team(world)
    body = ciphertexts(team.witness.device_id, team.worker.device_id)
    async with await put(http, team.officer, team.case_id, "msg-ackbatch-1", body) as response:
        assert response.status == 201
    (worker_copy,) = await pending(http, team.worker)
    auth = world.services.authenticator
    witness = await auth.authenticate(team.witness.transport.token)
    worker = await auth.authenticate(team.worker.transport.token)
    relay = world.services.messages
    outcomes = await asyncio.gather(
        relay.acknowledge(witness, [2**63]),
        relay.acknowledge(worker, [worker_copy["copy_id"]]),
        return_exceptions=True,
    )
    assert not isinstance(outcomes[1], BaseException), repr(outcomes[1])
    assert await pending(http, team.worker) == []


# --------------------------------------------------------------------------- attachments


async def upload(
    http: aiohttp.ClientSession, sender: Any, case_id: str, recipients: list[str], data: Any
) -> aiohttp.ClientResponse:
    return await http.post(
        f"/v1/cases/{case_id}/attachments",
        params={"recipients": ",".join(recipients)},
        data=data,
        headers={**token(sender), "Content-Type": "application/octet-stream"},
    )


async def fetch(http: aiohttp.ClientSession, device: Any, attachment_id: str) -> tuple[int, bytes]:
    async with http.get(f"/v1/attachments/{attachment_id}", headers=token(device)) as response:
        return response.status, await response.read()


async def confirm(http: aiohttp.ClientSession, device: Any, attachment_id: str) -> Any:
    async with http.post(f"/v1/attachments/{attachment_id}/ack", headers=token(device)) as response:
        return response.status, await response.json(content_type=None)


async def _attachment(team: CaseTeam, http: aiohttp.ClientSession, blob: bytes) -> str:
    async with await upload(
        http, team.officer, team.case_id, [team.witness.device_id, team.worker.device_id], blob
    ) as response:
        assert response.status == 201, await response.text()
        reply = await response.json()
    assert reply["size"] == len(blob)
    return str(reply["attachment_id"])


async def test_an_attachment_is_kept_opaque_for_its_recipients_only(
    world: World, http: aiohttp.ClientSession
) -> None:
    team = await case_team(world)
    blob = bytes(range(256)) * 16
    attachment_id = await _attachment(team, http, blob)
    assert await fetch(http, team.witness, attachment_id) == (200, blob)
    assert await fetch(http, team.worker, attachment_id) == (200, blob)
    outsider = await raw_login(http, "outsider")
    for stranger in (team.officer, outsider.token):
        headers = token(stranger) if not isinstance(stranger, str) else bearer(stranger)
        async with http.get(f"/v1/attachments/{attachment_id}", headers=headers) as response:
            await expect_problem(response, 404, "not-found")
        async with http.post(f"/v1/attachments/{attachment_id}/ack", headers=headers) as r:
            await expect_problem(r, 404, "not-found")


async def test_an_attachment_is_deleted_once_every_recipient_has_it(
    world: World, http: aiohttp.ClientSession
) -> None:
    team = await case_team(world)
    attachment_id = await _attachment(team, http, b"ciphertext")
    assert await confirm(http, team.witness, attachment_id) == (200, {"deleted": False})
    assert await confirm(http, team.witness, attachment_id) == (200, {"deleted": False})
    assert (await fetch(http, team.worker, attachment_id))[0] == 200
    assert await confirm(http, team.worker, attachment_id) == (200, {"deleted": True})
    for recipient in (team.witness, team.worker):
        assert (await fetch(http, recipient, attachment_id))[0] == 404
    async with world.services.store.read() as uow:
        assert await uow.attachments.get(attachment_id) is None


async def test_attachments_are_limited_in_size(world: World, http: aiohttp.ClientSession) -> None:
    team = await case_team(world)
    limit = world.services.settings.attachment_max_bytes
    recipients = [team.witness.device_id]
    async with await upload(http, team.officer, team.case_id, recipients, b"x" * limit) as r:
        assert r.status == 201, await r.text()
    async with await upload(
        http, team.officer, team.case_id, recipients, b"x" * (limit + 1)
    ) as response:
        await expect_problem(response, 413, "too-large")

    async def chunked() -> Any:
        for _ in range(limit // 4096 + 1):
            yield b"y" * 4096

    async with await upload(http, team.officer, team.case_id, recipients, chunked()) as response:
        await expect_problem(response, 413, "too-large")


async def test_attachment_uploads_name_valid_recipients(
    world: World, http: aiohttp.ClientSession
) -> None:
    team = await case_team(world)
    outsider = await raw_login(http, "outsider")
    async with await upload(http, team.officer, team.case_id, [], b"x") as response:
        await expect_problem(response, 422, "invalid-input")
    async with await upload(
        http, team.officer, team.case_id, [team.witness.device_id] * 2, b"x"
    ) as response:
        await expect_problem(response, 422, "invalid-input")
    async with await upload(
        http, team.officer, team.case_id, [team.witness.device_id], b""
    ) as response:
        await expect_problem(response, 422, "invalid-input")
    async with await upload(
        http, team.officer, team.case_id, [team.witness.device_id, outsider.device_id], b"x"
    ) as response:
        problem = await expect_problem(response, 409, "stale-devices")
        assert problem["unknown_devices"] == [outsider.device_id]


async def test_an_attachment_is_not_addressed_to_its_uploader(
    world: World, http: aiohttp.ClientSession
) -> None:
    """As with messages, naming yourself is a malformed request (422), not a stale
    device list: a 409 ``stale-devices`` with no unknown devices gives a client
    nothing to correct."""
    team = await case_team(world)
    async with await upload(
        http, team.officer, team.case_id, [team.witness.device_id, team.officer.device_id], b"x"
    ) as response:
        await expect_problem(response, 422, "invalid-input")


async def test_revoking_the_only_recipient_deletes_the_attachment(
    world: World, http: aiohttp.ClientSession
) -> None:
    team = await case_team(world)
    async with await upload(
        http, team.officer, team.case_id, [team.witness.device_id], b"for the phone"
    ) as response:
        attachment_id = (await response.json())["attachment_id"]
    await team.officer.revoke_device(team.witness.device_id)
    async with world.services.store.read() as uow:
        assert await uow.attachments.get(attachment_id) is None


async def test_unfetched_attachments_are_purged_after_30_days(
    world: World, http: aiohttp.ClientSession
) -> None:
    team = await case_team(world)
    attachment_id = await _attachment(team, http, b"never fetched")
    world.clock.advance(timedelta(days=30) - timedelta(minutes=1))
    assert (await Maintenance(world.services).purge_expired()).attachments == 0
    assert (await fetch(http, team.witness, attachment_id))[0] == 200
    world.clock.advance(timedelta(minutes=2))
    assert (await Maintenance(world.services).purge_expired()).attachments == 1
    assert (await fetch(http, team.witness, attachment_id))[0] == 404
    assert (await fetch(http, team.worker, attachment_id))[0] == 404
