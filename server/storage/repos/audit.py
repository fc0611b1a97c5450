"""The append-only, hash-chained audit log.

Appends are totally ordered: on PostgreSQL a transaction-scoped advisory lock is taken
before the head is read, so two instances never chain onto the same predecessor; on
SQLite the single writer (``BEGIN IMMEDIATE``) does the same across processes. Database
triggers refuse UPDATE and DELETE.
"""

from __future__ import annotations

from datetime import datetime

from server.domain.models import AuditEntry
from server.storage.database import Connection, Row
from server.storage.repos._rows import dt, ms

_COLUMNS = (
    "seq, at, actor_kind, actor_id, action, subject_kind, subject_id, case_id, reason,"
    " details, prev_hash, entry_hash"
)
_AUDIT_LOCK = 727002


def _entry(row: Row) -> AuditEntry:
    return AuditEntry(
        seq=int(row["seq"]),
        at=dt(row["at"]),
        actor_kind=row["actor_kind"],
        actor_id=row["actor_id"],
        action=row["action"],
        subject_kind=row["subject_kind"],
        subject_id=row["subject_id"],
        case_id=row["case_id"],
        reason=row["reason"],
        details=row["details"],
        prev_hash=bytes(row["prev_hash"]),
        entry_hash=bytes(row["entry_hash"]),
    )


class SqlAuditRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def head(self) -> tuple[int, bytes] | None:
        if self._conn.dialect.is_postgres:
            await self._conn.execute("SELECT pg_advisory_xact_lock($1)", _AUDIT_LOCK)
        row = await self._conn.fetchrow(
            "SELECT seq, entry_hash FROM audit_log ORDER BY seq DESC LIMIT 1"
        )
        return None if row is None else (int(row[0]), bytes(row[1]))

    async def insert(self, entry: AuditEntry) -> None:
        await self._conn.execute(
            f"INSERT INTO audit_log ({_COLUMNS})"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            entry.seq,
            ms(entry.at),
            entry.actor_kind,
            entry.actor_id,
            entry.action,
            entry.subject_kind,
            entry.subject_id,
            entry.case_id,
            entry.reason,
            entry.details,
            entry.prev_hash,
            entry.entry_hash,
        )

    async def scan(self, after_seq: int, limit: int) -> list[AuditEntry]:
        rows = await self._conn.fetch(
            f"SELECT {_COLUMNS} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2",
            after_seq,
            limit,
        )
        return [_entry(row) for row in rows]

    async def query(
        self,
        *,
        case_id: str | None = None,
        actor_id: str | None = None,
        action: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
        before_seq: int | None = None,
    ) -> list[AuditEntry]:
        # Fixed statement text: a NULL parameter switches its filter off.
        rows = await self._conn.fetch(
            f"SELECT {_COLUMNS} FROM audit_log"
            " WHERE (CAST($1 AS TEXT) IS NULL OR case_id = $1)"
            " AND (CAST($2 AS TEXT) IS NULL OR actor_id = $2)"
            " AND (CAST($3 AS TEXT) IS NULL OR action = $3)"
            " AND (CAST($4 AS BIGINT) IS NULL OR at >= $4)"
            " AND (CAST($5 AS BIGINT) IS NULL OR at < $5)"
            " AND (CAST($6 AS BIGINT) IS NULL OR seq < $6)"
            " ORDER BY seq DESC LIMIT $7",
            case_id,
            actor_id,
            action,
            None if since is None else ms(since),
            None if until is None else ms(until),
            before_seq,
            limit,
        )
        return [_entry(row) for row in rows]
