"""JSON views of domain records for responses. Only what the caller may see."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from server.clock import iso
from server.domain.cases import CaseView
from server.domain.court.models import Appointment
from server.domain.escalation import EscalationPolicy
from server.domain.identities import CaseKeys, parsed
from server.domain.keys import ClaimResult
from server.domain.messages import SendReceipt
from server.domain.models import Agency, Case, Device, Enrolment, Staff, Witness
from server.domain.resends import ResendReceipt
from server.domain.welfare.alert_desk import AlertDetail
from server.domain.welfare.plans import PlanView
from server.domain.welfare_models import Alert, CheckIn


def device_view(device: Device) -> dict[str, Any]:
    return {
        "device_id": device.id,
        "owner_kind": device.owner_kind.value,
        "owner_id": device.owner_id,
        "name": device.name,
        "curve25519": device.curve25519,
        "ed25519": device.ed25519,
        "created_at": iso(device.created_at),
        "last_seen_at": iso(device.last_seen_at),
        "revoked": device.revoked_at is not None,
        "key_object": None if device.key_object is None else json.loads(device.key_object),
    }


def case_keys_view(bundle: CaseKeys) -> dict[str, Any]:
    """A case's key bundle: every signed object exactly as its signer uploaded it."""
    return {
        "case_id": bundle.case_id,
        "roster": None if bundle.roster is None else parsed(bundle.roster),
        "members": [
            {
                "owner": m.owner,
                "name": m.name,
                "role": m.role,
                "device_list": None if m.identity is None else parsed(m.identity.device_list),
                "devices": [
                    {
                        "device_id": d.id,
                        "name": d.name,
                        "key_object": None if d.key_object is None else parsed(d.key_object),
                    }
                    for d in m.devices
                ],
            }
            for m in bundle.members
        ],
    }


def enrolment_officer_view(enrolment: Enrolment) -> dict[str, Any]:
    """What the issuing officer's client follows: the phone's identity, MAC and nonce."""
    return {
        "enrolment_id": enrolment.id,
        "witness_id": enrolment.witness_id,
        "state": enrolment.state.value,
        "expires_at": iso(enrolment.expires_at),
        "device_id": enrolment.device_id,
        "phone_identity": enrolment.phone_identity,
        "phone_mac": enrolment.phone_mac,
        "phone_nonce": enrolment.phone_nonce,
    }


def enrolment_phone_view(enrolment: Enrolment) -> dict[str, Any]:
    """What the phone learns: the roster and MAC the officer's client made, the
    commitment, and (once revealed) the officer's nonce."""
    return {
        "enrolment_id": enrolment.id,
        "state": enrolment.state.value,
        "roster": parsed(enrolment.roster),
        "team_mac": enrolment.team_mac,
        "commitment": enrolment.commitment,
        "officer_nonce": enrolment.reveal,
    }


def staff_view(staff: Staff) -> dict[str, Any]:
    return {
        "staff_id": staff.id,
        "agency_id": staff.agency_id,
        "username": staff.username,
        "display_name": staff.display_name,
        "role": staff.role.value,
        "totp": staff.has_totp,
    }


def agency_view(agency: Agency) -> dict[str, Any]:
    return {
        "agency_id": agency.id,
        "name": agency.name,
        "country": agency.country,
        "kind": agency.kind.value,
        "requires_reason": agency.requires_reason,
    }


def witness_view(witness: Witness) -> dict[str, Any]:
    return {
        "witness_id": witness.id,
        "case_id": witness.case_id,
        "alias": witness.alias,
        "language": witness.language,
        "timezone": witness.timezone,
    }


def case_view(case: Case, witness: Witness | None = None) -> dict[str, Any]:
    return {
        "case_id": case.id,
        "reference": case.reference,
        "police_agency_id": case.police_agency_id,
        "support_agency_id": case.support_agency_id,
        "created_at": iso(case.created_at),
        "closed": case.closed_at is not None,
        "witness": None if witness is None else witness_view(witness),
    }


def case_detail_view(view: CaseView) -> dict[str, Any]:
    body = case_view(view.case, view.witness)
    body["team"] = [
        {
            "staff_id": m.staff_id,
            "display_name": m.display_name,
            "agency_id": m.agency_id,
            "role": m.role,
        }
        for m in view.team
    ]
    body["devices"] = [device_view(d) for d in view.devices]
    return body


def claim_view(result: ClaimResult) -> dict[str, Any]:
    return {
        "device_id": result.device.id,
        "curve25519": result.device.curve25519,
        "ed25519": result.device.ed25519,
        "fallback": result.fallback,
        "key": None
        if result.key is None
        else {
            "key_id": result.key.key_id,
            "key": result.key.public_key,
            "signature": result.key.signature,
        },
    }


def resend_view(receipt: ResendReceipt) -> dict[str, Any]:
    return {
        "message_id": receipt.message_id,
        "device_id": receipt.recipient_device_id,
        "stored_at": iso(receipt.stored_at),
        "duplicate": receipt.duplicate,
    }


