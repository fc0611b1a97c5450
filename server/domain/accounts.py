"""Agencies, staff accounts and staff login.

Passwords are Argon2id hashes; TOTP is optional per account (pyotp), its secret sealed
at rest, and a code's time step can be used only once. Logging in from a new client
registers that client as a device with its own keys. Every attempt, good or bad, is
audited and rate-limited per username and per network address.

Administration (the ``manager`` methods) is for supervisors and admins:

* admins manage every agency and every account, and alone create agencies and admins;
* supervisors manage the accounts of their own agency only, never an admin's account,
  and never grant the admin role;
* nobody changes their own role or deactivates their own account, so the last admin
  can never lock everyone out;
* the audit log is readable by admins in full, and by supervisors for their agency's
  cases, staff and the agency itself; reading it is itself audited.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pyotp

from server.clock import Clock, iso
from server.domain.access import SUPERVISING_ROLES
from server.domain.audit import Actor, AuditLog, ChainReport, verify_chain
from server.domain.escalation import DEFAULT_POLICY, EscalationPolicy
from server.domain.login_throttle import LoginThrottle
from server.domain.models import (
    Agency,
    AgencyKind,
    AuditEntry,
    Device,
    OwnerKind,
    Role,
    Staff,
)
from server.domain.registration import DeviceRegistration, check_registration, insert_device
from server.errors import (
    Forbidden,
    InvalidInput,
    LoginFailed,
    NotFound,
    TotpRequired,
)
from server.ids import new_id
from server.security.passwords import MIN_PASSWORD_LENGTH, PasswordHashing
from server.security.sealing import Sealer
from server.storage.protocols import Store, UnitOfWork
from wire.keys import login_context

_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
TOTP_ISSUER = "witnesslink"
AUDIT_PAGE_SIZE = 50
# A supervisor's audit view is filtered after the query; bound the rows read per page
# so one request never scans the whole log (the page then offers "older entries").
_AUDIT_SCAN_BATCH = 200
_AUDIT_SCAN_LIMIT = 5000
_MAX_FILTER_LENGTH = 100


@dataclass(frozen=True, slots=True)
class LoginResult:
    staff: Staff
    device: Device
    token: str
    #: Presented at the next sign-in from this client (see :meth:`check_credentials`).
    known_client: str


@dataclass(frozen=True, slots=True)
class NewStaff:
    staff: Staff
    totp_secret: str | None

    def totp_uri(self) -> str | None:
        """The otpauth:// URI to load into an authenticator app."""
        if self.totp_secret is None:
            return None
        return pyotp.TOTP(self.totp_secret).provisioning_uri(
            name=self.staff.username, issuer_name=TOTP_ISSUER
        )


@dataclass(frozen=True, slots=True)
class AccessChange:
    """An account whose access changed, and its devices (to evict cached credentials
    and drop live connections)."""

    staff: Staff
    device_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AuditFilters:
    """What an audit log reader asked for; every filter is optional."""

    actor_id: str | None = None
    case_id: str | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before_seq: int | None = None

    def as_details(self) -> dict[str, Any]:
        """The filters as audit details: ids, action names and times only."""
        details: dict[str, Any] = {}
        for name in ("actor_id", "case_id", "action", "before_seq"):
            value = getattr(self, name)
            if value is not None:
                details[name] = value
        if self.since is not None:
            details["since"] = iso(self.since)
        if self.until is not None:
            details["until"] = iso(self.until)
        return details


@dataclass(frozen=True, slots=True)
class AuditPage:
    """Newest first; ``next_before_seq`` pages on to older entries when there may be more."""

    entries: list[AuditEntry]
    next_before_seq: int | None
    whole_log: bool
    actors: dict[str, Staff] = field(default_factory=dict)


