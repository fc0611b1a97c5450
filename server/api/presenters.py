"""JSON views of domain records for responses. Only what the caller may see."""

from __future__ import annotations

from typing import Any

from client_sdk.protocol import TeamDevice
from server.clock import iso
from server.domain.cases import CaseView, IssuedEnrolment
from server.domain.keys import ClaimResult
from server.domain.messages import SendReceipt
from server.domain.models import Agency, Case, Device, Staff, Witness


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
    }


def team_device_view(device: TeamDevice) -> dict[str, Any]:
    return {
        "device_id": device.device_id,
        "curve25519": device.curve25519,
        "ed25519": device.ed25519,
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


def enrolment_view(issued: IssuedEnrolment, qr_svg: str) -> dict[str, Any]:
    return {
        "witness": witness_view(issued.witness),
        "code": issued.code.text(),
        "qr_payload": issued.code.qr_payload(),
        "qr_svg": qr_svg,
        "team_fingerprint": issued.code.team_fingerprint,
        "expires_at": iso(issued.expires_at),
    }


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


def receipt_view(receipt: SendReceipt) -> dict[str, Any]:
    return {
        "message_id": receipt.message_id,
        "stored_at": iso(receipt.stored_at),
        "duplicate": receipt.duplicate,
        "recipients": receipt.recipients,
        "missing_devices": receipt.missing_devices,
    }
