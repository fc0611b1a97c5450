"""The order the outbox is sent in when the senders cannot keep up (issue 14).

A notification's *urgency* is a small number, lower first:

* class 0 — critical alerts: duress, panic, help, a wrong visitor at the door, and any
  alert whose severity is critical;
* class 1 — every other alert (missed check-ins and appointments, a silent device...);
* class 2 — routine messages: reminders and nudges to witnesses.

Within the alert classes the first round of a level (someone told for the first time)
goes before repeats to people already told: ``urgency = 2 * class + repeat``. Routine
rows are always 4. Within one urgency the oldest goes first (the claim query's order).
"""

from __future__ import annotations

from typing import Final

from server.domain.welfare_models import AlertKind, Severity

CRITICAL_KINDS: Final = frozenset(
    {AlertKind.DURESS, AlertKind.PANIC, AlertKind.HELP, AlertKind.WRONG_VISITOR}
)
#: The urgency of a reminder or nudge (the last class).
ROUTINE: Final = 4
#: How many classes there are (0 critical, 1 alerts, 2 routine).
CLASSES: Final = ("critical", "alert", "routine")


def alert_class(kind: AlertKind, severity: Severity) -> int:
    """0 for a critical alert, 1 for any other."""
    return 0 if kind in CRITICAL_KINDS or severity is Severity.CRITICAL else 1


def alert_urgency(kind: AlertKind, severity: Severity, round_number: int) -> int:
    """The urgency of an alert notification in its escalation round."""
    return 2 * alert_class(kind, severity) + (1 if round_number > 1 else 0)


def urgency_class(urgency: int) -> int:
    """The class (0, 1, 2) of an urgency."""
    return min(2, max(0, urgency) // 2)