class AccountService:
    """Creates agencies and staff, logs staff in, and administers accounts."""

    def __init__(
        self,
        store: Store,
        audit: AuditLog,
        clock: Clock,
        passwords: PasswordHashing,
        sealer: Sealer,
        login_throttle: LoginThrottle,
    ) -> None:
        self._store = store
        self._audit = audit
        self._clock = clock
        self._passwords = passwords
        self._sealer = sealer
        self._login_throttle = login_throttle

    async def create_agency(
        self,
        actor: Actor,
        *,
        name: str,
        country: str,
        kind: AgencyKind,
        requires_reason: bool = False,
    ) -> Agency:
        """Create an agency.

        Raises:
            InvalidInput: empty name or a country that is not ISO 3166 alpha-2.
            Conflict: the name is taken.
        """
        name = name.strip()
        if not name or len(name) > 200:
            raise InvalidInput("agency name must be 1 to 200 characters")
        if not _COUNTRY.match(country):
            raise InvalidInput("country must be an ISO 3166-1 alpha-2 code such as RO")
        agency = Agency(
            id=new_id("agn"),
            name=name,
            country=country,
            kind=kind,
            requires_reason=requires_reason,
            created_at=self._clock.now(),
        )
        async with self._store.write() as uow:
            await uow.agencies.insert(agency)
            await self._audit.append(
                uow.audit,
                actor,
                "agency.created",
                subject=("agency", agency.id),
                details={"kind": kind.value, "country": country},
            )
        return agency

    async def create_staff(
        self,
        actor: Actor,
        *,
        agency_id: str,
        username: str,
        display_name: str,
        role: Role,
        password: str,
        with_totp: bool = False,
    ) -> NewStaff:
        """Create a staff account in an agency.

        Raises:
            InvalidInput: bad username, short password, empty display name.
            NotFound: no such agency.
            Conflict: the username is taken.
        """
        if not _USERNAME.match(username):
            raise InvalidInput(
                "username must be 3-64 characters: lower-case letters, digits, '.', '_', '-'"
            )
        if len(password) < MIN_PASSWORD_LENGTH:
            raise InvalidInput(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
        display_name = display_name.strip()
        if not display_name or len(display_name) > 200:
            raise InvalidInput("display name must be 1 to 200 characters")
        password_hash = await self._passwords.hash(password)
        totp_secret = pyotp.random_base32() if with_totp else None
        staff = Staff(
            id=new_id("stf"),
            agency_id=agency_id,
            username=username,
            display_name=display_name,
            role=role,
            password_hash=password_hash,
            totp_secret_sealed=None if totp_secret is None else self._sealer.seal(totp_secret),
            totp_last_step=0,
            active=True,
            created_at=self._clock.now(),
        )
        async with self._store.write() as uow:
            if await uow.agencies.get(agency_id) is None:
                raise NotFound("No such agency")
            await uow.staff.insert(staff)
            await self._audit.append(
                uow.audit,
                actor,
                "staff.created",
                subject=("staff", staff.id),
                details={"agency_id": agency_id, "role": role.value, "totp": with_totp},
            )
        return NewStaff(staff, totp_secret)

    async def set_totp(self, actor: Actor, staff_id: str, *, enabled: bool) -> str | None:
        """Turn TOTP on with a fresh secret (returned once) or off; resets a lost device.

        Raises:
            NotFound: no such staff member.
        """
        secret = pyotp.random_base32() if enabled else None
        async with self._store.write() as uow:
            if await uow.staff.get(staff_id) is None:
                raise NotFound("No such staff member")
            await uow.staff.set_totp(
                staff_id, None if secret is None else self._sealer.seal(secret)
            )
            await self._audit.append(
                uow.audit,
                actor,
                "staff.totp_reset",
                subject=("staff", staff_id),
                details={"enabled": enabled},
            )
        return secret

    async def check_credentials(
        self,
        username: str,
        password: str,
        totp_code: str | None,
        address: str,
        known_client: str | None = None,
    ) -> Staff:
        """Verify a password (and TOTP when the account has it); rate-limited, audited.

        ``known_client`` is the proof a client got when it last signed in to this
        account (see :class:`~server.domain.login_throttle.LoginThrottle`): with it,
        failures from other addresses never refuse this attempt.

        Raises:
            RateLimited: too many attempts (see :mod:`server.domain.login_throttle`).
            LoginFailed: wrong username, password or code, or a disabled account.
            TotpRequired: right password, but the account needs a code and none was sent.
        """
        username = username.lower()  # usernames are case-insensitive

        async def throttled(by: str) -> None:
            await self._record_throttling(username, by)

        await self._login_throttle.admit(username, address, known_client, throttled)
        async with self._store.read() as uow:
            staff = await uow.staff.get_by_username(username)
        ok = await self._passwords.verify(None if staff is None else staff.password_hash, password)
        if staff is None or not ok or not staff.active:
            await self._record_login(staff, "staff.login_failed", {"why": "credentials"})
            raise LoginFailed()
        if staff.totp_secret_sealed is not None:
            if not totp_code:
                await self._record_login(staff, "staff.login_failed", {"why": "totp-missing"})
                raise TotpRequired()
            if not await self._totp_accepted(staff, totp_code):
                await self._record_login(staff, "staff.login_failed", {"why": "totp"})
                raise LoginFailed()
        return staff

    async def _totp_accepted(self, staff: Staff, code: str) -> bool:
        assert staff.totp_secret_sealed is not None
        totp = pyotp.TOTP(self._sealer.open(staff.totp_secret_sealed))
        now = self._clock.now()
        for drift in (0, -1, 1):
            step = int(now.timestamp()) // totp.interval + drift
            if pyotp.utils.strings_equal(totp.generate_otp(step), code.strip()):
                async with self._store.write() as uow:
                    return await uow.staff.use_totp_step(staff.id, step)
        return False

    def known_client_proof(self, staff: Staff) -> str:
        """A new known-client proof for a client that just signed in as ``staff``."""
        return self._login_throttle.issue_proof(staff.username)

    async def _record_throttling(self, username: str, by: str) -> None:
        """The start of a run of refused login attempts (which bucket: see
        :mod:`server.domain.login_throttle`), once per run: a guessing attack shows in the audit log
        without each refusal adding an entry. Neither the address nor an unknown
        username is recorded."""
        async with self._store.read() as uow:
            staff = await uow.staff.get_by_username(username)
        await self._record_login(staff, "staff.login_throttled", {"by": by})

    async def _record_login(
        self, staff: Staff | None, action: str, details: dict[str, str]
    ) -> None:
        actor = Actor.anonymous() if staff is None else Actor.staff(staff.id)
        async with self._store.write() as uow:
            await self._audit.append(uow.audit, actor, action, details=details)

    async def login(
        self,
        username: str,
        password: str,
        totp_code: str | None,
        registration: DeviceRegistration,
        address: str,
        known_client: str | None = None,
    ) -> LoginResult:
        """Log in from a new client: check credentials, register the client's device.

        Raises:
            RateLimited, LoginFailed, TotpRequired: see :meth:`check_credentials`.
            SignatureInvalid, InvalidInput: bad device registration material.
            Conflict: the device keys are already registered.
        """
        staff = await self.check_credentials(username, password, totp_code, address, known_client)
        check_registration(registration, login_context(staff.username))
        now = self._clock.now()
        async with self._store.write() as uow:
            device, token = await insert_device(uow, registration, OwnerKind.STAFF, staff.id, now)
            await self._audit.append(
                uow.audit,
                Actor.staff(staff.id),
                "staff.login",
                subject=("device", device.id),
                details={"new_device": True},
            )
            await self._audit.append(
                uow.audit,
                Actor.staff(staff.id),
                "device.registered",
                subject=("device", device.id),
                details={"owner_kind": "staff", "one_time_keys": len(registration.one_time_keys)},
            )
        return LoginResult(staff, device, token, self.known_client_proof(staff))

    async def get_staff(self, staff_id: str) -> Staff:
        """Raises: NotFound."""
        async with self._store.read() as uow:
            staff = await uow.staff.get(staff_id)
        if staff is None:
            raise NotFound("No such staff member")
        return staff

    async def find_agency(self, name_or_id: str) -> Agency:
        """Look an agency up by id or exact name.

        Raises:
            NotFound: no such agency.
        """
        async with self._store.read() as uow:
            agency = await uow.agencies.get(name_or_id) or await uow.agencies.get_by_name(
                name_or_id
            )
        if agency is None:
            raise NotFound("No such agency")
        return agency

    async def list_agencies(self) -> list[Agency]:
        async with self._store.read() as uow:
            return await uow.agencies.list()

    async def has_any_staff(self) -> bool:
        async with self._store.read() as uow:
            for agency in await uow.agencies.list():
                if await uow.staff.list_by_agency(agency.id):
                    return True
        return False

    # --- administration (supervisors and admins) -------------------------------------

    @staticmethod
    def require_manager(manager: Staff) -> None:
        """Raises: Forbidden unless ``manager`` is an active supervisor or admin."""
        if not manager.active or manager.role not in SUPERVISING_ROLES:
            raise Forbidden("Only supervisors and admins can use the administration pages")

    @staticmethod
    def _check_agency_access(manager: Staff, agency_id: str) -> None:
        AccountService.require_manager(manager)
        if manager.role is not Role.ADMIN and manager.agency_id != agency_id:
            raise Forbidden("Supervisors manage their own agency only")

    @staticmethod
    def _check_staff_access(manager: Staff, target: Staff) -> None:
        """Raises: NotFound (another agency, for a supervisor), Forbidden (an admin's
        account, for a supervisor)."""
        AccountService.require_manager(manager)
        if manager.role is Role.ADMIN:
            return
        if target.agency_id != manager.agency_id:
            raise NotFound("No such staff member")
        if target.role is Role.ADMIN:
            raise Forbidden("Only admins can change an admin's account")

    @staticmethod
    def _check_grantable(manager: Staff, role: Role) -> None:
        if role is Role.ADMIN and manager.role is not Role.ADMIN:
            raise Forbidden("Only admins can grant the admin role")

    async def _managed_staff(self, uow: UnitOfWork, manager: Staff, staff_id: str) -> Staff:
        target = await uow.staff.get(staff_id)
        if target is None:
            self.require_manager(manager)
            raise NotFound("No such staff member")
        self._check_staff_access(manager, target)
        return target

    async def agencies_for(self, manager: Staff) -> list[Agency]:
        """The agencies ``manager`` administers: all for admins, their own for supervisors.

        Raises:
            Forbidden: not a supervisor or admin.
        """
        self.require_manager(manager)
        async with self._store.read() as uow:
            if manager.role is Role.ADMIN:
                return await uow.agencies.list()
            own = await uow.agencies.get(manager.agency_id)
        return [] if own is None else [own]

    async def managed_agency(self, manager: Staff, agency_id: str) -> Agency:
        """Raises: Forbidden (not a manager, or another agency for a supervisor); NotFound."""
        self._check_agency_access(manager, agency_id)
        async with self._store.read() as uow:
            agency = await uow.agencies.get(agency_id)
        if agency is None:
            raise NotFound("No such agency")
        return agency

    async def add_agency(
        self,
        manager: Staff,
        *,
        name: str,
        country: str,
        kind: AgencyKind,
        requires_reason: bool = False,
    ) -> Agency:
        """Create an agency on behalf of an admin.

        Raises:
            Forbidden: not an admin.
            InvalidInput, Conflict: see :meth:`create_agency`.
        """
        self.require_manager(manager)
        if manager.role is not Role.ADMIN:
            raise Forbidden("Only admins create agencies")
        return await self.create_agency(
            Actor.staff(manager.id),
            name=name,
            country=country.strip().upper(),
            kind=kind,
            requires_reason=requires_reason,
        )

    async def list_staff(self, manager: Staff, agency_id: str) -> list[Staff]:
        """Every account of an agency, active or not, by username.

        Raises:
            Forbidden, NotFound: see :meth:`managed_agency`.
        """
        await self.managed_agency(manager, agency_id)
        async with self._store.read() as uow:
            return await uow.staff.list_by_agency(agency_id)

    async def staff_member(self, manager: Staff, staff_id: str) -> Staff:
        """One account the manager administers.

        Raises:
            Forbidden: an admin's account (for supervisors).
            NotFound: no such staff member (or another agency, for supervisors).
        """
        async with self._store.read() as uow:
            return await self._managed_staff(uow, manager, staff_id)

    async def add_staff(
        self,
        manager: Staff,
        *,
        agency_id: str,
        username: str,
        display_name: str,
        role: Role,
        password: str,
        with_totp: bool = False,
    ) -> NewStaff:
        """Create an account in an agency the manager administers.

        Raises:
            Forbidden: another agency (supervisors), or the admin role granted by a
                supervisor.
            InvalidInput, NotFound, Conflict: see :meth:`create_staff`.
        """
        self._check_agency_access(manager, agency_id)
        self._check_grantable(manager, role)
        return await self.create_staff(
            Actor.staff(manager.id),
            agency_id=agency_id,
            username=username.strip().lower(),
            display_name=display_name,
            role=role,
            password=password,
            with_totp=with_totp,
        )

    async def set_role(self, manager: Staff, staff_id: str, role: Role) -> AccessChange:
        """Change an account's role.

        Raises:
            Forbidden: one's own account, an admin's account or the admin role (for
                supervisors).
            NotFound: no such staff member (or another agency, for supervisors).
        """
        async with self._store.write() as uow:
            target = await self._managed_staff(uow, manager, staff_id)
            if target.id == manager.id:
                raise Forbidden("You cannot change your own role")
            self._check_grantable(manager, role)
            if target.role is not role:
                await uow.staff.set_role(target.id, role.value)
                await self._audit.append(
                    uow.audit,
                    Actor.staff(manager.id),
                    "staff.role_changed",
                    subject=("staff", target.id),
                    details={"from": target.role.value, "to": role.value},
                )
            devices = await uow.devices.list_for_owner(OwnerKind.STAFF, target.id)
            changed = await uow.staff.get(target.id)
        assert changed is not None
        return AccessChange(changed, tuple(d.id for d in devices))

    async def set_active(self, manager: Staff, staff_id: str, active: bool) -> AccessChange:
        """Deactivate or reactivate an account. Deactivating ends its console sessions in
        the same transaction; the caller evicts cached device credentials.

        Raises:
            Forbidden: one's own account, or an admin's account (for supervisors).
            NotFound: no such staff member (or another agency, for supervisors).
        """
        async with self._store.write() as uow:
            target = await self._managed_staff(uow, manager, staff_id)
            if target.id == manager.id:
                raise Forbidden("You cannot deactivate or reactivate your own account")
            ended = 0
            if target.active is not active:
                await uow.staff.set_active(target.id, active)
                if not active:
                    ended = await uow.console_sessions.delete_for_staff(target.id)
                await self._audit.append(
                    uow.audit,
                    Actor.staff(manager.id),
                    "staff.reactivated" if active else "staff.deactivated",
                    subject=("staff", target.id),
                    details={} if active else {"console_sessions_ended": ended},
                )
            devices = await uow.devices.list_for_owner(OwnerKind.STAFF, target.id)
            changed = await uow.staff.get(target.id)
        assert changed is not None
        return AccessChange(changed, tuple(d.id for d in devices))

    async def reset_totp(self, manager: Staff, staff_id: str, *, enabled: bool) -> NewStaff:
        """Give an account a fresh TOTP secret (returned once, never again) or turn TOTP
        off; the old secret stops working at once.

        Raises:
            Forbidden: an admin's account (for supervisors).
            NotFound: no such staff member (or another agency, for supervisors).
        """
        secret = pyotp.random_base32() if enabled else None
        async with self._store.write() as uow:
            target = await self._managed_staff(uow, manager, staff_id)
            await uow.staff.set_totp(
                target.id, None if secret is None else self._sealer.seal(secret)
            )
            await self._audit.append(
                uow.audit,
                Actor.staff(manager.id),
                "staff.totp_reset",
                subject=("staff", target.id),
                details={"enabled": enabled},
            )
            changed = await uow.staff.get(target.id)
        assert changed is not None
        return NewStaff(changed, secret)

    async def agency_policy(self, manager: Staff, agency_id: str) -> tuple[EscalationPolicy, str]:
        """An agency's default escalation policy and where it comes from
        (``agency:<id>``, or ``default`` for the built-in one).

        Raises:
            Forbidden, NotFound: see :meth:`managed_agency`.
        """
        await self.managed_agency(manager, agency_id)
        scope = f"agency:{agency_id}"
        async with self._store.read() as uow:
            spec = await uow.policies.get(scope)
        if spec is None:
            return DEFAULT_POLICY, "default"
        return EscalationPolicy.from_json(spec), scope

    async def consult_audit(
        self, manager: Staff, filters: AuditFilters, *, page_size: int = AUDIT_PAGE_SIZE
    ) -> AuditPage:
        """A page of the audit log, newest first; the consultation is itself audited
        (``audit.viewed`` with the filters) before anything is returned.

        Admins see every entry. Supervisors see entries about their agency's cases
        (by case id or case subject), entries whose actor or subject is a staff member of
        their agency, and entries about the agency itself; other entries are filtered out
        after the query, reading at most a bounded number of rows per page.

        Raises:
            Forbidden: not a supervisor or admin.
            InvalidInput: a filter that is too long.
        """
        self.require_manager(manager)
        for value in (filters.actor_id, filters.case_id, filters.action):
            if value is not None and len(value) > _MAX_FILTER_LENGTH:
                raise InvalidInput("audit filters are limited to 100 characters")
        whole_log = manager.role is Role.ADMIN
        entries: list[AuditEntry] = []
        next_before: int | None = None
        async with self._store.read() as uow:
            if whole_log:
                batch = await uow.audit.query(
                    case_id=filters.case_id,
                    actor_id=filters.actor_id,
                    action=filters.action,
                    since=filters.since,
                    until=filters.until,
                    limit=page_size,
                    before_seq=filters.before_seq,
                )
                entries = batch
                if len(batch) == page_size:
                    next_before = batch[-1].seq
            else:
                case_ids = {c.id for c in await uow.cases.list_for_agency(manager.agency_id)}
                staff_ids = {s.id for s in await uow.staff.list_by_agency(manager.agency_id)}
                cursor = filters.before_seq
                scanned = 0
                while len(entries) < page_size:
                    batch = await uow.audit.query(
                        case_id=filters.case_id,
                        actor_id=filters.actor_id,
                        action=filters.action,
                        since=filters.since,
                        until=filters.until,
                        limit=_AUDIT_SCAN_BATCH,
                        before_seq=cursor,
                    )
                    for entry in batch:
                        cursor = entry.seq
                        if _concerns_agency(entry, manager.agency_id, case_ids, staff_ids):
                            entries.append(entry)
                            if len(entries) == page_size:
                                break
                    scanned += len(batch)
                    if len(batch) < _AUDIT_SCAN_BATCH and len(entries) < page_size:
                        cursor = None  # the log is exhausted
                        break
                    if scanned >= _AUDIT_SCAN_LIMIT:
                        break
                next_before = cursor
            actor_ids = sorted(
                {e.actor_id for e in entries if e.actor_kind == "staff" and e.actor_id}
            )
            actors = {}
            for actor_id in actor_ids:
                member = await uow.staff.get(actor_id)
                if member is not None:
                    actors[actor_id] = member
        async with self._store.write() as uow:
            await self._audit.append(
                uow.audit,
                Actor.staff(manager.id),
                "audit.viewed",
                details={**filters.as_details(), "entries": len(entries)},
            )
        return AuditPage(entries, next_before, whole_log, actors)

    async def verify_audit_chain(self, manager: Staff) -> ChainReport:
        """Recompute the whole audit chain; the check is itself audited.

        Raises:
            Forbidden: not a supervisor or admin.
        """
        self.require_manager(manager)
        report = await verify_chain(self._store)
        async with self._store.write() as uow:
            await self._audit.append(
                uow.audit,
                Actor.staff(manager.id),
                "audit.chain_verified",
                details={
                    "entries": report.entries,
                    "ok": report.ok,
                    "first_broken_seq": report.first_broken_seq,
                },
            )
        return report


def _concerns_agency(
    entry: AuditEntry, agency_id: str, case_ids: set[str], staff_ids: set[str]
) -> bool:
    """Whether a supervisor of ``agency_id`` may read this audit entry."""
    if entry.case_id is not None and entry.case_id in case_ids:
        return True
    if entry.actor_kind == "staff" and entry.actor_id in staff_ids:
        return True
    subject = (entry.subject_kind, entry.subject_id)
    return (
        (subject[0] == "staff" and subject[1] in staff_ids)
        or (subject[0] == "case" and subject[1] in case_ids)
        or subject == ("agency", agency_id)
    )
