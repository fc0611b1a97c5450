"""Repository protocols: everything the domain may ask of storage, in one module.

The domain opens a unit of work with :meth:`Store.write` (one transaction, committed
durably when the block exits) or :meth:`Store.read` (a consistent snapshot) and talks to
the repositories on the :class:`UnitOfWork` it gets. There is one SQL implementation
per repository, parametrised by dialect, in :mod:`server.storage.repositories`.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from server.domain.alert_response_models import Playbook, ResponseInstructions
from server.domain.court.models import Appointment, AppointmentDeadline
from server.domain.handover_models import AssessmentRepository, HandoverRepository
from server.domain.lifecycle_models import CaseLifecycleRow, EnrolmentStateRow
from server.domain.models import (
    Agency,
    Attachment,
    AuditEntry,
    Case,
    ConsoleSession,
    Device,
    Enrolment,
    EnrolmentState,
    Identity,
    MessageCopy,
    OwnerKind,
    RosterRecord,
    SignedKey,
    Staff,
    Witness,
)
from server.domain.unlock.models import ConfirmKey, UnlockState
from server.domain.visit_models import Visit, VisitPlan
from server.domain.welfare_models import (
    Alert,
    CaseSettings,
    CheckIn,
    CheckInPlanRecord,
    CheckInStep,
    Notification,
    Response,
    WitnessContact,
    WitnessVoice,
)
from server.security.ratelimit import Bucket


class AgencyRepository(Protocol):
    async def insert(self, agency: Agency) -> None:
        """Raises: Conflict if the name is taken."""
        ...

    async def get(self, agency_id: str) -> Agency | None: ...

    async def get_by_name(self, name: str) -> Agency | None: ...

    async def list(self) -> list[Agency]: ...

    async def get_many(self, agency_ids: Sequence[str]) -> dict[str, Agency]: ...


class StaffRepository(Protocol):
    async def insert(self, staff: Staff) -> None:
        """Raises: Conflict if the username is taken."""
        ...

    async def get(self, staff_id: str) -> Staff | None: ...

    async def get_by_username(self, username: str) -> Staff | None: ...

    async def list_by_agency(self, agency_id: str) -> list[Staff]: ...

    async def set_totp(self, staff_id: str, sealed_secret: bytes | None) -> None: ...

    async def use_totp_step(self, staff_id: str, step: int) -> bool:
        """Record a used TOTP step; False if that step or a later one was used."""
        ...

    async def set_password_hash(self, staff_id: str, password_hash: str) -> None: ...

    async def set_active(self, staff_id: str, active: bool) -> None: ...

    async def set_role(self, staff_id: str, role: str) -> None: ...

    async def set_phone(self, staff_id: str, sealed: bytes | None) -> None: ...

    async def phone(self, staff_id: str) -> bytes | None:
        """The sealed phone number, if any."""
        ...

    async def phones(self, staff_ids: Sequence[str]) -> dict[str, bytes]:
        """Sealed phone numbers of those who have one."""
        ...

    async def set_on_duty(self, staff_id: str, on_duty: bool) -> None: ...

    async def on_duty(self, staff_id: str) -> bool: ...

    async def list_by_roles(self, agency_id: str, roles: Sequence[str]) -> list[Staff]:
        """Active staff of an agency with one of ``roles``."""
        ...

    async def list_assigned_by_roles(
        self, case_id: str, agency_id: str, roles: Sequence[str]
    ) -> list[Staff]:
        """Active staff of ``agency_id`` assigned to the case with one of ``roles``."""
        ...

    async def on_duty_ids(self, staff_ids: Sequence[str]) -> set[str]: ...


class CaseRepository(Protocol):
    async def insert(self, case: Case) -> None:
        """Raises: Conflict if the police agency already has this reference."""
        ...

    async def get(self, case_id: str) -> Case | None: ...

    async def add_staff(self, case_id: str, staff_id: str, added_by: str, at: datetime) -> bool:
        """Assign a staff member; False if already assigned."""
        ...

    async def remove_staff(self, case_id: str, staff_id: str) -> bool: ...

    async def staff_ids(self, case_id: str) -> list[str]: ...

    async def is_assigned(self, case_id: str, staff_id: str) -> bool: ...

    async def list_assigned(self, staff_id: str) -> list[Case]: ...

    async def list_for_agency(self, agency_id: str) -> list[Case]: ...

    async def get_many(self, case_ids: Sequence[str]) -> dict[str, Case]: ...

    async def close(self, case_id: str, at: datetime) -> bool:
        """Mark an open case closed; False if it was already closed."""
        ...

    async def assigned_staff_for_cases(self, case_ids: Sequence[str]) -> dict[str, list[Staff]]:
        """Active staff assigned to each case."""
        ...


class WitnessRepository(Protocol):
    async def insert(self, witness: Witness) -> None:
        """Raises: Conflict if the case already has a witness."""
        ...

    async def get(self, witness_id: str) -> Witness | None: ...

    async def get_by_case(self, case_id: str) -> Witness | None: ...

    async def set_phone(self, witness_id: str, sealed: bytes | None, index: bytes | None) -> None:
        """Raises: Conflict if another witness has this number."""
        ...

    async def phone(self, witness_id: str) -> bytes | None: ...

    async def phones(self, witness_ids: Sequence[str]) -> dict[str, bytes]: ...

    async def find_by_phone_index(self, index: bytes) -> Witness | None: ...

    async def set_sms_words(self, witness_id: str, checkin: bytes, duress: bytes) -> None: ...

    async def sms_words(self, witness_id: str) -> tuple[bytes | None, bytes | None]: ...

    async def get_many(self, witness_ids: Sequence[str]) -> list[Witness]: ...

    async def for_cases(self, case_ids: Sequence[str]) -> dict[str, Witness]: ...


class EnrolmentRepository(Protocol):
    async def insert(self, enrolment: Enrolment) -> bool:
        """Store a new enrolment; False if its code hash is already on record."""
        ...

    async def get(self, enrolment_id: str) -> Enrolment | None: ...

    async def for_device(self, device_id: str) -> Enrolment | None:
        """The enrolment a phone's device came from."""
        ...

    async def withdraw_issued(self, witness_id: str, now: datetime) -> int:
        """Withdraw the witness's codes not yet used (only the newest code works)."""
        ...

    async def unfinished(
        self, *, witness_id: str | None = None, expired_by: datetime | None = None
    ) -> list[Enrolment]:
        """Enrolments a phone claimed that were neither completed nor aborted: the
        witness's, or those expired by ``expired_by``."""
        ...

    async def claim(
        self,
        code_hash: bytes,
        now: datetime,
        device_id: str,
        phone_identity: str,
        phone_mac: str,
    ) -> Enrolment | None:
        """Use an issued, unexpired code (once); None if there is no such code."""
        ...

    async def set_phone_nonce(self, device_id: str, nonce: str, now: datetime) -> bool:
        """Record the phone's SAS nonce, once, while the enrolment is claimed."""
        ...

    async def reveal(self, enrolment_id: str, nonce: str, now: datetime) -> bool:
        """Record the officer's revealed nonce, once, after the phone's nonce."""
        ...

    async def move(
        self,
        enrolment_id: str,
        from_states: Sequence[EnrolmentState],
        to_state: EnrolmentState,
        now: datetime,
    ) -> bool:
        """Change the state if it is one of ``from_states``."""
        ...

    async def purge_expired(self, now: datetime) -> int: ...


