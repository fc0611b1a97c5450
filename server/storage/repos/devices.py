"""Devices, their bearer-token hashes, and their one-time and fallback keys."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from server.domain.models import Device, OwnerKind, SignedKey
from server.errors import Conflict
from server.storage.database import Connection, Row
from server.storage.repos._rows import dt, ms, opt_dt

_DEVICE_COLUMNS = (
    "id, owner_kind, owner_id, name, curve25519, ed25519, created_at, last_seen_at, revoked_at"
)
_SELECT_COLUMNS = _DEVICE_COLUMNS + ", key_object"


def _device(row: Row) -> Device:
    return Device(
        id=row["id"],
        owner_kind=OwnerKind(row["owner_kind"]),
        owner_id=row["owner_id"],
        name=row["name"],
        curve25519=row["curve25519"],
        ed25519=row["ed25519"],
        created_at=dt(row["created_at"]),
        last_seen_at=dt(row["last_seen_at"]),
        revoked_at=opt_dt(row["revoked_at"]),
        key_object=row["key_object"],
    )


class SqlDeviceRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def insert(self, device: Device, token_hash: bytes) -> None:
        added = await self._conn.execute(
            f"INSERT INTO devices ({_DEVICE_COLUMNS}, token_hash)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING",
            device.id,
            device.owner_kind.value,
            device.owner_id,
            device.name,
            device.curve25519,
            device.ed25519,
            ms(device.created_at),
            ms(device.last_seen_at),
            None,
            token_hash,
        )
        if not added:
            raise Conflict("These device keys are already registered")

    async def get(self, device_id: str) -> Device | None:
        row = await self._conn.fetchrow(
            f"SELECT {_SELECT_COLUMNS} FROM devices WHERE id = $1", device_id
        )
        return None if row is None else _device(row)

    async def set_key_object(self, device_id: str, key_object: str) -> None:
        await self._conn.execute(
            "UPDATE devices SET key_object = $2 WHERE id = $1", device_id, key_object
        )

    async def get_by_token_hash(self, token_hash: bytes) -> Device | None:
        row = await self._conn.fetchrow(
            f"SELECT {_SELECT_COLUMNS} FROM devices WHERE token_hash = $1", token_hash
        )
        return None if row is None else _device(row)

    async def list_for_owner(
        self, owner_kind: OwnerKind, owner_id: str, *, include_revoked: bool = False
    ) -> list[Device]:
        revoked_filter = "" if include_revoked else " AND revoked_at IS NULL"
        rows = await self._conn.fetch(
            f"SELECT {_SELECT_COLUMNS} FROM devices WHERE owner_kind = $1 AND owner_id = $2"
            f"{revoked_filter} ORDER BY created_at, id",
            owner_kind.value,
            owner_id,
        )
        return [_device(row) for row in rows]

    async def list_for_case(self, case_id: str, *, lock: bool = False) -> list[Device]:
        lock_clause = " FOR SHARE" if lock and self._conn.dialect.is_postgres else ""
        rows = await self._conn.fetch(
            f"SELECT {_SELECT_COLUMNS} FROM devices WHERE revoked_at IS NULL AND ("
            " (owner_kind = 'witness' AND owner_id IN"
            "   (SELECT id FROM witnesses WHERE case_id = $1))"
            " OR (owner_kind = 'staff' AND owner_id IN"
            "   (SELECT staff_id FROM case_staff WHERE case_id = $1)))"
            f" ORDER BY created_at, id{lock_clause}",
            case_id,
        )
        return [_device(row) for row in rows]

    async def revoke(self, device_id: str, revoked_by: str, at: datetime) -> bool:
        changed = await self._conn.execute(
            "UPDATE devices SET revoked_at = $2, revoked_by = $3"
            " WHERE id = $1 AND revoked_at IS NULL",
            device_id,
            ms(at),
            revoked_by,
        )
        return changed > 0

    async def touch_many(self, seen: Sequence[tuple[str, datetime]]) -> None:
        await self._conn.executemany(
            "UPDATE devices SET last_seen_at = $2 WHERE id = $1 AND last_seen_at < $2",
            [(device_id, ms(at)) for device_id, at in seen],
        )

    async def staff_devices_for_cases(self, case_ids: Sequence[str]) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {case_id: [] for case_id in case_ids}
        if not case_ids:
            return found
        dialect = self._conn.dialect
        # Two index lookups rather than one join: without table statistics SQLite would
        # start the join from the devices table and probe assignments per device.
        assignments = await self._conn.fetch(
            f"SELECT case_id, staff_id FROM case_staff WHERE case_id {dialect.any_of('$1')}",
            dialect.list_param(list(case_ids)),
        )
        staff_ids = sorted({row[1] for row in assignments})
        devices = await self.ids_for_owners(OwnerKind.STAFF, staff_ids)
        for row in assignments:
            found[row[0]].extend(devices.get(row[1], []))
        return found

    async def ids_for_owners(
        self, owner_kind: OwnerKind, owner_ids: Sequence[str]
    ) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {owner_id: [] for owner_id in owner_ids}
        if not owner_ids:
            return found
        dialect = self._conn.dialect
        rows = await self._conn.fetch(
            "SELECT owner_id, id FROM devices WHERE owner_kind = $1"
            f" AND revoked_at IS NULL AND owner_id {dialect.any_of('$2')}",
            owner_kind.value,
            dialect.list_param(list(owner_ids)),
        )
        for row in rows:
            found[row[0]].append(row[1])
        return found

    async def for_owners(
        self, owner_kind: OwnerKind, owner_ids: Sequence[str]
    ) -> dict[str, list[Device]]:
        found: dict[str, list[Device]] = {owner_id: [] for owner_id in owner_ids}
        if not owner_ids:
            return found
        dialect = self._conn.dialect
        rows = await self._conn.fetch(
            f"SELECT {_SELECT_COLUMNS} FROM devices WHERE owner_kind = $1"
            f" AND revoked_at IS NULL AND owner_id {dialect.any_of('$2')}",
            owner_kind.value,
            dialect.list_param(list(owner_ids)),
        )
        for row in rows:
            found[row["owner_id"]].append(_device(row))
        return found


class SqlKeyRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def add_one_time_keys(self, device_id: str, keys: Sequence[SignedKey]) -> int:
        before = await self.count_one_time_keys(device_id)
        await self._conn.executemany(
            "INSERT INTO one_time_keys (device_id, key_id, public_key, signature)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            [(device_id, key.key_id, key.public_key, key.signature) for key in keys],
        )
        return await self.count_one_time_keys(device_id) - before

    async def count_one_time_keys(self, device_id: str) -> int:
        count = await self._conn.fetchval(
            "SELECT COUNT(*) FROM one_time_keys WHERE device_id = $1", device_id
        )
        return int(count)

    async def claim_one_time_key(self, device_id: str) -> SignedKey | None:
        # SKIP LOCKED (PostgreSQL) lets concurrent claimers take different keys instead of
        # queueing on the same row; SQLite's single writer makes the claim atomic already.
        row = await self._conn.fetchrow(
            "DELETE FROM one_time_keys WHERE id = ("
            " SELECT id FROM one_time_keys WHERE device_id = $1 ORDER BY id LIMIT 1"
            f" {self._conn.dialect.skip_locked})"
            " RETURNING key_id, public_key, signature",
            device_id,
        )
        if row is None:
            return None
        return SignedKey(key_id=row[0], public_key=row[1], signature=row[2])

    async def take_one_time_key_allowance(
        self,
        claimer_device_id: str,
        target_device_id: str,
        now: datetime,
        window_start: datetime,
        limit: int,
    ) -> bool:
        await self._conn.execute(
            "INSERT INTO one_time_key_claims"
            " (claimer_device_id, target_device_id, window_started_at, claimed)"
            " VALUES ($1, $2, $3, 0) ON CONFLICT DO NOTHING",
            claimer_device_id,
            target_device_id,
            ms(now),
        )
        # One conditional UPDATE decides and counts: it takes the row lock (PostgreSQL)
        # or runs under the single writer (SQLite), so concurrent claims cannot both
        # take the last unit of an allowance.
        counted = await self._conn.execute(
            "UPDATE one_time_key_claims SET"
            " claimed = CASE WHEN window_started_at <= $3 THEN 1 ELSE claimed + 1 END,"
            " window_started_at = CASE WHEN window_started_at <= $3 THEN $4"
            " ELSE window_started_at END"
            " WHERE claimer_device_id = $1 AND target_device_id = $2"
            " AND (window_started_at <= $3 OR claimed < $5)",
            claimer_device_id,
            target_device_id,
            ms(window_start),
            ms(now),
            limit,
        )
        return counted > 0

    async def forget_one_time_key_allowances(self, before: datetime) -> int:
        return await self._conn.execute(
            "DELETE FROM one_time_key_claims WHERE window_started_at < $1", ms(before)
        )

    async def set_fallback_key(self, device_id: str, key: SignedKey, at: datetime) -> None:
        await self._conn.execute(
            "INSERT INTO fallback_keys (device_id, key_id, public_key, signature, uploaded_at)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (device_id) DO UPDATE SET"
            " key_id = excluded.key_id, public_key = excluded.public_key,"
            " signature = excluded.signature, uploaded_at = excluded.uploaded_at",
            device_id,
            key.key_id,
            key.public_key,
            key.signature,
            ms(at),
        )

    async def get_fallback_key(self, device_id: str) -> SignedKey | None:
        row = await self._conn.fetchrow(
            "SELECT key_id, public_key, signature FROM fallback_keys WHERE device_id = $1",
            device_id,
        )
        if row is None:
            return None
        return SignedKey(key_id=row[0], public_key=row[1], signature=row[2])

    async def delete_for_device(self, device_id: str) -> None:
        await self._conn.execute("DELETE FROM one_time_keys WHERE device_id = $1", device_id)
        await self._conn.execute("DELETE FROM fallback_keys WHERE device_id = $1", device_id)
        await self._conn.execute(
            "DELETE FROM one_time_key_claims WHERE claimer_device_id = $1 OR target_device_id = $1",
            device_id,
        )
