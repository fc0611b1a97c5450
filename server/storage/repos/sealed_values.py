"""Every column that holds a value sealed under the server key, and the server's own
named secrets.

The re-seal job walks these columns in primary-key order, a batch at a time, finding
values not yet under the current key by their leading bytes (format and key id) so it
never has to open a value that is already current. A rewrite is a compare-and-swap on
the old ciphertext: a value changed meanwhile by a user (a new note, a new number) is
left as it is, because it was sealed under the current key anyway.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from server.storage.database import Connection


@dataclass(frozen=True)
class SealedColumn:
    """One sealed column and the primary key that addresses its rows."""

    table: str
    key: str
    column: str

    @property
    def label(self) -> str:
        return f"{self.table}.{self.column}"


#: Every sealed column of the schema. A new sealed column must be added here, or it
#: would keep values under a key the operator believes retired.
SEALED_COLUMNS: tuple[SealedColumn, ...] = (
    SealedColumn("server_secrets", "name", "value_sealed"),
    SealedColumn("staff", "id", "totp_secret_sealed"),
    SealedColumn("staff", "id", "phone_sealed"),
    SealedColumn("witnesses", "id", "phone_sealed"),
    SealedColumn("alerts", "id", "note_sealed"),
    SealedColumn("alerts", "id", "outcome_sealed"),
    SealedColumn("device_unlock", "device_id", "seed_sealed"),
    SealedColumn("witness_response_instructions", "witness_id", "instructions_sealed"),
    SealedColumn("visits", "id", "concerns_sealed"),
    SealedColumn("handovers", "id", "decline_reason_sealed"),
    SealedColumn("risk_assessments", "id", "notes_sealed"),
)
_BY_LABEL = {column.label: column for column in SEALED_COLUMNS}


class SqlSealedValueRepository:
    """Finds and rewrites sealed values that are not under a given key prefix."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    @staticmethod
    def columns() -> list[str]:
        return [column.label for column in SEALED_COLUMNS]

    async def not_under(
        self, label: str, prefix: bytes, after: str, limit: int
    ) -> list[tuple[str, bytes]]:
        """Up to ``limit`` (row key, sealed value) pairs of ``label`` whose value does not
        start with ``prefix``, with row keys after ``after``, in key order."""
        c = _BY_LABEL[label]
        rows = await self._conn.fetch(
            f"SELECT {c.key}, {c.column} FROM {c.table}"
            f" WHERE {c.column} IS NOT NULL AND substr({c.column}, 1, $1) <> $2"
            f" AND {c.key} > $3 ORDER BY {c.key} LIMIT $4",
            len(prefix),
            prefix,
            after,
            limit,
        )
        return [(str(row[0]), bytes(row[1])) for row in rows]

    async def count_not_under(self, label: str, prefix: bytes) -> int:
        c = _BY_LABEL[label]
        count = await self._conn.fetchval(
            f"SELECT COUNT(*) FROM {c.table}"
            f" WHERE {c.column} IS NOT NULL AND substr({c.column}, 1, $1) <> $2",
            len(prefix),
            prefix,
        )
        return int(count or 0)

    async def replace_many(self, label: str, changes: Sequence[tuple[str, bytes, bytes]]) -> None:
        """For each (row key, old, new): set the value to ``new`` if it is still ``old``.

        One pipelined statement per batch (PostgreSQL round trips dominate otherwise); a
        row changed meanwhile is left alone."""
        c = _BY_LABEL[label]
        await self._conn.executemany(
            f"UPDATE {c.table} SET {c.column} = $3 WHERE {c.key} = $1 AND {c.column} = $2",
            changes,
        )


class SqlServerSecretRepository:
    """The server's named secrets (see migration 11), each stored sealed."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def get(self, name: str) -> bytes | None:
        value = await self._conn.fetchval(
            "SELECT value_sealed FROM server_secrets WHERE name = $1", name
        )
        return None if value is None else bytes(value)

    async def add_if_absent(self, name: str, sealed: bytes, at_ms: int) -> None:
        """Store ``sealed`` unless a value of that name exists (two instances starting at
        once both call this; the first one wins and both then read its value)."""
        await self._conn.execute(
            "INSERT INTO server_secrets (name, value_sealed, created_at) VALUES ($1, $2, $3)"
            " ON CONFLICT (name) DO NOTHING",
            name,
            sealed,
            at_ms,
        )
