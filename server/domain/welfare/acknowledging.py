"""Taking an alert inside an open transaction: the one place an acknowledgement is
written, whether it came from the console, the API or an SMS reply.

First acknowledgement wins (a compare-and-swap on the alert's status); the pending
notifications for the alert are cancelled, the act is audited (with the channel, never
any text) and staff devices on the case are told.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from server.domain.audit import Actor, AuditLog
from server.domain.effects import Effects
from server.domain.escalation import EscalationPolicy
from server.domain.welfare.alerts import alert_event
from server.domain.welfare_models import Alert, AlertStatus
from server.storage.protocols import UnitOfWork


async def acknowledge_in(
    uow: UnitOfWork,
    audit: AuditLog,
    alert: Alert,
    staff_id: str,
    now: datetime,
    effects: Effects,
    *,
    channel: str | None = None,
) -> Alert | None:
    """Acknowledge ``alert`` as ``staff_id``; None if it was no longer open.

    ``channel`` ("sms") is recorded in the audit entry when the acknowledgement did not
    come from a signed-in client.
    """
    policy = EscalationPolicy.from_json(alert.policy)
    expires = now + timedelta(minutes=policy.ack_timeout_minutes)
    if not await uow.alerts.acknowledge(alert.id, staff_id, now, expires):
        return None
    await uow.notifications.cancel_for_alert(alert.id)
    await audit.append(
        uow.audit,
        Actor.staff(staff_id),
        "alert.acknowledged",
        subject=("alert", alert.id),
        case_id=alert.case_id,
        details=None if channel is None else {"channel": channel},
    )
    updated = replace(
        alert,
        status=AlertStatus.ACKNOWLEDGED,
        acknowledged_by=staff_id,
        acknowledged_at=now,
        ack_expires_at=expires,
    )
    devices = await uow.devices.staff_devices_for_cases([alert.case_id])
    effects.push(devices.get(alert.case_id, []), alert_event(updated, "acknowledged"))
    return updated
