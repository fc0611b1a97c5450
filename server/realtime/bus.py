"""The bus that carries real-time facts between server instances.

With SQLite there is one instance and the bus is local. With PostgreSQL several
instances share the database; a commit on one must wake WebSocket connections held by
another, and a revocation must evict cached credentials everywhere. PostgreSQL's
LISTEN/NOTIFY carries small JSON notes (device ids, never content): the receiving
instance reads what it needs from the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

log = logging.getLogger(__name__)

CHANNEL = "witnesslink_events"
_MAX_NOTE = 7000  # NOTIFY payloads must stay under 8000 bytes

NoteHandler = Callable[[dict[str, Any]], Coroutine[Any, Any, None]]


class EventBus(Protocol):
    async def start(self, handler: NoteHandler) -> None: ...

    async def publish(self, note: dict[str, Any]) -> None: ...

    async def close(self) -> None: ...


class LocalBus:
    """One instance: nothing to tell anyone else."""

    async def start(self, handler: NoteHandler) -> None:
        return None

    async def publish(self, note: dict[str, Any]) -> None:
        return None

    async def close(self) -> None:
        return None


class PostgresBus:
    """LISTEN/NOTIFY on a dedicated connection; notes from this instance are ignored."""

    def __init__(self, dsn: str, pool: Any, *, schema: str | None = None) -> None:
        self._dsn = dsn
        self._pool = pool
        self._channel = CHANNEL if schema is None else f"{CHANNEL}_{schema}"
        self._instance = secrets.token_hex(8)
        self._listener: Any = None
        self._handler: NoteHandler | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, handler: NoteHandler) -> None:
        import asyncpg

        self._handler = handler
        self._listener = await asyncpg.connect(self._dsn)
        await self._listener.add_listener(self._channel, self._on_notify)

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            note = json.loads(payload)
        except ValueError:
            return
        if note.get("from") == self._instance or self._handler is None:
            return
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(self._handler(note))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def publish(self, note: dict[str, Any]) -> None:
        device_ids: list[str] = list(note.get("devices", []))
        # Split long device lists so every payload fits NOTIFY's limit.
        chunk: list[str] = []
        for device_id in [*device_ids, None]:
            if device_id is not None:
                chunk.append(device_id)
            full = device_id is None or len(json.dumps(chunk)) > _MAX_NOTE - 500
            if full and (chunk or not device_ids):
                payload = json.dumps({**note, "devices": chunk, "from": self._instance})
                try:
                    await self._pool.execute("SELECT pg_notify($1, $2)", self._channel, payload)
                except Exception:
                    log.warning("could not publish a real-time note to other instances")
                chunk = []

    async def close(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.remove_listener(self._channel, self._on_notify)
            await self._listener.close()
        for task in list(self._tasks):
            task.cancel()