class IdentityRepository(Protocol):
    async def get(self, owner: str) -> Identity | None: ...

    async def get_many(self, owners: Sequence[str]) -> dict[str, Identity]: ...

    async def put(self, identity: Identity, expected: Identity | None) -> bool:
        """Store if the current row is still ``expected`` (None: there is none)."""
        ...

    async def put_backup(
        self, owner: str, identity_key: str, sealed: str, at: datetime
    ) -> None: ...

    async def backup(self, owner: str) -> tuple[str, str] | None:
        """(identity key, sealed private key) of a staff member's recovery backup."""
        ...


class RosterRepository(Protocol):
    async def get(self, case_id: str) -> RosterRecord | None: ...

    async def put(self, roster: RosterRecord) -> bool:
        """Store if the stored version is the one just before (or none, for version 1)."""
        ...


class DeviceRepository(Protocol):
    async def insert(self, device: Device, token_hash: bytes) -> None:
        """Raises: Conflict if an identity key is already registered."""
        ...

    async def get(self, device_id: str) -> Device | None: ...

    async def get_by_token_hash(self, token_hash: bytes) -> Device | None: ...

    async def set_key_object(self, device_id: str, key_object: str) -> None:
        """Keep the device's signed key object, exactly as uploaded."""
        ...

    async def list_for_owner(
        self, owner_kind: OwnerKind, owner_id: str, *, include_revoked: bool = False
    ) -> list[Device]: ...

    async def list_for_case(self, case_id: str, *, lock: bool = False) -> list[Device]:
        """Active devices of the case's witness and assigned staff.

        With ``lock`` (PostgreSQL) the rows are share-locked until commit, so a
        concurrent revocation waits for the transaction that is queueing messages.
        """
        ...

    async def revoke(self, device_id: str, revoked_by: str, at: datetime) -> bool:
        """Revoke an active device; False if it was already revoked."""
        ...

    async def touch_many(self, seen: Sequence[tuple[str, datetime]]) -> None:
        """Record when devices were last seen (batched, monotonic)."""
        ...

    async def staff_devices_for_cases(self, case_ids: Sequence[str]) -> dict[str, list[str]]:
        """Active device ids of each case's assigned staff."""
        ...

    async def for_owners(
        self, owner_kind: OwnerKind, owner_ids: Sequence[str]
    ) -> dict[str, list[Device]]:
        """Active devices of each owner."""
        ...

    async def ids_for_owners(
        self, owner_kind: OwnerKind, owner_ids: Sequence[str]
    ) -> dict[str, list[str]]:
        """Active device ids of each owner, without loading whole device records."""
        ...


