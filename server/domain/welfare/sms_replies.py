"""Acknowledging alerts by SMS reply: a staff member answers an alert SMS with its
reference ("717A", or "ACK 717A"; case and spaces do not matter).

The reply acknowledges, as that person, the open alerts whose SMS carrying that
reference was actually handed to the provider for them — recognised by comparing the
sender with the sealed number of each person the reference went to. Anyone else gets a
neutral answer and nothing changes. Each reply's MessageSid is recorded in the same
transaction as what it did, so a replayed webhook acts once. The answers name no
witness, case or agency: others may read the phone.
"""

from __future__ import annotations

import enum
import hmac
import re
from dataclasses import dataclass

from server.clock import Clock
from server.domain.access import can_view_case
from server.domain.audit import AuditLog
from server.domain.effects import Effects
from server.domain.events import EventSink
from server.domain.welfare.acknowledging import acknowledge_in
from server.domain.welfare_models import AlertStatus
from server.errors import InvalidInput
from server.security.phones import PhoneBook, normalise_phone
from server.storage.protocols import Store, UnitOfWork

#: A reference exactly as the dispatcher makes them: 4 hex digits. Anything else is not
#: a reply (an unknown sender texting a word gets no answer at all).
_REFERENCE = re.compile(r"[0-9A-F]{4}")


class ReplyOutcome(enum.StrEnum):
    """What a reply did; decides the answer texted back."""

    ACKNOWLEDGED = "acknowledged"
    ALREADY_ACKNOWLEDGED = "already_acknowledged"
    NOT_RECOGNISED = "not_recognised"  # not sent to this number, or no such reference
    REPLAYED = "replayed"  # this MessageSid was handled before: no answer


@dataclass(frozen=True, slots=True)
class ReplyResult:
    outcome: ReplyOutcome
    reference: str
    acknowledged: int = 0


def parse_reference(body: str) -> str | None:
    """The reference in a reply ("ack 717a", " 717 A ", "ACK717A" → "717A"), else None."""
    compact = re.sub(r"\s+", "", body).upper()
    if compact.startswith("ACK"):
        compact = compact[3:]
    return compact if _REFERENCE.fullmatch(compact) else None


class SmsReplies:
    """Turns staff SMS replies into acknowledgements."""

    def __init__(
        self,
        store: Store,
        audit: AuditLog,
        clock: Clock,
        events: EventSink,
        phones: PhoneBook,
    ) -> None:
        self._store = store
        self._audit = audit
        self._clock = clock
        self._events = events
        self._phones = phones

    async def _sender(self, uow: UnitOfWork, reference: str, from_number: str) -> str | None:
        """The person the reference was texted to whose number sent this reply."""
        try:
            sender = normalise_phone(from_number)
        except InvalidInput:
            return None
        recipients = await uow.alert_response.recipients_of(reference)
        sealed = await uow.staff.phones(recipients)
        found = None
        for staff_id in recipients:
            number = sealed.get(staff_id)
            # Every candidate is compared, so the time taken does not say which matched.
            if number is not None and hmac.compare_digest(
                self._phones.open(number).encode(), sender.encode()
            ):
                found = staff_id
        return found

    async def handle(self, from_number: str, body: str, provider_id: str) -> ReplyResult | None:
        """Act on a reply; None if ``body`` is not a reference at all (not a reply).

        Raises nothing for a stranger or a wrong reference: the result says so, and the
        caller answers neutrally.
        """
        reference = parse_reference(body)
        if reference is None:
            return None
        now = self._clock.now()
        effects = Effects()
        acknowledged = already = 0
        async with self._store.write() as uow:
            if not await uow.alert_response.claim_sms_reply(provider_id, now):
                return ReplyResult(ReplyOutcome.REPLAYED, reference)
            staff_id = await self._sender(uow, reference, from_number)
            staff = None if staff_id is None else await uow.staff.get(staff_id)
            if staff is None:
                return ReplyResult(ReplyOutcome.NOT_RECOGNISED, reference)
            for alert_id in await uow.alert_response.alerts_sent_to(reference, staff.id):
                alert = await uow.alerts.get(alert_id)
                case = None if alert is None else await uow.cases.get(alert.case_id)
                if alert is None or case is None:
                    continue
                assigned = await uow.cases.is_assigned(case.id, staff.id)
                if not can_view_case(staff, case, assigned=assigned):
                    continue
                if alert.status is not AlertStatus.OPEN:
                    already += 1
                    continue
                taken = await acknowledge_in(
                    uow, self._audit, alert, staff.id, now, effects, channel="sms"
                )
                if taken is None:
                    already += 1
                else:
                    acknowledged += 1
        await effects.run(self._events)
        if acknowledged:
            return ReplyResult(ReplyOutcome.ACKNOWLEDGED, reference, acknowledged)
        if already:
            return ReplyResult(ReplyOutcome.ALREADY_ACKNOWLEDGED, reference)
        return ReplyResult(ReplyOutcome.NOT_RECOGNISED, reference)
