"""The witness's phone: enrol once in person, then talk to the case team.

``WitnessClient.enroll`` is run while the officer is present: it scans (or types) the
code the officer's client shows, creates the encrypted store under the witness's PIN,
makes the phone's keys and identity on the phone, and checks the team roster it is
handed against the officer's MAC; the witness and the officer then compare numbers on
both screens (``client_sdk.phone_enrolment``). Afterwards ``WitnessClient.open``
unlocks the store with the PIN.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from client_sdk.appointments import (
    UpcomingAppointment,
    changed_event,
    reminder_event,
    upcoming_from,
)
from client_sdk.beacon import forget_beacon, report_wipe, write_beacon
from client_sdk.conversation import Clock, Conversation, SentMessage
from client_sdk.errors import ApiError, EnrolmentRefused, NotEnrolled, WitnesslinkError
from client_sdk.events import (
    CheckInClosed,
    CheckInPrompt,
    Event,
    HeldMessage,
    IncomingMessage,
    KeyChangeWarning,
    NewDevice,
)
from client_sdk.identity import PersonalIdentity
from client_sdk.localstore import (
    DeviceIdentity,
    LocalStore,
    PhoneEnrolment,
    SelfPerson,
    Settings,
    StoredMessage,
)
from client_sdk.own_keys import publish_device_list, publish_device_object
from client_sdk.phone_enrolment import PendingEnrolment
from client_sdk.setup import create_device, finish_device, open_device
from client_sdk.transport import Transport
from client_sdk.trust import TrustState
from client_sdk.vault import DEFAULT_KDF, KdfParams, Vault, VaultWiped
from wire.checkins import checkin_response_payload
from wire.encoding import b64, canonical_json
from wire.enrolment import (
    enrolment_context,
    enrolment_keys,
    mac_matches,
    new_nonce,
    parse_enrolment_code,
    phone_mac,
    team_mac,
)
from wire.keys import InvalidObject, check_roster


class WitnessClient(Conversation):
    """The witness's side of the conversation (one case), check-ins and safety."""

    _battery: Callable[[], int | None] | None = None
    _duress_session: str | None = None
    _wipe_pending: bool = False
    _prompt: dict[str, Any] | None = None
    HEARTBEAT_EVERY = 15 * 60.0

    @property
    def case_id(self) -> str:
        assert self.identity.case_id is not None
        return self.identity.case_id

    @classmethod
    async def enroll(
        cls,
        server_url: str | None,
        code: str,
        store_path: Path,
        pin: str,
        *,
        device_name: str = "phone",
        kdf: KdfParams = DEFAULT_KDF,
        max_failed_unlocks: int = 10,
        duress_pin: str | None = None,
        wipe_on_duress: bool = False,
        clock: Clock | None = None,
    ) -> PendingEnrolment:
        """Enrol this phone in person with the code the officer's client shows (the
        typed form or the QR payload). Finish with the returned enrolment: show its
        :meth:`~PendingEnrolment.sas` beside the officer's screen, then
        :meth:`~PendingEnrolment.confirm` (or :meth:`~PendingEnrolment.reject`).

        ``duress_pin`` is a second PIN: it opens the app as usual, but silently raises a
        duress alert (and, with ``wipe_on_duress``, wipes the phone once the alert is out).

        Raises:
            ValueError: the code is malformed, or no server address is known.
            VaultExists: the phone already has a store at ``store_path``.
            EnrolmentRefused: the server refused the code, or the team roster it handed
                over does not carry the officer's MAC (the store is wiped again).
            TransportError: the server could not be reached (the store is wiped again).
        """
        parsed = parse_enrolment_code(code)
        url = server_url or parsed.server_url
        if not url:
            raise ValueError("the server address is needed (it is in the QR code)")
        keys = enrolment_keys(parsed.secret)
        draft = await create_device(
            store_path,
            pin,
            name=device_name,
            context=enrolment_context(keys.server_token),
            kdf=kdf,
            max_failed_unlocks=max_failed_unlocks,
        )
        person = PersonalIdentity.generate()
        transport = Transport(url)
        try:
            reply = await transport.request(
                "POST",
                "/v1/enrol",
                json={
                    "code": b64(keys.server_token),
                    "device": draft.registration,
                    "identity_key": person.public_key,
                    "identity_mac": phone_mac(keys.phone, person.public_key),
                },
            )
            transport.token = reply["token"]
            offered = reply["enrolment"]
            try:
                roster = check_roster(offered["roster"])
            except InvalidObject:
                roster = None
            if (
                roster is None
                or roster.case_id != reply["witness"]["case_id"]
                or not mac_matches(team_mac(keys.team, roster.object_hash), offered["team_mac"])
            ):
                with contextlib.suppress(WitnesslinkError):
                    await transport.request("POST", "/v1/me/enrolment/abort")
                raise EnrolmentRefused(
                    "the case team's keys do not match the code: ask for a new code in person"
                )
        except ApiError as error:
            await draft.store.vault.wipe()
            raise EnrolmentRefused(f"the server refused the enrolment ({error.code})") from error
        except BaseException:
            await draft.store.vault.wipe()
            raise
        finally:
            await transport.close()
        witness = reply["witness"]
        identity = DeviceIdentity(
            device_id=reply["device_id"],
            token=reply["token"],
            server_url=url,
            owner_kind="witness",
            owner_id=witness["witness_id"],
            case_id=witness["case_id"],
            display_name=witness["alias"],
            language=witness["language"],
            timezone=witness["timezone"],
        )
        me = SelfPerson(owner=f"witness:{witness['witness_id']}", identity_seed=person.seed)
        record = PhoneEnrolment(
            enrolment_id=offered["enrolment_id"],
            roster=canonical_json(offered["roster"]).decode(),
            commitment=str(offered["commitment"]),
            nonce=new_nonce(),
        )
        await finish_device(draft, identity, me)
        await draft.store.write([LocalStore.phone_enrolment_put(record)])
        if duress_pin is not None:
            await draft.store.vault.add_slot("duress", duress_pin)
        await draft.store.put_settings(Settings(wipe_on_duress=wipe_on_duress))
        write_beacon(store_path, url, reply["beacon_token"])
        client = cls(draft.store, identity, draft.olm, TrustState(me, {}, {}, {}), clock=clock)
        try:
            devices = {client.device_id: await publish_device_object(client._ctx)}
            client.trust.set_me(
                await publish_device_list(client._ctx, person, me, devices, after_version=0)
            )
            await client.transport.request(
                "PUT", "/v1/me/enrolment/nonce", json={"nonce": b64(record.nonce)}
            )
        except BaseException:
            await client.close()
            await Vault.wipe_file(store_path)
            forget_beacon(store_path)
            raise
        return PendingEnrolment(client, record)

    @classmethod
    async def open(
        cls,
        store_path: Path,
        pin: str,
        *,
        clock: Clock | None = None,
        battery: Callable[[], int | None] | None = None,
    ) -> WitnessClient:
        """Unlock the phone's store with the PIN (or the duress PIN, which looks the same).

        ``battery`` returns the battery level when the platform can tell it; heartbeats
        carry it so the team can tell a flat battery from a silent phone.

        Raises:
            WrongSecret: wrong PIN (``attempts_left`` says how many remain).
            VaultWiped: too many wrong PINs: the store has been destroyed; the server has
                been told (or will be, via :func:`client_sdk.beacon.report_wipe`).
            VaultNotFound, NotEnrolled: nothing to open.
        """
        try:
            opened = await open_device(store_path, pin)
        except VaultWiped:
            await report_wipe(store_path)
            raise
        enrolment = await opened.store.phone_enrolment()
        if enrolment is None or not enrolment.confirmed:
            await opened.store.vault.close()
            raise NotEnrolled("this phone's enrolment was not finished: enrol it again")
        client = cls(opened.store, opened.identity, opened.olm, opened.trust, clock=clock)
        client._battery = battery
        if opened.store.vault.slot_name == "duress":
            await client._enter_duress()
        return client

    # ------------------------------------------------------------------ check-ins

    @property
    def in_duress(self) -> bool:
        """Opened with the duress PIN (the app must look exactly as usual)."""
        return self._duress_session is not None

    async def check_in(self, status: str = "ok", note: str | None = None) -> CheckInResult:
        """Answer the waiting check-in: "ok", "contact" (please contact me) or "help".

        The answer is signed by this phone's key and bound to the prompt, so it cannot
        be replayed or forged. An optional note goes to the case team end-to-end
        encrypted; the server never sees it. Opened with the duress PIN, the phone
        sends a duress answer and shows exactly what an "ok" would show.

        Raises:
            ValueError: an unknown status.
            WitnesslinkError: no check-in is waiting.
            ApiError, TransportError: the server refused or could not be reached.
        """
        if status not in ("ok", "contact", "help"):
            raise ValueError("status must be ok, contact or help")
        return await _check_in(self, status, note)

    async def current_prompt(self) -> CheckInPrompt | None:
        """The check-in waiting now, if any (asks the server)."""
        reply = await self.transport.request("GET", "/v1/checkins/current")
        self._prompt = reply["checkin"]
        return None if self._prompt is None else _prompt_event(self._prompt, reminder=False)

    async def panic(self) -> None:
        """Ask for help now: the team is alerted at once (critical).

        Raises:
            ApiError, TransportError: it did not reach the server — call instead.
        """
        await self.transport.request(
            "POST", "/v1/panic", json={"request_id": secrets.token_urlsafe(12)}
        )

    async def heartbeat(self) -> None:
        """Tell the server this phone is alive (with the battery level if known).

        Opened with the duress PIN, the heartbeat carries the duress session (the server
        raises the alarm), and with wipe-on-duress the phone is wiped once a heartbeat
        has got through — whichever heartbeat that is.

        Raises:
            ApiError, TransportError: not delivered.
        """
        body: dict[str, Any] = {"battery": self._battery() if self._battery else None}
        if self._duress_session is not None:
            body["duress_session"] = self._duress_session
        await self.transport.request("POST", "/v1/heartbeat", json=body)
        if self._duress_session is not None and self._wipe_pending:
            self._wipe_pending = False
            path = self._store.vault.path
            await self._store.vault.wipe()
            forget_beacon(path)

    async def set_sms_words(self, checkin_word: str, duress_word: str) -> None:
        """Choose the word to text back for a check-in without data, and a second word
        that means "I am under duress"."""
        await self.transport.request(
            "PUT",
            "/v1/me/sms-words",
            json={"checkin_word": checkin_word, "duress_word": duress_word},
        )

    async def _enter_duress(self) -> None:
        self._duress_session = secrets.token_urlsafe(12)
        settings = await self._store.settings()
        self._wipe_pending = settings.wipe_on_duress
        # Nothing on screen may change: a failed heartbeat is retried by the loop.
        with contextlib.suppress(WitnesslinkError):
            await self.heartbeat()

    def emit(self, event: Event) -> None:
        # In duress the conversation is not shown: someone is watching the screen.
        if self.in_duress and isinstance(event, IncomingMessage | NewDevice | KeyChangeWarning):
            return
        if isinstance(event, IncomingMessage) and not event.verified:
            # Never shown as from the team: whoever sent it has not been verified.
            event = HeldMessage(
                event.case_id,
                event.message_id,
                event.sender_device_id,
                f"{event.sender_kind}:{event.sender_id}",
            )
        super().emit(event)

    async def history(self, case_id: str) -> list[StoredMessage]:
        """The conversation: messages from devices that chain to verified people (held
        messages appear once their sender is verified)."""
        if self.in_duress:
            return []
        return [m for m in await super().history(case_id) if self._shown(m)]

    async def held_messages(self) -> list[StoredMessage]:
        """Messages from devices nobody the witness verified vouches for: kept apart,
        to be shown only with a warning."""
        return [m for m in await super().history(self.case_id) if not self._shown(m)]

    def _shown(self, message: StoredMessage) -> bool:
        if message.direction == "out" or message.verified:
            return True
        sender = self.trust.get(message.sender_device_id)
        return sender is not None and self.trust.device_trusted(sender, message.case_id)

    async def on_event_frame(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "appointment":
            self.emit(changed_event(frame))
            return
        if kind == "appointment_reminder":
            details = (await self._store.appointment_details()).get(str(frame["appointment_id"]))
            self.emit(
                reminder_event(
                    frame,
                    details,
                    language=self.identity.language,
                    timezone=self.identity.timezone,
                    now=self._clock.now(),
                )
            )
            return
        if kind in ("checkin_prompt", "checkin_reminder"):
            self._prompt = frame
            self.emit(_prompt_event(frame, reminder=kind == "checkin_reminder"))
        elif kind == "checkin_closed":
            if self._prompt is not None and self._prompt.get("checkin_id") == frame.get(
                "checkin_id"
            ):
                self._prompt = None
            self.emit(CheckInClosed(str(frame.get("checkin_id"))))

    def start(self) -> None:
        """Start receiving, delivering the outbox, and sending heartbeats."""
        super().start()
        self._tasks.append(asyncio.create_task(self._heartbeat_loop()))

    async def _heartbeat_loop(self) -> None:
        while True:
            with contextlib.suppress(WitnesslinkError):
                await self.heartbeat()
            await asyncio.sleep(self.HEARTBEAT_EVERY)

    # ------------------------------------------------------------------ court dates

    async def upcoming(self) -> list[UpcomingAppointment]:
        """Hearings and video-link appointments still to come, with local times and the
        private details the team has sent.

        Raises:
            ApiError, TransportError: the server could not be asked.
        """
        reply = await self.transport.request("GET", "/v1/me/appointments")
        details = {} if self.in_duress else await self._store.appointment_details()
        return upcoming_from(reply["appointments"], details, self.identity.timezone)

    async def confirm(self, appointment_id: str) -> None:
        """Confirm an appointment (the team sees it)."""
        await self.transport.request(
            "POST", f"/v1/appointments/{appointment_id}/answer", json={"answer": "confirm"}
        )

    async def ask_to_rearrange(self, appointment_id: str, note: str | None = None) -> None:
        """Ask the team to rearrange an appointment; an optional note goes end-to-end
        encrypted."""
        await self.transport.request(
            "POST", f"/v1/appointments/{appointment_id}/answer", json={"answer": "rearrange"}
        )
        if note:
            await self.send_text(self.case_id, note)

    async def ready(self, appointment_id: str, *, test_call: bool = False) -> None:
        """Press "I'm ready" for the test call or for the appointment itself."""
        await self.transport.request(
            "POST",
            f"/v1/appointments/{appointment_id}/ready",
            json={"step": "test_call" if test_call else "appointment"},
        )

    async def verify_person(
        self, owner: str, compared_number: str, *, case_id: str | None = None
    ) -> None:
        """Trust a team member after comparing safety numbers with them (by call or in
        person): every device their identity vouches for is then trusted for this
        phone's case, as if the roster named them.

        Raises:
            KeyError: nothing is known of this person.
            ValueError: the numbers differ (do not trust them).
        """
        await super().verify_person(owner, compared_number, case_id=case_id or self.case_id)

    async def send(self, text: str) -> SentMessage:
        """Send a text message to the case team."""
        return await self.send_text(self.case_id, text)

    async def send_file(
        self, data: bytes, *, filename: str, mime_type: str, text: str = ""
    ) -> SentMessage:
        """Send an encrypted attachment (photo, document) to the case team."""
        return await self.send_attachment(
            self.case_id, data, filename=filename, mime_type=mime_type, text=text
        )

    async def messages(self) -> list[StoredMessage]:
        """The conversation as kept on this phone, oldest first."""
        return await self.history(self.case_id)

    async def wipe(self) -> None:
        """Destroy everything on the phone (the server keeps nothing readable)."""
        path = self._store.vault.path
        await self.close()
        await Vault.wipe_file(path)
        forget_beacon(path)

    async def keep_messages_for(self, days: int) -> int:
        """Delete messages older than ``days`` from the phone now."""
        return await self.apply_retention(timedelta(days=days))


__all__ = ["CheckInResult", "LocalStore", "PendingEnrolment", "WitnessClient"]


@dataclass(frozen=True, slots=True)
class CheckInResult:
    """What the app shows after a check-in. The same for "ok" and for a duress check-in."""

    recorded: bool
    next_due_at: datetime | None


async def _check_in(client: WitnessClient, status: str, note: str | None) -> CheckInResult:
    prompt = client._prompt
    if prompt is None:
        reply = await client.transport.request("GET", "/v1/checkins/current")
        prompt = reply["checkin"]
    if prompt is None:
        raise WitnesslinkError("there is no check-in waiting")
    sent_status = "duress" if client.in_duress else status
    signature = client._olm.sign(
        checkin_response_payload(
            prompt["checkin_id"], prompt["nonce"], client.device_id, sent_status
        )
    )
    reply = await client.transport.request(
        "POST",
        f"/v1/checkins/{prompt['checkin_id']}/response",
        json={"status": sent_status, "signature": signature},
    )
    client._prompt = None
    if note and not client.in_duress:
        await client.send_payload(
            client.case_id,
            {"kind": "checkin_note", "checkin_id": prompt["checkin_id"], "text": note},
            text=note,
        )
    next_due = reply.get("next_due_at")
    return CheckInResult(
        bool(reply.get("recorded")),
        None if next_due is None else datetime.fromisoformat(next_due.replace("Z", "+00:00")),
    )


def _prompt_event(frame: dict[str, Any], *, reminder: bool) -> CheckInPrompt:
    def when(key: str) -> datetime:
        return datetime.fromisoformat(str(frame[key]).replace("Z", "+00:00"))

    return CheckInPrompt(
        checkin_id=str(frame["checkin_id"]),
        due_at=when("due_at"),
        closes_at=when("closes_at"),
        deadline_at=when("deadline_at"),
        reminder=reminder,
    )
