"""Each step of a call acts once: Twilio retries webhooks and a signed request can be
replayed, so every voice webhook is keyed by (CallSid, step).

The first request for a step claims it, acts, and stores the TwiML it answered with
(and, for later steps of the same call, a short context such as which witness is
calling and whether the real or the duress PIN was entered). A repeat gets the stored
TwiML and changes nothing; if the first answer was never stored (the server died while
acting), a repeat hears a hang-up rather than acting twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final

from server.clock import Clock
from server.storage.protocols import Store

__all__ = ["HANG_UP", "CallSteps", "Step"]

#: A hang-up with nothing said.
HANG_UP: Final = '<?xml version="1.0" encoding="UTF-8"?><Response><Hangup /></Response>'

#: What a step does: the TwiML to answer with, and the context later steps may read.
Step = Callable[[], Awaitable[tuple[str, str | None]]]


class CallSteps:
    """Runs each (CallSid, step) once; see the module docstring."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def once(self, call_sid: str, step: str, act: Step) -> str:
        """The TwiML for this step: ``act``'s on the first request, the stored one after."""
        now_ms = int(self._clock.now().timestamp() * 1000)
        async with self._store.write() as uow:
            first, stored = await uow.voice_steps.claim(call_sid, step, now_ms)
        if not first:
            return stored if stored is not None else HANG_UP
        response, context = await act()
        async with self._store.write() as uow:
            await uow.voice_steps.answer(call_sid, step, response, context)
        return response

    async def context(self, call_sid: str, step: str) -> str | None:
        """The context an earlier step of this call stored (None if it never ran)."""
        async with self._store.read() as uow:
            return await uow.voice_steps.context(call_sid, step)
