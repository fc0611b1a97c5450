"""Encrypted attachments: stored once, fetched by each recipient device, then gone."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest

from server.clock import ManualClock
from server.storage.store import SqlStore
from tests.storage.factories import CaseTeam, attachment_row, make_case_team


@pytest.fixture
async def team(store: SqlStore, clock: ManualClock) -> CaseTeam:
    return await make_case_team(store, clock.now())


async def test_an_attachment_is_stored_with_its_content_and_recipients(
    store: SqlStore, clock: ManualClock, team: CaseTeam
) -> None:
    content = bytes(range(256)) * 4096 + b"\x00"  # 1 MiB of ciphertext, NULs included
    attachment = attachment_row(team.case.id, team.witness_device.id, len(content), clock.now())
    async with store.write() as uow:
        await uow.attachments.insert(
            attachment, content, [team.officer_device.id, team.support_device.id]
        )

    async with store.read() as uow:
        assert await uow.attachments.get(attachment.id) == attachment
        assert await uow.attachments.content(attachment.id) == content
        assert await uow.attachments.is_recipient(attachment.id, team.officer_device.id)
        assert await uow.attachments.is_recipient(attachment.id, team.support_device.id)
        # The uploader is not a recipient of its own upload.
        assert not await uow.attachments.is_recipient(attachment.id, team.witness_device.id)
        assert not await uow.attachments.is_recipient("att_missing", team.officer_device.id)
        assert await uow.attachments.get("att_missing") is None
        assert await uow.attachments.content("att_missing") is None


async def test_empty_content_is_distinguished_from_a_missing_attachment(
    store: SqlStore, clock: ManualClock, team: CaseTeam
) -> None:
    attachment = attachment_row(team.case.id, team.witness_device.id, 0, clock.now())
    async with store.write() as uow:
        await uow.attachments.insert(attachment, b"", [team.officer_device.id])
    async with store.read() as uow:
        assert await uow.attachments.content(attachment.id) == b""


async def test_mark_fetched_counts_the_recipients_still_waiting(
    store: SqlStore, clock: ManualClock, team: CaseTeam
) -> None:
    witness, officer, support = team.device_ids
    attachment = attachment_row(team.case.id, officer, 3, clock.now())
    async with store.write() as uow:
        await uow.attachments.insert(attachment, b"abc", [witness, support, "dev_third"])

    async with store.write() as uow:
        assert await uow.attachments.mark_fetched(attachment.id, witness, clock.now()) == 2
        # Fetching again (a retried download) does not count twice.
        assert await uow.attachments.mark_fetched(attachment.id, witness, clock.now()) == 2
        # Someone who is not a recipient changes nothing.
        assert await uow.attachments.mark_fetched(attachment.id, officer, clock.now()) == 2
        assert await uow.attachments.mark_fetched(attachment.id, support, clock.now()) == 1
        assert await uow.attachments.mark_fetched(attachment.id, "dev_third", clock.now()) == 0

    async with store.read() as uow:
        # Fetching does not remove the right to fetch.
        assert await uow.attachments.is_recipient(attachment.id, witness)


async def test_delete_removes_the_attachment_and_its_recipients(
    store: SqlStore, clock: ManualClock, team: CaseTeam
) -> None:
    witness, officer, _ = team.device_ids
    doomed = attachment_row(team.case.id, witness, 1, clock.now())
    kept = attachment_row(team.case.id, witness, 1, clock.now())
    async with store.write() as uow:
        await uow.attachments.insert(doomed, b"x", [officer])
        await uow.attachments.insert(kept, b"y", [officer])

    async with store.write() as uow:
        await uow.attachments.delete(doomed.id)
        await uow.attachments.delete("att_missing")

    async with store.read() as uow:
        assert await uow.attachments.get(doomed.id) is None
        assert await uow.attachments.content(doomed.id) is None
        assert not await uow.attachments.is_recipient(doomed.id, officer)
        assert await uow.attachments.get(kept.id) == kept
        assert await uow.attachments.is_recipient(kept.id, officer)


async def test_purge_older_than_removes_old_attachments_only(
    store: SqlStore, clock: ManualClock, team: CaseTeam
) -> None:
    witness, officer, _ = team.device_ids
    old = [attachment_row(team.case.id, witness, 1, clock.now()) for _ in range(2)]
    async with store.write() as uow:
        for a in old:
            await uow.attachments.insert(a, b"o", [officer])
    clock.advance(timedelta(days=30))
    new = attachment_row(team.case.id, witness, 1, clock.now())
    async with store.write() as uow:
        await uow.attachments.insert(new, b"n", [officer])

    async with store.write() as uow:
        assert await uow.attachments.purge_older_than(old[0].created_at) == 0
        assert await uow.attachments.purge_older_than(clock.now() - timedelta(days=1)) == 2
        assert await uow.attachments.purge_older_than(clock.now() - timedelta(days=1)) == 0

    async with store.read() as uow:
        for a in old:
            assert await uow.attachments.get(a.id) is None
            assert not await uow.attachments.is_recipient(a.id, officer)
        assert await uow.attachments.content(new.id) == b"n"


async def test_delete_recipient_returns_attachments_nobody_waits_for(
    store: SqlStore, clock: ManualClock, team: CaseTeam
) -> None:
    witness, officer, support = team.device_ids
    only_me = attachment_row(team.case.id, witness, 1, clock.now())
    others_done = attachment_row(team.case.id, witness, 1, clock.now())
    others_waiting = attachment_row(team.case.id, witness, 1, clock.now())
    not_mine = attachment_row(team.case.id, witness, 1, clock.now())
    already_fetched = attachment_row(team.case.id, witness, 1, clock.now())
    async with store.write() as uow:
        await uow.attachments.insert(only_me, os.urandom(1), [officer])
        await uow.attachments.insert(others_done, os.urandom(1), [officer, support])
        await uow.attachments.insert(others_waiting, os.urandom(1), [officer, support])
        await uow.attachments.insert(not_mine, os.urandom(1), [support])
        await uow.attachments.insert(already_fetched, os.urandom(1), [officer, support])
        await uow.attachments.mark_fetched(others_done.id, support, clock.now())
        await uow.attachments.mark_fetched(already_fetched.id, officer, clock.now())

    # The officer's device is revoked: it will never fetch what it has not fetched.
    async with store.write() as uow:
        orphans = await uow.attachments.delete_recipient(officer)

    assert sorted(orphans) == sorted([only_me.id, others_done.id])
    async with store.read() as uow:
        for a in (only_me, others_done, others_waiting, already_fetched):
            assert not await uow.attachments.is_recipient(a.id, officer)
            # Returning orphans does not delete them; the caller decides.
            assert await uow.attachments.get(a.id) == a
        assert await uow.attachments.is_recipient(others_waiting.id, support)
        assert await uow.attachments.is_recipient(not_mine.id, support)

    async with store.write() as uow:
        assert await uow.attachments.delete_recipient(officer) == []
        assert await uow.attachments.delete_recipient("dev_missing") == []
