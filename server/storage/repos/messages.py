"""Message copies (ciphertext per recipient device), send records and attachments.

The send path is batch-oriented: a whole group of sends is stored with a fixed number
of statements (JSON rows expanded by ``json_each`` on SQLite, arrays by ``unnest`` on
PostgreSQL), so group commit costs the same few round trips for one message or five
hundred.

Copy ids follow the order of the batch (the order the sends were submitted), so that a
device receives a sender's messages in the order they were sent: ``json_each`` yields
rows in array order, and on PostgreSQL ``WITH ORDINALITY ... ORDER BY`` says so.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from server.domain.models import Attachment, MessageCopy
from server.storage.database import Connection, Row
from server.storage.protocols import NewResend, NewSend
from server.storage.repos._rows import dt, ms

_COPY_COLUMNS = (
    "id, recipient_device_id, case_id, sender_device_id, message_id, olm_type, body, created_at"
)

_INSERT_SENDS = {
    "sqlite": (
        "INSERT INTO sent_messages (sender_device_id, message_id, case_id, digest, created_at)"
        " SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'),"
        " json_extract(value, '$[2]'), json_extract(value, '$[3]'),"
        " json_extract(value, '$[4]') FROM json_each($1)"
    ),
    "postgres": (
        "INSERT INTO sent_messages (sender_device_id, message_id, case_id, digest, created_at)"
        " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[])"
    ),
}

_EXISTING_SENDS = {
    "sqlite": (
        "SELECT s.sender_device_id, s.message_id, s.digest, s.created_at"
        " FROM json_each($1) AS k JOIN sent_messages AS s"
        " ON s.sender_device_id = json_extract(k.value, '$[0]')"
        " AND s.message_id = json_extract(k.value, '$[1]')"
    ),
    "postgres": (
        "SELECT s.sender_device_id, s.message_id, s.digest, s.created_at"
        " FROM unnest($1::text[], $2::text[]) AS k(d, m) JOIN sent_messages AS s"
        " ON s.sender_device_id = k.d AND s.message_id = k.m"
    ),
}

_INSERT_COPIES = {
    "sqlite": (
        "INSERT INTO message_copies (recipient_device_id, case_id, sender_device_id,"
        " message_id, olm_type, body, created_at)"
        " SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'),"
        " json_extract(value, '$[2]'), json_extract(value, '$[3]'),"
        " json_extract(value, '$[4]'), json_extract(value, '$[5]'),"
        " json_extract(value, '$[6]') FROM json_each($1)"
        " RETURNING id, recipient_device_id, sender_device_id, message_id"
    ),
    "postgres": (
        "INSERT INTO message_copies (recipient_device_id, case_id, sender_device_id,"
        " message_id, olm_type, body, created_at)"
        " SELECT r, c, s, m, t, b, a FROM unnest($1::text[], $2::text[], $3::text[],"
        " $4::text[], $5::int[], $6::text[], $7::bigint[])"
        " WITH ORDINALITY AS u(r, c, s, m, t, b, a, n) ORDER BY n"
        " RETURNING id, recipient_device_id, sender_device_id, message_id"
    ),
}


def _copy(row: Row) -> MessageCopy:
    return MessageCopy(
        id=int(row["id"]),
        recipient_device_id=row["recipient_device_id"],
        case_id=row["case_id"],
        sender_device_id=row["sender_device_id"],
        message_id=row["message_id"],
        olm_type=int(row["olm_type"]),
        body=row["body"],
        created_at=dt(row["created_at"]),
    )


def _columns(rows: list[tuple[object, ...]], width: int) -> list[list[object]]:
    return [[row[i] for row in rows] for i in range(width)]


class SqlMessageRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def _bulk(
        self, statements: dict[str, str], rows: list[tuple[object, ...]], width: int
    ) -> list[Row]:
        dialect = self._conn.dialect
        if dialect.is_postgres:
            return await self._conn.fetch(statements["postgres"], *_columns(rows, width))
        return await self._conn.fetch(statements["sqlite"], json.dumps(rows))

    async def existing_digests(
        self, keys: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], tuple[str, datetime]]:
        if not keys:
            return {}
        rows = await self._bulk(_EXISTING_SENDS, [(d, m) for d, m in keys], 2)
        return {(row[0], row[1]): (row[2], dt(row[3])) for row in rows}

    async def insert_sends(self, sends: Sequence[NewSend]) -> list[MessageCopy]:
        if not sends:
            return []
        send_rows: list[tuple[object, ...]] = [
            (s.sender_device_id, s.message_id, s.case_id, s.digest, ms(s.created_at)) for s in sends
        ]
        await self._bulk(_INSERT_SENDS, send_rows, 5)
        copy_rows: list[tuple[object, ...]] = []
        by_key: dict[tuple[str, str, str], tuple[NewSend, int, str]] = {}
        for send in sends:
            for copy in send.copies:
                copy_rows.append(
                    (
                        copy.recipient_device_id,
                        send.case_id,
                        send.sender_device_id,
                        send.message_id,
                        copy.olm_type,
                        copy.body,
                        ms(send.created_at),
                    )
                )
                key = (copy.recipient_device_id, send.sender_device_id, send.message_id)
                by_key[key] = (send, copy.olm_type, copy.body)
        if not copy_rows:
            return []
        returned = await self._bulk(_INSERT_COPIES, copy_rows, 7)
        stored: list[MessageCopy] = []
        for row in returned:
            send, olm_type, body = by_key[(row[1], row[2], row[3])]
            stored.append(
                MessageCopy(
                    id=int(row[0]),
                    recipient_device_id=row[1],
                    case_id=send.case_id,
                    sender_device_id=send.sender_device_id,
                    message_id=send.message_id,
                    olm_type=olm_type,
                    body=body,
                    created_at=send.created_at,
                )
            )
        stored.sort(key=lambda c: c.id)
        return stored

    async def pending_for_device(
        self, device_id: str, *, after_id: int = 0, limit: int = 500
    ) -> list[MessageCopy]:
        rows = await self._conn.fetch(
            f"SELECT {_COPY_COLUMNS} FROM message_copies"
            " WHERE recipient_device_id = $1 AND id > $2 ORDER BY id LIMIT $3",
            device_id,
            after_id,
            limit,
        )
        return [_copy(row) for row in rows]

    async def sent_message(
        self, sender_device_id: str, message_id: str, *, lock: bool = False
    ) -> tuple[str, datetime] | None:
        lock_clause = " FOR UPDATE" if lock and self._conn.dialect.is_postgres else ""
        row = await self._conn.fetchrow(
            "SELECT case_id, created_at FROM sent_messages"
            f" WHERE sender_device_id = $1 AND message_id = $2{lock_clause}",
            sender_device_id,
            message_id,
        )
        return None if row is None else (row[0], dt(row[1]))

    async def resent_digests(
        self, sender_device_id: str, message_id: str, recipient_device_id: str
    ) -> list[str]:
        rows = await self._conn.fetch(
            "SELECT digest FROM resent_copies WHERE sender_device_id = $1"
            " AND message_id = $2 AND recipient_device_id = $3",
            sender_device_id,
            message_id,
            recipient_device_id,
        )
        return [row[0] for row in rows]

    async def insert_resent_copy(self, resend: NewResend) -> MessageCopy | None:
        added = await self._conn.execute(
            "INSERT INTO resent_copies (sender_device_id, message_id, recipient_device_id,"
            " digest, created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            resend.sender_device_id,
            resend.message_id,
            resend.recipient_device_id,
            resend.digest,
            ms(resend.created_at),
        )
        if not added:
            return None
        copy_id = await self._conn.fetchval(
            "INSERT INTO message_copies (recipient_device_id, case_id, sender_device_id,"
            " message_id, olm_type, body, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)"
            " RETURNING id",
            resend.recipient_device_id,
            resend.case_id,
            resend.sender_device_id,
            resend.message_id,
            resend.olm_type,
            resend.body,
            ms(resend.created_at),
        )
        return MessageCopy(
            id=int(copy_id),
            recipient_device_id=resend.recipient_device_id,
            case_id=resend.case_id,
            sender_device_id=resend.sender_device_id,
            message_id=resend.message_id,
            olm_type=resend.olm_type,
            body=resend.body,
            created_at=resend.created_at,
        )

    async def delete_copies(self, acks: Sequence[tuple[str, int]]) -> int:
        if not acks:
            return 0
        if self._conn.dialect.is_postgres:
            return await self._conn.execute(
                "DELETE FROM message_copies WHERE (id, recipient_device_id) IN"
                " (SELECT * FROM unnest($1::bigint[], $2::text[]))",
                [copy_id for _, copy_id in acks],
                [device for device, _ in acks],
            )
        # (id, device) and not (device, id): SQLite 3.40 matches nothing for a row-value
        # IN whose columns are those of an index ending in the rowid alias.
        return await self._conn.execute(
            "DELETE FROM message_copies WHERE (id, recipient_device_id) IN"
            " (SELECT json_extract(value, '$[1]'), json_extract(value, '$[0]')"
            " FROM json_each($1))",
            json.dumps([[device, copy_id] for device, copy_id in acks]),
        )

    async def delete_for_device(self, device_id: str) -> int:
        return await self._conn.execute(
            "DELETE FROM message_copies WHERE recipient_device_id = $1", device_id
        )

    async def delete_for_owner_in_case(self, case_id: str, owner_kind: str, owner_id: str) -> int:
        return await self._conn.execute(
            "DELETE FROM message_copies WHERE case_id = $1 AND recipient_device_id IN"
            " (SELECT id FROM devices WHERE owner_kind = $2 AND owner_id = $3)",
            case_id,
            owner_kind,
            owner_id,
        )

    async def purge_older_than(self, cutoff: datetime) -> int:
        copies = await self._conn.execute(
            "DELETE FROM message_copies WHERE created_at < $1", ms(cutoff)
        )
        await self._conn.execute("DELETE FROM sent_messages WHERE created_at < $1", ms(cutoff))
        await self._conn.execute("DELETE FROM resent_copies WHERE created_at < $1", ms(cutoff))
        return copies

    async def count_pending(self, device_id: str) -> int:
        count = await self._conn.fetchval(
            "SELECT COUNT(*) FROM message_copies WHERE recipient_device_id = $1", device_id
        )
        return int(count)


class SqlAttachmentRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def insert(
        self, attachment: Attachment, content: bytes, recipient_device_ids: Sequence[str]
    ) -> None:
        await self._conn.execute(
            "INSERT INTO attachments (id, case_id, uploader_device_id, size, content, created_at)"
            " VALUES ($1, $2, $3, $4, $5, $6)",
            attachment.id,
            attachment.case_id,
            attachment.uploader_device_id,
            attachment.size,
            content,
            ms(attachment.created_at),
        )
        await self._conn.executemany(
            "INSERT INTO attachment_recipients (attachment_id, device_id) VALUES ($1, $2)",
            [(attachment.id, device_id) for device_id in recipient_device_ids],
        )

    async def get(self, attachment_id: str) -> Attachment | None:
        row = await self._conn.fetchrow(
            "SELECT id, case_id, uploader_device_id, size, created_at FROM attachments"
            " WHERE id = $1",
            attachment_id,
        )
        if row is None:
            return None
        return Attachment(
            id=row[0],
            case_id=row[1],
            uploader_device_id=row[2],
            size=int(row[3]),
            created_at=dt(row[4]),
        )

    async def is_recipient(self, attachment_id: str, device_id: str) -> bool:
        found = await self._conn.fetchval(
            "SELECT 1 FROM attachment_recipients WHERE attachment_id = $1 AND device_id = $2",
            attachment_id,
            device_id,
        )
        return found is not None

    async def content(self, attachment_id: str) -> bytes | None:
        value = await self._conn.fetchval(
            "SELECT content FROM attachments WHERE id = $1", attachment_id
        )
        return None if value is None else bytes(value)

    async def mark_fetched(self, attachment_id: str, device_id: str, at: datetime) -> int:
        await self._conn.execute(
            "UPDATE attachment_recipients SET fetched_at = $3"
            " WHERE attachment_id = $1 AND device_id = $2 AND fetched_at IS NULL",
            attachment_id,
            device_id,
            ms(at),
        )
        waiting = await self._conn.fetchval(
            "SELECT COUNT(*) FROM attachment_recipients"
            " WHERE attachment_id = $1 AND fetched_at IS NULL",
            attachment_id,
        )
        return int(waiting)

    async def delete(self, attachment_id: str) -> None:
        await self._conn.execute(
            "DELETE FROM attachment_recipients WHERE attachment_id = $1", attachment_id
        )
        await self._conn.execute("DELETE FROM attachments WHERE id = $1", attachment_id)

    async def purge_older_than(self, cutoff: datetime) -> int:
        old = await self._conn.fetch("SELECT id FROM attachments WHERE created_at < $1", ms(cutoff))
        for row in old:
            await self.delete(row[0])
        return len(old)

    async def delete_recipient(self, device_id: str) -> list[str]:
        rows = await self._conn.fetch(
            "SELECT attachment_id FROM attachment_recipients WHERE device_id = $1", device_id
        )
        await self._conn.execute(
            "DELETE FROM attachment_recipients WHERE device_id = $1", device_id
        )
        orphaned: list[str] = []
        for row in rows:
            waiting = await self._conn.fetchval(
                "SELECT COUNT(*) FROM attachment_recipients"
                " WHERE attachment_id = $1 AND fetched_at IS NULL",
                row[0],
            )
            if int(waiting) == 0:
                orphaned.append(row[0])
        return orphaned
