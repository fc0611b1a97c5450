"""People's identity keys and device lists, their recovery backups, and case rosters.

Each is stored exactly as its owner uploaded it (signed JSON the server cannot forge).
Updates are compare-and-swap on the version, so two concurrent uploads cannot both win.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from server.domain.models import Identity, RosterRecord
from server.storage.database import Connection, Row
from server.storage.repos._rows import dt, ms

_IDENTITY_COLUMNS = "owner, identity_key, version, device_list, updated_at"
_ROSTER_COLUMNS = "case_id, version, signer_key, body, updated_at"


def _identity(row: Row) -> Identity:
    return Identity(
        owner=row["owner"],
        identity_key=row["identity_key"],
        version=int(row["version"]),
        device_list=row["device_list"],
        updated_at=dt(row["updated_at"]),
    )


def _roster(row: Row) -> RosterRecord:
    return RosterRecord(
        case_id=row["case_id"],
        version=int(row["version"]),
        signer_key=row["signer_key"],
        body=row["body"],
        updated_at=dt(row["updated_at"]),
    )


class SqlIdentityRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def get(self, owner: str) -> Identity | None:
        row = await self._conn.fetchrow(
            f"SELECT {_IDENTITY_COLUMNS} FROM identities WHERE owner = $1", owner
        )
        return None if row is None else _identity(row)

    async def get_many(self, owners: Sequence[str]) -> dict[str, Identity]:
        if not owners:
            return {}
        dialect = self._conn.dialect
        rows = await self._conn.fetch(
            f"SELECT {_IDENTITY_COLUMNS} FROM identities WHERE owner {dialect.any_of('$1')}",
            dialect.list_param(list(owners)),
        )
        return {row["owner"]: _identity(row) for row in rows}

    async def put(self, identity: Identity, expected: Identity | None) -> bool:
        """Store ``identity`` if the row is still ``expected`` (None: no row yet)."""
        if expected is None:
            return bool(
                await self._conn.execute(
                    f"INSERT INTO identities ({_IDENTITY_COLUMNS}) VALUES ($1, $2, $3, $4, $5)"
                    " ON CONFLICT DO NOTHING",
                    identity.owner,
                    identity.identity_key,
                    identity.version,
                    identity.device_list,
                    ms(identity.updated_at),
                )
            )
        return bool(
            await self._conn.execute(
                "UPDATE identities SET identity_key = $2, version = $3, device_list = $4,"
                " updated_at = $5 WHERE owner = $1 AND identity_key = $6 AND version = $7",
                identity.owner,
                identity.identity_key,
                identity.version,
                identity.device_list,
                ms(identity.updated_at),
                expected.identity_key,
                expected.version,
            )
        )

    async def put_backup(self, owner: str, identity_key: str, sealed: str, at: datetime) -> None:
        await self._conn.execute(
            "INSERT INTO identity_backups (owner, identity_key, sealed, updated_at)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT (owner) DO UPDATE SET"
            " identity_key = excluded.identity_key, sealed = excluded.sealed,"
            " updated_at = excluded.updated_at",
            owner,
            identity_key,
            sealed,
            ms(at),
        )

    async def backup(self, owner: str) -> tuple[str, str] | None:
        """The backed-up identity key and its sealed private half, if any."""
        row = await self._conn.fetchrow(
            "SELECT identity_key, sealed FROM identity_backups WHERE owner = $1", owner
        )
        return None if row is None else (row["identity_key"], row["sealed"])


class SqlRosterRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def get(self, case_id: str) -> RosterRecord | None:
        row = await self._conn.fetchrow(
            f"SELECT {_ROSTER_COLUMNS} FROM rosters WHERE case_id = $1", case_id
        )
        return None if row is None else _roster(row)

    async def put(self, roster: RosterRecord) -> bool:
        """Store ``roster`` if the case's stored version is the one just before it."""
        if roster.version == 1:
            return bool(
                await self._conn.execute(
                    f"INSERT INTO rosters ({_ROSTER_COLUMNS}) VALUES ($1, $2, $3, $4, $5)"
                    " ON CONFLICT DO NOTHING",
                    roster.case_id,
                    roster.version,
                    roster.signer_key,
                    roster.body,
                    ms(roster.updated_at),
                )
            )
        return bool(
            await self._conn.execute(
                "UPDATE rosters SET version = $2, signer_key = $3, body = $4, updated_at = $5"
                " WHERE case_id = $1 AND version = $6",
                roster.case_id,
                roster.version,
                roster.signer_key,
                roster.body,
                ms(roster.updated_at),
                roster.version - 1,
            )
        )