class KeyRepository(Protocol):
    async def add_one_time_keys(self, device_id: str, keys: Sequence[SignedKey]) -> int:
        """Store new one-time keys; ids already present are ignored. Returns how many
        were added."""
        ...

    async def count_one_time_keys(self, device_id: str) -> int: ...

    async def claim_one_time_key(self, device_id: str) -> SignedKey | None:
        """Remove and return one key; each key is handed out at most once, even under
        concurrent claims."""
        ...

    async def take_one_time_key_allowance(
        self,
        claimer_device_id: str,
        target_device_id: str,
        now: datetime,
        window_start: datetime,
        limit: int,
    ) -> bool:
        """Count one one-time key against what ``claimer`` may take from ``target`` in
        the window starting after ``window_start`` (a window older than that starts
        again at ``now``); False, counting nothing, when ``limit`` is reached. Atomic
        under concurrent claims."""
        ...

    async def forget_one_time_key_allowances(self, before: datetime) -> int:
        """Delete allowance windows that started before ``before``."""
        ...

    async def set_fallback_key(self, device_id: str, key: SignedKey, at: datetime) -> None:
        """Store the device's fallback key, replacing the one before: only the newest is
        kept and handed out."""
        ...

    async def get_fallback_key(self, device_id: str) -> SignedKey | None: ...

    async def delete_for_device(self, device_id: str) -> None: ...


@dataclass(frozen=True, slots=True)
class NewCopy:
    recipient_device_id: str
    olm_type: int
    body: str


@dataclass(frozen=True, slots=True)
class NewSend:
    """A message to store: one copy per recipient device."""

    sender_device_id: str
    message_id: str
    case_id: str
    digest: str
    created_at: datetime
    copies: Sequence[NewCopy]


@dataclass(frozen=True, slots=True)
class NewResend:
    """A copy of a stored message sent again by its sender to one device."""

    sender_device_id: str
    message_id: str
    case_id: str
    recipient_device_id: str
    olm_type: int
    body: str
    digest: str
    created_at: datetime


class MessageRepository(Protocol):
    async def existing_digests(
        self, keys: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], tuple[str, datetime]]:
        """Digests and times of already stored (sender device, message id) pairs."""
        ...

    async def insert_sends(self, sends: Sequence[NewSend]) -> list[MessageCopy]:
        """Store the sends (whose ids must be new) and return the stored copies."""
        ...

    async def pending_for_device(
        self, device_id: str, *, after_id: int = 0, limit: int = 500
    ) -> list[MessageCopy]: ...

    async def sent_message(
        self, sender_device_id: str, message_id: str, *, lock: bool = False
    ) -> tuple[str, datetime] | None:
        """The case and time of a stored send, if the sender sent that id (``lock``:
        hold it until the transaction ends, on PostgreSQL)."""
        ...

    async def resent_digests(
        self, sender_device_id: str, message_id: str, recipient_device_id: str
    ) -> list[str]:
        """Digests of the copies of a message already sent again to one device."""
        ...

    async def insert_resent_copy(self, resend: NewResend) -> MessageCopy | None:
        """Store a re-sent copy; None (storing nothing) if the same ciphertext was
        re-sent before."""
        ...

    async def delete_copies(self, acks: Sequence[tuple[str, int]]) -> int:
        """Delete acknowledged copies, given as (recipient device id, copy id) pairs; a
        pair whose copy belongs to another device deletes nothing."""
        ...

    async def delete_for_device(self, device_id: str) -> int: ...

    async def delete_for_owner_in_case(self, case_id: str, owner_kind: str, owner_id: str) -> int:
        """Drop what waits in a case for a person's devices (they left the case)."""
        ...

    async def purge_older_than(self, cutoff: datetime) -> int:
        """Delete undelivered copies, send records and re-send records older than
        ``cutoff``."""
        ...

    async def count_pending(self, device_id: str) -> int: ...


class AttachmentRepository(Protocol):
    async def insert(
        self, attachment: Attachment, content: bytes, recipient_device_ids: Sequence[str]
    ) -> None: ...

    async def get(self, attachment_id: str) -> Attachment | None: ...

    async def is_recipient(self, attachment_id: str, device_id: str) -> bool: ...

    async def content(self, attachment_id: str) -> bytes | None: ...

    async def mark_fetched(self, attachment_id: str, device_id: str, at: datetime) -> int:
        """Record a recipient's fetch; return how many recipients have not fetched yet."""
        ...

    async def delete(self, attachment_id: str) -> None: ...

    async def purge_older_than(self, cutoff: datetime) -> int: ...

    async def delete_recipient(self, device_id: str) -> list[str]:
        """Forget a device as recipient; return attachments nobody still waits for."""
        ...


