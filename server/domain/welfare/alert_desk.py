"""Alerts as staff handle them: list, acknowledge (first wins), resolve with an outcome.

Acknowledging stops escalation for a while (the policy's acknowledgement timeout);
resolving needs an outcome ("home visit: witness safe") and a note, which is sealed at
rest because it is personal data. Both are audited; the note itself never is.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from server.clock import Clock
from server.domain.access import SUPERVISING_ROLES, can_view_case
from server.domain.audit import Actor, AuditLog
from server.domain.effects import Effects
from server.domain.events import EventSink
from server.domain.models import Staff
from server.domain.welfare.acknowledging import acknowledge_in
from server.domain.welfare.alerts import alert_event
from server.domain.welfare_models import Alert, AlertStatus, Notification
from server.errors import Conflict, InvalidInput, NotFound
from server.security.sealing import Sealer
from server.storage.protocols import Store, UnitOfWork

MAX_NOTE = 4000


@dataclass(frozen=True, slots=True)
class AlertDetail:
    alert: Alert
    notifications: list[Notification]
    note: str | None


class AlertDesk:
    """The staff side of alerts."""

    def __init__(
        self, store: Store, audit: AuditLog, clock: Clock, events: EventSink, sealer: Sealer
    ) -> None:
        self._store = store
        self._audit = audit
        self._clock = clock
        self._events = events
        self._sealer = sealer

    async def _visible_case_ids(self, uow: UnitOfWork, staff: Staff) -> list[str]:
        cases = await uow.cases.list_assigned(staff.id)
        if staff.role in SUPERVISING_ROLES:
            cases += [
                c
                for c in await uow.cases.list_for_agency(staff.agency_id)
                if can_view_case(staff, c, assigned=False)
            ]
        return sorted({c.id for c in cases})

    async def list(
        self, staff: Staff, *, include_resolved: bool = False, limit: int = 200
    ) -> list[Alert]:
        """Alerts on the caller's cases, newest first; open and acknowledged by default."""
        statuses = ["open", "acknowledged"] + (["resolved"] if include_resolved else [])
        async with self._store.read() as uow:
            case_ids = await self._visible_case_ids(uow, staff)
            alerts = await uow.alerts.list_for_cases(
                case_ids, statuses=statuses, limit=max(1, min(limit, 1000))
            )
        return [self._opened(alert) for alert in alerts]

    def _opened(self, alert: Alert) -> Alert:
        """The alert with its outcome opened (it is sealed at rest, like the note)."""
        if alert.outcome_sealed is None:
            return alert
        return replace(alert, outcome=self._sealer.open(alert.outcome_sealed))

    async def seal_plaintext_outcomes(self, batch: int = 500) -> int:
        """Seal the outcomes of alerts resolved before outcomes were sealed (run at
        start; a no-op once done). Returns how many were sealed."""
        sealed = 0
        while True:
            async with self._store.write() as uow:
                plain = await uow.alerts.plaintext_outcomes(batch)
                for alert_id, outcome in plain:
                    if await uow.alerts.seal_outcome(alert_id, outcome, self._sealer.seal(outcome)):
                        sealed += 1
            if len(plain) < batch:
                return sealed

    async def _load(self, uow: UnitOfWork, staff: Staff, alert_id: str) -> Alert:
        alert = await uow.alerts.get(alert_id)
        case = None if alert is None else await uow.cases.get(alert.case_id)
        if alert is None or case is None:
            raise NotFound("No such alert")
        assigned = await uow.cases.is_assigned(case.id, staff.id)
        if not can_view_case(staff, case, assigned=assigned):
            raise NotFound("No such alert")
        return alert

    async def detail(self, staff: Staff, alert_id: str) -> AlertDetail:
        """An alert with who has been notified (and the outcome note once resolved).

        Raises:
            NotFound: no such alert visible to the caller.
        """
        async with self._store.read() as uow:
            alert = await self._load(uow, staff, alert_id)
            notifications = await uow.notifications.for_alert(alert.id)
        alert = self._opened(alert)
        note = None if alert.note_sealed is None else self._sealer.open(alert.note_sealed)
        if note is not None:
            async with self._store.write() as uow:
                await self._audit.append(
                    uow.audit,
                    Actor.staff(staff.id),
                    "alert.note_consulted",
                    subject=("alert", alert.id),
                    case_id=alert.case_id,
                )
        return AlertDetail(alert, notifications, note)

    async def acknowledge(self, staff: Staff, alert_id: str) -> Alert:
        """Take the alert: escalation pauses until the acknowledgement times out.

        Raises:
            NotFound: no such alert visible to the caller.
            Conflict: someone acknowledged or resolved it first.
        """
        now = self._clock.now()
        effects = Effects()
        async with self._store.write() as uow:
            alert = await self._load(uow, staff, alert_id)
            updated = await acknowledge_in(uow, self._audit, alert, staff.id, now, effects)
            if updated is None:
                raise Conflict(
                    "This alert was already acknowledged or resolved",
                    acknowledged_by=alert.acknowledged_by,
                )
        await effects.run(self._events)
        return updated

    async def resolve(self, staff: Staff, alert_id: str, *, outcome: str, note: str) -> Alert:
        """Close the alert with what happened.

        Raises:
            InvalidInput: no outcome or no note.
            NotFound: no such alert visible to the caller.
            Conflict: already resolved.
        """
        outcome, note = outcome.strip(), note.strip()
        if not outcome or len(outcome) > 200:
            raise InvalidInput("say what happened in the outcome (up to 200 characters)")
        if not note or len(note) > MAX_NOTE:
            raise InvalidInput(f"add a note (up to {MAX_NOTE} characters)")
        now = self._clock.now()
        effects = Effects()
        async with self._store.write() as uow:
            alert = await self._load(uow, staff, alert_id)
            if not await uow.alerts.resolve(
                alert.id, staff.id, now, self._sealer.seal(outcome), self._sealer.seal(note)
            ):
                raise Conflict("This alert is already resolved")
            await uow.notifications.cancel_for_alert(alert.id)
            await self._audit.append(
                uow.audit,
                Actor.staff(staff.id),
                "alert.resolved",
                subject=("alert", alert.id),
                case_id=alert.case_id,
            )
            updated = replace(
                alert,
                status=AlertStatus.RESOLVED,
                resolved_by=staff.id,
                resolved_at=now,
                outcome=outcome,
            )
            devices = await uow.devices.staff_devices_for_cases([alert.case_id])
            effects.push(devices.get(alert.case_id, []), alert_event(updated, "resolved"))
        await effects.run(self._events)
        return updated
