"""Rate-limit buckets shared by every instance: one row per (scope, hashed key)."""

from __future__ import annotations

from server.security.ratelimit import Bucket
from server.storage.database import Connection


class SqlRateLimitRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def lock(self, scope: str, key: str, fresh: Bucket) -> Bucket:
        """The bucket, locked until the transaction ends; created as ``fresh`` when
        absent. Creating first (a no-op when the row exists) gives PostgreSQL a row to
        lock, so two instances taking from a new bucket at once are counted one after
        the other; SQLite's write transactions are serial already."""
        await self._conn.execute(
            "INSERT INTO rate_buckets (scope, bucket_key, tokens, stamp_ms, refusing,"
            " idle_at) VALUES ($1, $2, $3, $4, FALSE, $4)"
            " ON CONFLICT (scope, bucket_key) DO NOTHING",
            scope,
            key,
            fresh.tokens,
            round(fresh.stamp * 1000),
        )
        lock = " FOR UPDATE" if self._conn.dialect.is_postgres else ""
        row = await self._conn.fetchrow(
            "SELECT tokens, stamp_ms, refusing FROM rate_buckets"
            f" WHERE scope = $1 AND bucket_key = $2{lock}",
            scope,
            key,
        )
        assert row is not None  # inserted above, in this transaction
        return Bucket(float(row[0]), int(row[1]) / 1000, bool(row[2]))

    async def save(self, scope: str, key: str, bucket: Bucket, idle_after_s: float) -> None:
        """Store the bucket; it may be swept once ``idle_after_s`` have passed (it is
        full again by then, so forgetting it changes nothing)."""
        stamp_ms = round(bucket.stamp * 1000)
        await self._conn.execute(
            "UPDATE rate_buckets SET tokens = $3, stamp_ms = $4, refusing = $5, idle_at = $6"
            " WHERE scope = $1 AND bucket_key = $2",
            scope,
            key,
            bucket.tokens,
            stamp_ms,
            bucket.refusing,
            stamp_ms + round(idle_after_s * 1000),
        )

    async def purge(self, now_ms: int, limit: int = 5000) -> int:
        """Forget up to ``limit`` buckets that are full again."""
        return await self._conn.execute(
            "DELETE FROM rate_buckets WHERE (scope, bucket_key) IN ("
            " SELECT scope, bucket_key FROM rate_buckets WHERE idle_at <= $1 LIMIT $2)",
            now_ms,
            limit,
        )
