"""Inbound webhooks already acted on, by (kind, provider id); see server.notify.replays."""

from __future__ import annotations

from server.storage.database import Connection


class SqlWebhookReceiptRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def claim(self, kind: str, key: str, now_ms: int, expires_ms: int) -> bool:
        """Record (kind, key) unless it is already recorded; True if this call recorded
        it. A row past its expiry is taken over, as if it had been swept."""
        await self._conn.execute(
            "DELETE FROM webhook_receipts WHERE kind = $1 AND receipt_key = $2"
            " AND expires_at <= $3",
            kind,
            key,
            now_ms,
        )
        inserted = await self._conn.execute(
            "INSERT INTO webhook_receipts (kind, receipt_key, seen_at, expires_at)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT (kind, receipt_key) DO NOTHING",
            kind,
            key,
            now_ms,
            expires_ms,
        )
        return inserted == 1

    async def release(self, kind: str, key: str, seen_ms: int) -> None:
        """Forget a claim made at ``seen_ms`` (its handling failed, so a retry must run)."""
        await self._conn.execute(
            "DELETE FROM webhook_receipts WHERE kind = $1 AND receipt_key = $2 AND seen_at = $3",
            kind,
            key,
            seen_ms,
        )

    async def purge(self, now_ms: int, limit: int = 5000) -> int:
        """Forget up to ``limit`` receipts past their expiry; returns how many."""
        return await self._conn.execute(
            "DELETE FROM webhook_receipts WHERE (kind, receipt_key) IN ("
            " SELECT kind, receipt_key FROM webhook_receipts WHERE expires_at <= $1 LIMIT $2)",
            now_ms,
            limit,
        )
