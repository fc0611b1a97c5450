"""Domain errors with stable codes.

Services raise these and never HTTP errors (design principle 1). One middleware maps
each to an RFC 9457 problem response; the ``code`` is part of the public API and must
not change once released. Messages must never contain personal data, secrets or
plaintext: they are shown to clients and may be logged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar


class DomainError(Exception):
    """Base of all expected failures; ``status`` is the HTTP status it maps to."""

    code: ClassVar[str] = "error"
    status: ClassVar[int] = 400
    title: ClassVar[str] = "The request could not be completed"

    def __init__(self, detail: str | None = None, **extensions: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extensions: Mapping[str, Any] = extensions


class InvalidInput(DomainError):
    code = "invalid-input"
    status = 422
    title = "The request body or parameters are not valid"


class Unauthenticated(DomainError):
    code = "unauthenticated"
    status = 401
    title = "Authentication is required"


class LoginFailed(DomainError):
    code = "login-failed"
    status = 401
    title = "The username, password or one-time code is wrong"


class TotpRequired(DomainError):
    code = "totp-required"
    status = 401
    title = "This account needs a one-time code from its authenticator app"


class Forbidden(DomainError):
    code = "forbidden"
    status = 403
    title = "You are not allowed to do this"


class NotFound(DomainError):
    code = "not-found"
    status = 404
    title = "No such resource"


class Conflict(DomainError):
    code = "conflict"
    status = 409
    title = "The request conflicts with the current state"


class ReasonRequired(DomainError):
    code = "reason-required"
    status = 428
    title = "Your agency requires a reason for consulting this witness's data"


class InvalidKeyObject(DomainError):
    code = "invalid-key-object"
    status = 422
    title = "A signed key object is malformed, does not verify, or does not fit"


class VersionConflict(DomainError):
    code = "version-conflict"
    status = 409
    title = "A newer version exists; fetch it and sign on top of it"


class EnrolmentCodeInvalid(DomainError):
    code = "enrolment-code-invalid"
    status = 403
    title = "The enrolment code is wrong, used or expired"


class StaleDevices(DomainError):
    code = "stale-devices"
    status = 409
    title = "The recipient device list is out of date"


class MessageIdReused(DomainError):
    code = "message-id-reused"
    status = 409
    title = "This message id was already used for a different message"


class ResendLimit(DomainError):
    code = "resend-limit"
    status = 409
    title = "This message was already sent again to that device as often as allowed"


class SignatureInvalid(DomainError):
    code = "signature-invalid"
    status = 422
    title = "A signature does not verify"


class DeviceRevoked(DomainError):
    code = "device-revoked"
    status = 401
    title = "This device has been revoked"


class TooLarge(DomainError):
    code = "too-large"
    status = 413
    title = "The request is larger than allowed"


class RateLimited(DomainError):
    code = "rate-limited"
    status = 429
    title = "Too many attempts; wait before trying again"

    def __init__(
        self, retry_after_s: int, detail: str | None = None, *, first_refusal: bool = False
    ) -> None:
        super().__init__(detail, retry_after=retry_after_s)
        self.retry_after_s = retry_after_s
        #: Whether this refusal starts a run of them (see ``ratelimit.Limiter.take``).
        self.first_refusal = first_refusal


class Unavailable(DomainError):
    code = "unavailable"
    status = 503
    title = "The service is temporarily unavailable"


class StoreErased(DomainError):
    """The device's OPRF key was erased (too many unconfirmed PIN attempts, a wipe, a
    revocation or a closed case): its phone store can never be opened again."""

    code = "store-erased"
    status = 410
    title = "This phone's store has been erased and can no longer be opened"


class UnlockAttemptExpired(DomainError):
    code = "unlock-attempt-expired"
    status = 409
    title = "This unlock attempt is no longer open; ask for a new challenge"


class StorageFull(DomainError):
    """The database refused a write for lack of space (see server.storage.capacity).

    Nothing was changed; the client should retry later (``retry_after`` seconds)."""

    code = "storage-full"
    status = 503
    title = "The server's storage is full"
