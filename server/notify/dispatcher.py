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
Reconciliation looks only at messages since the attempt whose outcome is unknown, and
never takes a message already recorded for another row (a nudge reads like the one
before it).

No instance's clock decides who holds a row or how far back to look: leases and the
moment of each claim are on the database's clock (:class:`server.clock.DatabaseClock`),
so instances whose clocks disagree by more than a lease never both send; and the
reconciliation window is measured on the database's clock and laid on Twilio's (see
:meth:`server.notify.sms.SmsGateway.find_sent`), so a server clock ahead of or behind
Twilio's cannot hide a message that was sent.

A live dispatcher never sends a row whose lease could run out before the send ends:
before each send it checks that the lease outlasts the gateway's timeout, and renews
the lease on the rest of its batch when it would not. A row another instance has taken
over meanwhile is left to that instance.

Twilio may report a message's fate before the dispatcher has recorded the send (its
batch is still going); such a report is kept and applied when the message id is.

Calls (``channel = "voice"``) go through the same claim, lease, classification and
reconciliation, with the voice gateway instead of the SMS one (:mod:`server.notify.voice`):
a crash between placing a call and recording it never places it again. A call row's
body is the path of the webhook its TwiML is fetched from. Without a voice gateway
(voice off) call rows are skipped.

Staff alert SMS are coalesced: everything due for one person at one moment goes in one
message ("3 alerts need attention"), which is what someone on call at night wants. The
exact body and a short reference are stored before sending, so a retry or a
reconciliation concerns the same text. Only alerts of one urgency class fold together
(:mod:`server.domain.welfare.urgency`): a duress alarm never shares an SMS with a
routine alert.

Pacing (issue 14, :mod:`server.notify.pacing`): when SMS or calls are limited, the
dispatcher first takes tokens from the shared buckets, then claims at most that many
rows of the channel, most urgent first, and gives back what it could not use. Each SMS
goes from the sender whose token it holds. The backlog waits in the outbox, where a
duress alert raised later still goes first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from server.clock import Clock, DatabaseClock
from server.domain.events import EventSink
from server.domain.welfare.alerts import AlertEngine
from server.domain.welfare.urgency import urgency_class
from server.domain.welfare_models import Notification, NotificationStatus, Severity
from server.notify.pacing import QUEUE_OVERFLOW, SLOW_DOWN_CODES, Pacer, PacingSettings
from server.notify.sms import (
    ReconciliationUnavailable,
    SendOutcome,
    SendResult,
    SmsGateway,
)
from server.notify.voice import call_path
from server.observability.delivery_health import DeliveryMonitor
from server.security.phones import PhoneBook
from server.storage.protocols import DeliveryUpdate, Store, UnitOfWork
from wire.i18n import texts

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=90)
UNCERTAIN_RECHECK = timedelta(seconds=20)
MAX_BACKOFF = timedelta(minutes=10)
#: Room left in a lease after a send's longest possible duration.
LEASE_MARGIN = timedelta(seconds=5)
#: How long a delivery report for a message no row carries is kept.
REPORT_KEPT = timedelta(days=7)
#: How far before an unknown attempt messages recorded for other rows are still
#: excluded from reconciliation (``sent_at`` is on the recording instance's clock).
RECORDED_WINDOW = timedelta(days=1)


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
    #: The sender whose token this group holds (paced SMS), or None: the default.
    sender: str | None = None

    @property
    def urgency(self) -> int:
        return min(r.urgency for r in self.rows)

    @property
    def ids(self) -> list[str]:
        return [r.id for r in self.rows]

    @property
    def needs_reconciling(self) -> bool:
        return any(r.reconcile_since is not None for r in self.rows)

    @property
    def since(self) -> datetime:
        """When the first attempt whose outcome is unknown began (database clock)."""
        return min(r.reconcile_since for r in self.rows if r.reconcile_since is not None)


class _Lost:
    """The marker for a group whose lease this dispatcher no longer holds."""


LOST = _Lost()
Outcome = SendOutcome | _Lost | None


class _Lease:
    """The lease on one claimed batch, renewed while the batch is still being sent."""

    def __init__(self, dispatcher: Dispatcher, groups: Sequence[_Group], until: datetime) -> None:
        self._dispatcher = dispatcher
        self._held = {nid for g in groups for nid in g.ids}
        self._until = until
        self._lock = asyncio.Lock()

    async def covers(self, group: _Group, duration: timedelta) -> bool:
        """Whether this dispatcher holds ``group`` for ``duration`` more (renewing if
        need be); False means another instance may have it, so do not send."""
        async with self._lock:
            now = self._dispatcher.now()
            if now + duration > self._until:
                # ``now`` is read before the renewal, so this instance's idea of the
                # lease never outlasts the database's, whatever their clocks say.
                self._held = await self._dispatcher.renew(sorted(self._held))
                self._until = now + LEASE
            return all(nid in self._held for nid in group.ids)


