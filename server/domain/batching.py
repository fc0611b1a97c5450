"""Group commit: many concurrent requests, one transaction.

A durable commit costs an fsync; paying it per message caps throughput at a few
hundred messages a second. :class:`GroupCommit` lets concurrent callers each submit one
item and wait; a single flusher takes everything queued so far, hands it to the handler
as one batch (one transaction), and resolves every caller with its own result. While a
batch is being committed the next one accumulates, so batches grow with load and the
latency of a lone request is one commit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

BatchHandler = Callable[[list[T]], Awaitable[list["R | BaseException"]]]


class GroupCommit(Generic[T, R]):
    """Batches submitted items through ``handler``, which returns one result (or an
    exception to raise for that item) per item, in order."""

    def __init__(
        self,
        handler: Callable[[list[T]], Awaitable[list[R | BaseException]]],
        *,
        max_batch: int = 512,
    ) -> None:
        self._handler = handler
        self._max_batch = max_batch
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        """Queue ``item`` and wait for its result.

        Raises:
            Whatever the handler returned or raised for this item.
        """
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        while self._queue:
            batch = self._queue[: self._max_batch]
            del self._queue[: self._max_batch]
            try:
                results = await self._handler([item for item, _ in batch])
            except asyncio.CancelledError as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                raise
            except Exception as exc:
                if len(batch) == 1:
                    if not batch[0][1].done():
                        batch[0][1].set_exception(exc)
                    continue
                # One bad item must not fail the others that happened to share its
                # transaction: try each on its own, so only the culprit fails.
                results = []
                for item, _ in batch:
                    try:
                        results += await self._handler([item])
                    except asyncio.CancelledError:
                        raise
                    except Exception as single:
                        results.append(single)
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():
                    continue
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)

    async def drain(self) -> None:
        """Wait until everything submitted so far has been handled."""
        while self._flusher is not None and not self._flusher.done():
            await asyncio.shield(self._flusher)
