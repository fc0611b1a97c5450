"""The voice half of the Twilio-shaped test server: Calls, a scripted callee, TwiML.

:class:`FakeVoice` hangs off :class:`tests.fakes.twilio_server.FakeTwilio` (``fake.voice``)
and serves ``/2010-04-01/Accounts/{sid}/Calls.json`` (create and list) so that the
real ``twilio`` client's ``client.calls.create(...)`` and ``client.calls.list(...)``
work against it. A created call stays ``queued`` until the test connects it
(:meth:`FakeVoice.connect`), like SMS that are delivered only when a test says so: no
background task, no sleeps. Faults are injected with the fake's ``fail_next`` and
``hang_next`` using the kinds ``call_create`` and ``call_list``.

Connecting a call plays the callee the test scripted for the number
(:meth:`FakeVoice.script`): a human or an answering machine answers, or nobody does,
or the line is busy. An answered call fetches its TwiML (``Url`` or inline ``Twiml``)
and interprets it: ``Say`` (recorded in :attr:`FakeCall.spoken`), ``Pause``,
``Gather`` (``numDigits``, ``action``, ``method``, ``timeout``; the callee's next
scripted key presses, or nothing, which falls through to the next verb as on Twilio),
``Redirect`` and ``Hangup``. With ``MachineDetection`` on, every request carries
``AnsweredBy`` (``human`` or ``machine_start``). At the end the ``StatusCallback``
gets the final status. A caller dialling our number is :meth:`FakeVoice.incoming`.

Every request to the server under test is signed exactly as Twilio signs it
(``X-Twilio-Signature``, the real ``RequestValidator`` algorithm).

Simplifications: statuses jump from ``queued`` to the final one (no ``ringing`` or
``in-progress`` callbacks); only the ``completed`` status callback event is sent; the
Calls list filters on ``To``, ``From``, ``Status`` and ``StartTime``/``StartTime>``
/``StartTime<`` (whole seconds) and returns one page.
"""

from __future__ import annotations

import itertools
import os
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urljoin

from aiohttp import web

if TYPE_CHECKING:
    from tests.fakes.twilio_server import FakeTwilio, WebhookResult

__all__ = ["Answer", "Callee", "FakeCall", "FakeVoice"]

Answer = Literal["human", "machine", "no-answer", "busy"]
#: How many TwiML documents one call may fetch before the fake gives up (a loop).
MAX_STEPS = 20


@dataclass
class Callee:
    """Who picks up at a number: how they answer and the keys they press, one entry
    per ``Gather`` in order (``""`` presses nothing; an exhausted list, nothing)."""

    answer: Answer = "human"
    presses: deque[str] = field(default_factory=deque)


@dataclass
class FakeCall:
    """One call, outbound (placed through the API) or inbound (a caller dialling in)."""

    sid: str
    to: str
    from_: str
    direction: str
    url: str | None
    twiml: str | None
    method: str
    status_callback: str | None
    machine_detection: str | None
    date_created: datetime
    status: str = "queued"
    answered_by: str | None = None
    duration: int = 0
    #: Every ``Say`` text the callee heard, in order.
    spoken: list[str] = field(default_factory=list)
    #: Every TwiML document the server answered with, as received (bytes-exact text).
    documents: list[str] = field(default_factory=list)
    #: The responses of the server to each webhook (status, text), in order.
    webhooks: list[WebhookResult] = field(default_factory=list)

    def to_resource(self, account_sid: str) -> dict[str, Any]:
        """The Call resource as Twilio's REST API returns it (the fields clients read)."""
        started = self.date_created.strftime("%a, %d %b %Y %H:%M:%S +0000")
        return {
            "sid": self.sid,
            "account_sid": account_sid,
            "to": self.to,
            "from": self.from_,
            "status": self.status,
            "direction": self.direction,
            "answered_by": self.answered_by,
            "duration": str(self.duration),
            "date_created": started,
            "date_updated": started,
            "start_time": started,
            "end_time": None,
            "api_version": "2010-04-01",
            "uri": f"/2010-04-01/Accounts/{account_sid}/Calls/{self.sid}.json",
        }


