"""Console sign-in sessions: an opaque cookie, a row holding only its hash.

* the cookie is ``HttpOnly``, ``SameSite=Strict``, and ``Secure`` whenever the console
  is served over TLS (or behind a TLS proxy);
* every session has a CSRF token; every form carries it and every POST is refused
  without it;
* a session ends after ``idle`` without activity and at most ``max_age`` after sign-in;
  signing out deletes it on the server, not just in the browser;
* an **on-call screen** session (mode ``shift``) has no idle limit and lasts ``shift``
  after sign-in: it is a wall screen that nobody touches for hours. It is read-only:
  every action on it needs the password again (and the TOTP code where enrolled), see
  :mod:`server.console.fresh_sign_in`;
* the page is told ahead when its session will end and why (:meth:`ConsoleSessions.ending`),
  so that nobody finds a console signed out without a word.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from server.clock import Clock
from server.domain.audit import Actor, AuditLog
from server.domain.models import ConsoleSession, Staff
from server.storage.protocols import Store

COOKIE = "wl_session"
LOGIN_CSRF_COOKIE = "wl_login"
#: The browser's known-client proof (server.security.known_clients): kept across
#: sign-outs, so that other addresses' failed guesses never lock this browser out.
KNOWN_CLIENT_COOKIE = "wl_known_client"
KNOWN_CLIENT_MAX_AGE_S = 400 * 24 * 3600  # the longest lifetime browsers allow
_TICK = timedelta(microseconds=1)
_WARN_DESK = timedelta(minutes=3)
_WARN_SHIFT = timedelta(minutes=30)


def session_hash(cookie: str) -> bytes:
    return hashlib.sha256(b"witnesslink/console/v1\n" + cookie.encode()).digest()


def same_token(expected: str, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(expected, given)


DESK = "desk"
SHIFT = "shift"


@dataclass(frozen=True, slots=True)
class SignedIn:
    session: ConsoleSession
    staff: Staff

    @property
    def on_call_screen(self) -> bool:
        return self.session.mode == SHIFT


@dataclass(frozen=True, slots=True)
class SessionEnd:
    """When a session will end if nothing happens, and why ("idle" or "expiry")."""

    at: datetime
    reason: str


class ConsoleSessions:
    """Creates, resolves and ends console sessions."""

    def __init__(
        self,
        store: Store,
        audit: AuditLog,
        clock: Clock,
        *,
        idle: timedelta = timedelta(minutes=15),
        max_age: timedelta = timedelta(hours=12),
        shift: timedelta = timedelta(hours=12),
    ) -> None:
        self._store = store
        self._audit = audit
        self._clock = clock
        self.idle = idle
        self.max_age = max_age
        self.shift = shift

    def lifetime(self, mode: str) -> timedelta:
        return self.shift if mode == SHIFT else self.max_age

    def warn_before(self, mode: str) -> timedelta:
        """How long before the sign-out the page starts warning: a few minutes at a
        desk, half an hour on an on-call screen (time to hand over the shift)."""
        return _WARN_SHIFT if mode == SHIFT else min(_WARN_DESK, self.idle / 3)

    async def start(
        self, staff: Staff, language: str, *, mode: str = DESK
    ) -> tuple[str, ConsoleSession]:
        """A new session for a staff member who has just proven who they are; ``mode``
        ``shift`` makes it an on-call screen."""
        cookie = secrets.token_urlsafe(32)
        now = self._clock.now()
        mode = SHIFT if mode == SHIFT else DESK
        session = ConsoleSession(
            id_hash=session_hash(cookie),
            staff_id=staff.id,
            csrf=secrets.token_urlsafe(24),
            language=language,
            created_at=now,
            last_seen_at=now,
            expires_at=now + self.lifetime(mode),
            mode=mode,
        )
        async with self._store.write() as uow:
            await uow.console_sessions.insert(session)
            await self._audit.append(
                uow.audit,
                Actor.staff(staff.id),
                "console.signed_in",
                subject=("staff", staff.id),
                details={"mode": SHIFT} if mode == SHIFT else None,
            )
        return cookie, session

    async def resolve(self, cookie: str | None, *, touch: bool = True) -> SignedIn | None:
        """The signed-in staff member, or None if the cookie is unknown, idle for too
        long, past its lifetime, or the account was disabled.

        ``touch=False`` for requests the page makes by itself (live updates): they must
        not keep an unattended session alive past its idle timeout.
        """
        if not cookie or len(cookie) > 100:
            return None
        now = self._clock.now()
        digest = session_hash(cookie)
        async with self._store.read() as uow:
            session = await uow.console_sessions.get(digest)
            staff = None if session is None else await uow.staff.get(session.staff_id)
        if session is None:
            return None
        if staff is None or not staff.active or now >= self.ending(session).at:
            async with self._store.write() as uow:
                await uow.console_sessions.delete(digest)
            return None
        if touch:
            async with self._store.write() as uow:
                await uow.console_sessions.touch(digest, now)
        return SignedIn(session, staff)

    def ending(self, session: ConsoleSession) -> SessionEnd:
        """When ``session`` ends unless it is used before then: on-call screens only at
        the end of the shift, others after ``idle`` without activity too."""
        if session.mode != SHIFT and session.last_seen_at + self.idle < session.expires_at:
            # One microsecond past the idle time: resolve() allows exactly ``idle``.
            return SessionEnd(session.last_seen_at + self.idle + _TICK, "idle")
        return SessionEnd(session.expires_at, "expiry")

    async def end(self, signed_in: SignedIn) -> None:
        async with self._store.write() as uow:
            await uow.console_sessions.delete(signed_in.session.id_hash)
            await self._audit.append(
                uow.audit,
                Actor.staff(signed_in.staff.id),
                "console.signed_out",
                subject=("staff", signed_in.staff.id),
            )

    async def set_language(self, signed_in: SignedIn, language: str) -> None:
        async with self._store.write() as uow:
            await uow.console_sessions.set_language(signed_in.session.id_hash, language)
