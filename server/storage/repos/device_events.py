"""Content-free events queued per device until the device acknowledges them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from server.storage.database import Connection
from server.storage.protocols import StoredEvent
from server.storage.repos._rows import dt, ms
from server.storage.repos.bulk import bulk_insert


class SqlDeviceEventRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def insert_many(
        self,
        device_ids: Sequence[str],
        payload: str,
        at: datetime,
        expires_at: datetime,
        ref: str | None = None,
    ) -> dict[str, int]:
        rows = await bulk_insert(
            self._conn,
            "device_events",
            [
                ("device_id", "text"),
                ("ref", "text"),
                ("payload", "text"),
                ("created_at", "bigint"),
                ("expires_at", "bigint"),
            ],
            [(device_id, ref, payload, ms(at), ms(expires_at)) for device_id in device_ids],
            suffix="RETURNING device_id, id",
        )
        return {row[0]: int(row[1]) for row in rows}

    async def withdraw(self, ref: str) -> int:
        return await self._conn.execute("DELETE FROM device_events WHERE ref = $1", ref)

    async def withdraw_many(self, refs: Sequence[str]) -> int:
        if not refs:
            return 0
        dialect = self._conn.dialect
        return await self._conn.execute(
            f"DELETE FROM device_events WHERE ref {dialect.any_of('$1')}",
            dialect.list_param(list(refs)),
        )

    async def pending(self, device_id: str, now: datetime, limit: int) -> list[StoredEvent]:
        rows = await self._conn.fetch(
            "SELECT id, device_id, payload, created_at FROM device_events"
            " WHERE device_id = $1 AND expires_at > $2 ORDER BY id LIMIT $3",
            device_id,
            ms(now),
            limit,
        )
        return [StoredEvent(int(r[0]), r[1], r[2], dt(r[3])) for r in rows]

    async def delete(self, device_id: str, event_ids: Sequence[int]) -> int:
        if not event_ids:
            return 0
        dialect = self._conn.dialect
        return await self._conn.execute(
            f"DELETE FROM device_events WHERE device_id = $1 AND id {dialect.any_of('$2')}",
            device_id,
            dialect.list_param(list(event_ids)),
        )

    async def purge(self, now: datetime) -> int:
        return await self._conn.execute("DELETE FROM device_events WHERE expires_at <= $1", ms(now))