class AuditRepository(Protocol):
    async def head(self) -> tuple[int, bytes] | None:
        """The last entry's sequence number and hash, locked for appending."""
        ...

    async def insert(self, entry: AuditEntry) -> None: ...

    async def scan(self, after_seq: int, limit: int) -> list[AuditEntry]: ...

    async def query(
        self,
        *,
        case_id: str | None = None,
        actor_id: str | None = None,
        action: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
        before_seq: int | None = None,
    ) -> list[AuditEntry]: ...


class CaseSettingsRepository(Protocol):
    async def get(self, case_id: str) -> CaseSettings | None: ...

    async def get_many(self, case_ids: Sequence[str]) -> dict[str, CaseSettings]: ...

    async def put(self, settings: CaseSettings, updated_by: str, at: datetime) -> None: ...


class PlanRepository(Protocol):
    async def get(self, witness_id: str) -> CheckInPlanRecord | None: ...

    async def get_many(self, witness_ids: Sequence[str]) -> dict[str, CheckInPlanRecord]: ...

    async def put(self, plan: CheckInPlanRecord) -> None:
        """Insert or replace the witness's plan (the caller sets the new version)."""
        ...

    async def due_resumes(self, now: datetime, limit: int) -> list[CheckInPlanRecord]:
        """Paused plans whose automatic resume time has come (locked for update)."""
        ...


@dataclass(frozen=True, slots=True)
class CheckInChange:
    """A compare-and-swap update of one occurrence, applied only at ``version``."""

    id: str
    version: int
    state: str
    step: str | None
    next_action_at: datetime | None
    prompted_at: datetime | None = None
    reminded_at: datetime | None = None
    nudged_at: datetime | None = None


class CheckInRepository(Protocol):
    async def insert_many(self, checkins: Sequence[CheckIn]) -> None: ...

    async def get(self, checkin_id: str) -> CheckIn | None: ...

    async def current(self, witness_id: str) -> CheckIn | None:
        """The witness's open occurrence, else the next scheduled one."""
        ...

    async def any_due(self, now: datetime) -> bool:
        """Whether any occurrence has a step due (a cheap look before a write)."""
        ...

    async def due(
        self,
        now: datetime,
        limit: int,
        *,
        skip: Sequence[str] = (),
        steps: Sequence[CheckInStep] | None = None,
    ) -> list[CheckIn]:
        """Occurrences whose next action (one of ``steps``, or any) is due, oldest
        first, except those in ``skip``. Read without locks: every change made from
        them is a compare-and-swap on the occurrence's version."""
        ...

    async def apply(self, changes: Sequence[CheckInChange]) -> set[str]:
        """Apply compare-and-swap changes; returns the ids that applied."""
        ...

    async def answer(
        self, checkin_id: str, witness_id: str, response: Response, channel: str, at: datetime
    ) -> CheckIn | None:
        """Answer an open occurrence of this witness (once); None if it was not open."""
        ...

    async def cancel_scheduled(self, witness_id: str) -> int: ...

    async def cancel_open(self, witness_id: str) -> list[str]:
        """Cancel the witness's open occurrence (a pause); returns the ids cancelled."""
        ...

    async def current_many(self, witness_ids: Sequence[str]) -> dict[str, CheckIn]:
        """Each witness's open occurrence, else its next scheduled one."""
        ...

    async def history(self, witness_id: str, limit: int) -> list[CheckIn]: ...


class ContactRepository(Protocol):
    async def get(self, witness_id: str) -> WitnessContact | None: ...

    async def get_many(self, witness_ids: Sequence[str]) -> dict[str, WitnessContact]: ...

    async def record(
        self,
        witness_id: str,
        case_id: str,
        at: datetime,
        silent_deadline_at: datetime,
        *,
        heartbeat: bool,
        battery: int | None,
    ) -> None:
        """Record contact from the witness and move the silence deadline."""
        ...

    async def due_silences(self, now: datetime, limit: int) -> list[WitnessContact]: ...

    async def clear_deadlines(self, witness_ids: Sequence[str]) -> None: ...


class PolicyRepository(Protocol):
    async def get(self, scope: str) -> str | None: ...

    async def get_many(self, scopes: Sequence[str]) -> dict[str, str]: ...

    async def put(self, scope: str, spec: str, updated_by: str, at: datetime) -> None: ...


@dataclass(frozen=True, slots=True)
class AlertChange:
    """A compare-and-swap update of an alert's escalation state."""

    id: str
    version: int
    status: str
    level: int
    round: int
    round_started_at: datetime
    next_escalation_at: datetime | None
    ack_expires_at: datetime | None = None


