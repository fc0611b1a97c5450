"""The witness's phone: enrol once in person, then talk to the case team.

``WitnessClient.enroll`` is run while the officer is present: it scans (or types) the
code the officer's client shows, creates the encrypted store, makes the phone's keys
and identity on the phone, checks the team roster it is handed against the officer's
MAC, and installs the PINs with the server (:func:`client_sdk.pins.install_pins`); the
witness and the officer then compare numbers on both screens
(``client_sdk.phone_enrolment``). Afterwards ``WitnessClient.open`` unlocks the store
with the PIN and the server's help (:mod:`client_sdk.unlock`).

The phone never knows whether it was opened with the duress PIN — the server does, from
the key that confirmed the unlock — so there is nothing on the phone that could behave
differently: the duress view *is* the ordinary view (see the README for why that is the
safe choice). Offline, the store stays locked and write-only (:mod:`client_sdk.locked`).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from client_sdk.appointments import (
    UpcomingAppointment,
    changed_event,
    reminder_event,
    upcoming_from,
)
from client_sdk.conversation import Clock, Conversation, SentMessage
from client_sdk.errors import (
    ApiError,
    EnrolmentRefused,
    NotEnrolled,
    TransportError,
    WitnesslinkError,
)
from client_sdk.events import CheckInClosed, CheckInPrompt, Event, HeldMessage, IncomingMessage
from client_sdk.identity import PersonalIdentity
from client_sdk.keywrap import KeyWrapper
from client_sdk.localstore import (
    DeviceIdentity,
    LocalStore,
    PhoneEnrolment,
    SelfPerson,
    StoredMessage,
)
from client_sdk.locked import (
    LockedPhone,
    Offline,
    OfflineCheckIn,
    StoredSender,
    adopt_sealed_entries,
    checkin_delivered,
    offline_checkins,
)
from client_sdk.own_keys import publish_device_list, publish_device_object
from client_sdk.phone_enrolment import PendingEnrolment
from client_sdk.pin_policy import check_pins
from client_sdk.pins import change_pin, finish_pin_change, install_pins
from client_sdk.setup import create_device, finish_device, load_device
from client_sdk.transport import Transport
from client_sdk.trust import TrustState
from client_sdk.unlock import PinKeys, ServerUnreachable, Unlocked, confirm_again, unlock_with_pin
from client_sdk.vault import DEFAULT_KDF, KdfParams, Vault
from client_sdk.visits import UpcomingVisit, answer_door, door_check, upcoming_visits
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
    _prompt: dict[str, Any] | None = None
    _wrapper: KeyWrapper | None = None
    # The confirmation key of the PIN that opened this session, kept while it is open
    # so that a confirmation that did not get through is retried.
    _unlock_keys: PinKeys | None = None
    _confirmed: bool = True
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
        duress_pin: str | None = None,
        wipe_on_duress: bool = False,
        wrapper: KeyWrapper | None = None,
        clock: Clock | None = None,
    ) -> PendingEnrolment:
        """Enrol this phone in person with the code the officer's client shows (the
        typed form or the QR payload). Finish with the returned enrolment: show its
        :meth:`~PendingEnrolment.sas` beside the officer's screen, then
        :meth:`~PendingEnrolment.confirm` (or :meth:`~PendingEnrolment.reject`).

        ``duress_pin`` is a second PIN: it opens the app exactly as usual, while the
        server raises a duress alarm (and, with ``wipe_on_duress``, erases the store's
        key so that it never opens again once this session ends). ``wrapper`` protects
        the store's header with a platform key store (default: a key file beside it).

        Raises:
            ValueError: the code is malformed, no server address is known, or a PIN is
                refused by the policy (checked before anything is sent).
            VaultExists: the phone already has a store at ``store_path``.
            EnrolmentRefused: the server refused the code, or the team roster it handed
                over does not carry the officer's MAC (the store is wiped again).
            TransportError: the server could not be reached (the store is wiped again).
        """
        check_pins(pin, duress_pin)
        if wipe_on_duress and duress_pin is None:
            raise ValueError("wipe_on_duress needs a duress PIN")
        parsed = parse_enrolment_code(code)
        url = server_url or parsed.server_url
        if not url:
            raise ValueError("the server address is needed (it is in the QR code)")
        keys = enrolment_keys(parsed.secret)
        draft = await create_device(
            store_path,
            None,
            name=device_name,
            context=enrolment_context(keys.server_token),
            kdf=kdf,
            wrapper=wrapper,
        )
        person = PersonalIdentity.generate()
        transport = Transport(url)
        client: WitnessClient | None = None
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
            if not _vouched_by_the_code(offered, reply["witness"]["case_id"], keys.team):
                with contextlib.suppress(WitnesslinkError):
                    await transport.request("POST", "/v1/me/enrolment/abort")
                raise EnrolmentRefused(
                    "the case team's keys do not match the code: ask for a new code in person"
                )
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
            # The PINs first: until they are installed nothing can open the store.
            await install_pins(
                draft.store.vault,
                transport,
                pin=pin,
                duress_pin=duress_pin,
                wipe_on_duress=wipe_on_duress,
            )
            client = cls(draft.store, identity, draft.olm, TrustState(me, {}, {}, {}), clock=clock)
            client._wrapper = wrapper
            devices = {client.device_id: await publish_device_object(client._ctx)}
            client.trust.set_me(
                await publish_device_list(client._ctx, person, me, devices, after_version=0)
            )
            # Sent only now, after this phone holds the officer's commitment.
            await transport.request(
                "PUT", "/v1/me/enrolment/nonce", json={"nonce": b64(record.nonce)}
            )
        except ApiError as error:
            await _abandon(draft.store.vault, client)
            raise EnrolmentRefused(f"the server refused the enrolment ({error.code})") from error
        except BaseException:
            await _abandon(draft.store.vault, client)
            raise
        finally:
            await transport.close()
        return PendingEnrolment(client, record)

    @classmethod
    async def open(
        cls,
        store_path: Path,
        pin: str,
        *,
        clock: Clock | None = None,
        battery: Callable[[], int | None] | None = None,
        wrapper: KeyWrapper | None = None,
    ) -> WitnessClient:
        """Unlock the phone's store with the PIN (or the duress PIN: the phone cannot
        tell them apart, and neither can anyone watching).

        The PIN is stretched first (Argon2id, slow), then evaluated by the server, and
        the unlock is confirmed before the store is opened; messages and check-ins
        written while the phone was locked are then moved in and sent.
        ``battery`` returns the battery level when the platform can tell it; heartbeats
        carry it so the team can tell a flat battery from a silent phone.

        Raises:
            Offline: the server cannot be reached; ``error.phone`` is a locked,
                write-only phone that can retry (the same for every PIN).
            WrongSecret: wrong PIN (``attempts_left`` says how many remain).
            VaultWiped: the store's key was erased on the server (too many wrong PINs,
                a wipe, a revocation or a closed case): the local files are destroyed.
            VaultNotFound, VaultUnavailable, NotEnrolled: nothing to open.
            ApiError: the server refused (e.g. 429 after many tries: wait).
        """
        try:
            unlocked = await unlock_with_pin(store_path, pin, wrapper=wrapper)
        except ServerUnreachable as offline:

            async def reopen(again: Unlocked) -> WitnessClient:
                return await cls._opened(again, clock=clock, battery=battery, wrapper=wrapper)

            phone = LockedPhone(
                store_path, offline.header, offline.stretched, wrapper, reopen, _now_of(clock)
            )
            raise Offline(phone) from None
        return await cls._opened(unlocked, clock=clock, battery=battery, wrapper=wrapper)

    @classmethod
    async def _opened(
        cls,
        unlocked: Unlocked,
        *,
        clock: Clock | None,
        battery: Callable[[], int | None] | None,
        wrapper: KeyWrapper | None,
    ) -> WitnessClient:
        opened = await load_device(unlocked.vault)
        enrolment = await opened.store.phone_enrolment()
        if enrolment is None or not enrolment.confirmed:
            await opened.store.vault.close()
            raise NotEnrolled("this phone's enrolment was not finished: enrol it again")
        client = cls(opened.store, opened.identity, opened.olm, opened.trust, clock=clock)
        client._battery = battery
        client._wrapper = wrapper
        client._unlock_keys = unlocked.keys
        client._confirmed = unlocked.confirmed
        await adopt_sealed_entries(client._store, client._sender)
        with contextlib.suppress(WitnesslinkError):
            await finish_pin_change(client._store.vault, client.transport)
        with contextlib.suppress(WitnesslinkError):
            await client.deliver_offline_checkins()
        return client

    @property
    def _sender(self) -> StoredSender:
        return StoredSender(self.case_id, self.device_id, self.identity.owner_id)

    # ------------------------------------------------------------------ check-ins

    async def check_in(self, status: str = "ok", note: str | None = None) -> CheckInResult:
        """Answer the waiting check-in: "ok", "contact" (please contact me) or "help".

        The answer is signed by this phone's key and bound to the prompt, so it cannot
        be replayed or forged. An optional note goes to the case team end-to-end
        encrypted; the server never sees it. After a duress unlock the server records
        the answer as duress; the phone shows what it always shows.

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

    async def consent_to_handover(self) -> None:
        """Say yes, in the app, to being taken on by the support organisation at home
        (recorded with the time; the team sees it was given in the app)."""
        await self.transport.request("POST", "/v1/me/handover-consent")

    async def heartbeat(self) -> None:
        """Tell the server this phone is alive (with the battery level if known), and
        retry whatever the unlock left undone (its confirmation, offline check-ins).

        Raises:
            ApiError, TransportError: not delivered.
        """
        await self.transport.request(
            "POST", "/v1/heartbeat", json={"battery": self._battery() if self._battery else None}
        )
        if not self._confirmed and self._unlock_keys is not None:
            self._confirmed = await confirm_again(self._store.vault.header, self._unlock_keys)
        await self.deliver_offline_checkins()

    async def set_sms_words(self, checkin_word: str, duress_word: str) -> None:
        """Choose the word to text back for a check-in without data, and a second word
        that means "I am under duress"."""
        await self.transport.request(
            "PUT",
            "/v1/me/sms-words",
            json={"checkin_word": checkin_word, "duress_word": duress_word},
        )

    async def deliver_offline_checkins(self) -> int:
        """Deliver the check-ins written while the phone was locked: each answers the
        prompt it was written for if that is still open (a "help" with no prompt to
        answer presses the panic button), and reaches the team as a message marked
        ``written_locked`` either way — once each, across crashes. Returns how many
        were delivered.

        Raises:
            ApiError, TransportError: the server could not be asked (they stay queued).
        """
        delivered = 0
        for checkin in await offline_checkins(self._store):
            answered = await self._answer_offline(checkin)
            if checkin.status == "help" and not answered:
                await self.transport.request(
                    "POST", "/v1/panic", json={"request_id": f"offline-{checkin.id}"}
                )
            retired = checkin_delivered(checkin, self._sender)
            await self._store.write(retired.puts, deletes=retired.deletes)
            delivered += 1
        if delivered:
            await self.outbox.reload()
        return delivered

    async def _answer_offline(self, checkin: OfflineCheckIn) -> bool:
        prompt = (await self.transport.request("GET", "/v1/checkins/current"))["checkin"]
        if prompt is None:
            return False
        due = _instant(prompt["due_at"])
        if not due <= checkin.written_at <= _instant(prompt["deadline_at"]):
            return False  # written for an earlier prompt
        try:
            await _post_answer(self, prompt, checkin.status)
        except ApiError as error:
            if error.status in (404, 409):
                return False  # answered or closed meanwhile
            raise
        return True

    async def change_pin(self, old_pin: str, new_pin: str) -> None:
        """Change a PIN: ``old_pin`` must open this store; ``new_pin`` takes its place
        (and its meaning: changing the duress PIN keeps it the duress PIN).

        Raises:
            ValueError: the policy refuses ``new_pin``, or it is already in use.
            WrongSecret: ``old_pin`` does not open this store.
            ApiError, TransportError: the server could not be asked (nothing changed,
                or the change is finished at the next unlock).
        """
        await change_pin(self._store.vault, self.transport, old_pin, new_pin)

    def emit(self, event: Event) -> None:
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
        details = await self._store.appointment_details()
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

    # ------------------------------------------------------------------ visits

    async def upcoming_visits(self) -> list[UpcomingVisit]:
        """Welfare visits as the visitors told this phone, end to end encrypted (one per
        visit, its newest notice); the server's list of visits is not used."""
        return await upcoming_visits(self._store, self._clock.now())

    async def door_code(self, visit_id: str) -> str | None:
        """The code to show for the visitor at the door (None until the visitor's
        device sent its nonce)."""
        check = await door_check(self._store, visit_id)
        return None if check is None else check.code

    async def answer_door(self, visit_id: str, *, is_the_person: bool) -> str:
        """ "This is the person" or "this is not the person" (an alert to the team).
        Returns what to show. After a duress unlock the screen and the visitor's
        device show "confirmed" as always; the team gets the duress alarm."""
        return await answer_door(self.transport, visit_id, is_the_person=is_the_person)

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
        """Destroy everything on the phone: first the server erases the store's key (if
        it can be reached) and revokes this device, so whatever survives on flash can
        never be opened; then the header, the wrapping key and the store's files are
        overwritten and deleted (the WAL folded in and truncated first)."""
        with contextlib.suppress(TransportError, ApiError):
            await self.transport.request("POST", "/v1/vault/erase", json={})
        path = self._store.vault.path
        await self.close()  # background work stops; the WAL is folded in and truncated
        await Vault.destroy(path, wrapper=self._wrapper)

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
    reply = await _post_answer(client, prompt, status)
    client._prompt = None
    if note:
        await client.send_payload(
            client.case_id,
            {"kind": "checkin_note", "checkin_id": prompt["checkin_id"], "text": note},
            text=note,
        )
    next_due = reply.get("next_due_at")
    return CheckInResult(
        bool(reply.get("recorded")), None if next_due is None else _instant(next_due)
    )


async def _post_answer(client: WitnessClient, prompt: dict[str, Any], status: str) -> Any:
    signature = client._olm.sign(
        checkin_response_payload(prompt["checkin_id"], prompt["nonce"], client.device_id, status)
    )
    return await client.transport.request(
        "POST",
        f"/v1/checkins/{prompt['checkin_id']}/response",
        json={"status": status, "signature": signature},
    )


def _vouched_by_the_code(offered: dict[str, Any], case_id: str, k_team: bytes) -> bool:
    """Whether the roster handed over at enrolment is the case's and carries the MAC
    the officer's client made with the code (which the server cannot make)."""
    try:
        roster = check_roster(offered["roster"])
    except InvalidObject:
        return False
    return roster.case_id == case_id and mac_matches(
        team_mac(k_team, roster.object_hash), str(offered["team_mac"])
    )


async def _abandon(vault: Vault, client: WitnessClient | None) -> None:
    """An enrolment that failed half way leaves nothing behind on the phone."""
    if client is not None:
        await client.transport.close()
    await vault.wipe()


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(str(text).replace("Z", "+00:00"))


def _now_of(clock: Clock | None) -> Callable[[], datetime]:
    return (lambda: datetime.now(UTC)) if clock is None else clock.now


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
