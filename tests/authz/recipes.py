"""How to call each route of the matrix: its path parameters and a minimal valid body.

A recipe fills a route's template from the seeded world's ids (``{case_id}`` is case A,
``{witness_id}`` its witness, ``{alert_id}`` its alert, and so on); strings in the body
are filled the same way, and ``{unique}`` is new for every cell. A route whose allowed
calls change what later cells rely on (closing a case, revoking a phone, cancelling an
appointment) has a ``fresh`` step that makes a new thing of the same shape for each
cell, so that every actor meets the same situation. Rows whose recipe is ``last`` run
after all others (wiping a phone revokes it for good).

Where an allowed cell cannot succeed, the note says why; those rows' refused cells are
what they prove.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from server.console.sessions import LOGIN_CSRF_COOKIE
from server.domain.court.appointments import AppointmentSpec
from server.domain.court.models import AppointmentKind
from server.domain.models import Device, OwnerKind, Role, Staff
from server.domain.risk_levels import RiskLevel
from server.ids import new_id, token_hash
from tests.authz.matrix import Actor
from tests.authz.world import AuthzWorld
from tests.support.world import PASSWORD
from tests.welfare.helpers import signed_answer
from wire.encoding import b64
from wire.enrolment import commitment, enrolment_keys, new_enrolment_code, new_nonce, team_mac
from wire.keys import check_roster

Fresh = Callable[[AuthzWorld], Awaitable[dict[str, str]]]


@dataclass(frozen=True)
class Recipe:
    """How to build the request for one route (the caller's credentials are added by
    the walker)."""

    json: Any = None
    #: Path parameters taken from other ids than their own name (``staff_id`` may be
    #: the worker's or the officer's, depending on the route).
    bind: dict[str, str] = field(default_factory=dict)
    #: The path to request, when it is not the template filled in (static files).
    path: str | None = None
    form: dict[str, str] | None = None
    data: bytes | None = None
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    fresh: Fresh | None = None
    #: A JSON body that has to be made (signed) for each cell, instead of ``json``.
    make_json: Callable[[AuthzWorld], Awaitable[Any]] | None = None
    #: Cookies the request carries besides the caller's session.
    cookies: dict[str, str] = field(default_factory=dict)
    last: bool = False
    #: The answer is a stream that stays open: take the status and hang up.
    stream: bool = False
    #: Open a WebSocket (101 when the upgrade is accepted), then close it.
    websocket: bool = False
    note: str = ""


def fill(value: Any, ids: dict[str, str]) -> Any:
    """``value`` with every ``{name}`` in its strings replaced from ``ids``."""
    if isinstance(value, str):
        return value.format_map(ids)
    if isinstance(value, list):
        return [fill(item, ids) for item in value]
    if isinstance(value, dict):
        return {key: fill(item, ids) for key, item in value.items()}
    return value


# ------------------------------------------------------------------ fresh things


async def _staff(aw: AuthzWorld, actor: Actor) -> Staff:
    async with aw.world.services.store.read() as uow:
        staff = await uow.staff.get(aw.staff_id(actor))
    assert staff is not None
    return staff


async def fresh_case(aw: AuthzWorld) -> dict[str, str]:
    """A new case shaped like case A without its witness: opened by the officer, the
    support worker assigned."""
    services = aw.world.services
    officer = await _staff(aw, Actor.OFFICER)
    case = await services.cases.create_case(
        officer,
        reference=f"DE-{secrets.token_hex(4)}",
        support_agency_id=aw.world.agencies["support"],
    )
    await services.cases.assign_staff(officer, case.id, aw.staff_id(Actor.WORKER))
    return {"case_id": case.id}


async def fresh_witness_phone(aw: AuthzWorld) -> dict[str, str]:
    """A second phone of case A's witness (a device row with its own credential), so
    that revoking it leaves the witness's own phone alone."""
    now = aw.world.clock.now()
    device = Device(
        id=new_id("dev"),
        owner_kind=OwnerKind.WITNESS,
        owner_id=aw.witness_id,
        name="spare phone",
        curve25519=secrets.token_urlsafe(32),
        ed25519=secrets.token_urlsafe(32),
        created_at=now,
        last_seen_at=now,
        revoked_at=None,
    )
    async with aw.world.services.store.write() as uow:
        await uow.devices.insert(device, token_hash(secrets.token_urlsafe(32)))
    return {"device_id": device.id}


