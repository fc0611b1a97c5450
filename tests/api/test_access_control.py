"""Who may touch a case: insiders across agencies see only cases their agency is on,
and within those only the ones they are assigned to; supervisors may look but are not
in the conversation; witness phones never use staff endpoints; agencies that require a
reason for consulting a witness's data get one recorded; refusals are audited."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp

from server.domain.models import AgencyKind, Role
from tests.api.helpers import (
    ENROLMENT,
    CaseTeam,
    RawLogin,
    audit_entries,
    bearer,
    case_team,
    ciphertexts,
    enrolment_request,
    expect_problem,
    raw_login,
)
from tests.support.world import World


@dataclass
class Attempt:
    name: str
    status: int
    code: str
    detail: str | None


async def try_case(
    http: aiohttp.ClientSession, headers: dict[str, str], team: CaseTeam, case_id: str
) -> dict[str, Attempt]:
    """Try each way into a case; return what the server answered to each."""
    target = team.witness.device_id
    requests = {
        "view": http.get(f"/v1/cases/{case_id}", headers=headers),
        "devices": http.get(f"/v1/cases/{case_id}/devices", headers=headers),
        "send": http.put(
            f"/v1/cases/{case_id}/messages/intruder-0001",
            json=ciphertexts(target),
            headers=headers,
        ),
        "claim": http.post(
            "/v1/keys/claim", json={"case_id": case_id, "device_ids": [target]}, headers=headers
        ),
        "attach": http.post(
            f"/v1/cases/{case_id}/attachments",
            params={"recipients": target},
            data=b"opaque",
            headers=headers,
        ),
    }
    answers: dict[str, Attempt] = {}
    for name, request in requests.items():
        async with request as response:
            body = await response.json(content_type=None)
            answers[name] = Attempt(name, response.status, body.get("code"), body.get("detail"))
    return answers


async def caseload(http: aiohttp.ClientSession, headers: dict[str, str]) -> set[str]:
    async with http.get("/v1/cases", headers=headers) as response:
        assert response.status == 200, await response.text()
        return {c["case_id"] for c in (await response.json())["cases"]}


async def denied(world: World, staff: str, attempted: str) -> list[str | None]:
    """The case ids of ``access.denied`` entries for ``staff`` trying ``attempted``."""
    entries = await audit_entries(world, action="access.denied", actor_id=world.staff[staff])
    return [e.case_id for e in entries if f'"attempted":"{attempted}"' in e.details]


# --------------------------------------------------------------------------- other agency


async def test_an_outsider_can_do_nothing_with_a_case(
    world: World, http: aiohttp.ClientSession
) -> None:
    team = await case_team(world)
    outsider = await raw_login(http, "outsider")
    answers = await try_case(http, outsider.headers, team, team.case_id)
    assert {a.name: (a.status, a.code) for a in answers.values()} == {
        name: (404, "not-found") for name in answers
    }
    assert team.case_id not in await caseload(http, outsider.headers)
    # Nothing reached the witness.
    async with http.get("/v1/messages", headers=bearer(team.witness.transport.token)) as r:
        assert (await r.json())["messages"] == []


async def test_an_outsider_cannot_tell_a_case_exists(
    world: World, http: aiohttp.ClientSession
) -> None:
    """Refusals for a real case and for a made-up id are indistinguishable."""
    team = await case_team(world)
    outsider = await raw_login(http, "outsider")
    real = await try_case(http, outsider.headers, team, team.case_id)
    made_up = await try_case(http, outsider.headers, team, "case_AAAAAAAAAAAAAAAA")
    assert real == made_up


async def test_an_outsider_viewing_a_case_is_audited(
    world: World, http: aiohttp.ClientSession
) -> None:
    team = await case_team(world)
    outsider = await raw_login(http, "outsider")
    async with http.get(f"/v1/cases/{team.case_id}", headers=outsider.headers) as response:
        await expect_problem(response, 404, "not-found")
    assert await denied(world, "outsider", "view case") == [team.case_id]
    assert not await audit_entries(world, action="witness.consulted", actor_id=outsider.staff_id)


async def test_an_outsider_listing_case_devices_is_audited(
    world: World, http: aiohttp.ClientSession
) -> None:
    team = await case_team(world)
    outsider = await raw_login(http, "outsider")
    async with http.get(f"/v1/cases/{team.case_id}/devices", headers=outsider.headers) as r:
        await expect_problem(r, 404, "not-found")
    assert await denied(world, "outsider", "list case devices") == [team.case_id]


async def test_an_outsider_sending_to_a_case_is_audited(
    world: World, http: aiohttp.ClientSession
) -> None:
    team = await case_team(world)
    outsider = await raw_login(http, "outsider")
    async with http.put(
        f"/v1/cases/{team.case_id}/messages/intruder-0001",
        json=ciphertexts(team.witness.device_id),
        headers=outsider.headers,
    ) as response:
        await expect_problem(response, 404, "not-found")
    assert await denied(world, "outsider", "send message") == [team.case_id]


async def test_an_outsider_claiming_case_keys_is_audited(
    world: World, http: aiohttp.ClientSession
) -> None:
    team = await case_team(world)
    outsider = await raw_login(http, "outsider")
    async with http.post(
        "/v1/keys/claim",
        json={"case_id": team.case_id, "device_ids": [team.witness.device_id]},
        headers=outsider.headers,
    ) as response:
        await expect_problem(response, 404, "not-found")
    entries = await audit_entries(world, action="access.denied", actor_id=outsider.staff_id)
    assert [e.case_id for e in entries] == [team.case_id]


async def test_an_outsider_uploading_to_a_case_is_audited(
    world: World, http: aiohttp.ClientSession
) -> None:
    team = await case_team(world)
    outsider = await raw_login(http, "outsider")
    async with http.post(
        f"/v1/cases/{team.case_id}/attachments",
        params={"recipients": team.witness.device_id},
        data=b"opaque",
        headers=outsider.headers,
    ) as response:
        await expect_problem(response, 404, "not-found")
    entries = await audit_entries(world, action="access.denied", actor_id=outsider.staff_id)
    assert [e.case_id for e in entries] == [team.case_id]


async def test_an_outsider_claim_leaves_the_witness_keys_alone(
    world: World, http: aiohttp.ClientSession
) -> None:
    team = await case_team(world)
    outsider = await raw_login(http, "outsider")
    async with world.services.store.read() as uow:
        before = await uow.keys.count_one_time_keys(team.witness.device_id)
    for _ in range(3):
        async with http.post(
            "/v1/keys/claim",
            json={"case_id": team.case_id, "device_ids": [team.witness.device_id]},
            headers=outsider.headers,
        ) as response:
            assert response.status == 404
    async with world.services.store.read() as uow:
        assert await uow.keys.count_one_time_keys(team.witness.device_id) == before


async def test_an_outsider_cannot_revoke_the_witness_phone(
    world: World, http: aiohttp.ClientSession
) -> None:
    team = await case_team(world)
    outsider = await raw_login(http, "outsider")
    async with http.post(
        f"/v1/devices/{team.witness.device_id}/revoke", headers=outsider.headers
    ) as response:
        assert response.status in (403, 404), await response.text()
    async with http.get("/v1/me", headers=bearer(team.witness.transport.token)) as response:
        assert response.status == 200
    assert not await audit_entries(world, action="device.revoked")


async def test_an_outsider_cannot_manage_a_case(world: World, http: aiohttp.ClientSession) -> None:
    team = await case_team(world)
    outsider = await raw_login(http, "outsider")
    async with http.post(
        f"/v1/cases/{team.case_id}/staff",
        json={"staff_id": outsider.staff_id},
        headers=outsider.headers,
    ) as response:
        await expect_problem(response, 404, "not-found")
    async with http.post(
        f"/v1/witnesses/{team.witness_id}/enrolments", json=ENROLMENT, headers=outsider.headers
    ) as response:
        await expect_problem(response, 404, "not-found")
    async with http.delete(
        f"/v1/cases/{team.case_id}/staff/{world.staff['worker']}", headers=outsider.headers
    ) as response:
        await expect_problem(response, 404, "not-found")
    assert await caseload(http, bearer(team.worker.transport.token)) == {team.case_id}


async def test_staff_of_another_agency_cannot_be_assigned(
    world: World, http: aiohttp.ClientSession
) -> None:
    team = await case_team(world)
    async with http.post(
        f"/v1/cases/{team.case_id}/staff",
        json={"staff_id": world.staff["outsider"]},
        headers=bearer(team.officer.transport.token),
    ) as response:
        await expect_problem(response, 403, "forbidden")


# --------------------------------------------------------------------------- same agency


async def test_an_unassigned_colleague_can_do_nothing_with_a_case(
    world: World, http: aiohttp.ClientSession
) -> None:
    team = await case_team(world)
    await world.add_staff("colleague", "police", Role.OFFICER)
    await world.add_staff("volunteer", "support", Role.SUPPORT_WORKER)
    for username in ("colleague", "volunteer"):
        login = await raw_login(http, username)
        answers = await try_case(http, login.headers, team, team.case_id)
        assert {a.name: (a.status, a.code) for a in answers.values()} == {
            name: (404, "not-found") for name in answers
        }, username
        assert team.case_id not in await caseload(http, login.headers)
        assert await denied(world, username, "view case") == [team.case_id]


async def test_an_assigned_colleague_loses_access_when_removed(
    world: World, http: aiohttp.ClientSession
) -> None:
    team = await case_team(world)
    async with http.delete(
        f"/v1/cases/{team.case_id}/staff/{world.staff['worker']}",
        headers=bearer(team.officer.transport.token),
    ) as response:
        assert response.status == 200
        assert (await response.json())["removed"] is True
    answers = await try_case(http, bearer(team.worker.transport.token), team, team.case_id)
    assert {a.name: a.status for a in answers.values()} == {name: 404 for name in answers}


async def _supervisor(world: World, http: aiohttp.ClientSession, agency: str) -> RawLogin:
    await world.add_staff(f"{agency}-chief", agency, Role.SUPERVISOR)
    return await raw_login(http, f"{agency}-chief")


async def test_a_supervisor_can_view_a_case_of_their_agency(
    world: World, http: aiohttp.ClientSession
) -> None:
    team = await case_team(world)
    for agency in ("police", "support"):
        chief = await _supervisor(world, http, agency)
        assert team.case_id in await caseload(http, chief.headers)
        async with http.get(f"/v1/cases/{team.case_id}", headers=chief.headers) as response:
            assert response.status == 200, await response.text()
            case = await response.json()
        assert case["witness"]["alias"] == "Sparrow"
        consulted = await audit_entries(world, action="witness.consulted", actor_id=chief.staff_id)
        assert [e.case_id for e in consulted] == [team.case_id]


async def test_a_supervisor_is_not_a_member_of_the_conversation(
    world: World, http: aiohttp.ClientSession
) -> None:
    """Supervising is not reading: a supervisor's devices are not addressed by the case,
    and the supervisor can neither send, claim keys, nor upload to it."""
    team = await case_team(world)
    chief = await _supervisor(world, http, "police")
    answers = await try_case(http, chief.headers, team, team.case_id)
    assert answers.pop("view").status == 200
    assert {a.name: (a.status, a.code) for a in answers.values()} == {
        name: (404, "not-found") for name in answers
    }
    async with http.get(
        f"/v1/cases/{team.case_id}/devices", headers=bearer(team.officer.transport.token)
    ) as response:
        listed = {d["device_id"] for d in (await response.json())["devices"]}
    assert chief.device_id not in listed


async def test_a_supervisor_can_manage_a_case_of_their_agency(
    world: World, http: aiohttp.ClientSession
) -> None:
    team = await case_team(world)
    chief = await _supervisor(world, http, "police")
    request = await enrolment_request(http, team.officer_headers, team.case_id)
    async with http.post(
        f"/v1/witnesses/{team.witness_id}/enrolments", json=request, headers=chief.headers
    ) as response:
        assert response.status == 201, await response.text()
    async with http.post(
        f"/v1/devices/{team.witness.device_id}/revoke", headers=chief.headers
    ) as response:
        assert response.status == 200, await response.text()


async def test_a_supervisor_of_another_agency_sees_nothing(
    world: World, http: aiohttp.ClientSession
) -> None:
    team = await case_team(world)
    chief = await _supervisor(world, http, "other")
    assert team.case_id not in await caseload(http, chief.headers)
    answers = await try_case(http, chief.headers, team, team.case_id)
    assert {a.name: a.status for a in answers.values()} == {name: 404 for name in answers}


async def test_a_support_worker_cannot_open_cases_or_add_witnesses(
    world: World, http: aiohttp.ClientSession
) -> None:
    team = await case_team(world)
    worker = bearer(team.worker.transport.token)
    async with http.post(
        "/v1/cases",
        json={"reference": "RO-1", "support_agency_id": world.agencies["support"]},
        headers=worker,
    ) as response:
        await expect_problem(response, 403, "forbidden")
    async with http.post(
        f"/v1/witnesses/{team.witness_id}/enrolments", json=ENROLMENT, headers=worker
    ) as response:
        await expect_problem(response, 403, "forbidden")


# --------------------------------------------------------------------------- witness phones


async def test_a_witness_phone_cannot_use_staff_endpoints(
    world: World, http: aiohttp.ClientSession
) -> None:
    team = await case_team(world)
    phone = bearer(team.witness.transport.token)
    requests = [
        http.get("/v1/cases", headers=phone),
        http.post(
            "/v1/cases",
            json={"reference": "X-1", "support_agency_id": world.agencies["support"]},
            headers=phone,
        ),
        http.get(f"/v1/cases/{team.case_id}", headers=phone),
        http.post(
            f"/v1/cases/{team.case_id}/staff",
            json={"staff_id": world.staff["outsider"]},
            headers=phone,
        ),
        http.delete(f"/v1/cases/{team.case_id}/staff/{world.staff['worker']}", headers=phone),
        http.post(
            f"/v1/cases/{team.case_id}/witness",
            json={"alias": "Other", "language": "ro", "timezone": "Europe/Bucharest"},
            headers=phone,
        ),
        http.post(f"/v1/witnesses/{team.witness_id}/enrolments", json=ENROLMENT, headers=phone),
    ]
    for request in requests:
        async with request as response:
            await expect_problem(response, 403, "forbidden")
    async with world.services.store.read() as uow:
        assert set(await uow.cases.staff_ids(team.case_id)) == {
            world.staff["officer"],
            world.staff["worker"],
        }


async def test_a_witness_phone_reaches_only_its_own_case(
    world: World, http: aiohttp.ClientSession
) -> None:
    team = await case_team(world)
    other = await team.officer.create_case("DE-2026-0002", world.agencies["support"])
    phone = bearer(team.witness.transport.token)
    async with http.get(f"/v1/cases/{team.case_id}/devices", headers=phone) as response:
        assert response.status == 200
        listed = {d["device_id"] for d in (await response.json())["devices"]}
    assert listed == {team.witness.device_id, team.officer.device_id, team.worker.device_id}
    async with http.get(f"/v1/cases/{other['case_id']}/devices", headers=phone) as response:
        await expect_problem(response, 404, "not-found")
    async with http.put(
        f"/v1/cases/{other['case_id']}/messages/wrong-case-1",
        json=ciphertexts(team.officer.device_id),
        headers=phone,
    ) as response:
        await expect_problem(response, 404, "not-found")
    async with http.post(
        "/v1/keys/claim",
        json={"case_id": other["case_id"], "device_ids": [team.officer.device_id]},
        headers=phone,
    ) as response:
        await expect_problem(response, 404, "not-found")
    entries = await audit_entries(world, action="access.denied", actor_id=team.witness_id)
    assert {e.case_id for e in entries} >= {other["case_id"]}
    assert all(e.actor_kind == "witness" for e in entries)


# --------------------------------------------------------------------------- reasons


async def _reason_case(world: World, http: aiohttp.ClientSession) -> tuple[RawLogin, str]:
    await world.add_agency("bka", kind=AgencyKind.POLICE, country="DE", requires_reason=True)
    await world.add_staff("detective", "bka", Role.OFFICER)
    detective = await raw_login(http, "detective")
    async with http.post(
        "/v1/cases",
        json={"reference": "BKA-1", "support_agency_id": world.agencies["support"]},
        headers=detective.headers,
    ) as response:
        assert response.status == 201, await response.text()
        case_id = (await response.json())["case_id"]
    async with http.post(
        f"/v1/cases/{case_id}/witness",
        json={"alias": "Heron", "language": "sq", "timezone": "Europe/Tirane"},
        headers=detective.headers,
    ) as response:
        assert response.status == 201, await response.text()
    return detective, case_id


async def test_an_agency_that_requires_a_reason_gets_428_without_one(
    world: World, http: aiohttp.ClientSession
) -> None:
    detective, case_id = await _reason_case(world, http)
    for headers in ({}, {"X-Witnesslink-Reason": "   "}):
        async with http.get(
            f"/v1/cases/{case_id}", headers={**detective.headers, **headers}
        ) as response:
            await expect_problem(response, 428, "reason-required")
    assert not await audit_entries(world, action="witness.consulted")


async def test_the_reason_is_recorded_with_the_consultation(
    world: World, http: aiohttp.ClientSession
) -> None:
    detective, case_id = await _reason_case(world, http)
    reason = "Preparing the witness for the hearing on 12 March"
    async with http.get(
        f"/v1/cases/{case_id}", headers={**detective.headers, "X-Witnesslink-Reason": reason}
    ) as response:
        assert response.status == 200, await response.text()
        assert (await response.json())["witness"]["alias"] == "Heron"
    (entry,) = await audit_entries(world, action="witness.consulted")
    assert entry.actor_id == detective.staff_id
    assert entry.case_id == case_id
    assert entry.reason == reason


async def test_a_long_reason_is_recorded_truncated(
    world: World, http: aiohttp.ClientSession
) -> None:
    detective, case_id = await _reason_case(world, http)
    async with http.get(
        f"/v1/cases/{case_id}", headers={**detective.headers, "X-Witnesslink-Reason": "r" * 5000}
    ) as response:
        assert response.status == 200
    (entry,) = await audit_entries(world, action="witness.consulted")
    assert entry.reason == "r" * 500


async def test_a_reason_is_needed_only_where_the_viewers_agency_requires_it(
    world: World, http: aiohttp.ClientSession
) -> None:
    _detective, case_id = await _reason_case(world, http)
    await world.add_staff("support-chief", "support", Role.SUPERVISOR)
    chief = await raw_login(http, "support-chief")
    async with http.get(f"/v1/cases/{case_id}", headers=chief.headers) as response:
        assert response.status == 200, await response.text()
    (entry,) = await audit_entries(world, action="witness.consulted")
    assert entry.actor_id == chief.staff_id
    assert entry.reason is None


async def test_a_reason_does_not_open_a_case_to_an_outsider(
    world: World, http: aiohttp.ClientSession
) -> None:
    _detective, case_id = await _reason_case(world, http)
    await world.add_staff("bka-other", "bka", Role.OFFICER)
    colleague = await raw_login(http, "bka-other")
    async with http.get(
        f"/v1/cases/{case_id}",
        headers={**colleague.headers, "X-Witnesslink-Reason": "just curious"},
    ) as response:
        # Not found, not "reason required": the reason check must not reveal the case.
        await expect_problem(response, 404, "not-found")


async def test_refusals_for_made_up_case_ids_are_audited_without_the_made_up_id(
    world: World, http: aiohttp.ClientSession
) -> None:
    """The audit log names real cases only: a caller-chosen string that names no case
    is not written into an entry's case id (as the view and device-list refusals
    already do), so nobody can plant arbitrary text in the case column."""
    team = await case_team(world)
    outsider = await raw_login(http, "outsider")
    made_up = "case_" + "z" * 40
    await try_case(http, outsider.headers, team, made_up)
    entries = await audit_entries(world, action="access.denied", actor_id=outsider.staff_id)
    assert entries, "the refusals are audited"
    assert {e.case_id for e in entries} == {None}, [(e.case_id, e.details) for e in entries]
    # Something that cannot be an id at all is simply not found, before any lookup.
    async with http.get(f"/v1/cases/{'case_' + 'z' * 500}", headers=outsider.headers) as r:
        await expect_problem(r, 404, "not-found")
