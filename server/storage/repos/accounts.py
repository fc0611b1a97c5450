"""Agencies and staff accounts."""

from __future__ import annotations

from server.domain.models import Agency, AgencyKind, Role, Staff
from server.errors import Conflict
from server.storage.database import Connection, Row
from server.storage.repos._rows import dt, ms, opt_bytes

_AGENCY_COLUMNS = "id, name, country, kind, requires_reason, created_at"
_STAFF_COLUMNS = (
    "id, agency_id, username, display_name, role, password_hash, totp_secret_sealed,"
    " totp_last_step, active, created_at"
)


def _agency(row: Row) -> Agency:
    return Agency(
        id=row["id"],
        name=row["name"],
        country=row["country"],
        kind=AgencyKind(row["kind"]),
        requires_reason=bool(row["requires_reason"]),
        created_at=dt(row["created_at"]),
    )


def _staff(row: Row) -> Staff:
    return Staff(
        id=row["id"],
        agency_id=row["agency_id"],
        username=row["username"],
        display_name=row["display_name"],
        role=Role(row["role"]),
        password_hash=row["password_hash"],
        totp_secret_sealed=opt_bytes(row["totp_secret_sealed"]),
        totp_last_step=int(row["totp_last_step"]),
        active=bool(row["active"]),
        created_at=dt(row["created_at"]),
    )


class SqlAgencyRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def insert(self, agency: Agency) -> None:
        added = await self._conn.execute(
            f"INSERT INTO agencies ({_AGENCY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"
            " ON CONFLICT DO NOTHING",
            agency.id,
            agency.name,
            agency.country,
            agency.kind.value,
            agency.requires_reason,
            ms(agency.created_at),
        )
        if not added:
            raise Conflict("An agency with this name already exists")

    async def get(self, agency_id: str) -> Agency | None:
        row = await self._conn.fetchrow(
            f"SELECT {_AGENCY_COLUMNS} FROM agencies WHERE id = $1", agency_id
        )
        return None if row is None else _agency(row)

    async def get_by_name(self, name: str) -> Agency | None:
        row = await self._conn.fetchrow(
            f"SELECT {_AGENCY_COLUMNS} FROM agencies WHERE name = $1", name
        )
        return None if row is None else _agency(row)

    async def list(self) -> list[Agency]:
        rows = await self._conn.fetch(f"SELECT {_AGENCY_COLUMNS} FROM agencies ORDER BY name")
        return [_agency(row) for row in rows]


class SqlStaffRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def insert(self, staff: Staff) -> None:
        added = await self._conn.execute(
            f"INSERT INTO staff ({_STAFF_COLUMNS})"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING",
            staff.id,
            staff.agency_id,
            staff.username,
            staff.display_name,
            staff.role.value,
            staff.password_hash,
            staff.totp_secret_sealed,
            staff.totp_last_step,
            staff.active,
            ms(staff.created_at),
        )
        if not added:
            raise Conflict("This username is taken")

    async def get(self, staff_id: str) -> Staff | None:
        row = await self._conn.fetchrow(
            f"SELECT {_STAFF_COLUMNS} FROM staff WHERE id = $1", staff_id
        )
        return None if row is None else _staff(row)

    async def get_by_username(self, username: str) -> Staff | None:
        row = await self._conn.fetchrow(
            f"SELECT {_STAFF_COLUMNS} FROM staff WHERE username = $1", username
        )
        return None if row is None else _staff(row)

    async def list_by_agency(self, agency_id: str) -> list[Staff]:
        rows = await self._conn.fetch(
            f"SELECT {_STAFF_COLUMNS} FROM staff WHERE agency_id = $1 ORDER BY username",
            agency_id,
        )
        return [_staff(row) for row in rows]

    async def set_totp(self, staff_id: str, sealed_secret: bytes | None) -> None:
        await self._conn.execute(
            "UPDATE staff SET totp_secret_sealed = $2, totp_last_step = 0 WHERE id = $1",
            staff_id,
            sealed_secret,
        )

    async def use_totp_step(self, staff_id: str, step: int) -> bool:
        """Record a used TOTP time step; False if it (or a later one) was used already,
        so that a code observed over someone's shoulder cannot be replayed."""
        changed = await self._conn.execute(
            "UPDATE staff SET totp_last_step = $2 WHERE id = $1 AND totp_last_step < $2",
            staff_id,
            step,
        )
        return changed > 0

    async def set_password_hash(self, staff_id: str, password_hash: str) -> None:
        await self._conn.execute(
            "UPDATE staff SET password_hash = $2 WHERE id = $1", staff_id, password_hash
        )

    async def set_active(self, staff_id: str, active: bool) -> None:
        await self._conn.execute("UPDATE staff SET active = $2 WHERE id = $1", staff_id, active)