class AlertRepository(Protocol):
    async def insert_many(self, alerts: Sequence[Alert]) -> set[str]:
        """Insert alerts; one with an existing (kind, source) is skipped. Returns the
        ids inserted."""
        ...

    async def get(self, alert_id: str) -> Alert | None: ...

    async def list_for_cases(
        self, case_ids: Sequence[str], *, statuses: Sequence[str], limit: int
    ) -> list[Alert]: ...

    async def any_due(self, now: datetime) -> bool:
        """Whether any escalation step or acknowledgement expiry is due."""
        ...

    async def due_escalations(self, now: datetime, limit: int) -> list[Alert]: ...

    async def due_ack_expiries(self, now: datetime, limit: int) -> list[Alert]: ...

    async def apply(self, changes: Sequence[AlertChange]) -> set[str]:
        """Apply compare-and-swap changes; returns the ids that applied."""
        ...

    async def acknowledge(
        self, alert_id: str, staff_id: str, at: datetime, expires_at: datetime
    ) -> bool:
        """Open → acknowledged; False if it was not open (someone was first)."""
        ...

    async def resolve(
        self,
        alert_id: str,
        staff_id: str,
        at: datetime,
        outcome_sealed: bytes,
        note_sealed: bytes,
    ) -> bool:
        """Open/acknowledged → resolved; False if already resolved."""
        ...

    async def plaintext_outcomes(self, limit: int) -> list[tuple[str, str]]:
        """Outcomes of alerts resolved before outcomes were sealed."""
        ...

    async def seal_outcome(self, alert_id: str, plaintext: str, sealed: bytes) -> bool: ...

    async def open_for_case(self, case_id: str) -> list[Alert]: ...


@dataclass(frozen=True, slots=True)
class DeliveryUpdate:
    """What the dispatcher learnt about claimed notifications."""

    ids: Sequence[str]
    status: str
    at: datetime
    provider_id: str | None = None
    error_code: str | None = None
    next_attempt_at: datetime | None = None


class AlertResponseRepository(Protocol):
    async def playbooks(self, agency_id: str) -> dict[str, Playbook]: ...
    async def playbooks_for(self, agency_ids: list[str], kind: str) -> list[Playbook]: ...
    async def set_playbook(
        self, agency_id: str, kind: str, steps: str, staff_id: str, at: datetime
    ) -> None: ...
    async def instructions(self, witness_id: str) -> ResponseInstructions | None: ...
    async def set_instructions(
        self, witness_id: str, sealed: bytes | None, staff_id: str, at: datetime
    ) -> None: ...
    async def claim_sms_reply(self, provider_id: str, at: datetime) -> bool: ...
    async def alerts_sent_to(self, reference: str, staff_id: str) -> list[str]: ...
    async def recipients_of(self, reference: str) -> list[str]: ...


@dataclass(frozen=True, slots=True)
class BacklogRow:
    """Notifications waiting to be sent, of one channel and urgency (issue 14)."""

    channel: str
    urgency: int
    count: int
    oldest: datetime
    #: About how many messages they make: staff alert SMS fold, one per person.
    messages: int


class NotificationRepository(Protocol):
    async def insert_many(self, notifications: Sequence[Notification]) -> None: ...

    async def any_due(self, now: datetime, database_now_ms: int | None) -> bool:
        """Whether anything waits to be sent or reconciled. Leases are compared with
        the database's clock, or ``database_now_ms`` if not None (a test's pinned time,
        see :class:`server.clock.DatabaseClock`)."""
        ...

    async def claim(
        self,
        now: datetime,
        owner: str,
        lease: timedelta,
        limit: int,
        database_now_ms: int | None,
        channels: Sequence[str] | None = None,
    ) -> list[Notification]:
        """Claim due work under a lease of ``lease`` on the database's clock (or
        ``database_now_ms``): pending rows whose time has come (``now``, the instance's
        clock), and rows whose lease ran out or whose outcome is uncertain (they need
        reconciling). ``claimed_at`` is on the database's clock too. Most urgent first,
        then oldest. With ``channels``, only rows of those channels and at most
        ``limit`` in all (the paced claim: each row may cost a send)."""
        ...

    async def claim_companions(
        self,
        now: datetime,
        owner: str,
        lease: timedelta,
        database_now_ms: int | None,
        recipient_id: str,
        urgencies: tuple[int, int],
        group_ref: str | None,
    ) -> list[Notification]:
        """Claim the due staff alert SMS rows of one person with an urgency in the
        (inclusive) range and the same group reference (or none): they fold into the
        SMS of a paced row already claimed, without a token of their own."""
        ...

    async def count_due(
        self, now: datetime, channel: str, limit: int, database_now_ms: int | None
    ) -> int:
        """How many rows of ``channel`` a claim would take now (counting to ``limit``)."""
        ...

    async def backlog(self, now: datetime, channels: Sequence[str]) -> list[BacklogRow]:
        """Rows not yet sent of ``channels``, counted by channel and urgency."""
        ...

    async def set_groups(self, groups: Sequence[tuple[Sequence[str], str, str]]) -> None:
        """Record (ids, group reference, exact body) before sending a group."""
        ...

    async def record(self, owner: str, updates: Sequence[DeliveryUpdate]) -> None:
        """Record outcomes, only for rows this owner still holds the lease on."""
        ...

    async def get(self, notification_id: str) -> Notification | None: ...

    async def by_provider_id(self, provider_id: str) -> list[Notification]: ...

    async def mark_by_provider(
        self, provider_id: str, status: str, at: datetime, error: str | None
    ) -> list[Notification]:
        """Apply a status callback; returns the rows it changed."""
        ...

    async def save_report(
        self, provider_id: str, status: str, at: datetime, error: str | None
    ) -> None:
        """Keep a status callback that matched no row yet (the send is not recorded)."""
        ...

    async def any_saved_reports(self) -> bool:
        """Whether any kept report waits (a cheap check before a write)."""
        ...

    async def apply_saved_reports(self) -> list[Notification]:
        """Apply kept reports whose message id is now recorded; returns changed rows."""
        ...

    async def purge_reports(self, before: datetime) -> int:
        """Forget kept reports received before ``before`` (they matched nothing)."""
        ...

    async def recorded_provider_ids(
        self, recipient_kind: str, recipient_id: str, since: datetime
    ) -> set[str]:
        """Message ids already recorded as sent to this recipient since ``since``."""
        ...

    async def renew_lease(
        self, owner: str, ids: Sequence[str], lease: timedelta, database_now_ms: int | None
    ) -> set[str]:
        """Extend this owner's lease on rows it still holds to ``lease`` from now on the
        database's clock (or ``database_now_ms``); returns those ids."""
        ...

    async def database_now(self, database_now_ms: int | None) -> datetime:
        """The database's time (or ``database_now_ms``): the clock leases and
        ``claimed_at`` are on."""
        ...

    async def cancel_for_alert(self, alert_id: str) -> int:
        """Cancel the alert's rows not yet sent (pending, or uncertain)."""
        ...

    async def for_alert(self, alert_id: str) -> list[Notification]: ...

    async def next_due(self) -> datetime | None: ...


