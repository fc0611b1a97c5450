"""Check-in by phone: a witness calls our number and answers from the keypad.

1. ``incoming``: the caller is recognised by number (the phone blind index, as for
   inbound SMS). An unknown number hears a neutral sentence and the call ends; nothing
   says whose line this is. A witness with a voice PIN is asked for it; without one,
   the menu follows at once.
2. ``pin_entered``: the real PIN and the duress PIN both lead to *exactly the same*
   TwiML (the menu); only the server remembers which was entered. A wrong PIN hears the
   neutral sentence.
   PIN entries are limited per witness (5, then one per 10 minutes): past the
   limit every PIN hears the neutral sentence, while the duress PIN still raises the
   duress alert, silently.
3. ``menu_choice``: 1 = well (counts as contact), 2 = please contact me, 9 = help
   (critical). After the duress PIN any choice is recorded as duress and raises a
   duress alert, and the caller hears the same "thank you" as ever.

Every step runs once per call (:class:`~server.notify.call_steps.CallSteps`), so a
repeated webhook changes nothing twice. The digits are compared as keyed digests
(:meth:`PhoneBook.word_matches`), never stored or logged.
"""

from __future__ import annotations

import logging
from typing import Final

from server.domain.models import Witness
from server.domain.welfare.checkins import CHECKIN_CALL_PURPOSE, CheckInService
from server.domain.welfare_models import Response
from server.errors import InvalidInput, RateLimited
from server.notify.call_steps import HANG_UP, CallSteps
from server.notify.voice import checkin_menu_twiml, is_machine, pin_prompt_twiml, spoken_twiml
from server.security.phones import PhoneBook
from server.security.ratelimit import Limiter
from server.storage.protocols import Store
from wire.i18n import texts

__all__ = ["MENU_CHOICES", "WitnessCalls"]

log = logging.getLogger(__name__)

#: The menu keys and what they answer.
MENU_CHOICES: Final = {"1": Response.OK, "2": Response.CONTACT, "9": Response.HELP}
#: Language of what an unrecognised caller hears (we do not know theirs).
_UNKNOWN_CALLER_LANGUAGE: Final = "en"
_OK, _DURESS = "ok", "duress"


def _context(witness_id: str, mode: str | None = None) -> str:
    return witness_id if mode is None else f"{witness_id}|{mode}"


def _neutral(language: str = _UNKNOWN_CALLER_LANGUAGE) -> str:
    """The sentence that reveals nothing, then a hang-up."""
    return spoken_twiml(language, texts.witness_call_neutral(language))


def _parse(context: str | None) -> tuple[str | None, str | None]:
    if not context:
        return None, None
    witness_id, _, mode = context.partition("|")
    return witness_id, mode or None


class WitnessCalls:
    """Answers the webhooks of a witness's check-in call."""

    def __init__(
        self,
        store: Store,
        steps: CallSteps,
        phones: PhoneBook,
        checkins: CheckInService,
        pin_attempts: Limiter,
    ) -> None:
        """``pin_attempts`` bounds PIN entries per witness (shared by every instance)."""
        self._store = store
        self._steps = steps
        self._phones = phones
        self._checkins = checkins
        self._pin_attempts = pin_attempts

    async def incoming(self, call_sid: str, from_number: str) -> str:
        """The TwiML for a call to our number."""

        async def act() -> tuple[str, str | None]:
            try:
                index = self._phones.index(from_number)
            except InvalidInput:
                index = None
            async with self._store.read() as uow:
                witness = None if index is None else await uow.witnesses.find_by_phone_index(index)
            if witness is None:
                return _neutral(), None
            return await self._greet(witness)

        return await self._steps.once(call_sid, "start", act)

    async def outbound(self, notification_id: str, call_sid: str, answered_by: str | None) -> str:
        """The TwiML of a check-in call we placed; a machine is hung up on (no answer)."""

        async def act() -> tuple[str, str | None]:
            async with self._store.read() as uow:
                row = await uow.notifications.get(notification_id)
                ours = (
                    row is not None
                    and row.channel == "voice"
                    and row.purpose == CHECKIN_CALL_PURPOSE
                    and row.recipient_kind == "witness"
                )
                witness = await uow.witnesses.get(row.recipient_id) if ours and row else None
            if witness is None or is_machine(answered_by):
                return HANG_UP, None
            return await self._greet(witness)

        return await self._steps.once(call_sid, "start", act)

    async def _greet(self, witness: Witness) -> tuple[str, str | None]:
        """The PIN prompt, or the menu at once for a witness without a voice PIN."""
        async with self._store.read() as uow:
            voice = await uow.witness_voice.get(witness.id)
        if voice is None or voice.pin_digest is None or voice.duress_digest is None:
            return checkin_menu_twiml(witness.language), _context(witness.id, _OK)
        return pin_prompt_twiml(witness.language), _context(witness.id)

    async def pin_entered(self, call_sid: str, digits: str) -> str:
        """The TwiML after the PIN: the menu for either PIN, else the neutral sentence."""

        async def act() -> tuple[str, str | None]:
            witness_id, _ = _parse(await self._steps.context(call_sid, "start"))
            async with self._store.read() as uow:
                witness = None if witness_id is None else await uow.witnesses.get(witness_id)
                voice = None if witness is None else await uow.witness_voice.get(witness.id)
            if witness is None or voice is None:
                return _neutral(), None
            pin_digest, duress_digest = voice.pin_digest, voice.duress_digest
            try:
                await self._pin_attempts.take(witness.id)
                limited = False
            except RateLimited:
                limited = True
            # Both compared every time, so the time taken does not say which matched.
            real = self._phones.word_matches("voice-pin", digits, pin_digest)
            duress = self._phones.word_matches("voice-duress", digits, duress_digest)
            if limited:
                # Too many PINs lately: every PIN hears the neutral sentence, but the
                # duress PIN still raises the alarm, silently.
                log.info("Check-in call refused: too many voice PIN attempts")
                if duress:
                    await self._checkins.answer_by_phone(
                        witness.id, Response.OK, duress=True, call_sid=call_sid
                    )
                return _neutral(witness.language), None
            if not (real or duress):
                log.info("Check-in call with a wrong voice PIN")
                return _neutral(witness.language), None
            mode = _DURESS if duress else _OK
            return checkin_menu_twiml(witness.language), _context(witness.id, mode)

        return await self._steps.once(call_sid, "pin", act)

    async def menu_choice(self, call_sid: str, digits: str) -> str:
        """The TwiML after a menu key; the check-in (or alert) is recorded first."""

        async def act() -> tuple[str, str | None]:
            witness_id, mode = _parse(await self._steps.context(call_sid, "pin"))
            if mode is None:
                witness_id, mode = _parse(await self._steps.context(call_sid, "start"))
            witness = None
            if witness_id is not None and mode in (_OK, _DURESS):
                async with self._store.read() as uow:
                    witness = await uow.witnesses.get(witness_id)
            if witness is None:
                return _neutral(), None
            choice = MENU_CHOICES.get(digits.strip())
            duress = mode == _DURESS
            if choice is not None or duress:
                # After the duress PIN any key raises the duress alert; what is said
                # depends only on the key, so it sounds as it would with the real PIN.
                await self._checkins.answer_by_phone(
                    witness.id, choice or Response.OK, duress=duress, call_sid=call_sid
                )
            said = (
                texts.witness_call_thanks(witness.language)
                if choice is not None
                else texts.witness_call_goodbye(witness.language)
            )
            return spoken_twiml(witness.language, said), None

        return await self._steps.once(call_sid, "menu", act)
