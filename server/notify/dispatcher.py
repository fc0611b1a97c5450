"""The notification dispatcher: delivers the outbox, exactly once as far as anyone sees.

Rows are claimed under a lease (``SKIP LOCKED`` on PostgreSQL), so two instances never
hold the same row. The SMS gateway's answer decides what happens next:

* sent — recorded with the provider's message id (status callbacks update it later);
* permanent failure (or no number to send to) — recorded; the level counts as not
  notified, so the alert escalates without waiting;
* retryable failure (nothing was sent) — retried with backoff;
* uncertain (timeout, cut connection, provider error) — never retried blindly: the next
  attempt first asks the provider whether it has a message to that number with this
  exact body, and only sends if it has none.

A row whose lease ran out (its dispatcher died mid-send) is treated as uncertain too.
The lease is longer than the gateway's own timeout, so a live dispatcher always
finishes, or gives up, before anyone else may look at its rows.

Staff alert SMS are coalesced: everything due for one person at one moment goes in one
message ("3 alerts need attention"), which is what someone on call at night wants. The
exact body and a short reference are stored before sending, so a retry or a
reconciliation concerns the same text.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from client_sdk.i18n import texts
from server.clock import Clock
from server.domain.events import EventSink
from server.domain.welfare.alerts import AlertEngine
from server.domain.welfare_models import Notification, NotificationStatus, Severity
from server.notify.sms import ReconciliationUnavailable, SendOutcome, SendResult, SmsGateway
from server.security.phones import PhoneBook
from server.storage.protocols import DeliveryUpdate, Store

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=90)
UNCERTAIN_RECHECK = timedelta(seconds=20)
MAX_BACKOFF = timedelta(minutes=10)


@dataclass
class _Group:
    """Rows sent as one SMS (or pushed as one app event)."""

    rows: list[Notification]
    channel: str
    recipient_kind: str
    recipient_id: str
    reference: str
    body: str
    to: str | None = None

    @property
    def ids(self) -> list[str]:
        return [r.id for r in self.rows]

    @property
    def needs_reconciling(self) -> bool:
        return any(r.attempts > 1 for r in self.rows)

    @property
    def since(self) -> datetime:
        return min(r.created_at for r in self.rows)


def _backoff(attempts: int) -> timedelta:
    return min(MAX_BACKOFF, timedelta(seconds=5 * 2 ** max(0, attempts - 1)))


class Dispatcher:
    """Delivers due notifications through the SMS gateway and the real-time hub."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        events: EventSink,
        gateway: SmsGateway,
        phones: PhoneBook,
        alerts: AlertEngine,
        *,
        status_callback_url: str | None = None,
        batch: int = 5000,
        concurrency: int = 100,
    ) -> None:
        self._store = store
        self._clock = clock
        self._events = events
        self.gateway = gateway
        self._phones = phones
        self._alerts = alerts
        self._status_callback_url = status_callback_url
        self._batch = batch
        self._limit = asyncio.Semaphore(concurrency)
        self.owner = secrets.token_hex(8)
        self._wakeup = asyncio.Event()
        self._lock = asyncio.Lock()

    def wake(self) -> None:
        """Something was queued: look now rather than at the next tick."""
        self._wakeup.set()

    async def wait_for_work(self, at_most_s: float) -> None:
        """Wait until woken, or ``at_most_s`` seconds (a periodic look regardless)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), at_most_s)
        self._wakeup.clear()

    async def drain(self, max_rounds: int = 100) -> int:
        """Deliver everything due now (rounds until nothing is left); returns how many."""
        total = 0
        for _ in range(max_rounds):
            handled = await self.run_once()
            total += handled
            if handled == 0:
                break
        return total

    async def run_once(self) -> int:
        """Claim one batch, deliver it, record the outcomes."""
        async with self._lock:
            now = self._clock.now()
            groups = await self._claim(now)
            if not groups:
                return 0
            outcomes = await asyncio.gather(*(self._deliver(g) for g in groups))
            await self._record(groups, outcomes)
            return sum(len(g.rows) for g in groups)

    async def _claim(self, now: datetime) -> list[_Group]:
        async with self._store.read() as uow:
            if not await uow.notifications.any_due(now):
                return []
        async with self._store.write() as uow:
            rows = await uow.notifications.claim(now, self.owner, now + LEASE, self._batch)
            if not rows:
                return []
            groups = self._group(rows)
            staff_ids = sorted({g.recipient_id for g in groups if g.recipient_kind == "staff"})
            witness_ids = sorted({g.recipient_id for g in groups if g.recipient_kind == "witness"})
            staff_phones = await uow.staff.phones(staff_ids)
            witness_phones = await uow.witnesses.phones(witness_ids)
            new_groups = [
                (g.ids, g.reference, g.body)
                for g in groups
                if any(r.group_ref is None for r in g.rows)
            ]
            await uow.notifications.set_groups(new_groups)
        for group in groups:
            sealed = (staff_phones if group.recipient_kind == "staff" else witness_phones).get(
                group.recipient_id
            )
            group.to = None if sealed is None else self._phones.open(sealed)
        return groups

    def _group(self, rows: Sequence[Notification]) -> list[_Group]:
        groups: list[_Group] = []
        staff_alerts: dict[tuple[str, str | None], list[Notification]] = defaultdict(list)
        for row in rows:
            if row.channel == "sms" and row.purpose == "alert":
                # Rows already sent as a group stay in that group (same body, same ref).
                staff_alerts[(row.recipient_id, row.group_ref)].append(row)
            else:
                groups.append(
                    _Group(
                        [row],
                        row.channel,
                        row.recipient_kind,
                        row.recipient_id,
                        row.group_ref or row.id[-6:],
                        row.body or "",
                    )
                )
        for (recipient, existing_ref), members in staff_alerts.items():
            if existing_ref is not None and members[0].body:
                body, ref = members[0].body, existing_ref
            else:
                ref = secrets.token_hex(2).upper()
                severity = max(
                    (Severity(m.severity or "normal") for m in members), key=lambda s: s.rank
                )
                body = texts.staff_alert_sms(
                    members[0].language, severity=severity.value, count=len(members), reference=ref
                )
            groups.append(_Group(members, "sms", "staff", recipient, ref, body))
        return groups

    async def _deliver(self, group: _Group) -> SendOutcome | None:
        """None means "nothing to send to" (skipped)."""
        if group.to is None:
            return None
        async with self._limit:
            if group.needs_reconciling:
                try:
                    found = await self.gateway.find_sent(group.to, group.body, group.since)
                except ReconciliationUnavailable:
                    return SendOutcome(SendResult.UNCERTAIN, error_code="reconcile-unavailable")
                if found is not None:
                    return SendOutcome(SendResult.SENT, provider_id=found)
            return await self.gateway.send(
                group.to, group.body, status_callback=self._status_callback_url
            )

    async def _record(
        self, groups: Sequence[_Group], outcomes: Sequence[SendOutcome | None]
    ) -> None:
        now = self._clock.now()
        updates: list[DeliveryUpdate] = []
        failed: list[Notification] = []
        for group, outcome in zip(groups, outcomes, strict=True):
            attempts = max(r.attempts for r in group.rows)
            if outcome is None:
                updates.append(
                    DeliveryUpdate(
                        group.ids, NotificationStatus.SKIPPED.value, now, error_code="no-recipient"
                    )
                )
                failed += group.rows
            elif outcome.result is SendResult.SENT:
                updates.append(
                    DeliveryUpdate(
                        group.ids,
                        NotificationStatus.SENT.value,
                        now,
                        provider_id=outcome.provider_id,
                    )
                )
            elif outcome.result is SendResult.PERMANENT_FAILURE:
                updates.append(
                    DeliveryUpdate(
                        group.ids,
                        NotificationStatus.FAILED.value,
                        now,
                        error_code=outcome.error_code,
                    )
                )
                failed += group.rows
            elif outcome.result is SendResult.RETRYABLE_FAILURE:
                updates.append(
                    DeliveryUpdate(
                        group.ids,
                        NotificationStatus.PENDING.value,
                        now,
                        error_code=outcome.error_code,
                        next_attempt_at=now + _backoff(attempts),
                    )
                )
            else:
                updates.append(
                    DeliveryUpdate(
                        group.ids,
                        NotificationStatus.UNCERTAIN.value,
                        now,
                        error_code=outcome.error_code,
                        next_attempt_at=now + UNCERTAIN_RECHECK,
                    )
                )
        async with self._store.write() as uow:
            await uow.notifications.record(self.owner, updates)
            sms_failures = [r for r in failed if r.channel == "sms" and r.alert_id]
            if sms_failures:
                await self._alerts.escalate_early(uow, sms_failures, now)

    async def status_callback(self, provider_id: str, status: str, error_code: str | None) -> int:
        """Apply Twilio's delivery report; an undelivered alert SMS escalates early."""
        now = self._clock.now()
        if status not in ("delivered", "failed", "undelivered"):
            return 0
        mapped = (
            NotificationStatus.DELIVERED if status == "delivered" else NotificationStatus.FAILED
        )
        async with self._store.write() as uow:
            rows = await uow.notifications.mark_by_provider(
                provider_id, mapped.value, now, error_code
            )
            if mapped is NotificationStatus.FAILED:
                await self._alerts.escalate_early(uow, [r for r in rows if r.alert_id], now)
        return len(rows)
