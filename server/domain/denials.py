"""Recording refused attempts on a case: every one is an audit entry.

The refusal itself says "not found" whether or not the case exists (ids cannot be
probed); the audit entry names the case only when it does exist, so made-up ids never
reach the log.
"""

from __future__ import annotations

from server.domain.audit import Actor, AuditLog
from server.storage.protocols import Store


async def audit_denied(
    store: Store, audit: AuditLog, actor: Actor, case_id: str | None, attempted: str
) -> None:
    """Append ``access.denied`` in a transaction of its own (the refused request's
    transaction, if any, is rolled back)."""
    async with store.write() as uow:
        exists = case_id is not None and await uow.cases.get(case_id) is not None
        await audit.append(
            uow.audit,
            actor,
            "access.denied",
            subject=("case", case_id) if exists and case_id else None,
            case_id=case_id if exists else None,
            details={"attempted": attempted},
        )