def receipt_view(receipt: SendReceipt) -> dict[str, Any]:
    return {
        "message_id": receipt.message_id,
        "stored_at": iso(receipt.stored_at),
        "duplicate": receipt.duplicate,
        "recipients": receipt.recipients,
        "missing_devices": receipt.missing_devices,
    }


def checkin_view(checkin: CheckIn | None) -> dict[str, Any] | None:
    if checkin is None:
        return None
    return {
        "checkin_id": checkin.id,
        "state": checkin.state.value,
        "due_at": iso(checkin.due_at),
        "closes_at": iso(checkin.closes_at),
        "deadline_at": iso(checkin.deadline_at),
        "remind_at": None if checkin.remind_at is None else iso(checkin.remind_at),
        "response": None if checkin.response is None else checkin.response.value,
        "answered_at": None if checkin.answered_at is None else iso(checkin.answered_at),
        "channel": checkin.response_channel,
    }


def prompt_view(checkin: CheckIn | None) -> dict[str, Any] | None:
    """What the phone needs to answer: includes the one-time nonce it signs."""
    view = checkin_view(checkin)
    if view is not None and checkin is not None:
        view["nonce"] = checkin.nonce
    return view


def plan_view(view: PlanView) -> dict[str, Any]:
    plan = view.plan
    return {
        "witness_id": plan.witness_id,
        "kind": plan.kind,
        "description": view.description,
        "every_hours": plan.every_hours,
        "anchor_local": plan.anchor_local,
        "weekdays": None if plan.weekdays is None else [int(d) for d in plan.weekdays.split(",")],
        "times": None if plan.times is None else plan.times.split(","),
        "timezone": plan.timezone,
        "window_minutes": plan.window_minutes,
        "grace_minutes": plan.grace_minutes,
        "reminder_minutes": plan.reminder_minutes,
        "paused": plan.paused,
        "paused_reason": plan.paused_reason,
        "paused_until": None if plan.paused_until is None else iso(plan.paused_until),
        "version": plan.version,
        "current": checkin_view(view.current),
    }


def alert_view(alert: Alert) -> dict[str, Any]:
    return {
        "alert_id": alert.id,
        "case_id": alert.case_id,
        "witness_id": alert.witness_id,
        "kind": alert.kind.value,
        "severity": alert.severity.value,
        "status": alert.status.value,
        "level": alert.level,
        "round": alert.round,
        "created_at": iso(alert.created_at),
        "next_escalation_at": None
        if alert.next_escalation_at is None
        else iso(alert.next_escalation_at),
        "acknowledged_by": alert.acknowledged_by,
        "acknowledged_at": None if alert.acknowledged_at is None else iso(alert.acknowledged_at),
        "ack_expires_at": None if alert.ack_expires_at is None else iso(alert.ack_expires_at),
        "resolved_by": alert.resolved_by,
        "resolved_at": None if alert.resolved_at is None else iso(alert.resolved_at),
        "outcome": alert.outcome,
    }


def alert_detail_view(detail: AlertDetail) -> dict[str, Any]:
    body = alert_view(detail.alert)
    body["note"] = detail.note
    body["notifications"] = [
        {
            "notification_id": n.id,
            "channel": n.channel,
            "recipient_kind": n.recipient_kind,
            "recipient_id": n.recipient_id,
            "level": n.level,
            "round": n.round,
            "status": n.status.value,
            "attempts": n.attempts,
            "sent_at": None if n.sent_at is None else iso(n.sent_at),
            "delivered_at": None if n.delivered_at is None else iso(n.delivered_at),
            "error_code": n.error_code,
        }
        for n in detail.notifications
    ]
    return body


def policy_view(policy: EscalationPolicy, source: str) -> dict[str, Any]:
    import json

    body: dict[str, Any] = json.loads(policy.to_json())
    body["source"] = source
    return body


def appointment_view(appointment: Appointment) -> dict[str, Any]:
    """When and what kind — never where or with whom (the server does not know)."""

    def opt(value: datetime | None) -> str | None:
        return None if value is None else iso(value)

    location = appointment.location_kind
    return {
        "appointment_id": appointment.id,
        "case_id": appointment.case_id,
        "witness_id": appointment.witness_id,
        "kind": appointment.kind.value,
        "starts_at": iso(appointment.starts_at),
        "ends_at": iso(appointment.ends_at),
        "timezone": appointment.timezone,
        "location_kind": None if location is None else location.value,
        "interpreter_booked": appointment.interpreter_booked,
        "interpreter_language": appointment.interpreter_language,
        "test_call_at": opt(appointment.test_call_at),
        "test_call_ends_at": opt(appointment.test_call_ends_at),
        "confirm_by": opt(appointment.confirm_by),
        "status": appointment.status.value,
        "confirmation": appointment.confirmation.value,
        "confirmed_at": opt(appointment.confirmed_at),
        "test_ready_at": opt(appointment.test_ready_at),
        "ready_at": opt(appointment.ready_at),
        "version": appointment.version,
    }
