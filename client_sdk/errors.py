"""Exceptions the SDK raises to apps."""

from __future__ import annotations

from typing import Any


class WitnesslinkError(Exception):
    """Base of every SDK error."""


class TransportError(WitnesslinkError):
    """The server could not be reached or the connection broke; worth retrying."""


class ApiError(WitnesslinkError):
    """The server answered with an RFC 9457 problem."""

    def __init__(
        self, status: int, code: str, title: str, detail: str | None, extra: dict[str, Any]
    ):
        super().__init__(f"{status} {code}: {detail or title}")
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.extra = extra

    @property
    def retryable(self) -> bool:
        """Server trouble or rate limits pass; other refusals will not."""
        return self.status >= 500 or self.status == 429


class EnrolmentRefused(WitnesslinkError):
    """Enrolment failed: the code was wrong or used, or the team keys did not match the
    fingerprint in the code (someone may be interfering: get a new code in person)."""


class NotEnrolled(WitnesslinkError):
    """The local store holds no device identity (enrolment did not finish)."""


class ServerTampering(WitnesslinkError):
    """The server presented other keys for this device or its person than the ones
    they have: someone is tampering with it. Nothing is vouched for until this is
    investigated."""
