"""Re-sealing every sealed value under the current server key, in small batches.

After the operator makes a new key current (and lists the old one as previous), every
value still sealed under an old key is rewritten under the new one. The work is cut
into short transactions of ``batch_size`` rows so it runs beside live traffic: the
scheduler runs a pass periodically, and ``witnesslink admin reseal`` runs one on demand
and prints the report. When the report says nothing remains under an old key, the old
key can be removed from the configuration.

Two instances may re-seal at once: each rewrite is a compare-and-swap on the old
ciphertext, so the loser changes nothing (its report may then count a value both
re-sealed; what *remains* is always counted afresh). A value that opens under no key of the ring
is skipped and counted as unreadable, never overwritten.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from server.security.sealing import Sealer, SealError
from server.storage.protocols import Store

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 200


@dataclass(frozen=True)
class ResealReport:
    """What one pass did and what remains, per sealed column (``table.column``)."""

    resealed: dict[str, int] = field(default_factory=dict)
    unreadable: dict[str, int] = field(default_factory=dict)
    remaining: dict[str, int] = field(default_factory=dict)

    @property
    def total_resealed(self) -> int:
        return sum(self.resealed.values())

    @property
    def total_remaining(self) -> int:
        return sum(self.remaining.values())

    @property
    def old_keys_can_be_removed(self) -> bool:
        """No value anywhere is sealed under anything but the current key."""
        return self.total_remaining == 0

    def describe(self) -> str:
        lines = [f"re-sealed {self.total_resealed} value(s) under the current key"]
        for label, count in sorted(self.remaining.items()):
            if count:
                unreadable = self.unreadable.get(label, 0)
                note = f" ({unreadable} open under no key of the ring)" if unreadable else ""
                lines.append(f"  {label}: {count} value(s) still under an old key{note}")
        if self.old_keys_can_be_removed:
            lines.append("no value remains under an old key: previous keys can be removed")
        else:
            lines.append("values remain under old keys: keep the previous keys configured")
        return "\n".join(lines)


class Resealer:
    """Moves sealed values to the ring's current key."""

    def __init__(self, store: Store, sealer: Sealer, batch_size: int = DEFAULT_BATCH_SIZE) -> None:
        self._store = store
        self._sealer = sealer
        self._batch_size = batch_size

    async def report(self) -> ResealReport:
        """Count values not under the current key, changing nothing."""
        return ResealReport(remaining=await self._remaining())

    async def run(self) -> ResealReport:
        """One full pass over every sealed column, a batch per transaction."""
        resealed: dict[str, int] = {}
        unreadable: dict[str, int] = {}
        async with self._store.read() as uow:
            labels = uow.sealed_values.columns()
        for label in labels:
            resealed[label], unreadable[label] = await self._reseal_column(label)
        if any(resealed.values()):
            log.info("re-sealed %d value(s) under the current key", sum(resealed.values()))
        if any(unreadable.values()):
            log.warning(
                "re-seal: %d sealed value(s) open under no key of the ring",
                sum(unreadable.values()),
            )
        return ResealReport(resealed, unreadable, await self._remaining())

    async def _reseal_column(self, label: str) -> tuple[int, int]:
        prefix = self._sealer.current_prefix
        after = ""
        resealed = unreadable = 0
        while True:
            async with self._store.write() as uow:
                batch = await uow.sealed_values.not_under(label, prefix, after, self._batch_size)
                changes = []
                for row_key, old in batch:
                    try:
                        changes.append((row_key, old, self._sealer.reseal(old)))
                    except SealError:
                        unreadable += 1
                await uow.sealed_values.replace_many(label, changes)
                resealed += len(changes)
            if len(batch) < self._batch_size:
                return resealed, unreadable
            after = batch[-1][0]

    async def _remaining(self) -> dict[str, int]:
        prefix = self._sealer.current_prefix
        async with self._store.read() as uow:
            return {
                label: await uow.sealed_values.count_not_under(label, prefix)
                for label in uow.sealed_values.columns()
            }
