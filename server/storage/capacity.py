"""A full disk, recognised as such: a clear 503, one log line, and a health flag.

When the disk (or the PostgreSQL volume) fills up, every write fails. Left alone, each
failure is an unhandled exception: a generic 500 to the client and a full traceback in
the log for every request and every scheduler tick (over a thousand in five seconds),
while ``/healthz`` stays green because reads still work. Instead, the backends run each
write transaction through :meth:`StorageCapacity.translating`, which

* recognises "no space" from either backend (SQLite's ``SQLITE_FULL``, an ``OSError``
  with ``ENOSPC``, PostgreSQL's SQLSTATE 53100 ``disk_full``) and raises
  :class:`~server.errors.StorageFull` instead (a 503 ``storage-full`` problem with
  ``Retry-After``);
* logs one warning when an episode starts and one when it ends, never a traceback;
* keeps :attr:`StorageCapacity.full` set, for ``/healthz`` and ``/readyz``, until a
  transaction that really changed something commits (an empty commit proves nothing).
"""

from __future__ import annotations

import errno
import logging
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from server.errors import StorageFull

__all__ = ["DISK_FULL_SQLSTATE", "StorageCapacity", "is_disk_full"]

log = logging.getLogger("witnesslink.storage")

#: PostgreSQL's SQLSTATE for "disk_full" (class 53, insufficient resources).
DISK_FULL_SQLSTATE = "53100"
#: How long clients are told to wait before retrying a refused write.
RETRY_AFTER_S = 60


def is_disk_full(error: BaseException) -> bool:
    """True if ``error`` (or an exception it was raised from) means "no space left"."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, sqlite3.Error) and (
            getattr(current, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
        ):
            return True
        if isinstance(current, OSError) and current.errno == errno.ENOSPC:
            return True
        if getattr(current, "sqlstate", None) == DISK_FULL_SQLSTATE:
            return True
        current = current.__cause__ or current.__context__
    return False


class StorageCapacity:
    """Whether this process last saw its database refuse writes for lack of space."""

    def __init__(self) -> None:
        self.full = False
        #: When the current episode started (None when not full).
        self.full_since: datetime | None = None
        #: Writes refused in the current episode.
        self.refused_writes = 0

    @asynccontextmanager
    async def translating(self) -> AsyncIterator[None]:
        """Turn a "no space" failure of the enclosed write into :class:`StorageFull`.

        Raises:
            StorageFull: the write failed for lack of space (nothing was written).
        """
        try:
            yield
        except StorageFull:
            raise
        except Exception as error:
            if not is_disk_full(error):
                raise
            raise self._refused() from None

    def wrote(self) -> None:
        """A transaction that changed something committed: there is space again."""
        if not self.full:
            return
        log.warning("storage accepts writes again after %d refused writes", self.refused_writes)
        self.full, self.full_since, self.refused_writes = False, None, 0

    def _refused(self) -> StorageFull:
        self.refused_writes += 1
        if not self.full:
            self.full, self.full_since = True, datetime.now(UTC)
            log.warning(
                "storage is full: writes are refused with 503 storage-full until space is"
                " freed (further refusals are not logged)"
            )
        return StorageFull(
            "The server cannot store anything right now; nothing was changed. Try again later.",
            retry_after=RETRY_AFTER_S,
        )