async def _hearing(aw: AuthzWorld, ahead: timedelta) -> str:
    """A new hearing on case A starting ``ahead`` of now, scheduled by the officer."""
    starts = aw.world.clock.now().replace(microsecond=0) + ahead
    appointment = await aw.world.services.appointments.schedule(
        await _staff(aw, Actor.OFFICER),
        aw.case_id,
        AppointmentSpec(
            kind=AppointmentKind.HEARING,
            starts_at=starts,
            ends_at=starts + timedelta(hours=2),
            timezone="Europe/Berlin",
        ),
    )
    return appointment.id


async def fresh_appointment(aw: AuthzWorld) -> dict[str, str]:
    """A new hearing on case A, a month ahead."""
    return {"appointment_id": await _hearing(aw, timedelta(days=30))}


async def fresh_visit(aw: AuthzWorld) -> dict[str, str]:
    """A new welfare visit on case A whose window is under way (the support worker
    visits), so every cell can record, cancel or answer it."""
    now = aw.world.clock.now().replace(microsecond=0)
    visit = await aw.world.services.visits.schedule(
        await _staff(aw, Actor.OFFICER),
        aw.case_id,
        visitor_staff_id=aw.staff_id(Actor.WORKER),
        window_start=now - timedelta(hours=1),
        window_end=now + timedelta(hours=1),
    )
    return {"visit_id": visit.id}


async def a_minute_later(aw: AuthzWorld) -> dict[str, str]:
    """Move the clock on by a minute: public routes are rate-limited per network
    address, and every cell comes from 127.0.0.1; a minute refills the buckets."""
    aw.world.clock.advance(timedelta(seconds=61))
    return {}


async def fresh_started_appointment(aw: AuthzWorld) -> dict[str, str]:
    """A new hearing on case A that has just started (attendance is recorded once an
    appointment has started): scheduled two minutes ahead, then the clock moves on."""
    appointment_id = await _hearing(aw, timedelta(minutes=2))
    aw.world.clock.advance(timedelta(minutes=3))
    return {"appointment_id": appointment_id}


async def fresh_handover(aw: AuthzWorld) -> dict[str, str]:
    """A new handover request of case H to its support agency (each one withdraws the
    one before), and a second staff member of that agency to name as a contact."""
    if "contact" not in aw.world.staff:
        await aw.world.add_staff("contact", "support", Role.SUPPORT_WORKER)
    handover = await aw.world.services.handovers.request(
        await _staff(aw, Actor.OFFICER), aw.handover_case_id, date(2099, 1, 15)
    )
    return {"handover_id": handover.id, "contact_id": aw.world.staff["contact"]}


async def an_assessment(aw: AuthzWorld) -> dict[str, str]:
    """A risk assessment of case A's witness, with notes, recorded by the officer."""
    assessment = await aw.world.services.assessments.record(
        await _staff(aw, Actor.OFFICER), aw.case_id, RiskLevel.HIGH, [], "notes"
    )
    return {"assessment_id": assessment.id}


async def signed_checkin_answer(aw: AuthzWorld) -> Any:
    """The witness's answer to the open check-in, signed by their phone's key."""
    return signed_answer(aw.witness, aw.ids["checkin_id"], aw.ids["checkin_nonce"], "ok")


async def enrolment_code_body(aw: AuthzWorld) -> Any:
    """What the officer's client sends to issue a code for a replacement phone of case
    A's witness: a new code's hash, the case's current roster and the MAC over it."""
    latest = await aw.officer.transport.request("GET", f"/v1/cases/{aw.case_id}/roster")
    roster = check_roster(latest["roster"])
    keys = enrolment_keys(new_enrolment_code(aw.url).secret)
    return {
        "code_hash": b64(keys.code_hash),
        "roster": latest["roster"],
        "team_mac": team_mac(keys.team, roster.object_hash),
        "commitment": commitment(new_nonce()),
    }


async def fresh_enrolment(aw: AuthzWorld) -> dict[str, str]:
    """A new enrolment code the officer issued (each one withdraws the one before)."""
    issued = await aw.officer.transport.request(
        "POST", f"/v1/witnesses/{aw.witness_id}/enrolments", json=await enrolment_code_body(aw)
    )
    return {"enrolment_id": issued["enrolment_id"]}


async def fresh_alert(aw: AuthzWorld) -> dict[str, str]:
    """A new help alert on case A (the witness presses the panic button again), so that
    acknowledging or resolving one leaves the next cell an open alert."""
    before = {alert["alert_id"] for alert in await aw.officer.alerts()}
    await aw.witness.panic()
    new = [alert["alert_id"] for alert in await aw.officer.alerts()]
    (alert_id,) = (a for a in new if a not in before)
    return {"alert_id": alert_id}