class AppointmentRepository(Protocol):
    async def insert(self, appointment: Appointment) -> None: ...

    async def save(self, appointment: Appointment, expected_version: int) -> bool:
        """Replace the row if it is still at ``expected_version``."""
        ...

    async def get(self, appointment_id: str) -> Appointment | None: ...

    async def list_for_cases(
        self, case_ids: Sequence[str], *, since: datetime | None = None
    ) -> list[Appointment]: ...

    async def list_for_witness(self, witness_id: str, *, since: datetime) -> list[Appointment]: ...


class DeadlineRepository(Protocol):
    async def insert_many(self, deadlines: Sequence[AppointmentDeadline]) -> None: ...

    async def supersede(self, appointment_id: str) -> int:
        """Retire every scheduled deadline of an appointment (rescheduled or cancelled)."""
        ...

    async def any_due(self, now: datetime) -> bool: ...

    async def due(self, now: datetime, limit: int) -> list[AppointmentDeadline]: ...

    async def mark_done(self, ids: Sequence[str], at: datetime) -> set[str]: ...

    async def scheduled_for(self, appointment_id: str) -> list[AppointmentDeadline]: ...


class CalendarFeedRepository(Protocol):
    async def put(self, staff_id: str, token_hash: bytes, at: datetime) -> None: ...

    async def delete(self, staff_id: str) -> bool: ...

    async def owner(self, token_hash: bytes) -> str | None: ...


class ConsoleSessionRepository(Protocol):
    async def insert(self, session: ConsoleSession) -> None: ...

    async def get(self, id_hash: bytes) -> ConsoleSession | None: ...

    async def touch(self, id_hash: bytes, at: datetime) -> None: ...

    async def set_language(self, id_hash: bytes, language: str) -> None: ...

    async def delete(self, id_hash: bytes) -> None: ...

    async def delete_for_staff(self, staff_id: str) -> int: ...

    async def purge(self, now: datetime) -> int: ...


@dataclass(frozen=True, slots=True)
class StoredEvent:
    id: int
    device_id: str
    payload: str
    created_at: datetime


class DeviceEventRepository(Protocol):
    async def insert_many(
        self,
        device_ids: Sequence[str],
        payload: str,
        at: datetime,
        expires_at: datetime,
        ref: str | None = None,
    ) -> dict[str, int]:
        """Queue one event for each device; returns each device's event id. ``ref``
        names what the event is about, so it can be withdrawn (see
        :meth:`withdraw`)."""
        ...

    async def withdraw(self, ref: str) -> int:
        """Drop undelivered events about something that no longer needs saying."""
        ...

    async def withdraw_many(self, refs: Sequence[str]) -> int: ...

    async def pending(self, device_id: str, now: datetime, limit: int) -> list[StoredEvent]: ...

    async def delete(self, device_id: str, event_ids: Sequence[int]) -> int: ...

    async def purge(self, now: datetime) -> int: ...