#: The names delivery outcomes carry in metrics and the delivery monitor.
_OUTCOME_NAMES = {
    SendResult.SENT: "sent",
    SendResult.PERMANENT_FAILURE: "failed",
    SendResult.RETRYABLE_FAILURE: "retry",
    SendResult.UNCERTAIN: "uncertain",
}


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
        alert_link_base: str | None = None,
        monitor: DeliveryMonitor | None = None,
        voice: SmsGateway | None = None,
        batch: int = 20000,
        concurrency: int = 100,
        database_clock: DatabaseClock | None = None,
        senders: Mapping[str, SmsGateway] | None = None,
        pacing: PacingSettings | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._database_clock = database_clock or DatabaseClock.for_instance(clock)
        self._events = events
        self.gateway = gateway
        #: Places calls (same shape as the SMS gateway); None when voice is off.
        self.voice = voice
        self._phones = phones
        self._alerts = alerts
        self._status_callback_url = status_callback_url
        # "https://wl.example.org/console/alerts/": a staff alert SMS ends with this plus
        # its reference, which opens the alert after sign-in. Only with a public URL.
        self._alert_link_base = alert_link_base
        self._monitor = monitor
        self._batch = batch
        self._limit = asyncio.Semaphore(concurrency)
        self.owner = secrets.token_hex(8)
        self._wakeup = asyncio.Event()
        self._lock = asyncio.Lock()
        self._sweeps = 0
        self._sweeps_done = asyncio.Event()
        self._sweeps_done.set()
        #: SMS gateways by sender (number, short code or Messaging Service SID); one
        #: "default" sender (``gateway``) when not given.
        self.senders: dict[str, SmsGateway] = dict(senders or {"default": gateway})
        self.pacer = Pacer(
            store,
            self._database_clock,
            pacing or PacingSettings.unlimited(),
            list(self.senders),
        )
        #: The paced channels whose due rows the last look left waiting for a token.
        self._held_back: frozenset[str] = frozenset()

    @contextlib.contextmanager
    def sweeping(self) -> Iterator[None]:
        """Mark a sweep that may raise a wave of alerts. Dispatch waits for it (up to a
        bound, :meth:`after_sweeps`): the wave's alerts land sooner without SMS sends
        competing for the process, and each person then gets one SMS about all of
        their alerts instead of several in a row."""
        self._sweeps += 1
        self._sweeps_done.clear()
        try:
            yield
        finally:
            self._sweeps -= 1
            if self._sweeps == 0:
                self._sweeps_done.set()

    async def after_sweeps(self, at_most_s: float) -> None:
        """Wait until no sweep is running, or ``at_most_s`` seconds at most."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._sweeps_done.wait(), at_most_s)

    def wake(self) -> None:
        """Something was queued: look now rather than at the next tick."""
        self._wakeup.set()

    async def wait_for_work(self, at_most_s: float) -> None:
        """Wait until woken, or ``at_most_s`` seconds (a periodic look regardless)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), at_most_s)
        self._wakeup.clear()

    def now(self) -> datetime:
        return self._clock.now()

    async def next_look_s(self, at_most_s: float) -> float:
        """How long the dispatch loop may wait before it looks again: ``at_most_s``,
        or less when the last look left paced rows waiting for a token: then until the
        first such channel has one, so a backlog (and a critical alert in it) waits for
        its token and not for the next periodic look too."""
        waits = [await self.pacer.wait_s(channel) for channel in sorted(self._held_back)]
        return min([at_most_s, *waits])

    async def drain(self, max_rounds: int = 100) -> int:
        """Deliver everything due now (rounds until nothing is left); returns how many."""
        await self.apply_saved_reports()
        total = 0
        for _ in range(max_rounds):
            handled = await self.run_once()
            total += handled
            if handled == 0:
                break
        return total

    def _paced_channels(self) -> list[str]:
        """The channels whose sends are limited (calls only when voice is on)."""
        return [
            c for c in ("sms", "voice") if self.pacer.paced(c) and self._gateway_for(c) is not None
        ]

    async def run_once(self) -> int:
        """Claim one batch, deliver it, record the outcomes."""
        async with self._lock:
            now = self._clock.now()
            paced = self._paced_channels()
            self._held_back = frozenset()
            if paced:
                groups = await self._claim_paced(now, paced)
            else:
                groups = await self._claim(now)
            if not groups:
                return 0
            lease = _Lease(self, groups, now + LEASE)
            outcomes = await asyncio.gather(*(self._deliver(g, lease) for g in groups))
            await self._record(groups, outcomes)
            return sum(len(g.rows) for g in groups)

    async def _claim_paced(self, now: datetime, paced: Sequence[str]) -> list[_Group]:
        """Unpaced channels as usual; of each paced channel, only as many rows as the
        senders have tokens for (taken first, the unused given back)."""
        pinned = self._database_clock.pinned_ms()
        async with self._store.read() as uow:
            if not await uow.notifications.any_due(now, pinned):
                return []  # idle: no write transaction at all
        unpaced = [c for c in ("app", "sms", "voice") if c not in paced]
        groups = await self._claim(now, channels=unpaced)
        for channel in paced:
            async with self._store.read() as uow:
                due = await uow.notifications.count_due(now, channel, self._batch, pinned)
            tokens = await self.pacer.take(channel, due)
            if len(tokens) < due:
                self._held_back |= {channel}
            if not tokens:
                continue
            claimed = await self._claim(now, channels=[channel], limit=len(tokens))
            claimed.sort(key=lambda g: (g.urgency, min(r.created_at for r in g.rows)))
            for group, sender in zip(claimed, tokens, strict=False):
                group.sender = sender
            await self.pacer.give_back(channel, tokens[len(claimed) :])
            groups += claimed
        return groups

    async def _companions(
        self, uow: UnitOfWork, now: datetime, rows: Sequence[Notification]
    ) -> list[Notification]:
        """The same people's other due alerts of the same class, claimed to fold into
        the SMS of the paced rows (so a wave still costs one SMS per person)."""
        seen: set[tuple[str, str | None, int]] = set()
        extra: list[Notification] = []
        for row in rows:
            if row.channel != "sms" or row.purpose != "alert":
                continue
            klass = urgency_class(row.urgency)
            key = (row.recipient_id, row.group_ref, klass)
            if key in seen:
                continue
            seen.add(key)
            extra += await uow.notifications.claim_companions(
                now,
                self.owner,
                LEASE,
                self._database_clock.pinned_ms(),
                row.recipient_id,
                (2 * klass, 2 * klass + 1),
                row.group_ref,
            )
        return extra

    async def _claim(
        self, now: datetime, *, channels: Sequence[str] | None = None, limit: int | None = None
    ) -> list[_Group]:
        if channels is None:
            async with self._store.read() as uow:
                if not await uow.notifications.any_due(now, self._database_clock.pinned_ms()):
                    return []
        elif not channels:
            return []
        async with self._store.write() as uow:
            rows = await uow.notifications.claim(
                now,
                self.owner,
                LEASE,
                self._batch if limit is None else limit,
                self._database_clock.pinned_ms(),
                channels,
            )
            if not rows:
                return []
            if limit is not None:
                rows += await self._companions(uow, now, rows)
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
        staff_alerts: dict[tuple[str, str | None, int], list[Notification]] = defaultdict(list)
        for row in rows:
            if row.channel == "sms" and row.purpose == "alert":
                # Rows already sent as a group stay in that group (same body, same ref).
                # Only one urgency class folds together: never a duress alarm with a
                # routine alert.
                key = (row.recipient_id, row.group_ref, urgency_class(row.urgency))
                staff_alerts[key].append(row)
            else:
                body = row.body or ""
                if row.channel == "voice" and not body:
                    body = call_path(row.purpose, row.id)
                groups.append(
                    _Group(
                        [row],
                        row.channel,
                        row.recipient_kind,
                        row.recipient_id,
                        row.group_ref or row.id[-6:],
                        body,
                    )
                )
        for (recipient, existing_ref, _class), members in staff_alerts.items():
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
                if self._alert_link_base is not None:
                    # The reference is opaque: the link names no witness, case or agency.
                    body = f"{body} {self._alert_link_base}{ref}"
            groups.append(_Group(members, "sms", "staff", recipient, ref, body))
        return groups

    async def renew(self, ids: Sequence[str]) -> set[str]:
        """Extend the lease on the rows this dispatcher still holds; returns them."""
        async with self._store.write() as uow:
            return await uow.notifications.renew_lease(
                self.owner, ids, LEASE, self._database_clock.pinned_ms()
            )

    async def _deliver(self, group: _Group, lease: _Lease) -> Outcome:
        """None means "nothing to send to" (skipped); LOST, "not ours any more"."""
        gateway = self._gateway_for(group.channel)
        if group.channel == "sms" and group.sender is not None:
            gateway = self.senders.get(group.sender, gateway)
        if group.to is None or gateway is None:
            return None
        async with self._limit:
            calls = 2 if group.needs_reconciling else 1
            if not await lease.covers(group, gateway.timeout * calls + LEASE_MARGIN):
                return LOST
            if group.needs_reconciling:
                try:
                    found = await self._reconcile(gateway, group, group.to)
                except ReconciliationUnavailable:
                    return SendOutcome(SendResult.UNCERTAIN, error_code="reconcile-unavailable")
                if found is not None:
                    return SendOutcome(SendResult.SENT, provider_id=found)
            outcome = await gateway.send(
                group.to, group.body, status_callback=self._status_callback_url
            )
            if outcome.error_code in SLOW_DOWN_CODES and self.pacer.paced(group.channel):
                # Too many: this sender (or the account's calls) waits longer.
                await self.pacer.slow_down(group.channel, group.sender or self.pacer.senders[0])
            return outcome

    def _gateway_for(self, channel: str) -> SmsGateway | None:
        """The gateway that delivers ``channel``'s rows (None: this channel is off)."""
        return self.voice if channel == "voice" else self.gateway

    async def _reconcile(self, gateway: SmsGateway, group: _Group, to: str) -> str | None:
        """The provider id of this group's message if it was sent after all."""
        since = group.since
        async with self._store.read() as uow:
            taken = await uow.notifications.recorded_provider_ids(
                group.recipient_kind, group.recipient_id, since - RECORDED_WINDOW
            )
            # ``since`` is on the database's clock: so is ``now``, and the gateway lays
            # the time between them on the provider's clock.
            now = await uow.notifications.database_now(self._database_clock.pinned_ms())
        return await gateway.find_sent(to, group.body, since, exclude=taken, now=now)

    async def _record(self, groups: Sequence[_Group], outcomes: Sequence[Outcome]) -> None:
        now = self._clock.now()
        updates: list[DeliveryUpdate] = []
        failed: list[Notification] = []
        for group, outcome in zip(groups, outcomes, strict=True):
            attempts = max(r.attempts for r in group.rows)
            if isinstance(outcome, _Lost):
                continue
            self._observe(group.channel, outcome)
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
            failed += await uow.notifications.apply_saved_reports()
            sms_failures = [
                r
                for r in failed
                if r.channel == "sms"
                and r.alert_id
                and r.status is not NotificationStatus.DELIVERED
            ]
            if sms_failures:
                await self._alerts.escalate_early(uow, sms_failures, now)

    def _observe(self, channel: str, outcome: SendOutcome | None) -> None:
        """Tell the delivery monitor (metrics, the "SMS failing" warning) how it went."""
        if self._monitor is None:
            return
        if outcome is None:
            self._monitor.record(channel, "skipped")
        else:
            self._monitor.record(
                channel, _OUTCOME_NAMES[outcome.result], error_code=outcome.error_code
            )

    async def apply_saved_reports(self) -> int:
        """Apply delivery reports that came before their send was recorded (one may
        have raced the recording transaction); returns how many rows changed."""
        async with self._store.read() as uow:
            if not await uow.notifications.any_saved_reports():
                return 0
        now = self._clock.now()
        async with self._store.write() as uow:
            changed = await uow.notifications.apply_saved_reports()
            failed = [r for r in changed if r.alert_id and r.status is NotificationStatus.FAILED]
            if failed:
                await self._alerts.escalate_early(uow, failed, now)
        return len(changed)

    async def forget_old_reports(self) -> int:
        """Drop kept reports that never matched a row (not our message, or long gone)."""
        async with self._store.write() as uow:
            return await uow.notifications.purge_reports(self._clock.now() - REPORT_KEPT)

    async def status_callback(
        self, provider_id: str, status: str, error_code: str | None, *, channel: str = "sms"
    ) -> int:
        """Apply Twilio's delivery report; an undelivered alert SMS escalates early.

        A call's final status arrives here mapped to ``delivered`` (answered) or
        ``failed`` (busy, no answer, failed)."""
        now = self._clock.now()
        if status not in ("delivered", "failed", "undelivered"):
            return 0
        mapped = (
            NotificationStatus.DELIVERED if status == "delivered" else NotificationStatus.FAILED
        )
        if self._monitor is not None:
            outcome = "delivered" if status == "delivered" else "undelivered"
            self._monitor.record(channel, outcome, error_code=error_code)
        if error_code == QUEUE_OVERFLOW and self.pacer.paced(channel):
            # Twilio's queue overflowed (30001): which sender is not said, so all wait.
            for sender in self.pacer.senders:
                await self.pacer.slow_down(channel, sender)
        async with self._store.write() as uow:
            rows = await uow.notifications.mark_by_provider(
                provider_id, mapped.value, now, error_code
            )
            if not rows:
                # The send is not recorded yet (or the row is already final): keep the
                # report until the message id appears.
                await uow.notifications.save_report(provider_id, mapped.value, now, error_code)
            if mapped is NotificationStatus.FAILED:
                await self._alerts.escalate_early(uow, [r for r in rows if r.alert_id], now)
        return len(rows)
