"""Agencies, staff accounts and staff login.

Passwords are Argon2id hashes; TOTP is optional per account (pyotp), its secret sealed
at rest, and a code's time step can be used only once. Logging in from a new client
registers that client as a device with its own keys. Every attempt, good or bad, is
audited and rate-limited per username and per network address.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pyotp

from client_sdk.protocol import login_context
from server.clock import Clock
from server.domain.audit import Actor, AuditLog
from server.domain.models import Agency, AgencyKind, Device, OwnerKind, Role, Staff
from server.domain.registration import DeviceRegistration, check_registration, insert_device
from server.errors import Conflict, InvalidInput, LoginFailed, NotFound, TotpRequired
from server.ids import new_id
from server.security.passwords import MIN_PASSWORD_LENGTH, PasswordHashing
from server.security.ratelimit import RateLimiter
from server.security.sealing import Sealer
from server.storage.protocols import Store

_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
TOTP_ISSUER = "witnesslink"


@dataclass(frozen=True, slots=True)
class LoginResult:
    staff: Staff
    device: Device
    token: str


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


class AccountService:
    """Creates agencies and staff, and logs staff in."""

    def __init__(
        self,
        store: Store,
        audit: AuditLog,
        clock: Clock,
        passwords: PasswordHashing,
        sealer: Sealer,
        login_by_user: RateLimiter,
        login_by_address: RateLimiter,
    ) -> None:
        self._store = store
        self._audit = audit
        self._clock = clock
        self._passwords = passwords
        self._sealer = sealer
        self._login_by_user = login_by_user
        self._login_by_address = login_by_address

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
        self, username: str, password: str, totp_code: str | None, address: str
    ) -> Staff:
        """Verify a password (and TOTP when the account has it); rate-limited, audited.

        Raises:
            RateLimited: too many attempts for this username or address.
            LoginFailed: wrong username, password or code, or a disabled account.
            TotpRequired: right password, but the account needs a code and none was sent.
        """
        username = username.lower()  # usernames are case-insensitive
        self._login_by_address.take(address)
        self._login_by_user.take(username)
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
    ) -> LoginResult:
        """Log in from a new client: check credentials, register the client's device.

        Raises:
            RateLimited, LoginFailed, TotpRequired: see :meth:`check_credentials`.
            SignatureInvalid, InvalidInput: bad device registration material.
            Conflict: the device keys are already registered.
        """
        staff = await self.check_credentials(username, password, totp_code, address)
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
        return LoginResult(staff, device, token)

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


def ensure_unique(values: list[str], what: str) -> None:
    """Raises: Conflict if ``values`` repeats an item."""
    if len(set(values)) != len(values):
        raise Conflict(f"{what} repeats an item")
