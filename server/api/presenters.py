"""Views of domain records for responses, as the typed models of ``server.api.responses``.

Only what the caller may see. Returning the models (not dicts) means the OpenAPI
document, which is generated from those models, describes exactly what is sent, and
mypy checks every field a presenter fills.
"""

from __future__ import annotations

import json
from datetime import datetime

import msgspec
from msgspec.structs import asdict

from server.api import responses as out
from server.clock import iso
from server.domain.cases import CaseView
from server.domain.court.models import Appointment
from server.domain.escalation import EscalationPolicy
from server.domain.identities import CaseKeys, parsed
from server.domain.keys import ClaimResult
from server.domain.messages import SendReceipt
from server.domain.models import Case, Device, Enrolment, MessageCopy, Staff, Witness
from server.domain.resends import ResendReceipt
from server.domain.welfare.alert_desk import AlertDetail
from server.domain.welfare.plans import PlanView
from server.domain.welfare_models import Alert, CaseSettings, CheckIn
from server.realtime.hub import message_frame


def optional_iso(value: datetime | None) -> str | None:
    return None if value is None else iso(value)


def device_view(device: Device) -> out.DeviceOut:
    return out.DeviceOut(
        device_id=device.id,
        owner_kind=device.owner_kind,
        owner_id=device.owner_id,
        name=device.name,
        curve25519=device.curve25519,
        ed25519=device.ed25519,
        created_at=iso(device.created_at),
        last_seen_at=iso(device.last_seen_at),
        revoked=device.revoked_at is not None,
        key_object=None if device.key_object is None else json.loads(device.key_object),
    )


def case_keys_view(bundle: CaseKeys) -> out.CaseKeysOut:
    """A case's key bundle: every signed object exactly as its signer uploaded it."""
    return out.CaseKeysOut(
        case_id=bundle.case_id,
        roster=None if bundle.roster is None else parsed(bundle.roster),
        members=[
            out.MemberKeysOut(
                owner=m.owner,
                name=m.name,
                role=m.role,
                device_list=None if m.identity is None else parsed(m.identity.device_list),
                devices=[
                    out.MemberDeviceOut(
                        device_id=d.id,
                        name=d.name,
                        key_object=None if d.key_object is None else parsed(d.key_object),
                    )
                    for d in m.devices
                ],
            )
            for m in bundle.members
        ],
    )


def enrolment_officer_view(enrolment: Enrolment) -> out.EnrolmentOfficerOut:
    """What the issuing officer's client follows: the phone's identity, MAC and nonce."""
    return out.EnrolmentOfficerOut(
        enrolment_id=enrolment.id,
        witness_id=enrolment.witness_id,
        state=enrolment.state,
        expires_at=iso(enrolment.expires_at),
        device_id=enrolment.device_id,
        phone_identity=enrolment.phone_identity,
        phone_mac=enrolment.phone_mac,
        phone_nonce=enrolment.phone_nonce,
    )


def enrolment_phone_view(enrolment: Enrolment) -> out.EnrolmentPhoneOut:
    """What the phone learns: the roster and MAC the officer's client made, the
    commitment, and (once revealed) the officer's nonce."""
    return out.EnrolmentPhoneOut(
        enrolment_id=enrolment.id,
        state=enrolment.state,
        roster=parsed(enrolment.roster),
        team_mac=enrolment.team_mac,
        commitment=enrolment.commitment,
        officer_nonce=enrolment.reveal,
    )


def staff_view(staff: Staff) -> out.StaffOut:
    return out.StaffOut(
        staff_id=staff.id,
        agency_id=staff.agency_id,
        username=staff.username,
        display_name=staff.display_name,
        role=staff.role,
        totp=staff.has_totp,
    )


def witness_view(witness: Witness) -> out.WitnessOut:
    return out.WitnessOut(
        witness_id=witness.id,
        case_id=witness.case_id,
        alias=witness.alias,
        language=witness.language,
        timezone=witness.timezone,
    )


def case_view(case: Case, witness: Witness | None = None) -> out.CaseOut:
    return out.CaseOut(
        case_id=case.id,
        reference=case.reference,
        police_agency_id=case.police_agency_id,
        support_agency_id=case.support_agency_id,
        created_at=iso(case.created_at),
        closed=case.closed_at is not None,
        witness=None if witness is None else witness_view(witness),
    )


def closed_case_view(
    case: Case, *, newly_closed: bool, revoked: list[str], outcome: str
) -> out.ClosedCaseOut:
    return out.ClosedCaseOut(
        **asdict(case_view(case)),
        newly_closed=newly_closed,
        revoked_devices=revoked,
        outcome=outcome,
    )


def case_detail_view(view: CaseView) -> out.CaseDetailOut:
    return out.CaseDetailOut(
        **asdict(case_view(view.case, view.witness)),
        team=[
            out.TeamMemberOut(
                staff_id=m.staff_id,
                display_name=m.display_name,
                agency_id=m.agency_id,
                role=m.role,
            )
            for m in view.team
        ],
        devices=[device_view(d) for d in view.devices],
    )


def claim_view(result: ClaimResult) -> out.ClaimOut:
    key = result.key
    return out.ClaimOut(
        device_id=result.device.id,
        curve25519=result.device.curve25519,
        ed25519=result.device.ed25519,
        fallback=result.fallback,
        key=None
        if key is None
        else out.ClaimedKeyOut(key_id=key.key_id, key=key.public_key, signature=key.signature),
    )


