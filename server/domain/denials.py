"""Recording refused attempts on case data: an audit entry per burst, not per request.

The refusal itself says "not found" whether or not the case exists (ids cannot be
probed); the audit entry names the case only when it does exist, so made-up ids never
reach the log.

Refusals are audited in two places: the services that check access to a case call
:func:`audit_denied` with what was attempted, and the HTTP edge
(:mod:`server.api.refusals`) audits every other 403/404 an authenticated caller gets
on a route that names case data. A script retrying the same refused request would
otherwise flood the hash-chained audit log, so
:class:`~server.domain.audit.RefusalMemory` audits the
same refusal (same actor, same attempt, same target) once per ``window`` — "once per
run". Each instance remembers on its own, so N instances may record a burst N times.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from server.domain.audit import Actor, AuditLog
from server.storage.protocols import Store

__all__ = ["audit_denied", "refusal_audited", "request_scope"]

#: Set when a refusal was audited (or deliberately not, as a repeat) while handling the
#: current request, so the edge does not audit it a second time.
_handled: ContextVar[bool] = ContextVar("refusal_audited", default=False)
#: The request being handled (method and concrete path), part of what makes two
#: refusals "the same": two requests for different devices of one case are not.
_request: ContextVar[str] = ContextVar("refused_request", default="")


def refusal_audited() -> bool:
    """Whether the current request's refusal has been dealt with by a service."""
    return _handled.get()


@contextmanager
def request_scope(request_line: str) -> Iterator[None]:
    """Around one request (``request_line`` is its method and path): starts with
    nothing audited (a keep-alive connection serves its requests in one task, so the
    state must not leak from one to the next)."""
    handled, current = _handled.set(False), _request.set(request_line)
    try:
        yield
    finally:
        _handled.reset(handled)
        _request.reset(current)


async def audit_denied(
    store: Store,
    audit: AuditLog,
    actor: Actor,
    case_id: str | None,
    attempted: str,
    *,
    target: str | None = None,
    subject: tuple[str, str] | None = None,
) -> None:
    """Append ``access.denied`` in a transaction of its own (the refused request's
    transaction, if any, is rolled back) — unless the same actor had the same attempt
    on the same target (``target``, else the case, and the request) refused within
    the window.

    ``subject`` names what was attempted on when it is not a case (a staff account or an
    agency of another agency, for the administration's refusals); the caller passes
    only things that exist, so made-up ids never reach the log."""
    _handled.set(True)
    same_target = f"{target or case_id or ''} {_request.get()}"
    if not audit.refusals.first_in_window(actor, attempted, same_target):
        return
    async with store.write() as uow:
        exists = case_id is not None and await uow.cases.get(case_id) is not None
        await audit.append(
            uow.audit,
            actor,
            "access.denied",
            subject=("case", case_id) if exists and case_id else subject,
            case_id=case_id if exists else None,
            details={"attempted": attempted},
        )
