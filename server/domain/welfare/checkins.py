"""Check-ins from the witness's side, and the lapses that become alerts.

* The **sweep** moves due occurrences along: prompt (a content-free push to the
  witness's phones, and a neutral SMS nudge if no phone has been online for a while),
  reminder, and finally "missed", which raises an alert and schedules the next one.
* A **response** is signed by the phone's Ed25519 key over the prompt's id and
  one-time nonce, checked here, and accepted once. "Please contact me", "I need help"
  and duress raise alerts; duress answers exactly like "ok" so a watching trafficker
  sees nothing.
* A phone last unlocked with its **duress PIN** (see :mod:`server.domain.unlock`) has
  every answer recorded as duress, whatever it sent: the phone does not know.
* **Heartbeats** keep a silence deadline moving; a phone that goes silent raises an
  alert. **Panic** raises one at once. **SMS code words** check in without data (a
  second word means duress).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from server.clock import Clock, iso
from server.domain.access import Principal
from server.domain.audit import Actor, AuditLog
from server.domain.effects import Effects
from server.domain.events import EventSink
from server.domain.free_text import check_free_text
from server.domain.models import Device, OwnerKind, Witness
from server.domain.welfare.alerts import AlertEngine, AlertSpec, PreparedAlerts
from server.domain.welfare.plans import next_checkin
from server.domain.welfare.presence import phone_offline
from server.domain.welfare_models import (
    AlertKind,
    CaseSettings,
    CheckIn,
    CheckInState,
    CheckInStep,
    Notification,
    NotificationStatus,
    Response,
)
from server.errors import Conflict, Forbidden, InvalidInput, NotFound, SignatureInvalid
from server.ids import new_id
from server.security.phones import PhoneBook
from server.storage.protocols import CheckInChange, Store, UnitOfWork
from wire.checkins import checkin_response_payload
from wire.i18n import texts
from wire.keys import verify_ed25519

DEFAULT_OFFLINE_AFTER = timedelta(hours=2)
DEFAULT_SILENT_AFTER = timedelta(hours=48)
RESPONSE_ALERTS = {
    Response.CONTACT: AlertKind.CONTACT_REQUESTED,
    Response.HELP: AlertKind.HELP,
    Response.DURESS: AlertKind.DURESS,
}


def default_settings(case_id: str) -> CaseSettings:
    return CaseSettings(
        case_id=case_id,
        nudge_text=None,
        offline_after_s=int(DEFAULT_OFFLINE_AFTER.total_seconds()),
        silent_after_s=int(DEFAULT_SILENT_AFTER.total_seconds()),
    )


def prompt_event(checkin: CheckIn, kind: str) -> dict[str, object]:
    """The push a phone turns into a check-in screen; says nothing about anyone."""
    return {
        "type": kind,
        "checkin_id": checkin.id,
        "nonce": checkin.nonce,
        "due_at": iso(checkin.due_at),
        "closes_at": iso(checkin.closes_at),
        "deadline_at": iso(checkin.deadline_at),
    }


@dataclass(frozen=True, slots=True)
class _PromptStep:
    """A prompt or reminder worked out: the change, the push, whether to nudge by SMS."""

    checkin: CheckIn
    witness: Witness
    change: CheckInChange
    device_ids: list[str]
    push: dict[str, object] | None
    nudge: bool


@dataclass(frozen=True, slots=True)
class DueBatch:
    """A batch of due occurrences read and worked out, not yet written."""

    now: datetime
    due: list[CheckIn]
    changes: list[CheckInChange]
    followups: list[CheckIn]
    missed: list[CheckIn]
    prompts: list[_PromptStep]
    phones: dict[str, list[str]]  # witness id -> device ids (to take a prompt down)
    alerts: PreparedAlerts

    def at(self, now: datetime) -> DueBatch:
        """The batch as written at ``now`` rather than when it was worked out: its
        alerts are raised (and their escalation clocks start) at ``now``. Only misses
        are worked out ahead (see :mod:`server.domain.welfare.waves`), so nothing else
        here carries a time that needs moving."""
        if now == self.now:
            return self
        return replace(self, now=now, alerts=self.alerts.at(now))


@dataclass(frozen=True, slots=True)
class Recorded:
    """What the phone is told after any response: identical for ok and duress."""

    recorded: bool
    next_due_at: datetime | None


#: The steps people wait on; scheduling the next occurrence can come after.
URGENT_STEPS = (CheckInStep.PROMPT, CheckInStep.REMIND, CheckInStep.MISS)
#: How long after a miss its next occurrence is scheduled. The next check-in is hours
#: away; waiting a few seconds lets a wave of misses get its SMS out first rather than
#: share the process with ten thousand schedulings.
SCHEDULE_AFTER_MISS = timedelta(seconds=5)


class CheckInService:
    """Prompts, responses, heartbeats, panic, SMS check-ins and silence."""

    def __init__(
        self,
        store: Store,
        audit: AuditLog,
        clock: Clock,
        events: EventSink,
        alerts: AlertEngine,
        phones: PhoneBook,
        *,
        presence: Callable[[str], bool] = lambda _device_id: False,
        wake_dispatcher: Callable[[], None] | None = None,
    ) -> None:
        self._store = store
        self._audit = audit
        self._clock = clock
        self._events = events
        self._alerts = alerts
        self._phones = phones
        self._presence = presence
        self._wake = wake_dispatcher

    async def _finish(self, effects: Effects) -> None:
        await effects.run(self._events, self._wake)

    # ------------------------------------------------------------------ sweeps

    async def sweep(
        self,
        limit: int = 500,
        max_batches: int = 1000,
        steps: Sequence[CheckInStep] | None = None,
        skip: frozenset[str] = frozenset(),
    ) -> int:
        """Every due step (or only ``steps``), batch after batch, except occurrences
        in ``skip`` (armed to be written by :mod:`~server.domain.welfare.waves`);
        returns how many occurrences moved.

        Pipelined, so a wave of ten thousand lapses becomes alerts quickly: the next
        batch is read and worked out from a snapshot (reader connection, no write
        lock) while the previous batch's transaction is written and committed. What
        the snapshot said is re-checked in the write: each occurrence moves only if
        its version is unchanged (a witness who answered meanwhile is not "missed"),
        and an alert is raised at most once per source.
        """
        total = 0
        writing: asyncio.Task[int] | None = None
        in_flight: frozenset[str] = frozenset()
        try:
            for _ in range(max_batches):
                now = self._clock.now()
                async with self._store.read() as uow:
                    batch = await self._prepare(uow, now, limit, in_flight | skip, steps)
                if writing is not None:
                    total += await writing
                    writing = None
                if batch is None:
                    break
                in_flight = frozenset(c.id for c in batch.due)
                writing = asyncio.ensure_future(self.write(batch))
                if len(batch.due) < limit:
                    break
            if writing is not None:
                total += await writing
                writing = None
        finally:
            if writing is not None:
                writing.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await writing
        return total

    async def write(self, batch: DueBatch) -> int:
        """Carry out a worked-out batch in its own transaction; only occurrences still
        as they were read move. Returns how many moved."""
        effects = Effects()
        async with self._store.write() as uow:
            done = await self._carry_out(uow, batch, effects)
        await self._finish(effects)
        return done

    async def _prepare(
        self,
        uow: UnitOfWork,
        now: datetime,
        limit: int,
        skip: frozenset[str],
        steps: Sequence[CheckInStep] | None,
    ) -> DueBatch | None:
        """Read a batch of due occurrences and work out every change, push, nudge and
        alert for them, without writing. ``skip``: occurrences still being written."""
        due = await uow.checkins.due(now, limit, skip=sorted(skip), steps=steps)
        if not due:
            return None
        return await self.work_out(uow, due, now)

    async def work_out(self, uow: UnitOfWork, due: list[CheckIn], now: datetime) -> DueBatch:
        """Every change, push, nudge and alert for occurrences whose step is due at
        ``now``, reading only; :meth:`write` carries it out."""
        followups = [c for c in due if c.step is CheckInStep.SCHEDULE]
        missed = [c for c in due if c.step is CheckInStep.MISS]
        prompts = await self._prompt_steps(
            uow, [c for c in due if c.step in (CheckInStep.PROMPT, CheckInStep.REMIND)], now
        )
        changes = [CheckInChange(c.id, c.version, c.state.value, None, None) for c in followups]
        missed_state, schedule = CheckInState.MISSED.value, CheckInStep.SCHEDULE.value
        schedule_at = now + SCHEDULE_AFTER_MISS
        changes += [
            CheckInChange(c.id, c.version, missed_state, schedule, schedule_at) for c in missed
        ]
        changes += [p.change for p in prompts]
        phones = await uow.devices.ids_for_owners(
            OwnerKind.WITNESS, sorted({c.witness_id for c in missed})
        )
        alerts = await self._alerts.prepare(
            uow,
            [
                AlertSpec(c.case_id, c.witness_id, AlertKind.MISSED_CHECKIN, f"checkin:{c.id}")
                for c in missed
            ],
            now,
        )
        return DueBatch(now, due, changes, followups, missed, prompts, phones, alerts)

    async def _carry_out(self, uow: UnitOfWork, batch: DueBatch, effects: Effects) -> int:
        """Write a prepared batch: only occurrences still as they were read move."""
        now = batch.now
        applied = await uow.checkins.apply(batch.changes)
        prompts = [p for p in batch.prompts if p.checkin.id in applied]
        for step in prompts:
            if step.push is not None:
                await effects.push_durable(
                    uow,
                    step.device_ids,
                    step.push,
                    now,
                    step.checkin.deadline_at,
                    ref=f"checkin:{step.checkin.id}",
                )
        missed = [c for c in batch.missed if c.id in applied]
        # A missed prompt is taken down: live phones are told now, and the queued copy
        # is withdrawn so an offline phone never shows a closed check-in.
        await uow.device_events.withdraw_many([f"checkin:{c.id}" for c in missed])
        for checkin in missed:
            effects.push(
                batch.phones.get(checkin.witness_id, []),
                {"type": "checkin_closed", "checkin_id": checkin.id},
            )
        await self._queue_nudges(
            uow, [(p.checkin, p.witness) for p in prompts if p.nudge], now, effects
        )
        await self._alerts.commit(uow, batch.alerts, {f"checkin:{c.id}" for c in missed}, effects)
        # Scheduling the next occurrences waits for a later "schedule" step, so a wave
        # of missed deadlines raises all its alerts first.
        await self._schedule_next(uow, [c for c in batch.followups if c.id in applied], now)
        return len(applied)

    async def _prompt_steps(
        self, uow: UnitOfWork, prompts: Sequence[CheckIn], now: datetime
    ) -> list[_PromptStep]:
        """Prompts and reminders: what to push, and which need an SMS nudge."""
        if not prompts:
            return []
        witness_ids = sorted({c.witness_id for c in prompts})
        witnesses = {w.id: w for w in await uow.witnesses.get_many(witness_ids)}
        devices = await uow.devices.for_owners(OwnerKind.WITNESS, witness_ids)
        settings = await uow.case_settings.get_many(sorted({c.case_id for c in prompts}))
        contacts = await uow.contact.get_many(witness_ids)
        steps: list[_PromptStep] = []
        for checkin in prompts:
            witness = witnesses.get(checkin.witness_id)
            if witness is None:
                continue
            phones = devices.get(witness.id, [])
            case_settings = settings.get(checkin.case_id) or default_settings(checkin.case_id)
            contact = contacts.get(witness.id)
            heard = None if contact is None else contact.last_heartbeat_at
            change, nudge, push = self._step(checkin, phones, heard, case_settings, now)
            steps.append(_PromptStep(checkin, witness, change, [d.id for d in phones], push, nudge))
        return steps

    def _step(
        self,
        checkin: CheckIn,
        phones: Sequence[Device],
        heard: datetime | None,
        settings: CaseSettings,
        now: datetime,
    ) -> tuple[CheckInChange, bool, dict[str, object] | None]:
        """The change to make, whether to nudge by SMS, and what to push to the phone."""
        offline = self._offline(phones, heard, settings, now)
        if checkin.step is CheckInStep.PROMPT:
            remind = checkin.remind_at is not None and checkin.remind_at > now
            return (
                CheckInChange(
                    id=checkin.id,
                    version=checkin.version,
                    state=CheckInState.OPEN.value,
                    step=(CheckInStep.REMIND if remind else CheckInStep.MISS).value,
                    next_action_at=checkin.remind_at if remind else checkin.deadline_at,
                    prompted_at=now,
                    nudged_at=now if offline else None,
                ),
                offline,
                prompt_event(checkin, "checkin_prompt"),
            )
        if checkin.step is CheckInStep.REMIND:
            return (
                CheckInChange(
                    id=checkin.id,
                    version=checkin.version,
                    state=CheckInState.OPEN.value,
                    step=CheckInStep.MISS.value,
                    next_action_at=checkin.deadline_at,
                    reminded_at=now,
                    nudged_at=now if offline else None,
                ),
                offline,
                prompt_event(checkin, "checkin_reminder"),
            )
        raise AssertionError(f"not a prompt or reminder step: {checkin.step}")

    def _offline(
        self,
        phones: Sequence[Device],
        heard: datetime | None,
        settings: CaseSettings,
        now: datetime,
    ) -> bool:
        offline_after = timedelta(seconds=settings.offline_after_s)
        return phone_offline(phones, heard, offline_after, now, self._presence)

    async def _queue_nudges(
        self,
        uow: UnitOfWork,
        nudges: Sequence[tuple[CheckIn, Witness]],
        now: datetime,
        effects: Effects,
    ) -> None:
        rows: list[Notification] = []
        settings = await uow.case_settings.get_many(sorted({c.case_id for c, _ in nudges}))
        for checkin, witness in nudges:
            if await uow.witnesses.phone(witness.id) is None:
                continue
            words, _duress = await uow.witnesses.sms_words(witness.id)
            custom = settings.get(checkin.case_id)
            if custom is not None and custom.nudge_text:
                body = custom.nudge_text
            elif words is not None:
                body = texts.checkin_nudge_with_sms_reply(witness.language)
            else:
                body = texts.checkin_nudge(witness.language)
            rows.append(witness_sms(witness, "checkin_nudge", body, now, checkin_id=checkin.id))
        await uow.notifications.insert_many(rows)
        effects.wake_dispatcher = effects.wake_dispatcher or bool(rows)

    async def _schedule_next(
        self, uow: UnitOfWork, finished: Sequence[CheckIn], now: datetime
    ) -> None:
        if not finished:
            return
        witness_ids = sorted({c.witness_id for c in finished})
        plans = await uow.plans.get_many(witness_ids)
        current = await uow.checkins.current_many(witness_ids)
        upcoming: list[CheckIn] = []
        for checkin in finished:
            plan = plans.get(checkin.witness_id)
            if plan is None or plan.paused or checkin.witness_id in current:
                continue  # paused, or a plan change already scheduled one
            upcoming.append(next_checkin(plan, max(now, checkin.due_at)))
        await uow.checkins.insert_many(upcoming)

    async def silence_due(self, limit: int = 500) -> int:
        """Raise "device silent" alerts for witnesses whose phones stopped reporting."""
        now = self._clock.now()
        effects = Effects()
        async with self._store.write() as uow:
            silent = await uow.contact.due_silences(now, limit)
            if not silent:
                return 0
            await uow.contact.clear_deadlines([c.witness_id for c in silent])
            await self._alerts.raise_alerts(
                uow,
                [
                    AlertSpec(
                        c.case_id,
                        c.witness_id,
                        AlertKind.DEVICE_SILENT,
                        f"silent:{c.witness_id}:{iso(c.silent_deadline_at or now)}",
                    )
                    for c in silent
                ],
                now,
                effects,
            )
        await self._finish(effects)
        return len(silent)

    # ------------------------------------------------------------------ the phone

    @staticmethod
    def _witness(principal: Principal) -> Witness:
        if principal.witness is None:
            raise Forbidden("This is for a witness's phone")
        return principal.witness

    async def _record_contact(
        self,
        uow: UnitOfWork,
        witness: Witness,
        now: datetime,
        *,
        heartbeat: bool,
        battery: int | None,
    ) -> None:
        settings = await uow.case_settings.get(witness.case_id) or default_settings(witness.case_id)
        await uow.contact.record(
            witness.id,
            witness.case_id,
            now,
            now + timedelta(seconds=settings.silent_after_s),
            heartbeat=heartbeat,
            battery=battery,
        )

    async def current(self, principal: Principal) -> CheckIn | None:
        """The open prompt for this witness, if any (for a phone that missed the push)."""
        witness = self._witness(principal)
        async with self._store.read() as uow:
            current = await uow.checkins.current(witness.id)
        return current if current is not None and current.state is CheckInState.OPEN else None

    async def respond(
        self, principal: Principal, checkin_id: str, status: Response, signature: str
    ) -> Recorded:
        """Answer a prompt with a signed status.

        Raises:
            Forbidden: not a witness's phone.
            NotFound: no such prompt for this witness.
            SignatureInvalid: the signature does not match this prompt and device.
            Conflict: the prompt was already answered or has closed.
        """
        witness = self._witness(principal)
        now = self._clock.now()
        effects = Effects()
        async with self._store.write() as uow:
            checkin = await uow.checkins.get(checkin_id)
            if checkin is None or checkin.witness_id != witness.id:
                raise NotFound("No such check-in")
            if now > checkin.deadline_at:
                raise Conflict("This check-in has closed")
            payload = checkin_response_payload(
                checkin.id, checkin.nonce, principal.device.id, status.value
            )
            if not verify_ed25519(principal.device.ed25519, payload, signature):
                raise SignatureInvalid("The check-in signature does not verify")
            if await uow.unlock.in_duress([principal.device.id]):
                # Opened with the duress PIN: the phone shows an ordinary answer and
                # sends what the witness pressed; the team sees the truth.
                status = Response.DURESS
            answered = await uow.checkins.answer(checkin.id, witness.id, status, "app", now)
            if answered is None:
                raise Conflict("This check-in was already answered or has closed")
            await self._after_answer(uow, witness, answered, status, now, effects)
            upcoming = await uow.checkins.current(witness.id)
        await self._finish(effects)
        return Recorded(True, None if upcoming is None else upcoming.due_at)

    async def _after_answer(
        self,
        uow: UnitOfWork,
        witness: Witness,
        answered: CheckIn,
        status: Response,
        now: datetime,
        effects: Effects,
        *,
        raise_alert: bool = True,
    ) -> None:
        await self._record_contact(uow, witness, now, heartbeat=False, battery=None)
        await uow.device_events.withdraw(f"checkin:{answered.id}")
        kind = RESPONSE_ALERTS.get(status)
        if kind is not None and raise_alert:
            await self._alerts.raise_alerts(
                uow,
                [AlertSpec(witness.case_id, witness.id, kind, f"checkin:{answered.id}")],
                now,
                effects,
            )
        await self._schedule_next(uow, [answered], now)
        staff_devices = await uow.devices.staff_devices_for_cases([witness.case_id])
        effects.push(
            staff_devices.get(witness.case_id, []),
            {
                "type": "checkin_answered",
                "case_id": witness.case_id,
                "checkin_id": answered.id,
                # The team sees the truth; only the phone's screen is kept ordinary.
                "status": status.value,
            },
        )

    async def heartbeat(self, principal: Principal, *, battery: int | None) -> None:
        """Record that the phone is alive.

        Raises:
            Forbidden: not a witness's phone.
            InvalidInput: a battery level outside 0-100.
        """
        witness = self._witness(principal)
        if battery is not None and not 0 <= battery <= 100:
            raise InvalidInput("battery must be 0 to 100")
        now = self._clock.now()
        async with self._store.write() as uow:
            await self._record_contact(uow, witness, now, heartbeat=True, battery=battery)

    async def panic(self, principal: Principal, request_id: str) -> None:
        """Raise an immediate, critical help alert (idempotent per request id).

        Raises:
            Forbidden: not a witness's phone.
        """
        witness = self._witness(principal)
        now = self._clock.now()
        effects = Effects()
        async with self._store.write() as uow:
            await self._record_contact(uow, witness, now, heartbeat=False, battery=None)
            await self._alerts.raise_alerts(
                uow,
                [
                    AlertSpec(
                        witness.case_id,
                        witness.id,
                        AlertKind.PANIC,
                        f"panic:{principal.device.id}:{request_id}",
                    )
                ],
                now,
                effects,
            )
        await self._finish(effects)

    async def set_sms_words(
        self, principal: Principal, checkin_word: str, duress_word: str
    ) -> None:
        """Set the words the witness may text back: one checks in, the other means duress.

        Raises:
            Forbidden: not a witness's phone.
            InvalidInput: words too short, too long, or the same.
            UnsafeText: a word holds a control or formatting character (a NUL or a
                bidi override can be stored but never texted back).
        """
        witness = self._witness(principal)
        check_free_text(checkin_word, field="checkin_word")
        check_free_text(duress_word, field="duress_word")
        from server.security.phones import normalise_word

        ok_word, bad_word = normalise_word(checkin_word), normalise_word(duress_word)
        if not (3 <= len(ok_word) <= 40 and 3 <= len(bad_word) <= 40):
            raise InvalidInput("code words must be 3 to 40 characters")
        if ok_word == bad_word:
            raise InvalidInput("the two code words must differ")
        async with self._store.write() as uow:
            await uow.witnesses.set_sms_words(
                witness.id,
                self._phones.word_digest("checkin", ok_word),
                self._phones.word_digest("duress", bad_word),
            )
            await self._audit.append(
                uow.audit,
                Actor.witness(witness.id),
                "witness.sms_words_set",
                subject=("witness", witness.id),
                case_id=witness.case_id,
            )

    async def inbound_sms(self, from_number: str, body: str, provider_id: str) -> bool:
        """An SMS from a witness's registered number: the check-in word answers the open
        prompt; the duress word raises duress (and also answers, ordinarily). Anything
        else is ignored without a trace in the reply.

        Returns whether the sender is a witness's number (then nothing else may answer
        it: a witness's phone never receives an automatic text).
        """
        try:
            index = self._phones.index(from_number)
        except InvalidInput:
            return False
        now = self._clock.now()
        effects = Effects()
        async with self._store.write() as uow:
            witness = await uow.witnesses.find_by_phone_index(index)
            if witness is None:
                return False
            ok_digest, duress_digest = await uow.witnesses.sms_words(witness.id)
            duress = self._phones.word_matches("duress", body, duress_digest)
            ok = self._phones.word_matches("checkin", body, ok_digest)
            if not (ok or duress):
                return True
            status = Response.DURESS if duress else Response.OK
            current = await uow.checkins.current(witness.id)
            answered = None
            if current is not None and current.state is CheckInState.OPEN:
                answered = await uow.checkins.answer(current.id, witness.id, status, "sms", now)
            if answered is not None:
                await self._after_answer(
                    uow, witness, answered, status, now, effects, raise_alert=not duress
                )
            else:
                await self._record_contact(uow, witness, now, heartbeat=False, battery=None)
            if duress:
                # Named after the SMS, so Twilio delivering the webhook twice raises it once.
                spec = AlertSpec(
                    witness.case_id, witness.id, AlertKind.DURESS, f"sms:{provider_id}"
                )
                await self._alerts.raise_alerts(uow, [spec], now, effects)
        await self._finish(effects)
        return True


def witness_sms(
    witness: Witness, purpose: str, body: str, now: datetime, *, checkin_id: str | None = None
) -> Notification:
    """An outbox row for a neutral SMS to the witness's phone."""
    return Notification(
        id=new_id("ntf"),
        purpose=purpose,
        alert_id=None,
        checkin_id=checkin_id,
        channel="sms",
        recipient_kind="witness",
        recipient_id=witness.id,
        level=None,
        round=None,
        severity=None,
        language=witness.language,
        body=body,
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
    )