def resend_view(receipt: ResendReceipt) -> out.ResendOut:
    return out.ResendOut(
        message_id=receipt.message_id,
        device_id=receipt.recipient_device_id,
        stored_at=iso(receipt.stored_at),
        duplicate=receipt.duplicate,
    )


def receipt_view(receipt: SendReceipt) -> out.ReceiptOut:
    return out.ReceiptOut(
        message_id=receipt.message_id,
        stored_at=iso(receipt.stored_at),
        duplicate=receipt.duplicate,
        recipients=receipt.recipients,
        missing_devices=receipt.missing_devices,
    )


def checkin_view(checkin: CheckIn | None) -> out.CheckInOut | None:
    if checkin is None:
        return None
    return out.CheckInOut(
        checkin_id=checkin.id,
        state=checkin.state,
        due_at=iso(checkin.due_at),
        closes_at=iso(checkin.closes_at),
        deadline_at=iso(checkin.deadline_at),
        remind_at=optional_iso(checkin.remind_at),
        response=checkin.response,
        answered_at=optional_iso(checkin.answered_at),
        channel=checkin.response_channel,
    )


def prompt_view(checkin: CheckIn | None) -> out.PromptOut | None:
    """What the phone needs to answer: includes the one-time nonce it signs."""
    view = checkin_view(checkin)
    if view is None or checkin is None:
        return None
    return out.PromptOut(**asdict(view), nonce=checkin.nonce)


def plan_view(view: PlanView) -> out.PlanOut:
    plan = view.plan
    return out.PlanOut(
        witness_id=plan.witness_id,
        kind=plan.kind,
        description=view.description,
        every_hours=plan.every_hours,
        anchor_local=plan.anchor_local,
        weekdays=None if plan.weekdays is None else [int(d) for d in plan.weekdays.split(",")],
        times=None if plan.times is None else plan.times.split(","),
        timezone=plan.timezone,
        window_minutes=plan.window_minutes,
        grace_minutes=plan.grace_minutes,
        reminder_minutes=plan.reminder_minutes,
        paused=plan.paused,
        paused_reason=plan.paused_reason,
        paused_until=optional_iso(plan.paused_until),
        version=plan.version,
        current=checkin_view(view.current),
    )


def alert_view(alert: Alert) -> out.AlertOut:
    return out.AlertOut(
        alert_id=alert.id,
        case_id=alert.case_id,
        witness_id=alert.witness_id,
        kind=alert.kind,
        severity=alert.severity,
        status=alert.status,
        level=alert.level,
        round=alert.round,
        created_at=iso(alert.created_at),
        next_escalation_at=optional_iso(alert.next_escalation_at),
        acknowledged_by=alert.acknowledged_by,
        acknowledged_at=optional_iso(alert.acknowledged_at),
        ack_expires_at=optional_iso(alert.ack_expires_at),
        resolved_by=alert.resolved_by,
        resolved_at=optional_iso(alert.resolved_at),
        outcome=alert.outcome,
    )


def alert_detail_view(detail: AlertDetail) -> out.AlertDetailOut:
    return out.AlertDetailOut(
        **asdict(alert_view(detail.alert)),
        note=detail.note,
        notifications=[
            out.NotificationOut(
                notification_id=n.id,
                channel=n.channel,
                recipient_kind=n.recipient_kind,
                recipient_id=n.recipient_id,
                level=n.level,
                round=n.round,
                status=n.status,
                attempts=n.attempts,
                sent_at=optional_iso(n.sent_at),
                delivered_at=optional_iso(n.delivered_at),
                error_code=n.error_code,
            )
            for n in detail.notifications
        ],
    )


def policy_view(policy: EscalationPolicy, source: str) -> out.PolicyOut:
    """The policy as its own JSON form says it, and where it comes from."""
    return msgspec.convert({**json.loads(policy.to_json()), "source": source}, out.PolicyOut)


def appointment_view(appointment: Appointment) -> out.AppointmentOut:
    """When and what kind — never where or with whom (the server does not know)."""
    return out.AppointmentOut(
        appointment_id=appointment.id,
        case_id=appointment.case_id,
        witness_id=appointment.witness_id,
        kind=appointment.kind,
        starts_at=iso(appointment.starts_at),
        ends_at=iso(appointment.ends_at),
        timezone=appointment.timezone,
        location_kind=appointment.location_kind,
        interpreter_booked=appointment.interpreter_booked,
        interpreter_language=appointment.interpreter_language,
        test_call_at=optional_iso(appointment.test_call_at),
        test_call_ends_at=optional_iso(appointment.test_call_ends_at),
        confirm_by=optional_iso(appointment.confirm_by),
        status=appointment.status,
        confirmation=appointment.confirmation,
        confirmed_at=optional_iso(appointment.confirmed_at),
        test_ready_at=optional_iso(appointment.test_ready_at),
        ready_at=optional_iso(appointment.ready_at),
        version=appointment.version,
    )


def message_view(copy: MessageCopy) -> out.MessageFrameOut:
    """A pending copy over REST: the same fields as its WebSocket frame (one source,
    ``server.realtime.hub.message_frame``), checked against the model on the way."""
    return msgspec.convert(message_frame(copy), out.MessageFrameOut)


def case_settings_view(settings: CaseSettings) -> out.CaseSettingsOut:
    """A case's welfare settings in the units staff set them in."""
    return out.CaseSettingsOut(
        nudge_text=settings.nudge_text,
        offline_after_minutes=settings.offline_after_s // 60,
        silent_after_hours=settings.silent_after_s // 3600,
        reminder_offsets_minutes=None
        if settings.reminder_offsets is None
        else list(settings.reminder_offsets),
    )
