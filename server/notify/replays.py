"""Replay protection for inbound provider webhooks: each is acted on once, by its id.

A signature proves Twilio sent a request, not that it is new: anyone who captures a
signed check-in SMS (a proxy log, a compromised network) can post it again hours later,
and Twilio itself retries a webhook it got no answer to. SMS webhooks carry no
timestamp, so freshness cannot be checked; instead every webhook we act on is recorded
under its provider id in the database (shared by every instance), and a second request
with the same id is answered normally but changes nothing.

Keys, by kind (the caller chooses them; the guard only compares):

* ``sms``: an inbound SMS, by ``MessageSid``;
* ``sms-status``: a delivery status callback, by ``MessageSid`` + ``:`` + status
  (each status of a message is reported once);
* voice webhooks: ``CallSid`` + the step (e.g. ``call-step`` / ``CA…:gather-1``).

Use :meth:`WebhookReplayGuard.once` around the handling::

    async with guard.once("sms", sms.provider_id) as fresh:
        if fresh:
            await handle(sms)

If the handling raises, the claim is withdrawn so that Twilio's retry is handled.
Receipts are kept for ``keep_for`` (a replay after that is acted on again; the
default of 30 days is far beyond Twilio's retry window).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from server.clock import Clock, to_ms
from server.storage.protocols import Store

__all__ = ["DEFAULT_KEEP_FOR", "WebhookReplayGuard"]

DEFAULT_KEEP_FOR = timedelta(days=30)


class WebhookReplayGuard:
    """Records inbound webhooks by (kind, provider id) and tells a first sighting."""

    def __init__(self, store: Store, clock: Clock, keep_for: timedelta = DEFAULT_KEEP_FOR) -> None:
        if keep_for <= timedelta(0):
            raise ValueError("webhook receipts must be kept for a positive time")
        self._store = store
        self._clock = clock
        self._keep_for = keep_for

    async def first_sighting(self, kind: str, key: str) -> bool:
        """Record (kind, key); True if it was not recorded already (act on it)."""
        claimed, _seen_ms = await self._claim(kind, key)
        return claimed

    @asynccontextmanager
    async def once(self, kind: str, key: str) -> AsyncIterator[bool]:
        """Yield True the first time (kind, key) is seen, False for a replay; a claim
        whose handling raises is withdrawn, so the provider's retry runs it."""
        claimed, seen_ms = await self._claim(kind, key)
        try:
            yield claimed
        except BaseException:
            if claimed:
                async with self._store.write() as uow:
                    await uow.webhook_receipts.release(kind, key, seen_ms)
            raise

    async def purge_expired(self) -> int:
        """Forget receipts past their keeping time; returns how many."""
        async with self._store.write() as uow:
            return await uow.webhook_receipts.purge(to_ms(self._clock.now()))

    async def _claim(self, kind: str, key: str) -> tuple[bool, int]:
        if not kind or not key:
            raise ValueError("a webhook receipt needs a kind and a key")
        now = self._clock.now()
        now_ms = to_ms(now)
        async with self._store.write() as uow:
            claimed = await uow.webhook_receipts.claim(
                kind, key, now_ms, to_ms(now + self._keep_for)
            )
        return claimed, now_ms
