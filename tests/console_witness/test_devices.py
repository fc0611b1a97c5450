"""Phones on the witness page: enrolment happens in the officer's client, not here;
revoking a device (its token is refused at once)."""

from __future__ import annotations

import re

import aiohttp

from tests.console_witness.conftest import SignIn, audit_entries
from tests.console_witness.helpers import back_on_page, officer_on_page
from tests.support.world import World


async def test_the_console_makes_no_enrolment_code_and_points_to_the_staff_client(
    world: World, console: SignIn
) -> None:
    talk, officer, path = await officer_on_page(world, console)
    page = (await officer.get(path)).text
    assert 'data-enrol="staff-client"' in page
    assert "/enrolments" not in page
    assert "<svg" not in page

    # The old address no longer makes a code: a page the server sends cannot hold the
    # officer's keys, so the server would be trusted to make the code honestly.
    answer = await officer.post(path + "/enrolments")
    assert answer.status in (404, 405)
    assert "enrolment-code" not in answer.text
    assert await audit_entries(world, action="enrolment.issued", case_id=talk.case_id) != []
    assert len(await audit_entries(world, action="enrolment.issued")) == 1  # the SDK's

    # A replacement phone is enrolled from the officer's client, and the page shows it.
    enrolment = await talk.officer.new_enrolment(talk.case_id, talk.witness_id, "Sparrow")
    new_phone = await world.enrol(enrolment, name="replacement")
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
