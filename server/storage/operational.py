"""Read-only queries an operator's tools need: readiness and the gauges behind /metrics.

They look at the whole database rather than one case, so they live apart from the
repositories the domain uses. Each is one cheap statement (a count over an indexed
table, a grouped count over alerts); a metrics scrape runs them once.
"""

from __future__ import annotations

from dataclasses import dataclass

from server.storage.database import Database
from server.storage.migrations import MIGRATIONS


@dataclass(frozen=True)
class OperationalCounts:
    """What the gauges show: stored copies waiting for their device, alerts by state."""

    queued_copies: int
    alerts: dict[tuple[str, str], int]


async def pending_migrations(db: Database) -> list[int]:
    """Versions this code knows that the database has not applied (empty = up to date)."""
    async with db.snapshot() as conn:
        rows = await conn.fetch("SELECT version FROM schema_migrations")
    applied = {int(row[0]) for row in rows}
    return sorted(m.version for m in MIGRATIONS if m.version not in applied)


async def operational_counts(db: Database) -> OperationalCounts:
    """Queued message copies and alerts counted by (kind, status)."""
    async with db.snapshot() as conn:
        queued = await conn.fetchval("SELECT COUNT(*) FROM message_copies")
        rows = await conn.fetch(
            "SELECT kind, status, COUNT(*) FROM alerts GROUP BY kind, status ORDER BY kind, status"
        )
    return OperationalCounts(
        queued_copies=int(queued or 0),
        alerts={(str(row[0]), str(row[1])): int(row[2]) for row in rows},
    )
