"""Records of the handover before return and of the risk and needs assessment, and the
storage ports their services use (issue 11, items 2 and 3).

A handover is addressed to the case's support agency (the receiving organisation): the
row keeps that agency's id as it was when the request was sent, and a change of the
receiving agency needs a new request (which withdraws the open one). The row is also
its own deadline: ``accept_by`` with ``alert_state`` scheduled is claimed once by the
sweep. Assessments are never updated: each one is a new row, so the history is the
table itself.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from server.domain.risk_levels import RiskFactor, RiskLevel


class HandoverStatus(enum.StrEnum):
    REQUESTED = "requested"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"


class HandoverState(enum.StrEnum):
    """What the caseload shows: the latest request's status, or overdue."""

    NONE = "none"
    REQUESTED = "requested"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    OVERDUE = "overdue"


class ConsentHow(enum.StrEnum):
    """How the witness gave consent to the handover."""

    IN_PERSON = "in_person"
    PHONE_CALL = "phone_call"
    IN_APP = "in_app"


@dataclass(frozen=True, slots=True)
class Handover:
    id: str
    case_id: str
    witness_id: str
    receiving_agency_id: str
    return_on: date
    accept_by: datetime
    status: HandoverStatus
    alert_raised: bool
    requested_by: str
    requested_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    primary_contact_id: str | None
    alternate_contact_id: str | None
    decline_reason_sealed: bytes | None
    version: int

    def state(self, now: datetime) -> HandoverState:
        if self.status is HandoverStatus.REQUESTED:
            return HandoverState.OVERDUE if now >= self.accept_by else HandoverState.REQUESTED
        if self.status is HandoverStatus.ACCEPTED:
            return HandoverState.ACCEPTED
        if self.status is HandoverStatus.DECLINED:
            return HandoverState.DECLINED
        return HandoverState.NONE


@dataclass(frozen=True, slots=True)
class Consent:
    id: str
    case_id: str
    witness_id: str
    how: ConsentHow
    recorded_by: str
    given_at: datetime
    recorded_at: datetime


@dataclass(frozen=True, slots=True)
class Assessment:
    id: str
    case_id: str
    witness_id: str
    level: RiskLevel
    factors: tuple[RiskFactor, ...]
    notes_sealed: bytes | None
    assessed_by: str
    assessed_at: datetime
    review_due_at: datetime


class ReviewDeadlineKind(enum.StrEnum):
    REMINDER = "reminder"
    OVERDUE = "overdue"


@dataclass(frozen=True, slots=True)
class ReviewDeadline:
    id: str
    assessment_id: str
    case_id: str
    witness_id: str
    kind: ReviewDeadlineKind
    due_at: datetime


class HandoverRepository(Protocol):
    async def insert(self, handover: Handover) -> None: ...

    async def get(self, handover_id: str) -> Handover | None: ...

    async def latest_for_case(self, case_id: str) -> Handover | None: ...

    async def latest_for_cases(self, case_ids: Sequence[str]) -> dict[str, Handover]: ...

    async def withdraw_open(self, case_id: str) -> int: ...

    async def decide(self, updated: Handover, expected_version: int) -> bool: ...

    async def for_agency(self, agency_id: str, statuses: Sequence[str]) -> list[Handover]: ...

    async def any_due(self, now: datetime) -> bool: ...

    async def claim_due(self, now: datetime, limit: int) -> list[Handover]: ...

    async def add_consent(self, consent: Consent) -> None: ...

    async def consents(self, case_id: str) -> list[Consent]: ...


class AssessmentRepository(Protocol):
    async def insert(self, assessment: Assessment) -> None: ...

    async def get(self, assessment_id: str) -> Assessment | None: ...

    async def history(self, witness_id: str) -> list[Assessment]: ...

    async def latest_for_witnesses(self, witness_ids: Sequence[str]) -> dict[str, Assessment]: ...

    async def supersede_deadlines(self, witness_id: str) -> int: ...

    async def insert_deadlines(self, deadlines: Sequence[ReviewDeadline]) -> None: ...

    async def any_due(self, now: datetime) -> bool: ...

    async def claim_due(self, now: datetime, limit: int) -> list[ReviewDeadline]: ...
