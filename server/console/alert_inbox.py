"""What the alert inbox shows, built once for the page and for its live refresh.

Each alert comes with the references its SMS carried (the "Ref 717A" the person on
call has in hand), who was told by which channel, who acknowledged or resolved it and
when, and when escalation resumes. :func:`alarm_state` is the small summary the live
feed pushes to every console page: which critical alerts nobody has acknowledged yet
(the alarm rings until that list is empty, and again for each new id in it).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from server.console.alert_faces import face_of
from server.domain.welfare_models import Alert, AlertStatus, Notification, Severity
from server.services import Services

CHANNEL_ORDER = {"sms": 0, "voice": 1, "app": 2}


@dataclass(frozen=True, slots=True)
class Recipient:
    """One person told about an alert at one level, by every channel used."""

    name: str
    level: int | None
    channels: list[tuple[str, str]]  # (channel, delivery status)
    references: list[str]


@dataclass(frozen=True, slots=True)
class InboxEntry:
    alert: Alert
    recipients: list[Recipient]
    references: list[str]  # the short references in the SMS about this alert
    acknowledged_by: str | None  # display names
    resolved_by: str | None


def signature(alerts: Sequence[Alert]) -> str:
    """Changes whenever an alert the inbox shows appears, changes or goes."""
    text = "|".join(f"{a.id}:{a.status.value}:{a.version}:{a.level}:{a.round}" for a in alerts)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def alarm_state(alerts: Sequence[Alert]) -> str:
    """The live feed's "alerts" event: the inbox signature and the critical alerts
    nobody has acknowledged (id, kind and the kind's tone only: no alias, no case)."""
    ringing = sorted(
        (a for a in alerts if a.severity is Severity.CRITICAL and a.status is AlertStatus.OPEN),
        key=lambda a: a.created_at,
    )
    return json.dumps(
        {
            "version": signature(alerts),
            "critical": [[a.id, a.kind.value, face_of(a.kind.value).sound] for a in ringing],
        },
        separators=(",", ":"),
    )


def _recipients(notifications: Sequence[Notification], names: dict[str, str]) -> list[Recipient]:
    grouped: dict[tuple[str, int | None], list[Notification]] = {}
    for n in notifications:
        if n.recipient_kind == "staff":
            grouped.setdefault((n.recipient_id, n.level), []).append(n)
    people = []
    for (staff_id, level), rows in grouped.items():
        rows.sort(key=lambda n: CHANNEL_ORDER.get(n.channel, 9))
        people.append(
            Recipient(
                name=names.get(staff_id, staff_id),
                level=level,
                channels=[(n.channel, n.status.value) for n in rows],
                references=sorted(
                    {n.group_ref for n in rows if n.channel == "sms" and n.group_ref}
                ),
            )
        )
    people.sort(key=lambda r: (r.level or 0, r.name))
    return people


async def inbox(services: Services, staff: Any, *, include_resolved: bool) -> dict[str, Any]:
    """The template context of the inbox (the page and its live fragment)."""
    alerts = await services.alert_desk.list(staff, include_resolved=include_resolved)
    alerts.sort(key=lambda a: (a.status is AlertStatus.RESOLVED, -a.severity.rank, a.created_at))
    notified: dict[str, list[Notification]] = {}
    for a in alerts:
        if a.status is not AlertStatus.RESOLVED:
            notified[a.id] = (await services.alert_desk.detail(staff, a.id)).notifications
    case_ids = sorted({a.case_id for a in alerts})
    async with services.store.read() as uow:
        cases = await uow.cases.get_many(case_ids)
        witnesses = await uow.witnesses.for_cases(case_ids)
        wanted = {n.recipient_id for rows in notified.values() for n in rows}
        wanted |= {x for a in alerts for x in (a.acknowledged_by, a.resolved_by) if x}
        names: dict[str, str] = {}
        for staff_id in sorted(wanted):
            member = await uow.staff.get(staff_id)
            names[staff_id] = member.display_name if member else staff_id
    entries = []
    for a in alerts:
        recipients = _recipients(notified.get(a.id, []), names)
        entries.append(
            InboxEntry(
                alert=a,
                recipients=recipients,
                references=sorted({ref for r in recipients for ref in r.references}),
                acknowledged_by=names.get(a.acknowledged_by or "", a.acknowledged_by),
                resolved_by=names.get(a.resolved_by or "", a.resolved_by),
            )
        )
    return {
        "entries": entries,
        "cases": cases,
        "witnesses": witnesses,
        "now": services.clock.now(),
        "include_resolved": include_resolved,
        "version": signature(alerts),
        # Panic and duress have their own banners: they call for different acts.
        "duress": [
            a for a in alerts if a.kind.value == "duress" and a.status is not AlertStatus.RESOLVED
        ],
        "panic": [
            a for a in alerts if a.kind.value == "panic" and a.status is not AlertStatus.RESOLVED
        ],
        # The senders' backlog (issue 14): not per agency, it is the whole outbox's.
        "backlog": await services.backlog.read(),
    }
