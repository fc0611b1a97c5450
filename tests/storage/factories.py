"""Small builders for storage tests: rows created through the repositories themselves.

Every builder takes the unit of work to write into, so a test decides which
transaction a row belongs to. Names and keys are random so that builders can be called
repeatedly without tripping unique constraints by accident.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from server.domain.models import (
    Agency,
    AgencyKind,
    Attachment,
    Case,
    Device,
    Enrolment,
    EnrolmentState,
    OwnerKind,
    Role,
    SignedKey,
    Staff,
    Witness,
)
from server.ids import new_id
from server.storage.protocols import NewCopy, NewSend, Store, UnitOfWork


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


def agency_row(
    at: datetime,
    *,
    name: str | None = None,
    kind: AgencyKind = AgencyKind.POLICE,
    country: str = "NL",
    requires_reason: bool = False,
) -> Agency:
    return Agency(
        id=new_id("agency"),
        name=name or unique(f"{kind.value} agency"),
        country=country,
        kind=kind,
        requires_reason=requires_reason,
        created_at=at,
    )


async def make_agency(
    uow: UnitOfWork,
    at: datetime,
    *,
    name: str | None = None,
    kind: AgencyKind = AgencyKind.POLICE,
    country: str = "NL",
    requires_reason: bool = False,
) -> Agency:
    agency = agency_row(at, name=name, kind=kind, country=country, requires_reason=requires_reason)
    await uow.agencies.insert(agency)
    return agency


def staff_row(
    agency_id: str,
    at: datetime,
    *,
    username: str | None = None,
    role: Role = Role.OFFICER,
    active: bool = True,
) -> Staff:
    return Staff(
        id=new_id("staff"),
        agency_id=agency_id,
        username=username or unique("user"),
        display_name="Display Name",
        role=role,
        password_hash="$argon2id$v=19$m=8,t=1,p=1$c2FsdA$aGFzaA",
        totp_secret_sealed=None,
        totp_last_step=0,
        active=active,
        created_at=at,
    )


async def make_staff(
    uow: UnitOfWork,
    agency_id: str,
    at: datetime,
    *,
    username: str | None = None,
    role: Role = Role.OFFICER,
) -> Staff:
    staff = staff_row(agency_id, at, username=username, role=role)
    await uow.staff.insert(staff)
    return staff


def case_row(
    police_agency_id: str,
    support_agency_id: str,
    created_by: str,
    at: datetime,
    *,
    reference: str | None = None,
    closed_at: datetime | None = None,
) -> Case:
    return Case(
        id=new_id("case"),
        reference=reference or unique("REF"),
        police_agency_id=police_agency_id,
        support_agency_id=support_agency_id,
        created_by=created_by,
        created_at=at,
        closed_at=closed_at,
    )


async def make_case(
    uow: UnitOfWork,
    police_agency_id: str,
    support_agency_id: str,
    created_by: str,
    at: datetime,
    *,
    reference: str | None = None,
    closed_at: datetime | None = None,
) -> Case:
    case = case_row(
        police_agency_id,
        support_agency_id,
        created_by,
        at,
        reference=reference,
        closed_at=closed_at,
    )
    await uow.cases.insert(case)
    return case


def witness_row(case_id: str, created_by: str, at: datetime) -> Witness:
    return Witness(
        id=new_id("wit"),
        case_id=case_id,
        alias=unique("alias"),
        language="ro",
        timezone="Europe/Bucharest",
        created_by=created_by,
        created_at=at,
    )


async def make_witness(uow: UnitOfWork, case_id: str, created_by: str, at: datetime) -> Witness:
    witness = witness_row(case_id, created_by, at)
    await uow.witnesses.insert(witness)
    return witness


def token_hash_for(device_id: str) -> bytes:
    return hashlib.sha256(f"token:{device_id}".encode()).digest()


def device_row(owner_kind: OwnerKind, owner_id: str, at: datetime) -> Device:
    return Device(
        id=new_id("dev"),
        owner_kind=owner_kind,
        owner_id=owner_id,
        name=unique("phone"),
        curve25519=secrets.token_urlsafe(32),
        ed25519=secrets.token_urlsafe(32),
        created_at=at,
        last_seen_at=at,
        revoked_at=None,
    )


async def make_device(
    uow: UnitOfWork, owner_kind: OwnerKind, owner_id: str, at: datetime
) -> Device:
    device = device_row(owner_kind, owner_id, at)
    await uow.devices.insert(device, token_hash_for(device.id))
    return device


def signed_key(n: int, *, prefix: str = "otk") -> SignedKey:
    return SignedKey(
        key_id=f"{prefix}{n:05d}", public_key=f"pub-{prefix}-{n}", signature=f"sig-{n}"
    )


def enrolment_code(
    witness_id: str, created_by: str, at: datetime, *, valid_for: timedelta
) -> Enrolment:
    return Enrolment(
        id=new_id("enr"),
        code_hash=secrets.token_bytes(32),
        witness_id=witness_id,
        created_by=created_by,
        created_by_device="dev_officer",
        created_at=at,
        expires_at=at + valid_for,
        roster='{"type":"wl.roster.v1"}',
        team_mac="mac-" + secrets.token_hex(8),
        commitment="commit-" + secrets.token_hex(8),
        state=EnrolmentState.ISSUED,
    )


def attachment_row(case_id: str, uploader_device_id: str, size: int, at: datetime) -> Attachment:
    return Attachment(
        id=new_id("att"),
        case_id=case_id,
        uploader_device_id=uploader_device_id,
        size=size,
        created_at=at,
    )


def send(
    sender_device_id: str,
    case_id: str,
    recipients: list[str],
    at: datetime,
    *,
    message_id: str | None = None,
    digest: str | None = None,
) -> NewSend:
    """A send with one copy per recipient, whose body names the recipient."""
    message_id = message_id or new_id("msg")
    return NewSend(
        sender_device_id=sender_device_id,
        message_id=message_id,
        case_id=case_id,
        digest=digest or hashlib.sha256(message_id.encode()).hexdigest(),
        created_at=at,
        copies=[
            NewCopy(recipient_device_id=r, olm_type=1, body=f"ciphertext for {r} of {message_id}")
            for r in recipients
        ],
    )


@dataclass(frozen=True)
class CaseTeam:
    """A case with its two agencies, an officer and a support worker assigned, a witness,
    and one device each."""

    police: Agency
    support: Agency
    officer: Staff
    support_worker: Staff
    case: Case
    witness: Witness
    officer_device: Device
    support_device: Device
    witness_device: Device

    @property
    def device_ids(self) -> list[str]:
        return [self.witness_device.id, self.officer_device.id, self.support_device.id]


async def make_case_team_in(uow: UnitOfWork, at: datetime) -> CaseTeam:
    police = await make_agency(uow, at, kind=AgencyKind.POLICE)
    support = await make_agency(uow, at, kind=AgencyKind.SUPPORT, country="RO")
    officer = await make_staff(uow, police.id, at)
    worker = await make_staff(uow, support.id, at, role=Role.SUPPORT_WORKER)
    case = await make_case(uow, police.id, support.id, officer.id, at)
    assert await uow.cases.add_staff(case.id, officer.id, officer.id, at)
    assert await uow.cases.add_staff(case.id, worker.id, officer.id, at)
    witness = await make_witness(uow, case.id, officer.id, at)
    witness_device = await make_device(uow, OwnerKind.WITNESS, witness.id, at)
    officer_device = await make_device(uow, OwnerKind.STAFF, officer.id, at)
    support_device = await make_device(uow, OwnerKind.STAFF, worker.id, at)
    return CaseTeam(
        police=police,
        support=support,
        officer=officer,
        support_worker=worker,
        case=case,
        witness=witness,
        officer_device=officer_device,
        support_device=support_device,
        witness_device=witness_device,
    )


async def make_case_team(store: Store, at: datetime) -> CaseTeam:
    """A committed :class:`CaseTeam`."""
    async with store.write() as uow:
        return await make_case_team_in(uow, at)