class UnlockRepository(Protocol):
    """Per-device unlock records (OPRF seed, guess counts, duress state) and the
    confirmation keys that prove an unlock."""

    async def get(self, device_id: str, *, lock: bool = False) -> UnlockState | None:
        """The device's record; with ``lock`` (PostgreSQL) the row is locked until
        commit, so concurrent evaluations are counted one after the other."""
        ...

    async def put(self, state: UnlockState) -> None:
        """Create the record, or replace it while no confirmation key is registered."""
        ...

    async def save(self, state: UnlockState) -> None:
        """Write the record's changing parts (counts, attempt, duress, erasure)."""
        ...

    async def keys(self, device_id: str) -> list[ConfirmKey]: ...

    async def add_key(self, key: ConfirmKey) -> bool:
        """Register a confirmation key; False if this device already has it."""
        ...

    async def remove_key(self, device_id: str, public_key: str) -> bool: ...

    async def erase(self, device_id: str, reason: str, at: datetime) -> bool:
        """Drop the OPRF seed and the confirmation keys, for ever; False if there was
        no live seed."""
        ...

    async def in_duress(self, device_ids: Sequence[str]) -> set[str]:
        """Which of these devices were last unlocked with a duress PIN."""
        ...


class RateLimitRepository(Protocol):
    """Token buckets shared by every instance (see :mod:`server.security.shared_ratelimit`)."""

    async def lock(self, scope: str, key: str, fresh: Bucket) -> Bucket:
        """The bucket, created as ``fresh`` if absent, locked until commit."""
        ...

    async def save(self, scope: str, key: str, bucket: Bucket, idle_after_s: float) -> None: ...

    async def purge(self, now_ms: int, limit: int = 5000) -> int:
        """Forget buckets that are full again; returns how many."""
        ...


class VoiceCallStepRepository(Protocol):
    """Voice webhook steps already answered, so a repeated webhook acts only once."""

    async def claim(
        self, call_sid: str, step: str, now_ms: int, context: str | None = None
    ) -> tuple[bool, str | None]:
        """Take (call, step) for this request: ``(True, None)`` if it is new, else
        ``(False, the TwiML first answered or None if that answer was never stored)``."""
        ...

    async def answer(
        self, call_sid: str, step: str, response: str, context: str | None = None
    ) -> None:
        """Store the TwiML the step was answered with (for repeats), and what later
        steps of the call need to know."""
        ...

    async def context(self, call_sid: str, step: str) -> str | None:
        """What an earlier step of the call stored for the later ones."""
        ...


class WitnessVoiceRepository(Protocol):
    """A witness's check-in-by-phone settings (voice PIN digests, calls)."""

    async def put(self, voice: WitnessVoice, now_ms: int) -> None: ...

    async def get(self, witness_id: str) -> WitnessVoice | None: ...

    async def call_modes(self, witness_ids: Sequence[str]) -> dict[str, str]:
        """witness id -> "fallback" or "always", for those whose check-ins call."""
        ...


class SealedValueRepository(Protocol):
    """Every column sealed under the server key, for re-sealing after a key rotation.

    Columns are named ``table.column``; values are compared by their leading bytes
    (format and key id), never opened by storage."""

    def columns(self) -> list[str]: ...

    async def not_under(
        self, label: str, prefix: bytes, after: str, limit: int
    ) -> list[tuple[str, bytes]]:
        """Up to ``limit`` (row key, value) pairs not starting with ``prefix``, with row
        keys after ``after``, in row-key order."""
        ...

    async def count_not_under(self, label: str, prefix: bytes) -> int: ...

    async def replace_many(self, label: str, changes: Sequence[tuple[str, bytes, bytes]]) -> None:
        """Compare-and-swap each (row key, old, new); a row no longer ``old`` is kept."""
        ...


class ServerSecretRepository(Protocol):
    """Named secrets of the server itself, stored sealed."""

    async def get(self, name: str) -> bytes | None: ...

    async def add_if_absent(self, name: str, sealed: bytes, at_ms: int) -> None:
        """Store unless one of that name exists; the first writer wins."""
        ...


class WebhookReceiptRepository(Protocol):
    """Inbound webhooks already acted on (see :mod:`server.notify.replays`)."""

    async def claim(self, kind: str, key: str, now_ms: int, expires_ms: int) -> bool:
        """Record (kind, key) unless recorded and unexpired; True if this call did."""
        ...

    async def release(self, kind: str, key: str, seen_ms: int) -> None: ...

    async def purge(self, now_ms: int, limit: int = 5000) -> int: ...


