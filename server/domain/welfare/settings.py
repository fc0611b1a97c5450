"""Welfare settings that staff change: phone numbers, duty, case settings, policies.

Every change is audited. Phone numbers are personal data: sealed at rest, never echoed
back in full, never logged.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from server.clock import Clock
from server.domain.access import SUPERVISING_ROLES, can_manage_case, can_view_case
from server.domain.agency_scope import require_own_agency
from server.domain.audit import Actor, AuditLog
from server.domain.escalation import DEFAULT_POLICY, EscalationPolicy, policy_from_dict
from server.domain.models import Case, Staff
from server.domain.welfare.checkins import default_settings
from server.domain.welfare_models import CaseSettings, WitnessVoice
from server.errors import Forbidden, InvalidInput, NotFound
from server.security.phones import PhoneBook, masked_phone
from server.storage.protocols import Store, UnitOfWork

MAX_NUDGE = 320


class _Keep:
    """Marker: leave this setting as it is."""


KEEP = _Keep()


#: When check-ins call the witness: never, when the phone is offline, or every time.
CHECKIN_CALL_OPTIONS = ("never", "fallback", "always")


class WelfareSettings:
    """Phones, duty, per-case welfare settings and escalation policies."""

    def __init__(self, store: Store, audit: AuditLog, clock: Clock, phones: PhoneBook) -> None:
        self._store = store
        self._audit = audit
        self._clock = clock
        self._phones = phones

    async def _case(self, uow: UnitOfWork, staff: Staff, case_id: str, *, manage: bool) -> Case:
        case = await uow.cases.get(case_id)
        assigned = case is not None and await uow.cases.is_assigned(case_id, staff.id)
        if case is None or not can_view_case(staff, case, assigned=assigned):
            raise NotFound("No such case")
        if manage and not (assigned or can_manage_case(staff, case, assigned=assigned)):
            raise Forbidden("Only the case team can change this")
        return case

    async def set_witness_phone(self, staff: Staff, witness_id: str, number: str | None) -> None:
        """Set (or clear) the number SMS nudges go to and SMS check-ins come from.

        Raises:
            InvalidInput: not an international number.
            NotFound, Forbidden: not the caller's witness.
            Conflict: another witness has this number.
        """
        sealed, index = (None, None) if number is None else self._phones.seal(number)
        async with self._store.write() as uow:
            witness = await uow.witnesses.get(witness_id)
            if witness is None:
                raise NotFound("No such witness")
            await self._case(uow, staff, witness.case_id, manage=True)
            await uow.witnesses.set_phone(witness_id, sealed, index)
            await self._audit.append(
                uow.audit,
                Actor.staff(staff.id),
                "witness.phone_changed" if number else "witness.phone_erased",
                subject=("witness", witness_id),
                case_id=witness.case_id,
            )

    async def set_witness_voice(
        self,
        staff: Staff,
        witness_id: str,
        *,
        pin: str | None,
        duress_pin: str | None,
        checkin_call: str,
    ) -> None:
        """Set the witness's check-in-by-phone settings: the voice PIN and duress voice
        PIN (both, or neither for no PIN; only keyed digests are stored, like the SMS
        code words) and whether check-ins call the witness ("never", "fallback" when
        the phone is offline, "always").

        Raises:
            InvalidInput: PINs that are not 4 to 8 digits, the same, or one missing;
                an unknown call option.
            NotFound, Forbidden: not the caller's witness.
        """
        if checkin_call not in CHECKIN_CALL_OPTIONS:
            raise InvalidInput("checkin_call must be never, fallback or always")
        if (pin is None) != (duress_pin is None):
            raise InvalidInput("a voice PIN needs a duress PIN too")
        if pin is not None and duress_pin is not None:
            for value in (pin, duress_pin):
                if not (value.isascii() and value.isdigit() and 4 <= len(value) <= 8):
                    raise InvalidInput("voice PINs are 4 to 8 digits")
            if pin == duress_pin:
                raise InvalidInput("the voice PIN and the duress PIN must differ")
        digests = (
            None if pin is None else self._phones.word_digest("voice-pin", pin),
            None if duress_pin is None else self._phones.word_digest("voice-duress", duress_pin),
        )
        await self._put_witness_voice(staff, witness_id, digests, checkin_call)

    async def set_witness_call_option(
        self, staff: Staff, witness_id: str, checkin_call: str
    ) -> None:
        """Change only whether check-ins call the witness; the voice PINs stay.

        Raises:
            InvalidInput: an unknown call option.
            NotFound, Forbidden: not the caller's witness.
        """
        if checkin_call not in CHECKIN_CALL_OPTIONS:
            raise InvalidInput("checkin_call must be never, fallback or always")
        await self._put_witness_voice(staff, witness_id, None, checkin_call)

    async def _put_witness_voice(
        self,
        staff: Staff,
        witness_id: str,
        digests: tuple[bytes | None, bytes | None] | None,
        checkin_call: str,
    ) -> None:
        """Store the voice settings; ``digests`` None keeps the PINs as they are."""
        now = self._clock.now()
        async with self._store.write() as uow:
            witness = await uow.witnesses.get(witness_id)
            if witness is None:
                raise NotFound("No such witness")
            await self._case(uow, staff, witness.case_id, manage=True)
            if digests is None:
                existing = await uow.witness_voice.get(witness_id)
                digests = (
                    (None, None)
                    if existing is None
                    else (
                        existing.pin_digest,
                        existing.duress_digest,
                    )
                )
            voice = WitnessVoice(witness_id, digests[0], digests[1], checkin_call)
            await uow.witness_voice.put(voice, int(now.timestamp() * 1000))
            await self._audit.append(
                uow.audit,
                Actor.staff(staff.id),
                "witness.voice_checkin_set",
                subject=("witness", witness_id),
                case_id=witness.case_id,
            )

    async def set_own_phone(self, staff: Staff, number: str | None) -> None:
        """Set (or clear) the number alert SMS reach this staff member on.

        Raises:
            InvalidInput: not an international number.
        """
        sealed = None if number is None else self._phones.seal(number)[0]
        async with self._store.write() as uow:
            await uow.staff.set_phone(staff.id, sealed)
            await self._audit.append(
                uow.audit,
                Actor.staff(staff.id),
                "staff.phone_changed" if number else "staff.phone_erased",
                subject=("staff", staff.id),
            )

    async def own_phone_masked(self, staff: Staff) -> str | None:
        """The caller's own alert number, masked (see :func:`masked_phone`), or None."""
        async with self._store.read() as uow:
            sealed = await uow.staff.phone(staff.id)
        return None if sealed is None else masked_phone(self._phones.open(sealed))

    async def set_on_duty(self, staff: Staff, on_duty: bool) -> None:
        async with self._store.write() as uow:
            await uow.staff.set_on_duty(staff.id, on_duty)
            await self._audit.append(
                uow.audit,
                Actor.staff(staff.id),
                "staff.duty_changed",
                subject=("staff", staff.id),
                details={"on_duty": on_duty},
            )

    async def case_settings(self, staff: Staff, case_id: str) -> CaseSettings:
        async with self._store.read() as uow:
            await self._case(uow, staff, case_id, manage=False)
            return await uow.case_settings.get(case_id) or default_settings(case_id)

    async def set_case_settings(
        self,
        staff: Staff,
        case_id: str,
        *,
        nudge_text: str | None,
        offline_after: timedelta,
        silent_after: timedelta,
        reminder_offsets: tuple[int, ...] | _Keep | None = KEEP,
    ) -> CaseSettings:
        """Set the case's neutral SMS nudge text and its offline/silence thresholds.

        Raises:
            InvalidInput: thresholds out of range, or a nudge text that is too long.
        """
        if nudge_text is not None:
            nudge_text = nudge_text.strip() or None
        if nudge_text is not None and len(nudge_text) > MAX_NUDGE:
            raise InvalidInput(f"the nudge text is limited to {MAX_NUDGE} characters")
        if not timedelta(minutes=5) <= offline_after <= timedelta(days=7):
            raise InvalidInput("offline_after must be 5 minutes to 7 days")
        if not timedelta(hours=1) <= silent_after <= timedelta(days=30):
            raise InvalidInput("silent_after must be 1 hour to 30 days")
        async with self._store.write() as uow:
            await self._case(uow, staff, case_id, manage=True)
            if isinstance(reminder_offsets, _Keep):
                current = await uow.case_settings.get(case_id)
                offsets = None if current is None else current.reminder_offsets
            else:
                offsets = (
                    None
                    if reminder_offsets is None
                    else tuple(sorted(set(reminder_offsets), reverse=True))
                )
            settings = CaseSettings(
                case_id,
                nudge_text,
                int(offline_after.total_seconds()),
                int(silent_after.total_seconds()),
                offsets,
            )
            await uow.case_settings.put(settings, staff.id, self._clock.now())
            await self._audit.append(
                uow.audit, Actor.staff(staff.id), "case.welfare_settings_changed", case_id=case_id
            )
        return settings

    async def policy_for_case(self, staff: Staff, case_id: str) -> tuple[EscalationPolicy, str]:
        """The policy in force for a case and where it comes from (case, agency, default)."""
        async with self._store.read() as uow:
            case = await self._case(uow, staff, case_id, manage=False)
            for scope in (
                f"case:{case.id}",
                f"agency:{case.support_agency_id}",
                f"agency:{case.police_agency_id}",
            ):
                spec = await uow.policies.get(scope)
                if spec is not None:
                    return EscalationPolicy.from_json(spec), scope
        return DEFAULT_POLICY, "default"

    async def set_case_policy(self, staff: Staff, case_id: str, spec: object) -> EscalationPolicy:
        """Raises: InvalidInput for a malformed policy or one naming staff who are not
        active staff of the case's agencies (never silently dropped when an alert
        fires); NotFound/Forbidden as usual."""
        policy = policy_from_dict(spec)
        async with self._store.write() as uow:
            case = await self._case(uow, staff, case_id, manage=True)
            await _refuse_outsiders(uow, policy, case.agency_ids(), "an agency on this case")
            await uow.policies.put(f"case:{case_id}", policy.to_json(), staff.id, self._clock.now())
            await self._audit.append(
                uow.audit, Actor.staff(staff.id), "case.escalation_policy_changed", case_id=case_id
            )
        return policy

    async def set_agency_policy(
        self, staff: Staff, agency_id: str, spec: object
    ) -> EscalationPolicy:
        """The default policy for an agency's cases; supervisors and admins of it only.

        Raises:
            Forbidden: not a supervisor or admin of that agency (another agency's:
                audited, see :mod:`server.domain.agency_scope`).
            InvalidInput: a malformed policy.
        """
        await require_own_agency(
            self._store,
            self._audit,
            staff,
            agency_id,
            "agency.policy_change",
            roles=SUPERVISING_ROLES,
            refusal="Only the agency's supervisors and admins set its default policy",
        )
        policy = policy_from_dict(spec)
        async with self._store.write() as uow:
            await _refuse_outsiders(uow, policy, (agency_id,), "this agency")
            await uow.policies.put(
                f"agency:{agency_id}", policy.to_json(), staff.id, self._clock.now()
            )
            await self._audit.append(
                uow.audit,
                Actor.staff(staff.id),
                "agency.escalation_policy_changed",
                subject=("agency", agency_id),
            )
        return policy


async def _refuse_outsiders(
    uow: UnitOfWork, policy: EscalationPolicy, agency_ids: Sequence[str], whose: str
) -> None:
    """Refuse a policy naming anyone who is not active staff of ``agency_ids``.

    Alerts only ever reach staff of the case's agencies, so such a name would be
    dropped without a word when it matters; better to say so when the policy is set.
    The error names the field (``levels[0].notify[1].staff_ids[0]``) and never says
    whether the id exists elsewhere.

    Raises:
        InvalidInput: with ``field`` set to the first offending entry's path.
    """
    for level_no, level in enumerate(policy.levels):
        for target_no, target in enumerate(level.targets):
            for id_no, staff_id in enumerate(target.staff_ids):
                member = await uow.staff.get(staff_id)
                if member is None or not member.active or member.agency_id not in agency_ids:
                    field = f"levels[{level_no}].notify[{target_no}].staff_ids[{id_no}]"
                    raise InvalidInput(
                        f"{field} is not active staff of {whose}; alerts could not reach them",
                        field=field,
                    )
