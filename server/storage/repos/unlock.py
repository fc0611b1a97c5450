"""Unlock records (the sealed OPRF seed, guess counts, the open attempt, duress) and
confirmation keys, one row per witness device."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from server.domain.unlock.models import Attempt, AttemptKind, ConfirmKey, UnlockState
from server.storage.database import Connection, Row
from server.storage.repos._rows import dt, ms, opt_bytes, opt_dt, opt_ms
from wire.vault import KeyRole

_COLUMNS = (
    "device_id, token_hash, seed_sealed, oprf_public_key, unconfirmed, duress_unconfirmed,"
    " wipe_on_duress, duress_since, attempt_id, attempt_challenge, attempt_kind,"
    " attempt_expires_at, erased_at, erased_reason, created_at"
)


def _state(row: Row) -> UnlockState:
    attempt = None
    if row["attempt_id"] is not None:
        attempt = Attempt(
            id=row["attempt_id"],
            challenge=row["attempt_challenge"],
            kind=AttemptKind(row["attempt_kind"]),
            expires_at=dt(row["attempt_expires_at"]),
        )
    return UnlockState(
        device_id=row["device_id"],
        token_hash=bytes(row["token_hash"]),
        seed_sealed=opt_bytes(row["seed_sealed"]),
        oprf_public_key=row["oprf_public_key"],
        unconfirmed=int(row["unconfirmed"]),
        duress_unconfirmed=int(row["duress_unconfirmed"]),
        wipe_on_duress=bool(row["wipe_on_duress"]),
        duress_since=opt_dt(row["duress_since"]),
        attempt=attempt,
        keys_registered=bool(row["keys_registered"]),
        erased_at=opt_dt(row["erased_at"]),
        erased_reason=row["erased_reason"],
        created_at=dt(row["created_at"]),
    )


def _changing(state: UnlockState) -> tuple[object, ...]:
    attempt = state.attempt
    return (
        state.seed_sealed,
        state.unconfirmed,
        state.duress_unconfirmed,
        state.wipe_on_duress,
        opt_ms(state.duress_since),
        None if attempt is None else attempt.id,
        None if attempt is None else attempt.challenge,
        None if attempt is None else attempt.kind.value,
        None if attempt is None else ms(attempt.expires_at),
        opt_ms(state.erased_at),
        state.erased_reason,
    )


class SqlUnlockRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def get(self, device_id: str, *, lock: bool = False) -> UnlockState | None:
        lock_clause = " FOR UPDATE" if lock and self._conn.dialect.is_postgres else ""
        row = await self._conn.fetchrow(
            f"SELECT {_COLUMNS}, EXISTS (SELECT 1 FROM unlock_keys k"
            " WHERE k.device_id = u.device_id) AS keys_registered"
            f" FROM device_unlock u WHERE device_id = $1{lock_clause}",
            device_id,
        )
        return None if row is None else _state(row)

    async def put(self, state: UnlockState) -> None:
        await self._conn.execute(
            f"INSERT INTO device_unlock ({_COLUMNS}) VALUES"
            " ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
            " ON CONFLICT (device_id) DO UPDATE SET token_hash = excluded.token_hash,"
            " seed_sealed = excluded.seed_sealed, oprf_public_key = excluded.oprf_public_key,"
            " unconfirmed = excluded.unconfirmed,"
            " duress_unconfirmed = excluded.duress_unconfirmed,"
            " wipe_on_duress = excluded.wipe_on_duress, duress_since = excluded.duress_since,"
            " attempt_id = excluded.attempt_id, attempt_challenge = excluded.attempt_challenge,"
            " attempt_kind = excluded.attempt_kind,"
            " attempt_expires_at = excluded.attempt_expires_at,"
            " erased_at = excluded.erased_at, erased_reason = excluded.erased_reason,"
            " created_at = excluded.created_at",
            state.device_id,
            state.token_hash,
            state.seed_sealed,
            state.oprf_public_key,
            *_changing(state)[1:],
            ms(state.created_at),
        )

    async def save(self, state: UnlockState) -> None:
        await self._conn.execute(
            "UPDATE device_unlock SET seed_sealed = $2, unconfirmed = $3,"
            " duress_unconfirmed = $4, wipe_on_duress = $5, duress_since = $6,"
            " attempt_id = $7, attempt_challenge = $8, attempt_kind = $9,"
            " attempt_expires_at = $10, erased_at = $11, erased_reason = $12"
            " WHERE device_id = $1",
            state.device_id,
            *_changing(state),
        )

    async def keys(self, device_id: str) -> list[ConfirmKey]:
        rows = await self._conn.fetch(
            "SELECT device_id, public_key, role, created_at FROM unlock_keys"
            " WHERE device_id = $1 ORDER BY created_at, public_key",
            device_id,
        )
        return [ConfirmKey(row[0], row[1], KeyRole(row[2]), dt(row[3])) for row in rows]

    async def add_key(self, key: ConfirmKey) -> bool:
        added = await self._conn.execute(
            "INSERT INTO unlock_keys (device_id, public_key, role, created_at)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            key.device_id,
            key.public_key,
            key.role.value,
            ms(key.created_at),
        )
        return added > 0

    async def remove_key(self, device_id: str, public_key: str) -> bool:
        removed = await self._conn.execute(
            "DELETE FROM unlock_keys WHERE device_id = $1 AND public_key = $2",
            device_id,
            public_key,
        )
        return removed > 0

    async def erase(self, device_id: str, reason: str, at: datetime) -> bool:
        erased = await self._conn.execute(
            "UPDATE device_unlock SET seed_sealed = NULL, erased_at = $2, erased_reason = $3,"
            " attempt_id = NULL, attempt_challenge = NULL, attempt_kind = NULL,"
            " attempt_expires_at = NULL WHERE device_id = $1 AND seed_sealed IS NOT NULL",
            device_id,
            ms(at),
            reason,
        )
        await self._conn.execute("DELETE FROM unlock_keys WHERE device_id = $1", device_id)
        return erased > 0

    async def in_duress(self, device_ids: Sequence[str]) -> set[str]:
        if not device_ids:
            return set()
        dialect = self._conn.dialect
        rows = await self._conn.fetch(
            "SELECT device_id FROM device_unlock WHERE duress_since IS NOT NULL"
            f" AND device_id {dialect.any_of('$1')}",
            dialect.list_param(list(device_ids)),
        )
        return {row[0] for row in rows}
