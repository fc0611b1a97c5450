"""Alerts, escalation policies and the notification outbox."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from server.clock import from_ms
from server.domain.welfare_models import (
    Alert,
    AlertKind,
    AlertStatus,
    Notification,
    NotificationStatus,
    Severity,
)
from server.storage.database import Connection, Row
from server.storage.protocols import AlertChange, BacklogRow, DeliveryUpdate
from server.storage.repos._rows import dt, ms, opt_bytes, opt_dt, opt_ms
from server.storage.repos.bulk import bulk_insert, bulk_update

_MS = timedelta(milliseconds=1)

_ALERT_COLUMNS = (
    "id, case_id, witness_id, kind, severity, source, status, policy, level, round,"
    " round_started_at, next_escalation_at, created_at, acknowledged_by, acknowledged_at,"
    " ack_expires_at, resolved_by, resolved_at, outcome, outcome_sealed, note_sealed, version"
)
_ALERT_INSERT = [
    ("id", "text"),
    ("case_id", "text"),
    ("witness_id", "text"),
    ("kind", "text"),
    ("severity", "text"),
    ("source", "text"),
    ("status", "text"),
    ("policy", "text"),
    ("level", "int"),
    ("round", "int"),
    ("round_started_at", "bigint"),
    ("next_escalation_at", "bigint"),
    ("created_at", "bigint"),
]
_ALERT_CHANGE = [
    ("id", "text"),
    ("version", "int"),
    ("status", "text"),
    ("level", "int"),
    ("round", "int"),
    ("round_started_at", "bigint"),
    ("next_escalation_at", "bigint"),
    ("ack_expires_at", "bigint"),
]
_NOTIFICATION_COLUMNS = (
    "id, purpose, alert_id, checkin_id, channel, recipient_kind, recipient_id, level, round,"
    " severity, language, body, status, attempts, next_attempt_at, lease_until, claimed_at,"
    " group_ref, provider_id, error_code, created_at, sent_at, delivered_at, reconcile_since,"
    " urgency"
)
_NOTIFICATION_INSERT = [
    ("id", "text"),
    ("purpose", "text"),
    ("alert_id", "text"),
    ("checkin_id", "text"),
    ("channel", "text"),
    ("recipient_kind", "text"),
    ("recipient_id", "text"),
    ("level", "int"),
    ("round", "int"),
    ("severity", "text"),
    ("language", "text"),
    ("body", "text"),
    ("status", "text"),
    ("next_attempt_at", "bigint"),
    ("created_at", "bigint"),
    ("urgency", "int"),
]


def _alert(row: Row) -> Alert:
    return Alert(
        id=row["id"],
        case_id=row["case_id"],
        witness_id=row["witness_id"],
        kind=AlertKind(row["kind"]),
        severity=Severity(row["severity"]),
        source=row["source"],
        status=AlertStatus(row["status"]),
        policy=row["policy"],
        level=int(row["level"]),
        round=int(row["round"]),
        round_started_at=dt(row["round_started_at"]),
        next_escalation_at=opt_dt(row["next_escalation_at"]),
        created_at=dt(row["created_at"]),
        acknowledged_by=row["acknowledged_by"],
        acknowledged_at=opt_dt(row["acknowledged_at"]),
        ack_expires_at=opt_dt(row["ack_expires_at"]),
        resolved_by=row["resolved_by"],
        resolved_at=opt_dt(row["resolved_at"]),
        outcome=row["outcome"],
        note_sealed=opt_bytes(row["note_sealed"]),
        version=int(row["version"]),
        outcome_sealed=opt_bytes(row["outcome_sealed"]),
    )


_NOTIFICATION_STATUSES = {status.value: status for status in NotificationStatus}


def _notification(row: Row) -> Notification:
    # Positional, in the order of _NOTIFICATION_COLUMNS: the dispatcher claims
    # thousands at a time.
    (
        notification_id,
        purpose,
        alert_id,
        checkin_id,
        channel,
        recipient_kind,
        recipient_id,
        level,
        round_number,
        severity,
        language,
        body,
        status,
        attempts,
        next_attempt_at,
        lease_until,
        claimed_at,
        group_ref,
        provider_id,
        error_code,
        created_at,
        sent_at,
        delivered_at,
        reconcile_since,
        urgency,
    ) = row
    return Notification(
        id=notification_id,
        purpose=purpose,
        alert_id=alert_id,
        checkin_id=checkin_id,
        channel=channel,
        recipient_kind=recipient_kind,
        recipient_id=recipient_id,
        level=level,
        round=round_number,
        severity=severity,
        language=language,
        body=body,
        status=_NOTIFICATION_STATUSES[status],
        attempts=int(attempts),
        next_attempt_at=None if next_attempt_at is None else from_ms(next_attempt_at),
        lease_until=None if lease_until is None else from_ms(lease_until),
        claimed_at=None if claimed_at is None else from_ms(claimed_at),
        group_ref=group_ref,
        provider_id=provider_id,
        error_code=error_code,
        created_at=from_ms(created_at),
        sent_at=None if sent_at is None else from_ms(sent_at),
        delivered_at=None if delivered_at is None else from_ms(delivered_at),
        reconcile_since=None if reconcile_since is None else from_ms(reconcile_since),
        urgency=int(urgency),
    )


class SqlPolicyRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def get(self, scope: str) -> str | None:
        value = await self._conn.fetchval(
            "SELECT spec FROM escalation_policies WHERE scope = $1", scope
        )
        return None if value is None else str(value)

    async def get_many(self, scopes: Sequence[str]) -> dict[str, str]:
        if not scopes:
            return {}
        dialect = self._conn.dialect
        rows = await self._conn.fetch(
            f"SELECT scope, spec FROM escalation_policies WHERE scope {dialect.any_of('$1')}",
            dialect.list_param(list(scopes)),
        )
        return {row[0]: row[1] for row in rows}

    async def put(self, scope: str, spec: str, updated_by: str, at: datetime) -> None:
        await self._conn.execute(
            "INSERT INTO escalation_policies (scope, spec, updated_by, updated_at)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT (scope) DO UPDATE SET spec = excluded.spec,"
            " updated_by = excluded.updated_by, updated_at = excluded.updated_at",
            scope,
            spec,
            updated_by,
            ms(at),
        )


class SqlAlertRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def insert_many(self, alerts: Sequence[Alert]) -> set[str]:
        rows = [
            (
                a.id,
                a.case_id,
                a.witness_id,
                a.kind.value,
                a.severity.value,
                a.source,
                a.status.value,
                a.policy,
                a.level,
                a.round,
                ms(a.round_started_at),
                opt_ms(a.next_escalation_at),
                ms(a.created_at),
            )
            for a in alerts
        ]
        inserted = await bulk_insert(
            self._conn,
            "alerts",
            _ALERT_INSERT,
            rows,
            suffix="ON CONFLICT (kind, source) DO NOTHING RETURNING id",
        )
        return {row[0] for row in inserted}

    async def get(self, alert_id: str) -> Alert | None:
        row = await self._conn.fetchrow(
            f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE id = $1", alert_id
        )
        return None if row is None else _alert(row)

    async def list_for_cases(
        self, case_ids: Sequence[str], *, statuses: Sequence[str], limit: int
    ) -> list[Alert]:
        if not case_ids:
            return []
        dialect = self._conn.dialect
        rows = await self._conn.fetch(
            f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE case_id {dialect.any_of('$1')}"
            f" AND status {dialect.any_of('$2')} ORDER BY created_at DESC LIMIT $3",
            dialect.list_param(list(case_ids)),
            dialect.list_param(list(statuses)),
            limit,
        )
        return [_alert(row) for row in rows]

    async def open_for_case(self, case_id: str) -> list[Alert]:
        rows = await self._conn.fetch(
            f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE case_id = $1 AND status <> 'resolved'"
            " ORDER BY created_at DESC",
            case_id,
        )
        return [_alert(row) for row in rows]

    async def any_due(self, now: datetime) -> bool:
        found = await self._conn.fetchval(
            "SELECT 1 WHERE EXISTS (SELECT 1 FROM alerts WHERE status = 'open'"
            " AND next_escalation_at <= $1) OR EXISTS (SELECT 1 FROM alerts"
            " WHERE status = 'acknowledged' AND ack_expires_at <= $1)",
            ms(now),
        )
        return found is not None

    async def due_escalations(self, now: datetime, limit: int) -> list[Alert]:
        rows = await self._conn.fetch(
            f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE next_escalation_at <= $1"
            f" AND status = 'open' ORDER BY next_escalation_at LIMIT $2"
            f" {self._conn.dialect.skip_locked}",
            ms(now),
            limit,
        )
        return [_alert(row) for row in rows]

    async def due_ack_expiries(self, now: datetime, limit: int) -> list[Alert]:
        rows = await self._conn.fetch(
            f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE ack_expires_at <= $1"
            f" AND status = 'acknowledged' ORDER BY ack_expires_at LIMIT $2"
            f" {self._conn.dialect.skip_locked}",
            ms(now),
            limit,
        )
        return [_alert(row) for row in rows]

    async def apply(self, changes: Sequence[AlertChange]) -> set[str]:
        rows = [
            (
                c.id,
                c.version,
                c.status,
                c.level,
                c.round,
                ms(c.round_started_at),
                opt_ms(c.next_escalation_at),
                opt_ms(c.ack_expires_at),
            )
            for c in changes
        ]
        applied = await bulk_update(
            self._conn,
            "alerts",
            _ALERT_CHANGE,
            rows,
            assignments="status = v.status, level = v.level, round = v.round,"
            " round_started_at = v.round_started_at, next_escalation_at = v.next_escalation_at,"
            " ack_expires_at = v.ack_expires_at,"
            # Reopened (an acknowledgement expired): nobody holds it any more.
            " acknowledged_by = CASE WHEN v.status = 'open' THEN NULL"
            " ELSE alerts.acknowledged_by END,"
            " acknowledged_at = CASE WHEN v.status = 'open' THEN NULL"
            " ELSE alerts.acknowledged_at END,"
            " version = alerts.version + 1",
            condition="alerts.id = v.id AND alerts.version = v.version",
            returning="alerts.id",
        )
        return {row[0] for row in applied}

    async def acknowledge(
        self, alert_id: str, staff_id: str, at: datetime, expires_at: datetime
    ) -> bool:
        changed = await self._conn.execute(
            "UPDATE alerts SET status = 'acknowledged', acknowledged_by = $2,"
            " acknowledged_at = $3, ack_expires_at = $4, next_escalation_at = NULL,"
            " version = version + 1 WHERE id = $1 AND status = 'open'",
            alert_id,
            staff_id,
            ms(at),
            ms(expires_at),
        )
        return changed > 0

    async def resolve(
        self,
        alert_id: str,
        staff_id: str,
        at: datetime,
        outcome_sealed: bytes,
        note_sealed: bytes,
    ) -> bool:
        changed = await self._conn.execute(
            "UPDATE alerts SET status = 'resolved', resolved_by = $2, resolved_at = $3,"
            " outcome = NULL, outcome_sealed = $4, note_sealed = $5, next_escalation_at = NULL,"
            " ack_expires_at = NULL, version = version + 1"
            " WHERE id = $1 AND status <> 'resolved'",
            alert_id,
            staff_id,
            ms(at),
            outcome_sealed,
            note_sealed,
        )
        return changed > 0

    async def plaintext_outcomes(self, limit: int) -> list[tuple[str, str]]:
        """Up to ``limit`` (alert id, outcome) still stored in plaintext."""
        rows = await self._conn.fetch(
            "SELECT id, outcome FROM alerts WHERE outcome IS NOT NULL ORDER BY id LIMIT $1",
            limit,
        )
        return [(row[0], row[1]) for row in rows]

    async def seal_outcome(self, alert_id: str, plaintext: str, sealed: bytes) -> bool:
        """Replace a plaintext outcome by its sealed form (unless it changed meanwhile)."""
        changed = await self._conn.execute(
            "UPDATE alerts SET outcome = NULL, outcome_sealed = $3 WHERE id = $1 AND outcome = $2",
            alert_id,
            plaintext,
            sealed,
        )
        return changed > 0


_OPEN_STATUSES = "('pending', 'sending', 'uncertain')"


class SqlNotificationRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def insert_many(self, notifications: Sequence[Notification]) -> None:
        rows = [
            (
                n.id,
                n.purpose,
                n.alert_id,
                n.checkin_id,
                n.channel,
                n.recipient_kind,
                n.recipient_id,
                n.level,
                n.round,
                n.severity,
                n.language,
                n.body,
                n.status.value,
                opt_ms(n.next_attempt_at),
                ms(n.created_at),
                n.urgency,
            )
            for n in notifications
        ]
        await bulk_insert(self._conn, "notifications", _NOTIFICATION_INSERT, rows)

    async def any_due(self, now: datetime, database_now_ms: int | None) -> bool:
        database_now = self._conn.dialect.now_ms("$2")
        found = await self._conn.fetchval(
            "SELECT 1 WHERE EXISTS (SELECT 1 FROM notifications WHERE next_attempt_at <= $1"
            " AND status IN ('pending', 'uncertain')) OR EXISTS (SELECT 1 FROM notifications"
            f" WHERE lease_until <= {database_now} AND status = 'sending')",
            ms(now),
            database_now_ms,
        )
        return found is not None

    async def claim(
        self,
        now: datetime,
        owner: str,
        lease: timedelta,
        limit: int,
        database_now_ms: int | None,
        channels: Sequence[str] | None = None,
    ) -> list[Notification]:
        if channels is not None:
            return await self._claim_paced(now, owner, lease, limit, database_now_ms, channels)
        lock = self._conn.dialect.skip_locked
        # Leases (and the moment of the claim, which reconciliation measures from) are
        # on the database's clock; only the due times are on the instance's.
        database_now = self._conn.dialect.now_ms("$5")
        rows = await self._conn.fetch(
            f"UPDATE notifications SET {_CLAIM_SET.format(now=database_now)}"
            " WHERE id IN ("
            "   SELECT id FROM notifications WHERE next_attempt_at <= $1"
            "   AND status IN ('pending', 'uncertain')"
            f"   ORDER BY urgency, created_at, id LIMIT $4 {lock})"
            " OR id IN ("
            f"   SELECT id FROM notifications WHERE lease_until <= {database_now}"
            f"   AND status = 'sending' ORDER BY lease_until LIMIT $4 {lock})"
            f" RETURNING {_NOTIFICATION_COLUMNS}",
            ms(now),
            owner,
            lease // _MS,
            limit,
            database_now_ms,
        )
        return [_notification(row) for row in rows]

    async def _claim_paced(
        self,
        now: datetime,
        owner: str,
        lease: timedelta,
        limit: int,
        database_now_ms: int | None,
        channels: Sequence[str],
    ) -> list[Notification]:
        """At most ``limit`` rows of ``channels`` in all (each may cost a send): first
        rows whose lease ran out (a dispatcher died; they reconcile first), then the
        most urgent due rows, oldest first within an urgency."""
        dialect = self._conn.dialect
        lock, database_now = dialect.skip_locked, dialect.now_ms("$5")
        expired = await self._conn.fetch(
            f"UPDATE notifications SET {_CLAIM_SET.format(now=database_now)}"
            " WHERE id IN ("
            f"   SELECT id FROM notifications WHERE lease_until <= {database_now}"
            f"   AND status = 'sending' AND channel {dialect.any_of('$1')}"
            f"   ORDER BY urgency, lease_until LIMIT $4 {lock})"
            f" RETURNING {_NOTIFICATION_COLUMNS}",
            dialect.list_param(list(channels)),
            owner,
            lease // _MS,
            limit,
            database_now_ms,
        )
        rows = [_notification(row) for row in expired]
        if len(rows) >= limit:
            return rows
        due = await self._conn.fetch(
            f"UPDATE notifications SET {_CLAIM_SET.format(now=database_now)}"
            " WHERE id IN ("
            "   SELECT id FROM notifications WHERE status IN ('pending', 'uncertain')"
            f"   AND channel {dialect.any_of('$6')} AND next_attempt_at <= $1"
            f"   ORDER BY urgency, created_at, id LIMIT $4 {lock})"
            f" RETURNING {_NOTIFICATION_COLUMNS}",
            ms(now),
            owner,
            lease // _MS,
            limit - len(rows),
            database_now_ms,
            dialect.list_param(list(channels)),
        )
        return rows + [_notification(row) for row in due]

    async def claim_companions(
        self,
        now: datetime,
        owner: str,
        lease: timedelta,
        database_now_ms: int | None,
        recipient_id: str,
        urgencies: tuple[int, int],
        group_ref: str | None,
    ) -> list[Notification]:
        dialect = self._conn.dialect
        lock, database_now = dialect.skip_locked, dialect.now_ms("$5")
        same_group = "group_ref IS NULL" if group_ref is None else "group_ref = $9"
        rows = await self._conn.fetch(
            f"UPDATE notifications SET {_CLAIM_SET.format(now=database_now)}"
            " WHERE id IN ("
            "   SELECT id FROM notifications WHERE status IN ('pending', 'uncertain')"
            "   AND next_attempt_at <= $1 AND channel = 'sms' AND purpose = 'alert'"
            "   AND recipient_kind = 'staff' AND recipient_id = $6"
            f"   AND urgency BETWEEN $7 AND $8 AND {same_group}"
            f"   ORDER BY urgency, created_at, id LIMIT $4 {lock})"
            f" RETURNING {_NOTIFICATION_COLUMNS}",
            ms(now),
            owner,
            lease // _MS,
            _COMPANIONS,
            database_now_ms,
            recipient_id,
            urgencies[0],
            urgencies[1],
            *(() if group_ref is None else (group_ref,)),
        )
        return [_notification(row) for row in rows]

    async def count_due(
        self, now: datetime, channel: str, limit: int, database_now_ms: int | None
    ) -> int:
        database_now = self._conn.dialect.now_ms("$4")
        value = await self._conn.fetchval(
            "SELECT COUNT(*) FROM (SELECT 1 FROM notifications WHERE channel = $2 AND"
            " ((status IN ('pending', 'uncertain') AND next_attempt_at <= $1)"
            f" OR (status = 'sending' AND lease_until <= {database_now})) LIMIT $3) AS due",
            ms(now),
            channel,
            limit,
            database_now_ms,
        )
        return int(value or 0)

    async def backlog(self, now: datetime, channels: Sequence[str]) -> list[BacklogRow]:
        dialect = self._conn.dialect
        # Staff alert SMS fold per person: count one message per person for them.
        folded = "channel = 'sms' AND purpose = 'alert'"
        rows = await self._conn.fetch(
            "SELECT channel, urgency, COUNT(*), MIN(created_at),"
            f" COUNT(DISTINCT CASE WHEN {folded} THEN recipient_id END)"
            f" + SUM(CASE WHEN {folded} THEN 0 ELSE 1 END) FROM notifications"
            f" WHERE status IN {_OPEN_STATUSES} AND channel {dialect.any_of('$1')}"
            " GROUP BY channel, urgency",
            dialect.list_param(list(channels)),
        )
        return [
            BacklogRow(row[0], int(row[1]), int(row[2]), from_ms(row[3]), int(row[4]))
            for row in rows
        ]

    async def set_groups(self, groups: Sequence[tuple[Sequence[str], str, str]]) -> None:
        rows = [(nid, ref, body) for ids, ref, body in groups for nid in ids]
        await bulk_update(
            self._conn,
            "notifications",
            [("id", "text"), ("group_ref", "text"), ("body", "text")],
            rows,
            assignments="group_ref = v.group_ref, body = v.body",
            condition="notifications.id = v.id",
            returning="notifications.id",
        )

    async def record(self, owner: str, updates: Sequence[DeliveryUpdate]) -> None:
        rows = []
        for u in updates:
            values = (
                u.status,
                u.provider_id,
                u.error_code,
                opt_ms(u.next_attempt_at),
                ms(u.at) if u.status == "sent" else None,
            )
            rows += [(nid, *values) for nid in u.ids]
        await bulk_update(
            self._conn,
            "notifications",
            [
                ("id", "text"),
                ("status", "text"),
                ("provider_id", "text"),
                ("error_code", "text"),
                ("next_attempt_at", "bigint"),
                ("sent_at", "bigint"),
            ],
            rows,
            assignments="status = v.status,"
            " provider_id = COALESCE(v.provider_id, notifications.provider_id),"
            " error_code = v.error_code, next_attempt_at = v.next_attempt_at,"
            " sent_at = COALESCE(v.sent_at, notifications.sent_at),"
            " lease_owner = NULL, lease_until = NULL",
            condition=f"notifications.id = v.id AND notifications.lease_owner = '{_quote(owner)}'"
            " AND notifications.status = 'sending'",
            returning="notifications.id",
        )

    async def get(self, notification_id: str) -> Notification | None:
        row = await self._conn.fetchrow(
            f"SELECT {_NOTIFICATION_COLUMNS} FROM notifications WHERE id = $1", notification_id
        )
        return None if row is None else _notification(row)

    async def by_provider_id(self, provider_id: str) -> list[Notification]:
        rows = await self._conn.fetch(
            f"SELECT {_NOTIFICATION_COLUMNS} FROM notifications WHERE provider_id = $1",
            provider_id,
        )
        return [_notification(row) for row in rows]

    async def mark_by_provider(
        self, provider_id: str, status: str, at: datetime, error: str | None
    ) -> list[Notification]:
        delivered_at = ms(at) if status == "delivered" else None
        rows = await self._conn.fetch(
            "UPDATE notifications SET status = $2, error_code = COALESCE($3, error_code),"
            " delivered_at = COALESCE($4, delivered_at)"
            " WHERE provider_id = $1 AND status IN ('sent', 'delivered')"
            f" RETURNING {_NOTIFICATION_COLUMNS}",
            provider_id,
            status,
            error,
            delivered_at,
        )
        return [_notification(row) for row in rows]

    async def save_report(
        self, provider_id: str, status: str, at: datetime, error: str | None
    ) -> None:
        await self._conn.execute(
            "INSERT INTO delivery_reports (provider_id, status, error_code, received_at)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT (provider_id) DO UPDATE SET"
            " status = excluded.status, error_code = excluded.error_code,"
            " received_at = excluded.received_at",
            provider_id,
            status,
            error,
            ms(at),
        )

    async def any_saved_reports(self) -> bool:
        return await self._conn.fetchval("SELECT 1 FROM delivery_reports LIMIT 1") is not None

    async def apply_saved_reports(self) -> list[Notification]:
        if not await self.any_saved_reports():
            return []
        reports = await self._conn.fetch(
            "SELECT provider_id, status, error_code, received_at FROM delivery_reports r"
            " WHERE EXISTS (SELECT 1 FROM notifications n WHERE n.provider_id = r.provider_id"
            " AND n.status IN ('sent', 'delivered'))"
        )
        changed: list[Notification] = []
        for report in reports:
            changed += await self.mark_by_provider(report[0], report[1], dt(report[3]), report[2])
            await self._conn.execute(
                "DELETE FROM delivery_reports WHERE provider_id = $1", report[0]
            )
        return changed

    async def purge_reports(self, before: datetime) -> int:
        return await self._conn.execute(
            "DELETE FROM delivery_reports WHERE received_at < $1", ms(before)
        )

    async def recorded_provider_ids(
        self, recipient_kind: str, recipient_id: str, since: datetime
    ) -> set[str]:
        rows = await self._conn.fetch(
            "SELECT provider_id FROM notifications WHERE recipient_kind = $1"
            " AND recipient_id = $2 AND provider_id IS NOT NULL AND sent_at >= $3",
            recipient_kind,
            recipient_id,
            ms(since),
        )
        return {row[0] for row in rows}

    async def renew_lease(
        self, owner: str, ids: Sequence[str], lease: timedelta, database_now_ms: int | None
    ) -> set[str]:
        dialect = self._conn.dialect
        rows = await self._conn.fetch(
            f"UPDATE notifications SET lease_until = {dialect.now_ms('$4')} + $2"
            " WHERE lease_owner = $1"
            f" AND status = 'sending' AND id {dialect.any_of('$3')} RETURNING id",
            owner,
            lease // _MS,
            dialect.list_param(list(ids)),
            database_now_ms,
        )
        return {row[0] for row in rows}

    async def cancel_for_alert(self, alert_id: str) -> int:
        # Uncertain rows too: once someone has acknowledged, a reconciliation that
        # finds nothing must not send the alert SMS after all.
        return await self._conn.execute(
            "UPDATE notifications SET status = 'cancelled', next_attempt_at = NULL"
            " WHERE alert_id = $1 AND status IN ('pending', 'uncertain')",
            alert_id,
        )

    async def for_alert(self, alert_id: str) -> list[Notification]:
        rows = await self._conn.fetch(
            f"SELECT {_NOTIFICATION_COLUMNS} FROM notifications WHERE alert_id = $1"
            " ORDER BY created_at, id",
            alert_id,
        )
        return [_notification(row) for row in rows]

    async def database_now(self, database_now_ms: int | None) -> datetime:
        value = await self._conn.fetchval(
            f"SELECT {self._conn.dialect.now_ms('$1')}", database_now_ms
        )
        return dt(value)

    async def next_due(self) -> datetime | None:
        value = await self._conn.fetchval(
            "SELECT MIN(t) FROM (SELECT MIN(next_attempt_at) AS t FROM notifications"
            f" WHERE status IN {_OPEN_STATUSES}"
            " UNION ALL SELECT MIN(lease_until) FROM notifications WHERE status = 'sending') AS x"
        )
        return opt_dt(value)


#: The most alert rows that ride along with a paced one into one SMS.
_COMPANIONS = 50

#: What a claim sets on each row it takes.
_CLAIM_SET = (
    "status = 'sending', lease_owner = $2,"
    " lease_until = {now} + $3, claimed_at = {now},"
    " attempts = attempts + 1,"
    # An attempt whose outcome is unknown (uncertain, or its lease ran out) may have
    # sent: from then on every attempt reconciles first.
    " reconcile_since = CASE WHEN status IN ('uncertain', 'sending')"
    "   THEN COALESCE(reconcile_since, claimed_at) ELSE reconcile_since END"
)


def _quote(value: str) -> str:
    """Lease owners are server-generated hex ids; refuse anything else in SQL text."""
    if not value.replace("-", "").isalnum():
        raise ValueError("lease owner must be alphanumeric")
    return value