def _parse_start_filter(value: str) -> datetime | None:
    for fmt in ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d"):
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


class FakeVoice:
    """Twilio's Calls API and a telephone network of scripted callees."""

    def __init__(self, owner: FakeTwilio) -> None:
        self._owner = owner
        self.calls: list[FakeCall] = []
        self._callees: dict[str, Callee] = {}
        self._seq = itertools.count()

    # ----------------------------------------------------------- test controls

    def script(self, number: str, answer: Answer = "human", presses: tuple[str, ...] = ()) -> None:
        """Say who answers at ``number`` from now on and which keys they press."""
        self._callees[number] = Callee(answer, deque(presses))

    def calls_to(self, number: str) -> list[FakeCall]:
        return [c for c in self.calls if c.to == number and c.direction == "outbound-api"]

    async def connect(self) -> list[FakeCall]:
        """Play every queued outbound call to its end; returns the calls played."""
        played = []
        for call in [c for c in self.calls if c.status == "queued"]:
            await self._play(call)
            played.append(call)
        return played

    async def incoming(
        self, url: str, from_: str, to: str, presses: tuple[str, ...] = ()
    ) -> FakeCall:
        """A caller at ``from_`` dials ``to``; Twilio fetches our voice ``url``."""
        call = FakeCall(
            sid=self._new_sid(),
            to=to,
            from_=from_,
            direction="inbound",
            url=url,
            twiml=None,
            method="POST",
            status_callback=None,
            machine_detection=None,
            date_created=self._owner._now(),
        )
        self.calls.append(call)
        await self._converse(call, Callee("human", deque(presses)))
        return call

    # -------------------------------------------------------------- HTTP side

    def add_routes(self, app: web.Application, prefix: str) -> None:
        app.router.add_post(prefix + "/Calls.json", self._handle_create)
        app.router.add_get(prefix + "/Calls.json", self._handle_list)

    async def _handle_create(self, request: web.Request) -> web.Response:
        owner = self._owner
        owner.requests["call_create"] += 1
        denied = owner._authenticate(request)
        if denied is not None:
            return denied
        fault = owner._take_fault("call_create")
        if fault is not None and fault.action == "fail":
            return owner._injected_failure(fault)
        form = {k: str(v) for k, v in (await request.post()).items()}
        if not form.get("To") or not form.get("From"):
            return owner._error_response(400, 21201, "No 'To' number is specified")
        if not form.get("Url") and not form.get("Twiml"):
            return owner._error_response(400, 21205, "Url parameter is required")
        call = FakeCall(
            sid=self._new_sid(),
            to=form["To"],
            from_=form["From"],
            direction="outbound-api",
            url=form.get("Url"),
            twiml=form.get("Twiml"),
            method=form.get("Method", "POST").upper(),
            status_callback=form.get("StatusCallback"),
            machine_detection=form.get("MachineDetection"),
            date_created=owner._now(),
        )
        self.calls.append(call)
        response = owner._json(201, call.to_resource(owner.account_sid))
        return await owner._answer(request, fault, response)

    async def _handle_list(self, request: web.Request) -> web.Response:
        owner = self._owner
        owner.requests["call_list"] += 1
        denied = owner._authenticate(request)
        if denied is not None:
            return denied
        fault = owner._take_fault("call_list")
        if fault is not None and fault.action == "fail":
            return owner._injected_failure(fault)
        query = request.query
        bounds: dict[str, datetime] = {}
        for key in ("StartTime", "StartTime>", "StartTime<"):
            if key in query:
                parsed = _parse_start_filter(query[key])
                if parsed is None:
                    return owner._error_response(400, 20001, "Invalid StartTime")
                bounds[key] = parsed
        tests: list[Callable[[FakeCall], bool]] = []
        wanted = {
            attr: query[key]
            for key, attr in (("To", "to"), ("From", "from_"), ("Status", "status"))
            if key in query
        }
        tests.append(lambda c: all(getattr(c, a) == w for a, w in wanted.items()))
        if "StartTime>" in bounds:
            tests.append(lambda c: c.date_created >= bounds["StartTime>"])
        if "StartTime<" in bounds:
            tests.append(lambda c: c.date_created <= bounds["StartTime<"])
        matching = [c for c in self.calls if all(t(c) for t in tests)]
        matching.sort(key=lambda c: c.date_created, reverse=True)
        base = f"/2010-04-01/Accounts/{owner.account_sid}/Calls.json"
        payload = {
            "calls": [c.to_resource(owner.account_sid) for c in matching],
            "first_page_uri": base,
            "next_page_uri": None,
            "previous_page_uri": None,
            "page": 0,
            "page_size": 50,
            "start": 0,
            "end": max(len(matching) - 1, 0),
            "uri": base,
        }
        return await owner._answer(request, fault, owner._json(200, payload))

    # ------------------------------------------------------------ the network

    def _new_sid(self) -> str:
        return "CA" + os.urandom(16).hex()

    async def _play(self, call: FakeCall) -> None:
        callee = self._callees.get(call.to, Callee())
        if callee.answer in ("no-answer", "busy"):
            call.status = callee.answer
        else:
            if call.machine_detection:
                call.answered_by = "human" if callee.answer == "human" else "machine_start"
            if callee.answer == "machine":
                callee = Callee("machine")  # a machine presses nothing
            await self._converse(call, callee)
        if call.status_callback:
            await self._owner._post_webhook(
                call.status_callback,
                {**self._base_params(call), "CallDuration": str(call.duration)},
                self._owner.auth_token,
            )

    def _base_params(self, call: FakeCall) -> dict[str, str]:
        params = {
            "AccountSid": self._owner.account_sid,
            "ApiVersion": "2010-04-01",
            "CallSid": call.sid,
            "CallStatus": call.status,
            "Direction": call.direction,
            "From": call.from_,
            "To": call.to,
        }
        if call.answered_by is not None:
            params["AnsweredBy"] = call.answered_by
        return params

    async def _fetch(self, call: FakeCall, url: str, extra: Mapping[str, str]) -> str | None:
        """POST a signed voice webhook; the TwiML it answered, or None on an error."""
        params = {**self._base_params(call), **extra}
        result = await self._owner._post_webhook(url, params, self._owner.auth_token)
        call.webhooks.append(result)
        if result.status != 200:
            return None
        call.documents.append(result.text)
        return result.text

    async def _converse(self, call: FakeCall, callee: Callee) -> None:
        """Run the call's TwiML until it hangs up, runs out of verbs or loops."""
        call.status = "in-progress"
        current_url = call.url or ""
        document = call.twiml
        if document is None:
            document = await self._fetch(call, current_url, {})
        for _step in range(MAX_STEPS):
            if document is None:
                break
            follow = await self._run(call, callee, document, current_url)
            if follow is None:
                break
            current_url, extra = follow
            document = await self._fetch(call, current_url, extra)
        call.status = "completed"
        call.duration = max(1, len(call.spoken))

    async def _run(
        self, call: FakeCall, callee: Callee, document: str, url: str
    ) -> tuple[str, dict[str, str]] | None:
        """Interpret one TwiML document; where to go next (URL and fields), or None."""
        # The TwiML comes from the server under test, on loopback: trusted enough.
        root = ET.fromstring(document)  # noqa: S314
        if root.tag != "Response":
            return None
        for verb in root:
            if verb.tag == "Say":
                call.spoken.append((verb.text or "").strip())
            elif verb.tag == "Pause":
                continue
            elif verb.tag == "Hangup":
                return None
            elif verb.tag == "Redirect":
                return urljoin(url, (verb.text or "").strip()), {}
            elif verb.tag == "Gather":
                for inner in verb:
                    if inner.tag == "Say":
                        call.spoken.append((inner.text or "").strip())
                pressed = callee.presses.popleft() if callee.presses else ""
                wanted = int(verb.get("numDigits", "0") or 0)
                if wanted:
                    pressed = pressed[:wanted]
                if pressed:
                    action = urljoin(url, verb.get("action") or url)
                    return action, {"Digits": pressed}
        return None
