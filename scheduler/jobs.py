"""The jobs themselves, free of APScheduler so tests can run them with a manual clock."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from server.services import Services

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PurgeReport:
    message_copies: int
    attachments: int
    enrolment_codes: int


class Maintenance:
    """Housekeeping: last-seen batching and TTL purges."""

    def __init__(self, services: Services) -> None:
        self._services = services

    async def flush_last_seen(self) -> int:
        return await self._services.authenticator.flush_last_seen()

    async def purge_expired(self) -> PurgeReport:
        """Delete undelivered copies and attachments past their TTL and dead codes."""
        copies = await self._services.messages.purge_expired()
        attachments = await self._services.attachments.purge_expired()
        async with self._services.store.write() as uow:
            codes = await uow.enrolments.purge_expired(self._services.clock.now())
        report = PurgeReport(copies, attachments, codes)
        if copies or attachments or codes:
            log.info(
                "purged %d undelivered copies, %d attachments, %d enrolment codes",
                copies,
                attachments,
                codes,
            )
        return report
