"""Reading the audit log in the console: an agency's supervisors and admins see the
entries :meth:`~server.domain.agency_scope.AgencyScope.sees` allows, page by page,
and verify the chain; every reading and every check is itself audited."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from server.clock import iso
from server.domain.agency_scope import AgencyScope, require_manager
from server.domain.audit import Actor, AuditLog, ChainReport, verify_chain
from server.domain.models import AuditEntry, Staff
from server.errors import InvalidInput
from server.storage.protocols import Store

AUDIT_PAGE_SIZE = 50
# An agency's audit view is filtered after the query; bound the rows read per page
# so one request never scans the whole log (the page then offers "older entries").
_AUDIT_SCAN_BATCH = 200
_AUDIT_SCAN_LIMIT = 5000
_MAX_FILTER_LENGTH = 100


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


class AuditReading:
    """The console's audit viewer and chain check, for an agency's managers."""

    def __init__(self, store: Store, audit: AuditLog) -> None:
        self._store = store
        self._audit = audit

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
        require_manager(manager)
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
        require_manager(manager)
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