async def next_roster(aw: AuthzWorld) -> Any:
    """Case A's roster, re-signed by the officer (its manager) as the next version: a
    well-formed, validly signed body, so that whether it is kept is up to who sends it."""
    trust = aw.officer.trust
    identity = trust.personal_identity
    assert identity is not None
    await trust.refresh(aw.case_id)
    current = trust.roster(aw.case_id)
    assert current is not None
    latest = await aw.officer.transport.request("GET", f"/v1/cases/{aw.case_id}/roster")
    version = int(latest["roster"]["version"]) + 1
    roster = identity.roster(aw.case_id, version, list(current.members), aw.world.clock.now())
    return {"roster": roster}


async def fresh_calendar_feed(aw: AuthzWorld) -> dict[str, str]:
    """A live calendar feed URL of the officer's (asking again replaces the previous
    one, and other rows revoke feeds, so each cell gets its own)."""
    token = await aw.world.services.calendar_feeds.issue(await _staff(aw, Actor.OFFICER))
    return {"token": token}


# ------------------------------------------------------------------ bodies

APPOINTMENT = {
    "kind": "hearing",
    "starts_at": "{in_a_month}",
    "ends_at": "{in_a_month_and_two_hours}",
    "timezone": "Europe/Berlin",
}
POLICY = {
    "levels": [
        {"after_minutes": 0, "notify": [{"agency": "support", "roles": ["support_worker"]}]}
    ],
    "ack_timeout_minutes": 60,
    "repeat_minutes": 30,
}
PLAN = {"every_hours": 24, "start_local": "10:00"}
B32 = "A" * 43
#: A valid ristretto255 element (the group's base point), for the vault's OPRF routes.
ELEMENT = "4vKuCmq8TnGohKlhxQBRX1jjC2qlgt2NtqZZReCNLXY"
SIGNATURE = "A" * 86
KEY = "A" * 43
NOT_CLAIMED = "no phone has used the code yet: the domain refuses it (409, 422) after authorization"
ENROLLED = "the phone's enrolment is complete: 409 proves authorization passed"
VAULT_SET_UP = "the phone's vault is set up already: 409 proves authorization passed"
NOT_SIGNED = "a key object only a real device could sign; 422 proves authorization passed"
APPOINTMENT_FORM = {
    "kind": "hearing",
    "timezone": "Europe/Berlin",
    "starts_at": "{in_a_month_local}",
    "ends_at": "{in_a_month_and_two_hours_local}",
}
CASE_POLICY_FORM = {
    "level1_targets": "workers_on_duty",
    "ack_timeout_minutes": "60",
    "repeat_minutes": "30",
}
AGENCY_POLICY_FORM = {
    "level1_support_support_worker": "on",
    "ack_timeout_minutes": "60",
    "repeat_minutes": "30",
}

