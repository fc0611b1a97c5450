"""Enrolling a replacement phone from the page (QR on screen, shown once) and
revoking a device (its token is refused at once)."""

from __future__ import annotations

import re

import aiohttp

from client_sdk.staff import Enrolment
from tests.console_witness.conftest import SignIn, audit_entries
from tests.console_witness.helpers import back_on_page, officer_on_page
from tests.support.world import World

TYPED_CODE = re.compile(r'<p class="enrolment-code" data-code>([A-Za-z0-9-]+)</p>')


async def test_enrolling_a_new_phone_shows_the_code_once(world: World, console: SignIn) -> None:
    talk, officer, path = await officer_on_page(world, console)

    answer = await officer.post(path + "/enrolments")

    assert answer.status == 200, answer.text
    assert answer.url.endswith(path + "/enrolments")
    assert "<svg" in answer.text
    assert 'viewBox="0 0 ' in answer.text
    match = TYPED_CODE.search(answer.text)
    assert match is not None
    code = match.group(1)
    assert "2026-01-06 09:00 UTC" in answer.text  # valid for 24 hours
    latest, _first = await audit_entries(world, action="enrolment.issued", case_id=talk.case_id)
    assert latest.actor_id == world.staff["officer"]

    # The witness page never shows it again, not even on a reload of that address.
    page = (await officer.get(path)).text
    assert code not in page
    assert code.replace("-", "") not in page
    assert "<svg" not in page
    reloaded = await officer.get(path + "/enrolments")
    assert reloaded.status == 200
    assert reloaded.url.endswith(path)
    assert code not in reloaded.text
    assert len(await audit_entries(world, action="enrolment.issued")) == 2

    # The typed code enrols a replacement phone, which joins the case.
    new_phone = await world.enrol(
        Enrolment(
            witness_id=talk.witness_id,
            case_id=talk.case_id,
            code=code,
            qr_payload="",
            qr_svg="",
            team_fingerprint="",
            expires_at=world.clock.now(),
        ),
        name="replacement",
    )
    page = (await officer.get(path)).text
    assert f'data-device="{new_phone.device_id}"' in page
    assert page.count('data-what="device.enrolled"') == 2


async def test_revoking_the_witness_phone(world: World, console: SignIn) -> None:
    talk, officer, path = await officer_on_page(world, console)
    device_id = talk.witness.device_id
    page = (await officer.get(path)).text
    assert re.search(
        rf'action="/console/cases/{talk.case_id}/devices/{device_id}/revoke"[^>]*>\s*'
        r'<input type="hidden" name="csrf" value="[^"]+">\s*'
        r'<button type="submit" class="danger" data-confirm="[^"]+">Revoke ',
        page,
    )

    answer = await officer.post(f"{path}/devices/{device_id}/revoke")

    page = back_on_page(answer, talk.case_id, "revoked")
    assert "Device revoked." in page
    assert f'data-device="{device_id}"' not in page
    assert 'data-what="device.revoked"' in page
    async with world.services.store.read() as uow:
        device = await uow.devices.get(device_id)
    assert device is not None
    assert device.revoked_at == world.clock.now()
    (entry,) = await audit_entries(world, action="device.revoked")
    assert entry.actor_id == world.staff["officer"]
    assert entry.case_id == talk.case_id
    assert '"remote":true' in entry.details

    # The phone's token is refused at once.
    token = talk.witness.transport.token
    async with (
        aiohttp.ClientSession() as http,
        http.get(world.url + "/v1/me", headers={"Authorization": f"Bearer {token}"}) as response,
    ):
        assert response.status == 401
        assert (await response.json())["code"] == "device-revoked"

    # A second revocation changes nothing more.
    back_on_page(await officer.post(f"{path}/devices/{device_id}/revoke"), talk.case_id, "revoked")
    assert len(await audit_entries(world, action="device.revoked")) == 1


async def test_only_case_managers_revoke_and_only_visible_devices(
    world: World, console: SignIn
) -> None:
    talk, _officer, path = await officer_on_page(world, console)
    worker = await console("worker")
    outsider = await console("outsider")

    # A support worker may not revoke the witness's phone, nor a colleague's device.
    refused = await worker.post(f"{path}/devices/{talk.witness.device_id}/revoke")
    assert refused.status == 403
    refused = await worker.post(f"{path}/devices/{talk.officer.device_id}/revoke")
    assert refused.status == 404
    # Someone from another agency does not even learn that the device exists.
    refused = await outsider.post(f"{path}/devices/{talk.witness.device_id}/revoke")
    assert refused.status == 404
    async with world.services.store.read() as uow:
        for device_id in (talk.witness.device_id, talk.officer.device_id):
            device = await uow.devices.get(device_id)
            assert device is not None
            assert device.revoked_at is None
    assert len(await audit_entries(world, action="access.denied")) == 3
    assert await audit_entries(world, action="device.revoked") == []

    # Staff may revoke their own device from the page.
    page = (await worker.get(worker.case_page(talk.case_id))).text
    assert f"/devices/{talk.worker.device_id}/revoke" in page
    back_on_page(
        await worker.post(f"{path}/devices/{talk.worker.device_id}/revoke"), talk.case_id, "revoked"
    )
    (entry,) = await audit_entries(world, action="device.revoked")
    assert '"remote":false' in entry.details
