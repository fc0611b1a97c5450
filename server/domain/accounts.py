"""Agencies, staff accounts and staff login.

Passwords are Argon2id hashes; TOTP is optional per account (pyotp), its secret sealed
at rest, and a code's time step can be used only once. Logging in from a new client
registers that client as a device with its own keys. Every attempt, good or bad, is
audited and rate-limited per username and per network address.

Administration (the ``manager`` methods) is for an agency's supervisors and admins,
each within their own agency only (see :mod:`server.domain.agency_scope`):

* nobody manages another agency's accounts, policy or playbooks, or reads its audit
  entries; such attempts are refused and audited. Agencies and their first admins are
  created by the platform operator with the command line (:meth:`create_agency`,
  :meth:`create_staff` with a system actor), never through the console;
* admins manage every account of their agency and alone grant the admin role;
  supervisors manage their agency's accounts but never an admin's account;
* nobody changes their own role or deactivates their own account, so the last admin
  can never lock everyone out;
* the audit log is readable by an agency's supervisors and admins for what concerns
  their agency; reading it is itself audited.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pyotp

from server.clock import Clock, iso
from server.domain.access import SUPERVISING_ROLES
from server.domain.agency_scope import AgencyScope, refuse_outside_agency, require_own_agency
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
class FirstAdmin:
    """The first admin of a new agency, made with it by the platform operator."""

    username: str
    display_name: str
    password: str
    with_totp: bool = True

    def __repr__(self) -> str:
        return f"FirstAdmin({self.username!r}, <password hidden>)"


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
        """Create an agency: the platform operator's task (the command line); no
        agency's admin creates agencies.

        Raises:
            InvalidInput: empty name or a country that is not ISO 3166 alpha-2.
            Conflict: the name is taken.
        """
        agency, _ = await self._create_agency(actor, name, country, kind, requires_reason, None)
        return agency

    async def create_agency_with_admin(
        self,
        actor: Actor,
        *,
        name: str,
        country: str,
        kind: AgencyKind,
        first_admin: FirstAdmin,
        requires_reason: bool = False,
    ) -> tuple[Agency, NewStaff]:
        """Create an agency and its first admin in one transaction (both or neither).

        Raises:
            InvalidInput, Conflict: see :meth:`create_agency` and :meth:`create_staff`.
        """
        agency, admin = await self._create_agency(
            actor, name, country, kind, requires_reason, first_admin
        )
        assert admin is not None
        return agency, admin

    async def _create_agency(
        self,
        actor: Actor,
        name: str,
        country: str,
        kind: AgencyKind,
        requires_reason: bool,
        first_admin: FirstAdmin | None,
    ) -> tuple[Agency, NewStaff | None]:
        """Create an agency, and with ``first_admin`` its first admin in the same
        transaction.

        Raises:
            InvalidInput: empty name, a country that is not ISO 3166 alpha-2, or a bad
                first admin (see :meth:`create_staff`).
            Conflict: the name or the admin's username is taken.
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
        admin = (
            None
            if first_admin is None
            else await self._new_staff(
                agency.id,
                first_admin.username,
                first_admin.display_name,
                Role.ADMIN,
                first_admin.password,
                first_admin.with_totp,
            )
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
            if admin is not None:
                await self._insert_staff(uow, actor, admin)
        return agency, admin

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
        created = await self._new_staff(
            agency_id, username, display_name, role, password, with_totp
        )
        async with self._store.write() as uow:
            if await uow.agencies.get(agency_id) is None:
                raise NotFound("No such agency")
            await self._insert_staff(uow, actor, created)
        return created

    async def _new_staff(
        self,
        agency_id: str,
        username: str,
        display_name: str,
        role: Role,
        password: str,
        with_totp: bool,
    ) -> NewStaff:
        """A validated account, its password hashed, not yet stored.

        Raises:
            InvalidInput: bad username, short password, empty display name.
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
        return NewStaff(staff, totp_secret)

    async def _insert_staff(self, uow: UnitOfWork, actor: Actor, created: NewStaff) -> None:
        """Raises: Conflict (the username is taken)."""
        staff = created.staff
        await uow.staff.insert(staff)
        await self._audit.append(
            uow.audit,
            actor,
            "staff.created",
            subject=("staff", staff.id),
            details={
                "agency_id": staff.agency_id,
                "role": staff.role.value,
                "totp": created.totp_secret is not None,
            },
        )

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

    # --- administration (an agency's supervisors and admins) --------------------------

    @staticmethod
    def require_manager(manager: Staff) -> None:
        """Raises: Forbidden unless ``manager`` is an active supervisor or admin."""
        if not manager.active or manager.role not in SUPERVISING_ROLES:
            raise Forbidden("Only supervisors and admins can use the administration pages")

    async def _check_agency_access(self, manager: Staff, agency_id: str, attempted: str) -> None:
        """Raises: Forbidden (not a manager, or another agency: audited)."""
        self.require_manager(manager)
        await require_own_agency(
            self._store,
            self._audit,
            manager,
            agency_id,
            attempted,
            roles=SUPERVISING_ROLES,
            refusal="You manage your own agency only",
        )

    @staticmethod
    def _check_grantable(manager: Staff, role: Role) -> None:
        if role is Role.ADMIN and manager.role is not Role.ADMIN:
            raise Forbidden("Only admins can grant the admin role")

    async def _managed_staff(
        self, manager: Staff, staff_id: str, attempted: str, *, admins_too: bool = False
    ) -> Staff:
        """An account of the manager's own agency.

        Raises:
            Forbidden: not a manager; an admin's account, for a supervisor (unless
                ``admins_too``).
            NotFound: no such account, or one of another agency (audited: the
                refusal names the account, which exists).
        """
        self.require_manager(manager)
        async with self._store.read() as uow:
            target = await uow.staff.get(staff_id)
        if target is None:
            raise NotFound("No such staff member")
        if target.agency_id != manager.agency_id:
            await refuse_outside_agency(
                self._store,
                self._audit,
                manager.id,
                attempted,
                NotFound("No such staff member"),
                subject=("staff", target.id),
            )
        if target.role is Role.ADMIN and manager.role is not Role.ADMIN and not admins_too:
            raise Forbidden("Only admins can change an admin's account")
        return target

    async def agencies_for(self, manager: Staff) -> list[Agency]:
        """The agency ``manager`` administers: their own, whatever their role.

        Raises:
            Forbidden: not a supervisor or admin.
        """
        self.require_manager(manager)
        async with self._store.read() as uow:
            own = await uow.agencies.get(manager.agency_id)
        return [] if own is None else [own]

    async def managed_agency(
        self, manager: Staff, agency_id: str, *, attempted: str = "agency.view"
    ) -> Agency:
        """Raises: Forbidden (not a manager, or another agency: audited); NotFound."""
        await self._check_agency_access(manager, agency_id, attempted)
        async with self._store.read() as uow:
            agency = await uow.agencies.get(agency_id)
        if agency is None:
            raise NotFound("No such agency")
        return agency

    async def list_staff(self, manager: Staff, agency_id: str) -> list[Staff]:
        """Every account of the manager's agency, active or not, by username.

        Raises:
            Forbidden, NotFound: see :meth:`managed_agency`.
        """
        await self.managed_agency(manager, agency_id, attempted="staff.list")
        async with self._store.read() as uow:
            return await uow.staff.list_by_agency(agency_id)

    async def staff_member(self, manager: Staff, staff_id: str) -> Staff:
        """One account of the manager's agency.

        Raises:
            Forbidden: an admin's account (for supervisors).
            NotFound: no such staff member, or another agency's (audited).
        """
        return await self._managed_staff(manager, staff_id, "staff.view")

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
        """Create an account in the manager's own agency.

        Raises:
            Forbidden: another agency (audited), or the admin role granted by a
                supervisor.
            InvalidInput, NotFound, Conflict: see :meth:`create_staff`.
        """
        await self._check_agency_access(manager, agency_id, "staff.create")
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
            NotFound: no such staff member, or another agency's (audited).
        """
        target = await self._managed_staff(manager, staff_id, "staff.role_change")
        if target.id == manager.id:
            raise Forbidden("You cannot change your own role")
        self._check_grantable(manager, role)
        async with self._store.write() as uow:
            current = await uow.staff.get(target.id)
            assert current is not None
            if current.role is not role:
                await uow.staff.set_role(target.id, role.value)
                await self._audit.append(
                    uow.audit,
                    Actor.staff(manager.id),
                    "staff.role_changed",
                    subject=("staff", target.id),
                    details={"from": current.role.value, "to": role.value},
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
            NotFound: no such staff member, or another agency's (audited).
        """
        target = await self._managed_staff(manager, staff_id, "staff.active_change")
        if target.id == manager.id:
            raise Forbidden("You cannot deactivate or reactivate your own account")
        async with self._store.write() as uow:
            current = await uow.staff.get(target.id)
            assert current is not None
            ended = 0
            if current.active is not active:
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
            NotFound: no such staff member, or another agency's (audited).
        """
        target = await self._managed_staff(manager, staff_id, "staff.totp_reset")
        secret = pyotp.random_base32() if enabled else None
        async with self._store.write() as uow:
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

    async def set_staff_on_duty(self, manager: Staff, staff_id: str, on_duty: bool) -> Staff:
        """Put an account of the manager's own agency on or off duty (escalation levels
        that reach "on duty only" skip those off duty).

        Raises:
            Forbidden: not a manager.
            NotFound: no such staff member, or another agency's (audited).
        """
        target = await self._managed_staff(manager, staff_id, "staff.duty_change", admins_too=True)
        async with self._store.write() as uow:
            await uow.staff.set_on_duty(target.id, on_duty)
            await self._audit.append(
                uow.audit,
                Actor.staff(manager.id),
                "staff.duty_changed",
                subject=("staff", target.id),
                details={"on_duty": on_duty},
            )
            changed = await uow.staff.get(target.id)
        assert changed is not None
        return changed

    async def agency_policy(self, manager: Staff, agency_id: str) -> tuple[EscalationPolicy, str]:
        """The manager's agency's default escalation policy and where it comes from
        (``agency:<id>``, or ``default`` for the built-in one).

        Raises:
            Forbidden, NotFound: see :meth:`managed_agency`.
        """
        await self.managed_agency(manager, agency_id, attempted="agency.policy_view")
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

        Supervisors and admins alike see only what
        :meth:`~server.domain.agency_scope.AgencyScope.sees` allows their agency. The
        filters narrow the query; the agency's rule is applied to every row after it,
        so no filter, cursor or count reaches another agency's entries. At most a
        bounded number of rows is read per page (the page then offers "older entries").

        Raises:
            Forbidden: not a supervisor or admin.
            InvalidInput: a filter that is too long.
        """
        self.require_manager(manager)
        for value in (filters.actor_id, filters.case_id, filters.action):
            if value is not None and len(value) > _MAX_FILTER_LENGTH:
                raise InvalidInput("audit filters are limited to 100 characters")
        entries: list[AuditEntry] = []
        async with self._store.read() as uow:
            scope = await AgencyScope.load(uow, manager.agency_id)
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
                    if scope.sees(entry):
                        entries.append(entry)
                        if len(entries) == page_size:
                            break
                scanned += len(batch)
                if len(batch) < _AUDIT_SCAN_BATCH and len(entries) < page_size:
                    cursor = None  # the log is exhausted
                    break
                if scanned >= _AUDIT_SCAN_LIMIT:
                    break
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
        return AuditPage(entries, cursor, actors)

    async def verify_audit_chain(self, manager: Staff) -> ChainReport:
        """Recompute the whole audit chain; the check is itself audited.

        The whole chain is checked (a gap anywhere breaks it for everyone), but the
        report counts only the entries the manager's agency may read, so the check
        does not reveal how much other agencies do. The operator's
        ``witnesslink admin verify-audit`` reports the whole count.

        Raises:
            Forbidden: not a supervisor or admin.
        """
        self.require_manager(manager)
        async with self._store.read() as uow:
            scope = await AgencyScope.load(uow, manager.agency_id)
        report = await verify_chain(self._store, counted=scope.sees)
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
