"""The alert engine: raise, escalate, expire acknowledgements, escalate early.

An alert fires inside the transaction of whatever caused it (a missed check-in, a
panic), snapshots the escalation policy, and in that same transaction writes the
notifications for its first level (all levels for duress) to the outbox. Escalation
steps are rows with due times (``next_escalation_at``, ``ack_expires_at``) that the
scheduler claims; every change is a compare-and-swap on the alert's version, so two
schedulers never advance the same alert twice.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from server.clock import iso
from server.domain.effects import Effects
from server.domain.escalation import DEFAULT_POLICY, EscalationPolicy, Level, for_one_side
from server.domain.models import OwnerKind, Staff
from server.domain.welfare.recipients import RecipientDirectory
from server.domain.welfare.urgency import alert_urgency
from server.domain.welfare_models import (
    DEFAULT_SEVERITY,
    Alert,
    AlertKind,
    AlertStatus,
    Notification,
    NotificationStatus,
    Severity,
)
from server.ids import new_id
from server.storage.protocols import AlertChange, UnitOfWork

COUNTRY_LANGUAGE = {
    "RO": "ro",
    "MD": "ro",
    "BG": "bg",
    "AL": "sq",
    "XK": "sq",
    "FR": "fr",
    "ES": "es",
}


@dataclass(frozen=True, slots=True)
class AlertSpec:
    """An alert to raise: ``source`` makes it idempotent (one alert per kind and source)."""

    case_id: str
    witness_id: str
    kind: AlertKind
    source: str
    severity: Severity | None = None
    #: Only this side of the case is told ("police" or "support"; see
    #: ``escalation.for_one_side``); None: the policy as it is.
    side: str | None = None


def alert_event(alert: Alert, what: str) -> dict[str, object]:
    """The content-free push that tells staff devices about an alert."""
    return {
        "type": "alert",
        "event": what,
        "alert_id": alert.id,
        "case_id": alert.case_id,
        "kind": alert.kind.value,
        "severity": alert.severity.value,
        "status": alert.status.value,
        "level": alert.level,
        "at": iso(alert.created_at),
    }


async def policies_for(
    uow: UnitOfWork, directory: RecipientDirectory
) -> dict[str, EscalationPolicy]:
    """The policy in force per case: the case's own, else its support agency's default,
    else its police agency's, else the built-in default."""
    scopes = []
    for case in directory.cases.values():
        scopes += [
            f"case:{case.id}",
            f"agency:{case.support_agency_id}",
            f"agency:{case.police_agency_id}",
        ]
    specs = await uow.policies.get_many(sorted(set(scopes)))
    parsed: dict[str, EscalationPolicy] = {}  # an agency's policy serves many cases
    chosen: dict[str, EscalationPolicy] = {}
    for case in directory.cases.values():
        for scope in (
            f"case:{case.id}",
            f"agency:{case.support_agency_id}",
            f"agency:{case.police_agency_id}",
        ):
            if scope in specs:
                policy = parsed.get(scope)
                if policy is None:
                    policy = parsed[scope] = EscalationPolicy.from_json(specs[scope])
                chosen[case.id] = policy
                break
        else:
            chosen[case.id] = DEFAULT_POLICY
    return chosen


async def push_level_notices(
    uow: UnitOfWork,
    told: dict[str, list[tuple[Alert, int]]],
    effects: Effects,
    devices: dict[str, list[str]] | None = None,
) -> None:
    """The in-app side of a level's notification: a push to each recipient's devices."""
    if not told:
        return
    if devices is None:
        devices = await uow.devices.ids_for_owners(OwnerKind.STAFF, sorted(told))
    for staff_id, items in told.items():
        device_ids = devices.get(staff_id, [])
        for alert, level in items:
            event = alert_event(alert, "notify")
            event["level"] = level
            effects.push(device_ids, event)


