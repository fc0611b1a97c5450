"""schemathesis against a running server: as each role and with no credentials, every
operation in ``/openapi.json`` answers without a 5xx and within its contract (a
documented status code and content type, a body that fits the documented schema).

The server is the real application on 127.0.0.1 (``tests/support/world.py``, with SMS
through the Twilio-shaped fake) and a seeded world: the standard agencies, an officer,
a support worker, a supervisor and an admin logged in with real clients, and a case
with an enrolled witness phone, a check-in plan, a hearing and a panic alert. Half of
the generated requests use the seeded ids in their paths, so the handlers get past
"not found" and their success bodies are checked too. The Twilio webhooks are also
called with real signatures.

Bounded for CI: a few examples per operation and role, derandomized (the same requests
every run), no shrinking; the whole run takes about a minute. schemathesis is
synchronous (``requests``), so it runs in a worker thread while the event loop serves.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from server.api.contract import Auth
from server.api.operations import OPERATIONS, operations_by_route
from server.clock import iso
from server.domain.models import Role
from tests.fakes.twilio_server import twilio_signature
from tests.support.world import World, open_conversation

#: Examples per operation and role (half with seeded path ids).
EXAMPLES = 6
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
#: Operations that end part of the seeded world (an erased vault revokes the phone, so
#: do a revoked device and a closed case; aborted enrolments): run after all the others,
#: so those meet a live case and a live phone first.
RUN_LAST = frozenset(
    {
        "/v1/vault/erase",
        "/v1/me/enrolment/abort",
        "/v1/enrolments/{enrolment_id}/abort",
        "/v1/devices/{device_id}/revoke",
        "/v1/cases/{case_id}/close",
    }
)


@pytest.fixture
def backend() -> str:
    """The contract is about HTTP: one backend (SQLite) keeps the run short."""
    return "sqlite"


#: The headers that authenticate one generated request (most are fixed; Twilio's
#: signature covers the URL and the form, so it is computed per request).
Credential = Callable[[Any], dict[str, str]]


def fixed(headers: dict[str, str]) -> Credential:
    return lambda _case: headers


def twilio_signed(world: World) -> Credential:
    """Signs each request as Twilio would, with the fake Twilio's auth token, over the
    public URL it calls and the generated form."""
    assert world.twilio is not None
    token, base = world.twilio.auth_token, world.settings.public_url or world.url

    def sign(case: Any) -> dict[str, str]:
        form = case.body if isinstance(case.body, dict) else {}
        url = base + case.formatted_path
        return {"X-Twilio-Signature": twilio_signature(token, url, form)}

    return sign


async def seeded(world: World) -> tuple[dict[str, Credential], dict[str, str]]:
    """Credentials by role, and ids of the seeded world by path parameter name."""
    await world.add_staff("supervisor", "police", Role.SUPERVISOR)
    await world.add_staff("admin", "police", Role.ADMIN)
    conversation = await open_conversation(world)
    supervisor = await world.login("supervisor")
    admin = await world.login("admin")
    clients = {
        "witness": conversation.witness,
        "officer": conversation.officer,
        "support_worker": conversation.worker,
        "supervisor": supervisor,
        "admin": admin,
    }
    credentials = {
        role: fixed({"Authorization": f"Bearer {client.transport.token}"})
        for role, client in clients.items()
    }
    credentials["anonymous"] = fixed({})
    credentials["twilio"] = twilio_signed(world)
    officer, phone = conversation.officer.transport, conversation.witness.transport
    case_id, witness_id = conversation.case_id, conversation.witness_id
    # Something behind each kind of id, so success bodies of those routes are checked.
    await officer.request(
        "PUT",
        f"/v1/witnesses/{witness_id}/checkin-plan",
        json={"every_hours": 24, "start_local": "09:00"},
    )
    hearing_at = world.clock.now() + timedelta(days=10)
    appointment = await officer.request(
        "POST",
        f"/v1/cases/{case_id}/appointments",
        json={
            "kind": "hearing",
            "starts_at": iso(hearing_at),
            "ends_at": iso(hearing_at + timedelta(hours=3)),
            "timezone": "Europe/Berlin",
        },
    )
    await phone.request("POST", "/v1/panic", json={"request_id": "contract-seeded-panic"})
    alerts = await officer.request("GET", "/v1/alerts")
    me = await phone.request("GET", "/v1/me")
    ids = {
        "case_id": case_id,
        "witness_id": witness_id,
        "staff_id": world.staff["worker"],
        "agency_id": world.agencies["police"],
        "device_id": me["device"]["device_id"],
        "appointment_id": appointment["appointment_id"],
        "alert_id": alerts["alerts"][0]["alert_id"],
    }
    return credentials, ids


@dataclass
class Findings:
    """What the run saw: contract failures, and which operations each role got a
    success from (so a run that never gets past authentication cannot pass)."""

    failures: list[str] = field(default_factory=list)
    succeeded: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))


def fuzz(url: str, credentials: Mapping[str, Credential], ids: Mapping[str, str]) -> Findings:
    """Run every operation as every role (Twilio only where its signature counts)."""
    contract = operations_by_route()
    schema = schemathesis.openapi.from_url(url + "/openapi.json")
    findings = Findings()
    loaded = []
    for result in schema.get_all_operations():
        if isinstance(result, Ok):
            loaded.append(result.ok())
        else:
            findings.failures.append(f"an operation does not load: {result.err()}")
    operations = sorted(loaded, key=lambda operation: operation.path in RUN_LAST)
    for operation in operations:
        known = {
            name: ids[name] for name in (p.name for p in operation.path_parameters) if name in ids
        }
        strategy = st.one_of(operation.as_strategy(), operation.as_strategy(path_parameters=known))
        label = f"{operation.method.upper()} {operation.path}"
        webhook = contract[(operation.method.upper(), operation.path)].auth is Auth.TWILIO
        for role, credential in credentials.items():
            if (role == "twilio") != webhook and role != "anonymous":
                continue
            succeeded = findings.succeeded[role]
            try:
                exercise(strategy, url, credential, partial(succeeded.add, label))()
            except (Exception, FailureGroup) as failure:  # reported together below
                lines = [line.strip() for line in str(failure).splitlines() if line.strip()]
                summary = " / ".join([type(failure).__name__, *lines[:12]])
                findings.failures.append(f"{label} as {role}: {summary}")
    return findings


def exercise(
    strategy: Any, url: str, credential: Credential, on_success: Callable[[], None]
) -> Callable[[], None]:
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case: Any) -> None:
        headers = credential(case)
        response = case.call(base_url=url, headers=headers)
        case.validate_response(response, checks=CHECKS, headers=headers)
        if response.status_code < 300:
            on_success()

    return run


async def test_every_operation_keeps_its_contract_for_every_role(sms_world: World) -> None:
    credentials, ids = await seeded(sms_world)
    findings = await asyncio.to_thread(fuzz, sms_world.url, credentials, ids)
    assert findings.failures == [], "\n".join(findings.failures)
    credentialed = {f"{op.method} {op.path}" for op in OPERATIONS if op.auth is not Auth.NONE}
    # Nothing that needs a credential answered without one.
    assert findings.succeeded["anonymous"] & credentialed == set()
    # Each seeded credential got past authentication (so the run proves something).
    for role in credentials.keys() - {"anonymous", "twilio"}:
        assert "GET /v1/me" in findings.succeeded[role], role
    assert {"POST /v1/twilio/sms", "POST /v1/twilio/status"} <= findings.succeeded["twilio"]
    # The seeded records were reached, so their success bodies were checked too.
    assert {"GET /v1/alerts/{alert_id}", "GET /v1/appointments/{appointment_id}"} <= (
        findings.succeeded["officer"]
    )
