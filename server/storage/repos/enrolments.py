"""Enrolments of witness phones: one row per code, moved along its states by
compare-and-swap updates so that two requests can never both claim, reveal or
complete the same enrolment."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from server.domain.models import Enrolment, EnrolmentState
from server.storage.database import Connection, Row
from server.storage.repos._rows import dt, ms

_COLUMNS = (
    "id, code_hash, witness_id, created_by, created_by_device, created_at, expires_at,"
    " roster, team_mac, commitment, state, device_id, phone_identity, phone_mac,"
    " phone_nonce, reveal"
)


def _enrolment(row: Row) -> Enrolment:
    return Enrolment(
        id=row["id"],
        code_hash=bytes(row["code_hash"]),
        witness_id=row["witness_id"],
        created_by=row["created_by"],
        created_by_device=row["created_by_device"],
        created_at=dt(row["created_at"]),
        expires_at=dt(row["expires_at"]),
        roster=row["roster"],
        team_mac=row["team_mac"],
        commitment=row["commitment"],
        state=EnrolmentState(row["state"]),
        device_id=row["device_id"],
        phone_identity=row["phone_identity"],
        phone_mac=row["phone_mac"],
        phone_nonce=row["phone_nonce"],
        reveal=row["reveal"],
    )


class SqlEnrolmentRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def insert(self, enrolment: Enrolment) -> bool:
        e = enrolment
        inserted = await self._conn.execute(
            f"INSERT INTO enrolments ({_COLUMNS}, updated_at) VALUES"
            " ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $6)"
            " ON CONFLICT (code_hash) DO NOTHING",
            e.id,
            e.code_hash,
            e.witness_id,
            e.created_by,
            e.created_by_device,
            ms(e.created_at),
            ms(e.expires_at),
            e.roster,
            e.team_mac,
            e.commitment,
            e.state.value,
            e.device_id,
            e.phone_identity,
            e.phone_mac,
            e.phone_nonce,
            e.reveal,
        )
        return inserted > 0

    async def get(self, enrolment_id: str) -> Enrolment | None:
        row = await self._conn.fetchrow(
            f"SELECT {_COLUMNS} FROM enrolments WHERE id = $1", enrolment_id
        )
        return None if row is None else _enrolment(row)

    async def for_device(self, device_id: str) -> Enrolment | None:
        row = await self._conn.fetchrow(
            f"SELECT {_COLUMNS} FROM enrolments WHERE device_id = $1", device_id
        )
        return None if row is None else _enrolment(row)

    async def withdraw_issued(self, witness_id: str, now: datetime) -> int:
        return await self._conn.execute(
            "UPDATE enrolments SET state = 'withdrawn', updated_at = $2"
            " WHERE witness_id = $1 AND state = 'issued'",
            witness_id,
            ms(now),
        )

    async def unfinished(
        self, *, witness_id: str | None = None, expired_by: datetime | None = None
    ) -> list[Enrolment]:
        conditions = ["state IN ('claimed', 'revealed')"]
        args: list[object] = []
        if witness_id is not None:
            args.append(witness_id)
            conditions.append(f"witness_id = ${len(args)}")
        if expired_by is not None:
            args.append(ms(expired_by))
            conditions.append(f"expires_at <= ${len(args)}")
        rows = await self._conn.fetch(
            f"SELECT {_COLUMNS} FROM enrolments WHERE {' AND '.join(conditions)}"
            " ORDER BY created_at, id",
            *args,
        )
        return [_enrolment(row) for row in rows]

    async def claim(
        self,
        code_hash: bytes,
        now: datetime,
        device_id: str,
        phone_identity: str,
        phone_mac: str,
    ) -> Enrolment | None:
        row = await self._conn.fetchrow(
            "UPDATE enrolments SET state = 'claimed', device_id = $3, phone_identity = $4,"
            " phone_mac = $5, updated_at = $2"
            " WHERE code_hash = $1 AND state = 'issued' AND expires_at > $2"
            f" RETURNING {_COLUMNS}",
            code_hash,
            ms(now),
            device_id,
            phone_identity,
            phone_mac,
        )
        return None if row is None else _enrolment(row)

    async def set_phone_nonce(self, device_id: str, nonce: str, now: datetime) -> bool:
        return bool(
            await self._conn.execute(
                "UPDATE enrolments SET phone_nonce = $2, updated_at = $3"
                " WHERE device_id = $1 AND state = 'claimed' AND phone_nonce IS NULL",
                device_id,
                nonce,
                ms(now),
            )
        )

    async def reveal(self, enrolment_id: str, nonce: str, now: datetime) -> bool:
        return bool(
            await self._conn.execute(
                "UPDATE enrolments SET state = 'revealed', reveal = $2, updated_at = $3"
                " WHERE id = $1 AND state = 'claimed' AND phone_nonce IS NOT NULL",
                enrolment_id,
                nonce,
                ms(now),
            )
        )

    async def move(
        self,
        enrolment_id: str,
        from_states: Sequence[EnrolmentState],
        to_state: EnrolmentState,
        now: datetime,
    ) -> bool:
        placeholders = ", ".join(f"${i + 4}" for i in range(len(from_states)))
        return bool(
            await self._conn.execute(
                "UPDATE enrolments SET state = $2, updated_at = $3"
                f" WHERE id = $1 AND state IN ({placeholders})",
                enrolment_id,
                to_state.value,
                ms(now),
                *[s.value for s in from_states],
            )
        )

    async def purge_expired(self, now: datetime) -> int:
        return await self._conn.execute("DELETE FROM enrolments WHERE expires_at <= $1", ms(now))