@dataclass
class PreparedAlerts:
    """Alerts worked out but not yet written, with everything their commit needs."""

    alerts: list[Alert] = field(default_factory=list)
    #: alert id -> its first notifications
    notifications: dict[str, list[Notification]] = field(default_factory=dict)
    #: alert id -> (staff id, level) told in the app
    told: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    #: alert id -> the case team (who see it appear)
    team: dict[str, list[str]] = field(default_factory=dict)
    #: staff id -> device ids
    devices: dict[str, list[str]] = field(default_factory=dict)

    def at(self, now: datetime) -> PreparedAlerts:
        """The same alerts raised at ``now`` instead of the time they were worked out
        for: created, and their escalation clock started, at ``now``. Their first
        notifications stay due from the earlier time (already due, so sent at once)."""
        if not self.alerts:
            return self
        shift = now - self.alerts[0].created_at
        if not shift:
            return self
        alerts = [
            replace(
                a,
                created_at=now,
                round_started_at=now,
                next_escalation_at=None
                if a.next_escalation_at is None
                else a.next_escalation_at + shift,
            )
            for a in self.alerts
        ]
        return replace(self, alerts=alerts)


class AlertEngine:
    """Creates alerts and moves them along their escalation policy."""

    async def raise_alerts(
        self, uow: UnitOfWork, specs: Sequence[AlertSpec], now: datetime, effects: Effects
    ) -> list[Alert]:
        """Raise alerts (skipping any already raised for the same kind and source) and
        queue their first notifications. Returns the alerts actually created."""
        return await self.commit(uow, await self.prepare(uow, specs, now), None, effects)

    async def prepare(
        self, uow: UnitOfWork, specs: Sequence[AlertSpec], now: datetime
    ) -> PreparedAlerts:
        """Work out the alerts, their first notifications and who is told, reading
        only. A sweep prepares its next batch from a snapshot while the previous
        batch's transaction is still being written (see :meth:`commit`)."""
        specs = await self._without_repeated_duress(uow, specs)
        prepared = PreparedAlerts()
        if not specs:
            return prepared
        probe = RecipientDirectory(
            await uow.cases.get_many(sorted({s.case_id for s in specs})), {}, {}, {}
        )
        policies = await policies_for(uow, probe)
        for spec in specs:
            if spec.side is not None:
                policies[f"{spec.case_id}:{spec.side}"] = for_one_side(
                    policies[spec.case_id], spec.side
                )
        levels = [level for policy in policies.values() for level in policy.levels]
        directory = await RecipientDirectory.load(uow, probe.cases, levels, cases=probe.cases)
        languages = await self._languages(uow, directory)
        snapshots: dict[int, str] = {}  # one JSON snapshot per distinct policy
        for spec in specs:
            policy = policies[spec.case_id if spec.side is None else f"{spec.case_id}:{spec.side}"]
            snapshot = snapshots.get(id(policy))
            if snapshot is None:
                snapshot = snapshots[id(policy)] = policy.to_json()
            alert = self._new_alert(spec, policy, snapshot, now)
            told: dict[str, list[tuple[Alert, int]]] = {}
            first = policy.last_level if spec.kind is AlertKind.DURESS else 1
            prepared.alerts.append(alert)
            prepared.notifications[alert.id] = self._notify(
                alert, policy, range(1, first + 1), directory, now, languages, told
            )
            prepared.told[alert.id] = [
                (sid, lvl) for sid, items in told.items() for _, lvl in items
            ]
            prepared.team[alert.id] = directory.assigned_ids(alert.case_id)
        # One device lookup for everyone: the case teams (the alert appears to them) and
        # the levels' recipients (told in the app), who may include agency supervisors.
        owners = {sid for ids in prepared.team.values() for sid in ids}
        owners |= {sid for told_ in prepared.told.values() for sid, _ in told_}
        prepared.devices = await uow.devices.ids_for_owners(OwnerKind.STAFF, sorted(owners))
        return prepared

    async def commit(
        self,
        uow: UnitOfWork,
        prepared: PreparedAlerts,
        sources: Collection[str] | None,
        effects: Effects,
    ) -> list[Alert]:
        """Write prepared alerts (only those whose source is in ``sources``, if given):
        each alert once per kind and source, with its notifications; pushes follow the
        commit. Returns the alerts actually created."""
        candidates = [a for a in prepared.alerts if sources is None or a.source in sources]
        if not candidates:
            return []
        inserted = await uow.alerts.insert_many(candidates)
        created = [a for a in candidates if a.id in inserted]
        notifications = [n for a in created for n in prepared.notifications[a.id]]
        await uow.notifications.insert_many(notifications)
        told: dict[str, list[tuple[Alert, int]]] = {}
        for alert in created:
            for staff_id, level in prepared.told[alert.id]:
                told.setdefault(staff_id, []).append((alert, level))
        await push_level_notices(uow, told, effects, prepared.devices)
        effects.wake_dispatcher = effects.wake_dispatcher or bool(notifications)
        for alert in created:
            device_ids = [
                d
                for staff_id in prepared.team[alert.id]
                for d in prepared.devices.get(staff_id, [])
            ]
            effects.push(device_ids, alert_event(alert, "raised"))
        return created

    @staticmethod
    def _new_alert(
        spec: AlertSpec, policy: EscalationPolicy, snapshot: str, now: datetime
    ) -> Alert:
        level = policy.last_level if spec.kind is AlertKind.DURESS else 1
        return Alert(
            id=new_id("alr"),
            case_id=spec.case_id,
            witness_id=spec.witness_id,
            kind=spec.kind,
            severity=spec.severity or DEFAULT_SEVERITY[spec.kind],
            source=spec.source,
            status=AlertStatus.OPEN,
            policy=snapshot,
            level=level,
            round=1,
            round_started_at=now,
            next_escalation_at=policy.next_escalation(now, level),
            created_at=now,
            acknowledged_by=None,
            acknowledged_at=None,
            ack_expires_at=None,
            resolved_by=None,
            resolved_at=None,
            outcome=None,
            note_sealed=None,
            version=0,
        )

    @staticmethod
    async def _without_repeated_duress(
        uow: UnitOfWork, specs: Sequence[AlertSpec]
    ) -> list[AlertSpec]:
        """One duress alarm per witness at a time: a duress check-in after the duress
        PIN's heartbeat (or a duress SMS) is the same emergency, already escalating."""
        duress = [s for s in specs if s.kind is AlertKind.DURESS]
        if not duress:
            return list(specs)
        open_alerts = await uow.alerts.list_for_cases(
            sorted({s.case_id for s in duress}), statuses=["open", "acknowledged"], limit=1000
        )
        busy = {a.witness_id for a in open_alerts if a.kind is AlertKind.DURESS}
        kept, seen = [], set()
        for spec in specs:
            if spec.kind is AlertKind.DURESS:
                if spec.witness_id in busy or spec.witness_id in seen:
                    continue
                seen.add(spec.witness_id)
            kept.append(spec)
        return kept

    async def _languages(self, uow: UnitOfWork, directory: RecipientDirectory) -> dict[str, str]:
        """The SMS language per agency, from the agency's country."""
        agency_ids = {a for case in directory.cases.values() for a in case.agency_ids()}
        agencies = await uow.agencies.get_many(sorted(agency_ids))
        return {aid: COUNTRY_LANGUAGE.get(a.country, "en") for aid, a in agencies.items()}

    @staticmethod
    def _notify(
        alert: Alert,
        policy: EscalationPolicy,
        levels: Sequence[int] | range,
        directory: RecipientDirectory,
        now: datetime,
        languages: dict[str, str],
        told: dict[str, list[tuple[Alert, int]]],
    ) -> list[Notification]:
        """SMS outbox rows for the levels' recipients, and a call for those whose target
        asks for one; ``told`` collects who to push an in-app notification to (pushed
        after commit, see :func:`push_level_notices`)."""
        out: list[Notification] = []
        for level_number in levels:
            level = policy.levels[level_number - 1]
            staff: list[Staff] = directory.staff_for(alert.case_id, [level])
            calling = [t for t in level.targets if t.call]
            called = (
                {s.id for s in directory.staff_for(alert.case_id, [Level(0, tuple(calling))])}
                if calling
                else set()
            )
            for member in staff:
                told.setdefault(member.id, []).append((alert, level_number))
                channels = ["sms", "voice"] if member.id in called else ["sms"]
                for channel in channels:
                    out.append(
                        Notification(
                            id=new_id("ntf"),
                            purpose="alert",
                            alert_id=alert.id,
                            checkin_id=None,
                            channel=channel,
                            recipient_kind="staff",
                            recipient_id=member.id,
                            level=level_number,
                            round=alert.round,
                            severity=alert.severity.value,
                            language=languages.get(member.agency_id, "en"),
                            body=None,
                            status=NotificationStatus.PENDING,
                            attempts=0,
                            next_attempt_at=now,
                            lease_until=None,
                            claimed_at=None,
                            group_ref=None,
                            provider_id=None,
                            error_code=None,
                            created_at=now,
                            sent_at=None,
                            delivered_at=None,
                            urgency=alert_urgency(alert.kind, alert.severity, alert.round),
                        )
                    )
        return out

    async def escalate_due(
        self, uow: UnitOfWork, now: datetime, limit: int, effects: Effects
    ) -> int:
        """Advance open alerts whose next step is due, and alerts whose acknowledgement
        has expired without a resolution. Returns how many alerts moved."""
        due = await uow.alerts.due_escalations(now, limit)
        expired = await uow.alerts.due_ack_expiries(now, limit)
        alerts = due + expired
        if not alerts:
            return 0
        policies = {a.id: EscalationPolicy.from_json(a.policy) for a in alerts}
        all_levels = [lvl for p in policies.values() for lvl in p.levels]
        directory = await RecipientDirectory.load(uow, {a.case_id for a in alerts}, all_levels)
        languages = await self._languages(uow, directory)
        changes: list[AlertChange] = []
        plans: list[tuple[Alert, EscalationPolicy, list[int], int]] = []
        for alert in alerts:
            policy = policies[alert.id]
            level, round_number, started = alert.level, alert.round, alert.round_started_at
            if alert.kind is AlertKind.DURESS:
                round_number, started = round_number + 1, now
                notify = list(range(1, policy.last_level + 1))
                level = policy.last_level
            elif level < policy.last_level:
                level += 1
                notify = [level]
            else:
                round_number, started, level = round_number + 1, now, 1
                notify = [1]
            changes.append(
                AlertChange(
                    id=alert.id,
                    version=alert.version,
                    status=AlertStatus.OPEN.value,
                    level=level,
                    round=round_number,
                    round_started_at=started,
                    next_escalation_at=max(now, policy.next_escalation(started, level)),
                    ack_expires_at=None,
                )
            )
            plans.append((alert, policy, notify, round_number))
        applied = await uow.alerts.apply(changes)
        notifications: list[Notification] = []
        told: dict[str, list[tuple[Alert, int]]] = {}
        for (alert, policy, notify, _round), change in zip(plans, changes, strict=True):
            if alert.id not in applied:
                continue  # another scheduler moved it first
            moved = replace(
                alert,
                level=change.level,
                round=change.round,
                status=AlertStatus.OPEN,
                round_started_at=change.round_started_at,
            )
            notifications += self._notify(moved, policy, notify, directory, now, languages, told)
        await uow.notifications.insert_many(notifications)
        await push_level_notices(uow, told, effects)
        effects.wake_dispatcher = effects.wake_dispatcher or bool(notifications)
        return len(applied)

    async def escalate_early(
        self, uow: UnitOfWork, failed: Sequence[Notification], now: datetime
    ) -> int:
        """A level whose every SMS failed counts as not notified: its timeout is not
        waited for. Returns how many alerts were brought forward."""
        brought = 0
        for alert_id in sorted({n.alert_id for n in failed if n.alert_id}):
            alert = await uow.alerts.get(alert_id)
            if alert is None or alert.status is not AlertStatus.OPEN:
                continue
            rows = await uow.notifications.for_alert(alert_id)
            level_sms = [
                n
                for n in rows
                if n.channel == "sms" and n.level == alert.level and n.round == alert.round
            ]
            reached = [
                n
                for n in level_sms
                if n.status not in (NotificationStatus.FAILED, NotificationStatus.SKIPPED)
            ]
            if (
                level_sms
                and not reached
                and (alert.next_escalation_at is None or alert.next_escalation_at > now)
            ):
                brought += len(
                    await uow.alerts.apply(
                        [
                            AlertChange(
                                id=alert.id,
                                version=alert.version,
                                status=alert.status.value,
                                level=alert.level,
                                round=alert.round,
                                round_started_at=alert.round_started_at,
                                next_escalation_at=now,
                            )
                        ]
                    )
                )
        return brought