RECIPES: dict[tuple[str, str], Recipe] = {
    # ---------------------------------------------------------------- accounts
    ("POST", "/v1/auth/login"): Recipe(
        json={
            "username": "nobody{unique}",
            "password": "wrong password",
            "device": {
                "name": "x",
                "curve25519": KEY,
                "ed25519": KEY,
                "proof": SIGNATURE,
                "one_time_keys": [],
            },
        },
        fresh=a_minute_later,
        note="public: the password is the credential; a wrong one is 401 for everyone",
    ),
    ("GET", "/v1/me"): Recipe(),
    ("GET", "/v1/devices"): Recipe(),
    ("POST", "/v1/devices/{device_id}/revoke"): Recipe(fresh=fresh_witness_phone),
    # ---------------------------------------------------------------- cases
    ("GET", "/v1/cases"): Recipe(),
    ("POST", "/v1/cases"): Recipe(
        json={"reference": "DE-{unique}", "support_agency_id": "{support_agency_id}"}
    ),
    ("GET", "/v1/cases/{case_id}"): Recipe(),
    ("POST", "/v1/cases/{case_id}/staff"): Recipe(json={"staff_id": "{worker_id}"}),
    ("DELETE", "/v1/cases/{case_id}/staff/{staff_id}"): Recipe(
        bind={"staff_id": "worker_id"}, fresh=fresh_case
    ),
    ("POST", "/v1/cases/{case_id}/witness"): Recipe(
        json={"alias": "Wren", "language": "ro", "timezone": "Europe/Bucharest"},
        fresh=fresh_case,
    ),
    ("POST", "/v1/cases/{case_id}/close"): Recipe(json={"outcome": "other"}, fresh=fresh_case),
    ("POST", "/v1/cases/{case_id}/review"): Recipe(),
    # ---------------------------------------------------------------- keys
    ("GET", "/v1/cases/{case_id}/devices"): Recipe(),
    ("POST", "/v1/keys"): Recipe(json={"one_time_keys": []}),
    ("GET", "/v1/keys/count"): Recipe(),
    ("POST", "/v1/keys/claim"): Recipe(
        json={"case_id": "{case_id}", "device_ids": ["{witness_device}"]}
    ),
    # ---------------------------------------------------------------- identities
    ("PUT", "/v1/me/device-keys"): Recipe(json={"device": {}}, note=NOT_SIGNED),
    ("PUT", "/v1/me/identity"): Recipe(json={"device_list": {}}, note=NOT_SIGNED),
    ("GET", "/v1/me/identity"): Recipe(),
    ("PUT", "/v1/me/identity-backup"): Recipe(json={"identity_key": KEY, "sealed": "c2VhbGVk"}),
    ("GET", "/v1/me/identity-backup"): Recipe(),
    ("GET", "/v1/staff/{staff_id}/identity"): Recipe(bind={"staff_id": "officer_id"}),
    ("GET", "/v1/cases/{case_id}/keys"): Recipe(),
    ("PUT", "/v1/cases/{case_id}/roster"): Recipe(make_json=next_roster),
    ("GET", "/v1/cases/{case_id}/roster"): Recipe(),
    # ---------------------------------------------------------------- enrolment
    ("POST", "/v1/witnesses/{witness_id}/enrolments"): Recipe(make_json=enrolment_code_body),
    ("GET", "/v1/enrolments/{enrolment_id}"): Recipe(fresh=fresh_enrolment),
    ("POST", "/v1/enrolments/{enrolment_id}/reveal"): Recipe(
        json={"nonce": B32}, fresh=fresh_enrolment, note=NOT_CLAIMED
    ),
    ("POST", "/v1/enrolments/{enrolment_id}/complete"): Recipe(
        fresh=fresh_enrolment, note=NOT_CLAIMED
    ),
    ("POST", "/v1/enrolments/{enrolment_id}/abort"): Recipe(fresh=fresh_enrolment),
    ("POST", "/v1/enrol"): Recipe(
        json={
            "code": B32,
            "device": {
                "name": "x",
                "curve25519": KEY,
                "ed25519": KEY,
                "proof": SIGNATURE,
                "one_time_keys": [],
            },
            "identity_key": KEY,
            "identity_mac": B32,
        },
        fresh=a_minute_later,
        note="public: the enrolment code is the credential, checked after the phone's"
        " registration material, which only a real phone can sign: 422 for everyone",
    ),
    ("PUT", "/v1/me/enrolment/nonce"): Recipe(json={"nonce": B32}, note=ENROLLED),
    ("GET", "/v1/me/enrolment"): Recipe(),
    ("POST", "/v1/me/enrolment/abort"): Recipe(note=ENROLLED),
    # ---------------------------------------------------------------- messages
    ("PUT", "/v1/cases/{case_id}/messages/{message_id}"): Recipe(
        json={"ciphertexts": [{"device_id": "{peer_device}", "type": 0, "body": "AAAA"}]},
    ),
    ("PUT", "/v1/cases/{case_id}/messages/{message_id}/copies/{device_id}"): Recipe(
        json={"type": 0, "body": "AAAA"},
        bind={"message_id": "own_message_id", "device_id": "peer_device"},
        note="a copy again, for someone else in the case, of a message the caller sent",
    ),
    ("GET", "/v1/messages"): Recipe(),
    ("POST", "/v1/messages/ack"): Recipe(json={"copy_ids": []}),
    ("GET", "/v1/events"): Recipe(),
    ("POST", "/v1/events/ack"): Recipe(json={"event_ids": []}),
    ("POST", "/v1/cases/{case_id}/attachments"): Recipe(
        data=b"\x00" * 64,
        query={"recipients": "{peer_device}"},
        headers={"Content-Type": "application/octet-stream"},
    ),
    ("GET", "/v1/attachments/{attachment_id}"): Recipe(),
    ("POST", "/v1/attachments/{attachment_id}/ack"): Recipe(),
    ("GET", "/v1/ws"): Recipe(websocket=True),
    ("GET", "/healthz"): Recipe(),
    # ---------------------------------------------------------------- welfare
    ("GET", "/v1/checkins/current"): Recipe(),
    ("POST", "/v1/checkins/{checkin_id}/response"): Recipe(make_json=signed_checkin_answer),
    ("POST", "/v1/heartbeat"): Recipe(json={}),
    ("POST", "/v1/panic"): Recipe(json={"request_id": "panic-{unique}"}),
    ("PUT", "/v1/me/sms-words"): Recipe(json={"checkin_word": "sunny", "duress_word": "rainy"}),
    ("GET", "/v1/witnesses/{witness_id}/checkin-plan"): Recipe(),
    ("PUT", "/v1/witnesses/{witness_id}/checkin-plan"): Recipe(json=PLAN),
    ("POST", "/v1/witnesses/{witness_id}/checkin-plan/pause"): Recipe(json={"reason": "hospital"}),
    ("POST", "/v1/witnesses/{witness_id}/checkin-plan/resume"): Recipe(),
    ("PUT", "/v1/witnesses/{witness_id}/phone"): Recipe(json={"number": "+15005550014"}),
    ("PUT", "/v1/witnesses/{witness_id}/voice"): Recipe(
        json={"pin": "2468", "duress_pin": "1357", "checkin_call": "fallback"}
    ),
    ("PUT", "/v1/me/phone"): Recipe(json={"number": "+15005550011"}),
    ("PUT", "/v1/me/duty"): Recipe(json={"on_duty": True}),
    ("GET", "/v1/cases/{case_id}/welfare-settings"): Recipe(),
    ("PUT", "/v1/cases/{case_id}/welfare-settings"): Recipe(json={}),
    ("GET", "/v1/cases/{case_id}/escalation-policy"): Recipe(),
    ("PUT", "/v1/cases/{case_id}/escalation-policy"): Recipe(json=POLICY),
    ("PUT", "/v1/agencies/{agency_id}/escalation-policy"): Recipe(json=POLICY),
    # ---------------------------------------------------------------- alerts
    ("GET", "/v1/alerts"): Recipe(),
    ("GET", "/v1/alerts/{alert_id}"): Recipe(),
    ("POST", "/v1/alerts/{alert_id}/acknowledge"): Recipe(
        fresh=fresh_alert,
    ),
    ("POST", "/v1/alerts/{alert_id}/resolve"): Recipe(
        fresh=fresh_alert, json={"outcome": "reached", "note": "called back"}
    ),
    # ---------------------------------------------------------------- twilio
    ("POST", "/v1/twilio/sms"): Recipe(
        form={"From": "+15005550014", "Body": "ok", "MessageSid": "SM{unique}"},
        note="a webhook: only Twilio's signature counts, and no actor holds it",
    ),
    ("POST", "/v1/twilio/status"): Recipe(
        form={"MessageSid": "SM{unique}", "MessageStatus": "delivered"},
        note="a webhook: only Twilio's signature counts, and no actor holds it",
    ),
    ("POST", "/v1/twilio/voice/alert/{notification_id}"): Recipe(
        bind={"notification_id": "unique"},
        form={"CallSid": "CA{unique}", "CallStatus": "in-progress", "AnsweredBy": "human"},
        note="a webhook: only Twilio's signature counts, and no actor holds it",
    ),
    ("POST", "/v1/twilio/voice/alert/{notification_id}/key"): Recipe(
        bind={"notification_id": "unique"},
        form={"CallSid": "CA{unique}", "Digits": "1"},
        note="a webhook: only Twilio's signature counts, and no actor holds it",
    ),
    ("POST", "/v1/twilio/voice/incoming"): Recipe(
        form={"CallSid": "CA{unique}", "From": "+15005550014", "To": "+15005550006"},
        note="a webhook: only Twilio's signature counts, and no actor holds it",
    ),
    ("POST", "/v1/twilio/voice/checkin/call/{notification_id}"): Recipe(
        bind={"notification_id": "unique"},
        form={"CallSid": "CA{unique}", "CallStatus": "in-progress", "AnsweredBy": "human"},
        note="a webhook: only Twilio's signature counts, and no actor holds it",
    ),
    ("POST", "/v1/twilio/voice/checkin/pin"): Recipe(
        form={"CallSid": "CA{unique}", "Digits": "1234"},
        note="a webhook: only Twilio's signature counts, and no actor holds it",
    ),
    ("POST", "/v1/twilio/voice/checkin/menu"): Recipe(
        form={"CallSid": "CA{unique}", "Digits": "1"},
        note="a webhook: only Twilio's signature counts, and no actor holds it",
    ),
    ("POST", "/v1/twilio/voice/status"): Recipe(
        form={"CallSid": "CA{unique}", "CallStatus": "completed"},
        note="a webhook: only Twilio's signature counts, and no actor holds it",
    ),
    # ---------------------------------------------------------------- court
    ("POST", "/v1/cases/{case_id}/appointments"): Recipe(json=APPOINTMENT),
    ("GET", "/v1/cases/{case_id}/appointments"): Recipe(),
    ("GET", "/v1/appointments/{appointment_id}"): Recipe(),
    ("POST", "/v1/appointments/{appointment_id}/reschedule"): Recipe(
        json=APPOINTMENT, fresh=fresh_appointment
    ),
    ("POST", "/v1/appointments/{appointment_id}/cancel"): Recipe(
        json={"reason": "court closed"}, fresh=fresh_appointment
    ),
    ("POST", "/v1/appointments/{appointment_id}/attendance"): Recipe(
        json={"outcome": "attended"},
        fresh=fresh_started_appointment,
    ),
    ("GET", "/v1/me/appointments"): Recipe(),
    ("POST", "/v1/cases/{case_id}/handover"): Recipe(
        json={"return_on": "2099-01-15"},
        bind={"case_id": "handover_case_id"},
        note="case H: once a request is open, SA (not on the team) is told nothing exists",
    ),
    ("GET", "/v1/cases/{case_id}/handover"): Recipe(),
    ("POST", "/v1/cases/{case_id}/handover/consent"): Recipe(json={"how": "in_person"}),
    ("POST", "/v1/me/handover-consent"): Recipe(),
    ("GET", "/v1/handover-requests"): Recipe(),
    ("GET", "/v1/handover-requests/{handover_id}"): Recipe(fresh=fresh_handover),
    ("POST", "/v1/handover-requests/{handover_id}/accept"): Recipe(
        json={"primary_contact_id": "{worker_id}", "alternate_contact_id": "{contact_id}"},
        fresh=fresh_handover,
    ),
    ("POST", "/v1/handover-requests/{handover_id}/decline"): Recipe(
        json={"reason": "no capacity this month"}, fresh=fresh_handover
    ),
    ("POST", "/v1/cases/{case_id}/assessments"): Recipe(
        json={"level": "medium", "factors": ["debt"], "notes": "owes the recruiter"}
    ),
    ("GET", "/v1/cases/{case_id}/assessments"): Recipe(),
    ("GET", "/v1/assessments/{assessment_id}/notes"): Recipe(fresh=an_assessment),
    ("POST", "/v1/appointments/{appointment_id}/answer"): Recipe(json={"answer": "confirm"}),
    ("POST", "/v1/appointments/{appointment_id}/ready"): Recipe(json={"step": "appointment"}),
    # ---------------------------------------------------------------- welfare visits
    ("GET", "/v1/witnesses/{witness_id}/visit-plan"): Recipe(),
    ("PUT", "/v1/witnesses/{witness_id}/visit-plan"): Recipe(json={"risk_level": "high"}),
    ("POST", "/v1/cases/{case_id}/visits"): Recipe(
        json={
            "visitor_staff_id": "{worker_id}",
            "window_start": "{in_a_month}",
            "window_end": "{in_a_month_and_two_hours}",
        }
    ),
    ("GET", "/v1/cases/{case_id}/visits"): Recipe(),
    ("GET", "/v1/visits/{visit_id}"): Recipe(fresh=fresh_visit),
    ("POST", "/v1/visits/{visit_id}/cancel"): Recipe(fresh=fresh_visit),
    ("POST", "/v1/visits/{visit_id}/record"): Recipe(
        json={"outcome": "held", "seen_alone": True}, fresh=fresh_visit
    ),
    ("POST", "/v1/visits/{visit_id}/door"): Recipe(json={"answer": "confirmed"}, fresh=fresh_visit),
    ("POST", "/v1/me/calendar-feed"): Recipe(),
    ("DELETE", "/v1/me/calendar-feed"): Recipe(),
    ("GET", "/v1/calendar/{token}.ics"): Recipe(
        fresh=fresh_calendar_feed,
        note="the secret URL is the credential: whoever holds it reads the feed",
    ),
    # ---------------------------------------------------------------- vault
    ("POST", "/v1/vault/setup"): Recipe(json={"blinded": [ELEMENT]}, note=VAULT_SET_UP),
    ("PUT", "/v1/vault/keys"): Recipe(
        json={"keys": [{"public_key": B32, "role": "primary"}]}, note=VAULT_SET_UP
    ),
    ("POST", "/v1/vault/unlock/{device_id}/evaluate"): Recipe(
        json={"blinded": ELEMENT},
        note="the unlock credential (not the device token) is the credential here",
    ),
    ("POST", "/v1/vault/unlock/{device_id}/challenge"): Recipe(),
    ("POST", "/v1/vault/unlock/{device_id}/confirm"): Recipe(
        json={"attempt_id": "nope", "signature": SIGNATURE}
    ),
    ("POST", "/v1/vault/unlock/{device_id}/failed"): Recipe(json={"attempt_id": "nope"}),
    ("POST", "/v1/vault/keys/endorse"): Recipe(
        json={
            "attempt_id": "nope",
            "public_key": B32,
            "signature": SIGNATURE,
            "endorsement": SIGNATURE,
        },
        note="no unlock attempt of that id to endorse a key with: 409 after authorization",
    ),
    ("POST", "/v1/vault/keys/retire"): Recipe(json={"public_key": B32, "signature": SIGNATURE}),
    ("POST", "/v1/vault/erase"): Recipe(last=True, note="wipes and revokes the caller's phone"),
    # ---------------------------------------------------------------- console: sign-in
    ("GET", "/console/login"): Recipe(),
    ("POST", "/console/login"): Recipe(
        form={"username": "officer", "password": PASSWORD, "csrf": "{unique}"},
        cookies={LOGIN_CSRF_COOKIE: "{unique}"},
        fresh=a_minute_later,
        note="public: the password is the credential (sign-in is rate-limited per user)",
    ),
    ("POST", "/console/logout"): Recipe(form={}, last=True, note="ends the caller's session"),
    ("POST", "/console/language"): Recipe(form={"language": "en", "next": "/console/"}),
    ("GET", "/console/"): Recipe(),
    ("GET", "/console/caseload/rows"): Recipe(),
    ("GET", "/console/events"): Recipe(stream=True),
    ("GET", "/console/alerts"): Recipe(),
    ("GET", "/console/alerts/{alert_id}"): Recipe(
        note="an alert id; a 4-hex SMS reference opens only alerts texted to the caller"
    ),
    ("GET", "/console/alerts/live"): Recipe(),
    ("POST", "/console/alerts/{alert_id}/acknowledge"): Recipe(fresh=fresh_alert, form={}),
    ("POST", "/console/alerts/{alert_id}/resolve"): Recipe(
        fresh=fresh_alert, form={"outcome": "reached", "note": "called back"}
    ),
    # ---------------------------------------------------------------- console: admin
    ("GET", "/console/admin"): Recipe(),
    ("GET", "/console/admin/agencies/{agency_id}"): Recipe(),
    ("POST", "/console/admin/agencies/{agency_id}/staff"): Recipe(
        form={
            "username": "new{unique}",
            "display_name": "New Colleague",
            "role": "officer",
            "password": "a long enough password",
            "password_again": "a long enough password",
        }
    ),
    ("GET", "/console/admin/staff/{staff_id}"): Recipe(),
    ("POST", "/console/admin/staff/{staff_id}/role"): Recipe(form={"role": "officer"}),
    ("POST", "/console/admin/staff/{staff_id}/active"): Recipe(form={"active": "on"}),
    ("POST", "/console/admin/staff/{staff_id}/totp"): Recipe(form={}),
    ("POST", "/console/admin/staff/{staff_id}/duty"): Recipe(
        form={"on_duty": "1"}, note="the police agency's own supervisors and admins only"
    ),
    # ---------------------------------------------------------------- console: my account
    ("GET", "/console/account"): Recipe(),
    ("POST", "/console/account/phone"): Recipe(form={"number": "+15005550015"}),
    ("POST", "/console/account/duty"): Recipe(form={"on_duty": "1"}),
    ("GET", "/console/admin/agencies/{agency_id}/policy"): Recipe(),
    ("POST", "/console/admin/agencies/{agency_id}/policy"): Recipe(form=AGENCY_POLICY_FORM),
    ("GET", "/console/admin/agencies/{agency_id}/playbooks"): Recipe(
        note="the agency's own admins only: supervisors and other agencies' admins get 403"
    ),
    ("POST", "/console/admin/agencies/{agency_id}/playbooks"): Recipe(
        form={"kind": "panic", "steps": "Call 112, then the support worker"}
    ),
    ("GET", "/console/admin/audit"): Recipe(),
    ("POST", "/console/admin/audit/verify"): Recipe(form={}),
    # ---------------------------------------------------------------- console: witness
    ("GET", "/console/cases/{case_id}"): Recipe(),
    ("POST", "/console/cases/{case_id}/consult"): Recipe(form={"reason": "weekly review"}),
    ("GET", "/console/cases/{case_id}/consult"): Recipe(),
    ("POST", "/console/cases/{case_id}/plan"): Recipe(
        form={
            "mode": "interval",
            "every_hours": "24",
            "start_local": "10:00",
            "window_minutes": "60",
            "grace_minutes": "30",
            "reminder_minutes": "15",
        }
    ),
    ("POST", "/console/cases/{case_id}/plan/pause"): Recipe(form={"reason": "hospital"}),
    ("POST", "/console/cases/{case_id}/plan/resume"): Recipe(form={}),
    ("POST", "/console/cases/{case_id}/settings"): Recipe(
        form={"nudge_text": "", "offline_after_minutes": "120", "silent_after_hours": "48"}
    ),
    ("POST", "/console/cases/{case_id}/phone"): Recipe(form={"number": "+15005550014"}),
    ("POST", "/console/cases/{case_id}/instructions"): Recipe(
        form={"instructions": "Text only, never call"}
    ),
    ("POST", "/console/cases/{case_id}/voice"): Recipe(
        form={"pin": "2468", "duress_pin": "1357", "checkin_call": "fallback"}
    ),
    ("POST", "/console/cases/{case_id}/policy"): Recipe(form=CASE_POLICY_FORM),
    ("POST", "/console/cases/{case_id}/appointments"): Recipe(form=APPOINTMENT_FORM),
    ("POST", "/console/cases/{case_id}/handover"): Recipe(
        form={"return_on": "2099-01-15", "consent": "in_person"},
        bind={"case_id": "handover_case_id"},
        note="case H: once a request is open, SA (not on the team) is told nothing exists",
    ),
    ("POST", "/console/cases/{case_id}/assessments"): Recipe(
        form={"level": "medium", "factor": "debt", "notes": "owes the recruiter"}
    ),
    ("POST", "/console/cases/{case_id}/assessments/{assessment_id}/notes"): Recipe(
        form={"reason": "review"}, fresh=an_assessment
    ),
    ("POST", "/console/cases/{case_id}/assessments/checkin-plan"): Recipe(
        form={}, note="the plan already checks in more often than the level asks: nothing changes"
    ),
    ("GET", "/console/handovers"): Recipe(),
    ("POST", "/console/handovers/{handover_id}/accept"): Recipe(
        form={"primary": "{worker_id}", "alternate": "{contact_id}"}, fresh=fresh_handover
    ),
    ("POST", "/console/handovers/{handover_id}/decline"): Recipe(
        form={"reason": "no capacity this month"}, fresh=fresh_handover
    ),
    ("POST", "/console/cases/{case_id}/appointments/{appointment_id}/cancel"): Recipe(
        form={"reason": "court closed"}, fresh=fresh_appointment
    ),
    ("POST", "/console/cases/{case_id}/appointments/{appointment_id}/attendance"): Recipe(
        form={"attended": "yes"},
        fresh=fresh_started_appointment,
    ),
    ("POST", "/console/cases/{case_id}/visit-plan"): Recipe(form={"every_days": "21"}),
    ("POST", "/console/cases/{case_id}/visits"): Recipe(
        form={
            "visitor_staff_id": "{worker_id}",
            "window_start": "{in_a_month_local}",
            "window_end": "{in_a_month_and_two_hours_local}",
        }
    ),
    ("POST", "/console/cases/{case_id}/visits/{visit_id}/record"): Recipe(
        form={"outcome": "held", "seen_alone": "1"}, fresh=fresh_visit
    ),
    ("POST", "/console/cases/{case_id}/visits/{visit_id}/cancel"): Recipe(
        form={}, fresh=fresh_visit
    ),
    ("POST", "/console/cases/{case_id}/devices/{device_id}/revoke"): Recipe(
        form={}, fresh=fresh_witness_phone
    ),
    # ---------------------------------------------------------------- console: casework
    ("POST", "/console/cases"): Recipe(
        form={"reference": "DE-{unique}", "support_agency_id": "{support_agency_id}"},
        note="police officers and managers only: a support worker gets 403",
    ),
    ("POST", "/console/cases/{case_id}/witness"): Recipe(
        form={"alias": "Wren", "language": "ro", "timezone": "Europe/Bucharest"},
        fresh=fresh_case,
    ),
    ("POST", "/console/cases/{case_id}/team"): Recipe(form={"staff_id": "{worker_id}"}),
    ("POST", "/console/cases/{case_id}/team/{staff_id}/remove"): Recipe(
        form={}, bind={"staff_id": "worker_id"}, fresh=fresh_case
    ),
    ("POST", "/console/cases/{case_id}/review"): Recipe(form={}),
    ("POST", "/console/cases/{case_id}/close"): Recipe(
        form={"outcome": "convicted"}, fresh=fresh_case
    ),
    ("GET", "/console/static"): Recipe(path="/console/static/console.css"),
    # ---------------------------------------------------------------- pending merge
    ("GET", "/"): Recipe(note="leads to the console"),
    ("GET", "/openapi.json"): Recipe(),
    ("GET", "/livez"): Recipe(),
    ("GET", "/readyz"): Recipe(),
}