class VisitRepository(Protocol):
    """Welfare visit plans and visits (``server.domain.visits``)."""

    async def put_plan(self, plan: VisitPlan) -> None: ...

    async def plan(self, witness_id: str) -> VisitPlan | None: ...

    async def insert(self, visit: Visit) -> None: ...

    async def save(self, visit: Visit, expected_version: int) -> bool: ...

    async def get(self, visit_id: str) -> Visit | None: ...

    async def for_case(self, case_id: str, *, limit: int = 100) -> list[Visit]: ...

    async def next_for_cases(self, case_ids: Sequence[str]) -> dict[str, datetime]: ...

    async def scheduled_for_cases(
        self, case_ids: Sequence[str], *, since: datetime
    ) -> list[Visit]: ...

    async def due(self, now: datetime, limit: int) -> list[Visit]: ...

    async def claim_due(self, ids: Sequence[str]) -> set[str]: ...

    async def cancel_open(self, case_id: str) -> int: ...


class CaseLifecycleRepository(Protocol):
    """A case's review, closing and erasure dates (issue 11, casework)."""

    async def get(self, case_id: str) -> CaseLifecycleRow | None: ...

    async def reviews_for(self, case_ids: list[str]) -> dict[str, datetime]: ...

    async def set_review(self, case_id: str, due_at: datetime | None) -> None: ...

    async def close(
        self,
        case_id: str,
        *,
        at: datetime,
        outcome: str,
        closed_by: str,
        retire_phones_at: datetime,
        erase_at: datetime,
    ) -> bool: ...

    async def stop_schedules(self, case_id: str) -> int: ...

    async def due_retirements(self, now: datetime, limit: int) -> list[str]: ...

    async def claim_retirement(self, case_id: str) -> bool: ...

    async def due_erasures(self, now: datetime, limit: int) -> list[str]: ...

    async def finish_erasure(self, case_id: str, at: datetime, placeholder: str) -> bool: ...

    async def due_reviews(self, now: datetime, limit: int) -> list[tuple[str, datetime]]: ...

    async def claim_review_reminder(
        self, case_id: str, due_at: datetime, now: datetime
    ) -> bool: ...

    async def latest_enrolment(self, witness_id: str) -> EnrolmentStateRow | None: ...


class CaseErasureRepository(Protocol):
    async def erase(self, case_id: str) -> dict[str, int]:
        """Run every registered erasure step for the case; counts by step."""
        ...


class UnitOfWork(Protocol):
    """The repositories, bound to one transaction or snapshot."""

    @property
    def agencies(self) -> AgencyRepository: ...

    @property
    def staff(self) -> StaffRepository: ...

    @property
    def cases(self) -> CaseRepository: ...

    @property
    def witnesses(self) -> WitnessRepository: ...

    @property
    def enrolments(self) -> EnrolmentRepository: ...

    @property
    def identities(self) -> IdentityRepository: ...

    @property
    def rosters(self) -> RosterRepository: ...

    @property
    def devices(self) -> DeviceRepository: ...

    @property
    def keys(self) -> KeyRepository: ...

    @property
    def messages(self) -> MessageRepository: ...

    @property
    def attachments(self) -> AttachmentRepository: ...

    @property
    def audit(self) -> AuditRepository: ...

    @property
    def case_settings(self) -> CaseSettingsRepository: ...

    @property
    def plans(self) -> PlanRepository: ...

    @property
    def checkins(self) -> CheckInRepository: ...

    @property
    def contact(self) -> ContactRepository: ...

    @property
    def policies(self) -> PolicyRepository: ...

    @property
    def alerts(self) -> AlertRepository: ...

    @property
    def notifications(self) -> NotificationRepository: ...

    @property
    def appointments(self) -> AppointmentRepository: ...

    @property
    def deadlines(self) -> DeadlineRepository: ...

    @property
    def calendar_feeds(self) -> CalendarFeedRepository: ...

    @property
    def console_sessions(self) -> ConsoleSessionRepository: ...

    @property
    def device_events(self) -> DeviceEventRepository: ...

    @property
    def unlock(self) -> UnlockRepository: ...

    @property
    def rate_limits(self) -> RateLimitRepository: ...

    @property
    def sealed_values(self) -> SealedValueRepository: ...

    @property
    def server_secrets(self) -> ServerSecretRepository: ...

    @property
    def voice_steps(self) -> VoiceCallStepRepository: ...

    @property
    def witness_voice(self) -> WitnessVoiceRepository: ...

    @property
    def webhook_receipts(self) -> WebhookReceiptRepository: ...

    @property
    def alert_response(self) -> AlertResponseRepository: ...

    @property
    def visits(self) -> VisitRepository: ...

    @property
    def handovers(self) -> HandoverRepository: ...

    @property
    def assessments(self) -> AssessmentRepository: ...

    @property
    def case_lifecycle(self) -> CaseLifecycleRepository: ...

    @property
    def case_erasure(self) -> CaseErasureRepository: ...


class Store(Protocol):
    """Opens units of work."""

    def write(self) -> AbstractAsyncContextManager[UnitOfWork]:
        """One transaction; committed durably when the block exits, else rolled back."""
        ...

    def read(self) -> AbstractAsyncContextManager[UnitOfWork]:
        """A read-only consistent snapshot."""
        ...
