"""The alert call as it happens: what Twilio is told to say, and the key press that
acknowledges.

Twilio fetches the call's TwiML (``answer``) when someone or something picks up, and
posts the key pressed (``key_pressed``). Both requests are signed (the handler checks
that); the notification id in the URL is one we gave Twilio. Each (CallSid, step) acts
once: a repeated or replayed webhook gets the TwiML first answered and changes nothing.

* An answering machine (``AnsweredBy`` ``machine_*`` or ``fax``) hears a hang-up: it
  cannot acknowledge, so the alert escalates as if nobody had answered.
* Pressing 1 acknowledges the alert as the staff member the call was for (audited by
  :meth:`AlertDesk.acknowledge`); the call says "acknowledged, thank you".
* Any other key, or an alert already taken or closed, says so and hangs up; no key at
  all says goodbye (the TwiML's own fall-through) and escalation continues.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import Final

from server.domain.welfare.alert_desk import AlertDesk
from server.errors import Conflict, NotFound
from server.notify.call_steps import HANG_UP, CallSteps
from server.notify.voice import (
    alert_call_path,
    alert_prompt_twiml,
    is_machine,
    spoken_twiml,
)
from server.storage.protocols import Store
from wire.i18n import texts

__all__ = ["ACKNOWLEDGE_KEY", "AlertCalls", "key_path"]

log = logging.getLogger(__name__)

#: The key that acknowledges.
ACKNOWLEDGE_KEY: Final = "1"


def key_path(notification_id: str) -> str:
    """Where the key pressed on an alert call is posted."""
    return alert_call_path(notification_id) + "/key"


class AlertCalls:
    """Answers the webhooks of alert calls to staff."""

    def __init__(self, store: Store, steps: CallSteps, desk: AlertDesk) -> None:
        self._store = store
        self._steps = steps
        self._desk = desk

    async def answer(self, notification_id: str, call_sid: str, answered_by: str | None) -> str:
        """The TwiML for an answered alert call (the prompt, or a hang-up for a machine)."""
        return await self._steps.once(
            call_sid, "answer", lambda: _no_context(self._answer(notification_id, answered_by))
        )

    async def key_pressed(
        self, notification_id: str, call_sid: str, digits: str, answered_by: str | None
    ) -> str:
        """The TwiML after a key press; pressing 1 acknowledges the alert."""
        return await self._steps.once(
            call_sid, "key", lambda: _no_context(self._key(notification_id, digits, answered_by))
        )

    async def _answer(self, notification_id: str, answered_by: str | None) -> str:
        async with self._store.read() as uow:
            row = await uow.notifications.get(notification_id)
        if row is None or row.channel != "voice" or row.alert_id is None:
            return HANG_UP
        if is_machine(answered_by):
            log.info("Alert call %s reached a machine; not acknowledged", notification_id)
            return HANG_UP
        return alert_prompt_twiml(row.language, key_path(notification_id))

    async def _key(self, notification_id: str, digits: str, answered_by: str | None) -> str:
        async with self._store.read() as uow:
            row = await uow.notifications.get(notification_id)
            staff = None if row is None else await uow.staff.get(row.recipient_id)
        if row is None or row.alert_id is None or staff is None or row.channel != "voice":
            return HANG_UP
        language = row.language
        if is_machine(answered_by) or digits.strip() != ACKNOWLEDGE_KEY or not staff.active:
            return spoken_twiml(language, texts.staff_alert_call_not_acknowledged(language))
        try:
            await self._desk.acknowledge(staff, row.alert_id)
        except (Conflict, NotFound):
            return spoken_twiml(language, texts.staff_alert_call_not_acknowledged(language))
        log.info("Alert acknowledged by call %s", notification_id)
        return spoken_twiml(language, texts.staff_alert_call_acknowledged(language))


async def _no_context(twiml: Awaitable[str]) -> tuple[str, str | None]:
    return await twiml, None
