"""Agencies, staff accounts and staff login.

Passwords are Argon2id hashes; TOTP is optional per account (pyotp), its secret sealed
at rest, and a code's time step can be used only once. Logging in from a new client
registers that client as a device with its own keys. Every attempt, good or bad, is
audited and rate-limited per username and per network address.

Administering an agency's staff is :mod:`server.domain.administration`; reading the
audit log is :mod:`server.domain.audit_reading`. Agencies and their first admins are
created here, by the platform operator's command line only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pyotp

from server.clock import Clock
from server.domain.audit import Actor, AuditLog
from server.domain.login_throttle import LoginThrottle
from server.domain.models import (
    Agency,
    AgencyKind,
    Device,
    OwnerKind,
    Role,
    Staff,
)
from server.domain.registration import DeviceRegistration, check_registration, insert_device
from server.errors import (
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
