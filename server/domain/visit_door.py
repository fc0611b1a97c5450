"""The witness's answer at the door when the visitor arrives.

The phone answers "this is the person" or "this is not the person" (``wrong_visitor``,
critical) after comparing the door code (``wire/door.py``; both devices derive it from
the identity keys each trusts, so the server cannot make a stranger's device show it).
A phone opened with the duress PIN sends the very same "this is the person": the server
raises ``duress`` (source ``door:<id>``) and answers, stores and pushes exactly what it
would for a real confirmation, so neither the phone's screen nor the visitor's shows
anything a person at the door could notice. The answer is kept for the visitor's
devices until they fetch it: the visitor's app may have no signal at the door.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from server.clock import Clock
from server.domain.access import Principal
from server.domain.audit import Actor, AuditLog
from server.domain.effects import Effects
from server.domain.events import EventSink
from server.domain.models import OwnerKind
from server.domain.visit_models import DoorAnswer, VisitStatus
from server.domain.visits import ANNOUNCE_AFTER_WINDOW
from server.domain.welfare.alerts import AlertEngine, AlertSpec
from server.domain.welfare_models import AlertKind
from server.errors import Conflict, Forbidden, NotFound
from server.storage.protocols import Store


class DoorAnswers:
    """Takes the witness's answer at the door and tells the visitor's devices."""

    def __init__(
        self,
        store: Store,
        audit: AuditLog,
        clock: Clock,
        events: EventSink,
        alerts: AlertEngine,
        *,
        wake_dispatcher: Callable[[], None] | None = None,
    ) -> None:
        self._store = store
        self._audit = audit
        self._clock = clock
        self._events = events
        self._alerts = alerts
        self._wake = wake_dispatcher

    async def answer(self, principal: Principal, visit_id: str, answer: DoorAnswer) -> DoorAnswer:
        """The witness's answer at the door. Returns what the phone and the visitor's
        device are shown: ``confirmed`` for a confirmation, duress or not.

        Raises:
            Forbidden: not a witness's phone.
            NotFound: not this witness's visit.
            Conflict: the visit is not scheduled.
        """
        witness = principal.witness
        if witness is None:
            raise Forbidden("This is for a witness's phone")
        now = self._clock.now()
        effects = Effects()
        async with self._store.write() as uow:
            visit = await uow.visits.get(visit_id)
            if visit is None or visit.witness_id != witness.id:
                raise NotFound("No such visit")
            if visit.status is not VisitStatus.SCHEDULED:
                raise Conflict("This visit is no longer scheduled")
            alerts: list[AlertSpec] = []
            if answer is DoorAnswer.NOT_THE_PERSON:
                alerts.append(
                    AlertSpec(
                        visit.case_id, witness.id, AlertKind.WRONG_VISITOR, f"door:{visit.id}"
                    )
                )
            elif await uow.unlock.in_duress([principal.device.id]):
                # Opened with the duress PIN: everything below (stored answer, audit,
                # push, response) is what a real confirmation gives; only the alert tells.
                alerts.append(
                    AlertSpec(visit.case_id, witness.id, AlertKind.DURESS, f"door:{visit.id}")
                )
            answered = replace(
                visit, door_answer=answer, door_answered_at=now, version=visit.version + 1
            )
            if not await uow.visits.save(answered, visit.version):
                raise Conflict("The visit changed meanwhile; answer again")
            await self._alerts.raise_alerts(uow, alerts, now, effects)
            await self._audit.append(
                uow.audit,
                Actor.witness(witness.id),
                "visit.door_answered",
                subject=("visit", visit.id),
                case_id=visit.case_id,
                details={"answer": answer.value},
            )
            visitor_devices = await uow.devices.ids_for_owners(
                OwnerKind.STAFF, [visit.visitor_staff_id]
            )
            # Stored until the visitor's app fetches it (it may be offline at the door),
            # the same for every answer: a duress confirmation must look like a real one.
            await effects.push_durable(
                uow,
                visitor_devices.get(visit.visitor_staff_id, []),
                {"type": "visit_door", "visit_id": visit.id, "answer": answer.value},
                now,
                max(visit.window_end, now) + ANNOUNCE_AFTER_WINDOW,
            )
        await effects.run(self._events, self._wake)
        return answer
