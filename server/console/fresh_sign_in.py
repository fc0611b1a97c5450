"""A fresh sign-in for each action on an on-call screen.

An on-call screen (a console session in ``shift`` mode) stays signed in for a whole
shift on a screen that anyone in the room can reach, so it is read-only: every form it
posts (acknowledge, resolve, and any other change) must carry the staff member's
password, and the current TOTP code where the account has one, checked exactly as at
sign-in (same throttle, same audit). Ordinary desk sessions are unaffected.
"""

from __future__ import annotations

from aiohttp import web
from multidict import MultiDictProxy

from server.api.context import SERVICES, client_address
from server.console.sessions import KNOWN_CLIENT_COOKIE, SignedIn
from server.errors import LoginFailed, TotpRequired

#: Why an action was refused, shown on the error page (no personal data).
REFUSED_WITHOUT_FRESH_SIGN_IN = (
    "This console is an on-call screen: every action needs your password again"
    " (and your one-time code if your account has one)."
)
REFUSED_WRONG_CREDENTIALS = "The password or one-time code is not right; nothing was changed."


async def confirm_fresh_sign_in(
    request: web.Request, signed_in: SignedIn, form: MultiDictProxy[str]
) -> None:
    """Refuse the action unless ``form`` proves a fresh sign-in by the session's owner;
    does nothing for desk sessions.

    Raises:
        web.HTTPUnauthorized: on an on-call screen, no password, a wrong password or
            code, or a code missing for an account that has TOTP (nothing is changed).
        RateLimited: too many wrong attempts (the sign-in throttle).
    """
    if not signed_in.on_call_screen:
        return
    password = form.get("password", "")
    if not password:
        raise web.HTTPUnauthorized(reason=REFUSED_WITHOUT_FRESH_SIGN_IN)
    totp = form.get("totp", "").strip()[:10] or None
    accounts = request.app[SERVICES].accounts
    try:
        staff = await accounts.check_credentials(
            signed_in.staff.username,
            password[:1024],
            totp,
            client_address(request),
            request.cookies.get(KNOWN_CLIENT_COOKIE),
        )
    except (LoginFailed, TotpRequired):
        raise web.HTTPUnauthorized(reason=REFUSED_WRONG_CREDENTIALS) from None
    if staff.id != signed_in.staff.id:  # pragma: no cover - the username is the session's
        raise web.HTTPUnauthorized(reason=REFUSED_WRONG_CREDENTIALS)
