"""The staff client: a case officer's or support worker's secure messaging client.

Logging in from a new client registers it as a device with its own keys (the server
checks password and, when enabled, TOTP) and joins it to the staff member's identity.
The client can open cases, verify colleagues and vouch for them in a case's signed
roster, enrol a witness's phone in person, and it talks to every case it is on —
encrypting only to devices that chain to people it trusts.
"""

from __future__ import annotations

import contextlib
from datetime import date, datetime
from pathlib import Path
from typing import Any

from client_sdk import visits as visit_kit
from client_sdk.appointments import changed_event
from client_sdk.conversation import Clock, Conversation, SentMessage
from client_sdk.errors import ApiError, WitnesslinkError
from client_sdk.events import AlertNotice, CaseReviewDue, CheckInAnswered, ReviewDue
from client_sdk.keywrap import KeyWrapper
from client_sdk.localstore import DeviceIdentity, SelfPerson, StoredMessage
from client_sdk.officer_enrolment import EnrolingPhone, Enrolment, OfficerEnrolments
from client_sdk.own_keys import publish_device_object
from client_sdk.setup import create_device, finish_device, open_device
from client_sdk.staff_identity import StaffIdentity
from client_sdk.team import NotVerified, TeamRoster
from client_sdk.transport import Transport
from client_sdk.trust import TrustState
from client_sdk.vault import DEFAULT_KDF, KdfParams
from wire.case_outcome import notice_id as outcome_notice_id
from wire.case_outcome import outcome_message
from wire.keys import login_context


class StaffClient(Conversation):
    """A staff member's client; one device, any number of cases."""

    recovery_key: str | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.person = StaffIdentity(self._ctx, self.trust)
        self.team = TeamRoster(self._ctx, self.trust)
        self.enrolments = OfficerEnrolments(self._ctx, self.trust, self.team)
        #: The server's known-client proof from this login: keep it (outside the store,
        #: which a new login replaces) and pass it to the next :meth:`login` from this
        #: computer, so that others' failed guesses at the account never make it wait.
        self.known_client: str | None = None

    @classmethod
    async def login(
        cls,
        server_url: str,
        username: str,
        password: str,
        store_path: Path,
        passphrase: str,
        *,
        totp: str | None = None,
        recovery_key: str | None = None,
        device_name: str = "staff client",
        kdf: KdfParams = DEFAULT_KDF,
        wrapper: KeyWrapper | None = None,
        clock: Clock | None = None,
        known_client: str | None = None,
    ) -> StaffClient:
        """Log in from this (new) client and register it as a device.

        The first client of a staff member makes their identity key and shows a
        recovery key once (:attr:`recovery_key`): keep it safe, apart from the
        computer. A later client takes on the identity with ``recovery_key``; without
        it, the client can read and send nothing until :meth:`restore_identity` (or
        :meth:`replace_identity`, which everyone will be warned about).

        The client's store is opened by ``passphrase`` alone (at least twelve
        characters): unlike a witness phone it needs no server to open, so whoever
        copies it can guess offline at one Argon2id derivation per guess — a long
        passphrase is its only protection. ``wrapper`` adds a platform key store.

        ``known_client`` is :attr:`known_client` of an earlier login to this account
        from the same computer, if any (see that attribute).

        Raises:
            ValueError: a passphrase under twelve characters (nothing is created).
            VaultExists: this client already has a store (use :meth:`open`).
            ApiError: the server refused (``login-failed``, ``totp-required``,
                ``rate-limited``); the new store is removed again.
            WrongRecoveryKey: ``recovery_key`` does not open the identity.
            TransportError: the server could not be reached.
        """
        draft = await create_device(
            store_path,
            passphrase,
            name=device_name,
            context=login_context(username),
            kdf=kdf,
            wrapper=wrapper,
        )
        transport = Transport(server_url)
        try:
            body: dict[str, Any] = {
                "username": username,
                "password": password,
                "device": draft.registration,
            }
            if totp:
                body["totp"] = totp
            if known_client:
                body["known_client"] = known_client
            reply = await transport.request("POST", "/v1/auth/login", json=body)
        except BaseException:
            await draft.store.vault.wipe()
            raise
        finally:
            await transport.close()
        staff = reply["staff"]
        identity = DeviceIdentity(
            device_id=reply["device_id"],
            token=reply["token"],
            server_url=server_url,
            owner_kind="staff",
            owner_id=staff["staff_id"],
            display_name=staff["display_name"],
        )
        me = SelfPerson(owner=f"staff:{staff['staff_id']}")
        await finish_device(draft, identity, me)
        client = cls(draft.store, identity, draft.olm, TrustState(me, {}, {}, {}), clock=clock)
        client.known_client = reply.get("known_client")
        await publish_device_object(client._ctx)
        try:
            await client.transport.request("GET", "/v1/me/identity")
        except ApiError as error:
            if error.status != 404:
                raise
            await client.replace_identity()
        else:
            if recovery_key is not None:
                await client.restore_identity(recovery_key)
        return client

    @classmethod
    async def open(
        cls,
        store_path: Path,
        passphrase: str,
        *,
        wrapper: KeyWrapper | None = None,
        clock: Clock | None = None,
    ) -> StaffClient:
        """Unlock an existing staff client store.

        Raises:
            WrongSecret, VaultUnavailable, VaultNotFound, NotEnrolled: see the vault.
        """
        opened = await open_device(store_path, passphrase, wrapper=wrapper)
        return cls(opened.store, opened.identity, opened.olm, opened.trust, clock=clock)

    @property
    def staff_id(self) -> str:
        return self.identity.owner_id

    # ------------------------------------------------------------------ identity

    @property
    def has_identity(self) -> bool:
        """Whether this client holds its person's identity key (else it can neither
        vouch for anyone nor be trusted by anyone)."""
        return self.person.held

    async def restore_identity(self, recovery_key: str) -> None:
        """Take on this staff member's identity from its backup, with the recovery key,
        and add this client to their device list.

        Raises:
            WrongRecoveryKey: the key does not open the backup.
            IdentityMismatch: the backup's identity is not the one the server lists
                (someone replaced one of them): do not use this identity.
            ApiError, TransportError: the server refused or could not be reached.
        """
        await self.person.restore(recovery_key)

    async def replace_identity(self) -> str:
        """Make a new identity key for this staff member, with a new recovery key
        (returned, and kept in :attr:`recovery_key` until the client closes).

        Everyone who trusted the old identity is warned and must verify the new one
        (or be introduced to it by a new roster).

        Raises:
            ApiError, TransportError: the server refused or could not be reached.
        """
        self.recovery_key = await self.person.replace()
        return self.recovery_key

    async def colleague_safety_number(self, staff_id: str) -> str:
        """The safety number to compare with a colleague (in person or by call) before
        vouching for them on a case.

        Raises:
            ApiError: no such colleague, or they have no identity yet.
            WitnesslinkError: this client has no identity key.
        """
        return await self.person.colleague_safety_number(staff_id)

    async def verify_colleague(self, staff_id: str, compared_number: str) -> None:
        """Trust a colleague's identity after comparing safety numbers.

        Raises:
            ValueError: the numbers differ.
            ApiError, WitnesslinkError: see :meth:`colleague_safety_number`.
        """
        await self.colleague_safety_number(staff_id)
        await self.verify_person(f"staff:{staff_id}", compared_number)

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        return await self.transport.request(method, path, **kwargs)

    async def create_case(self, reference: str, support_agency_id: str) -> dict[str, Any]:
        """Open a case in this officer's police agency. Returns the case."""
        result: dict[str, Any] = await self._call(
            "POST",
            "/v1/cases",
            json={"reference": reference, "support_agency_id": support_agency_id},
        )
        if self.has_identity:
            await self.team.update(result["case_id"])
        return result

    async def cases(self) -> list[dict[str, Any]]:
        """The caseload."""
        reply = await self._call("GET", "/v1/cases")
        cases: list[dict[str, Any]] = reply["cases"]
        return cases

    async def case(self, case_id: str, *, reason: str | None = None) -> dict[str, Any]:
        """Consult a case (audited; some agencies require a reason)."""
        headers = {"X-Witnesslink-Reason": reason} if reason else None
        result: dict[str, Any] = await self._call("GET", f"/v1/cases/{case_id}", headers=headers)
        return result

    async def assign(self, case_id: str, staff_id: str) -> bool:
        """Add a colleague (of one of the case's agencies) to the case team, and vouch
        for them in the case's roster when this client has verified them (see
        :meth:`verify_colleague`) and may sign it; until someone who may does, nobody
        encrypts to them.

        Returns whether they were added to the case (False: already on it).

        Raises:
            ApiError, TransportError: the server refused or could not be reached.
        """
        reply = await self._call("POST", f"/v1/cases/{case_id}/staff", json={"staff_id": staff_id})
        with contextlib.suppress(NotVerified):
            await self.vouch(case_id, f"staff:{staff_id}")
        return bool(reply["added"])

    async def vouch(self, case_id: str, owner: str) -> None:
        """Put a verified person in the case's roster (signed by this client).

        Raises:
            NotVerified: this client has not verified them.
            ApiError: not allowed to sign this case's roster (``forbidden``).
            TransportError: the server could not be reached.
        """
        await self.team.update(case_id, add=[owner])

    async def unassign(self, case_id: str, staff_id: str) -> bool:
        """Take a colleague off the case: the server stops relaying to their devices at
        once, and the next roster (signed here) no longer lists them.

        Raises:
            ApiError, TransportError: the server refused or could not be reached.
        """
        reply = await self._call("DELETE", f"/v1/cases/{case_id}/staff/{staff_id}")
        if self.has_identity:
            with contextlib.suppress(ApiError):
                await self.team.update(case_id, remove=[f"staff:{staff_id}"])
        return bool(reply["removed"])

    async def add_witness(
        self, case_id: str, *, alias: str, language: str, timezone: str
    ) -> Enrolment:
        """Add the witness (alias only, never a real name) and make an enrolment code
        for their phone, to hand over in person.

        Raises:
            ApiError, TransportError: the server refused or could not be reached.
        """
        witness = await self._call(
            "POST",
            f"/v1/cases/{case_id}/witness",
            json={"alias": alias, "language": language, "timezone": timezone},
        )
        return await self.enrolments.start(case_id, witness["witness_id"], alias)

    async def new_enrolment(self, case_id: str, witness_id: str, alias: str) -> Enrolment:
        """A fresh enrolment code for a witness's replacement phone (older unused codes
        stop working).

        Raises:
            ApiError, TransportError: the server refused or could not be reached.
        """
        return await self.enrolments.start(case_id, witness_id, alias)

    async def phone_for(self, enrolment: Enrolment) -> EnrolingPhone | None:
        """The phone that used the code (and proved it), with the numbers to compare
        with its screen; None while no phone has.

        Raises:
            EnrolmentRefused: a phone used the code but could not prove it.
            ApiError, TransportError: the server refused or could not be reached.
        """
        return await self.enrolments.phone_for(enrolment.enrolment_id)

    async def confirm_phone(self, phone: EnrolingPhone) -> None:
        """Both screens show the same numbers: trust the phone and vouch for it.

        Raises:
            ApiError, TransportError: the server refused or could not be reached.
        """
        await self.enrolments.confirm(phone)

    async def reject_phone(self, enrolment: Enrolment) -> None:
        """The numbers differ (or the phone is not the one in front of you): abort."""
        await self.enrolments.reject(enrolment.enrolment_id)

    async def revoke_device(self, device_id: str) -> None:
        """Revoke a device: this client's own, or a witness phone on a case you manage
        (for instance when the phone has been taken)."""
        await self._call("POST", f"/v1/devices/{device_id}/revoke")

    async def close_case(self, case_id: str, outcome: str = "other") -> dict[str, Any]:
        """Close a case you manage with an outcome category (``wire.case_outcome.
        OUTCOMES``). The team's staff clients are told (a ``case_closed`` event) and one
        of them sends the witness the outcome, end to end encrypted in the witness's
        language; the phones are revoked, and erase themselves, once that message has
        reached them or after the grace period. Returns the case.

        Raises:
            ApiError: not allowed (403/404), or an unknown outcome (422).
        """
        result: dict[str, Any] = await self._call(
            "POST", f"/v1/cases/{case_id}/close", json={"outcome": outcome}
        )
        if result.get("newly_closed"):
            # Told from the outcome chosen here, not from what the server relays: the
            # phone keeps the first outcome it receives, so this one wins.
            with contextlib.suppress(WitnesslinkError):
                detail = await self.case(case_id, reason="telling the witness the outcome")
                witness = detail.get("witness")
                if witness:
                    await self.send_case_outcome(case_id, outcome, str(witness["language"]))
        return result

    async def review_case(self, case_id: str) -> str:
        """Record the periodic review of an open case you manage (its data is still
        needed); returns the next review's date (ISO 8601).

        Raises:
            ApiError: not allowed (403/404), or the case is closed (422).
        """
        reply = await self._call("POST", f"/v1/cases/{case_id}/review")
        return str(reply["next_review_at"])

    async def send_case_outcome(self, case_id: str, outcome: str, language: str) -> bool:
        """Send the witness the outcome message (the ``case_closed`` event does this by
        itself); False when this device already holds one for the case (sent by it
        or by a colleague), so the witness is told once.

        Raises:
            WitnesslinkError: no device of the case can be encrypted to.
        """
        notice = outcome_notice_id(case_id)
        for message in await self._store.messages(case_id):
            if message.kind == "case_outcome":
                return False
        text = outcome_message(language, outcome)
        await self.send_payload(
            case_id,
            {"kind": "case_outcome", "text": text, "notice_id": notice, "outcome": outcome},
            text=text,
        )
        return True

    async def logout(self) -> None:
        """Take this client out of its person's device list, revoke it on the server,
        and close it."""
        with contextlib.suppress(ApiError):
            await self.person.leave()
            await self.revoke_device(self.device_id)
        await self.close()

    async def send(self, text: str, *, case_id: str) -> SentMessage:
        """Send a text message to a case's conversation."""
        return await self.send_text(case_id, text)

    async def send_file(
        self, data: bytes, *, case_id: str, filename: str, mime_type: str, text: str = ""
    ) -> SentMessage:
        return await self.send_attachment(
            case_id, data, filename=filename, mime_type=mime_type, text=text
        )

    async def messages(self, case_id: str) -> list[StoredMessage]:
        return await self.history(case_id)

    # ------------------------------------------------------------------ court dates

    async def schedule_hearing(
        self,
        case_id: str,
        *,
        starts_at: datetime,
        ends_at: datetime,
        timezone: str,
        details: dict[str, str],
        interpreter_language: str | None = None,
        confirm_by: datetime | None = None,
    ) -> dict[str, Any]:
        """Schedule a trial day in person. ``details`` (court name, address, room,
        instructions, interpreter's name...) go to the witness's phone end-to-end
        encrypted; the server stores only times and kinds."""
        body = _appointment_body(
            "hearing", starts_at, ends_at, timezone, interpreter_language, confirm_by
        )
        return await self._schedule(case_id, body, details)

    async def schedule_video_link(
        self,
        case_id: str,
        *,
        starts_at: datetime,
        ends_at: datetime,
        timezone: str,
        location_kind: str,
        details: dict[str, str],
        interpreter_language: str | None = None,
        test_call: tuple[datetime, datetime] | None = None,
        confirm_by: datetime | None = None,
    ) -> dict[str, Any]:
        """Schedule remote testimony by video link (link URL and PIN belong in
        ``details``, which only the phone can read)."""
        body = _appointment_body(
            "video_link", starts_at, ends_at, timezone, interpreter_language, confirm_by
        )
        body["location_kind"] = location_kind
        if test_call is not None:
            body["test_call_at"] = test_call[0].isoformat()
            body["test_call_ends_at"] = test_call[1].isoformat()
        return await self._schedule(case_id, body, details)

    async def _schedule(
        self, case_id: str, body: dict[str, Any], details: dict[str, str]
    ) -> dict[str, Any]:
        appointment: dict[str, Any] = await self._call(
            "POST", f"/v1/cases/{case_id}/appointments", json=body
        )
        await self.send_appointment_details(case_id, appointment["appointment_id"], details)
        return appointment

    async def send_appointment_details(
        self, case_id: str, appointment_id: str, details: dict[str, str]
    ) -> SentMessage:
        """(Re)send an appointment's private details to the case's devices."""
        return await self.send_payload(
            case_id,
            {"kind": "appointment_details", "appointment_id": appointment_id, "details": details},
        )

    async def reschedule(
        self,
        appointment_id: str,
        *,
        starts_at: datetime,
        ends_at: datetime,
        timezone: str,
        details: dict[str, str] | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """Move an appointment; old reminders are superseded and the witness is told.
        ``extra`` carries the other fields (location_kind, interpreter_language,
        test_call as a (start, end) pair, confirm_by) as for scheduling."""
        current = await self._call("GET", f"/v1/appointments/{appointment_id}")
        body = _appointment_body(
            current["kind"],
            starts_at,
            ends_at,
            timezone,
            extra.get("interpreter_language", current["interpreter_language"]),
            extra.get("confirm_by"),
        )
        if current["kind"] == "video_link":
            body["location_kind"] = extra.get("location_kind", current["location_kind"])
            test_call = extra.get("test_call", "keep")
            if test_call == "keep":
                # Keep the test call unless told otherwise (pass test_call=None to drop
                # it); the server refuses it if it no longer fits before the new time.
                if current["test_call_at"] is not None:
                    body["test_call_at"] = current["test_call_at"]
                    body["test_call_ends_at"] = current["test_call_ends_at"]
            elif test_call is not None:
                body["test_call_at"] = test_call[0].isoformat()
                body["test_call_ends_at"] = test_call[1].isoformat()
        moved: dict[str, Any] = await self._call(
            "POST", f"/v1/appointments/{appointment_id}/reschedule", json=body
        )
        if details is not None:
            await self.send_appointment_details(moved["case_id"], appointment_id, details)
        return moved

    async def cancel_appointment(self, appointment_id: str, reason: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "POST", f"/v1/appointments/{appointment_id}/cancel", json={"reason": reason}
        )
        return result

    async def mark_attendance(self, appointment_id: str, *, attended: bool) -> dict[str, Any]:
        """Attended, or missed (a missed appointment raises an alert that escalates)."""
        result: dict[str, Any] = await self._call(
            "POST",
            f"/v1/appointments/{appointment_id}/attendance",
            json={"outcome": "attended" if attended else "missed"},
        )
        return result

    async def appointments(
        self, case_id: str, *, include_past: bool = False
    ) -> list[dict[str, Any]]:
        reply = await self._call(
            "GET",
            f"/v1/cases/{case_id}/appointments",
            params={"include_past": str(include_past).lower()},
        )
        items: list[dict[str, Any]] = reply["appointments"]
        return items

    async def calendar_feed_url(self) -> str:
        """A secret iCalendar URL with your cases' court dates (aliases, times and kinds
        only); asking again replaces the previous URL."""
        reply = await self._call("POST", "/v1/me/calendar-feed")
        return str(reply["url"])

    async def revoke_calendar_feed(self) -> bool:
        reply = await self._call("DELETE", "/v1/me/calendar-feed")
        return bool(reply["revoked"])

    # ------------------------------------------------------------------ welfare visits

    async def set_visit_plan(
        self, witness_id: str, *, every_days: int | None = None, risk_level: str | None = None
    ) -> dict[str, Any]:
        """How often the home-country team visits (by default, what the risk level sets)."""
        body: dict[str, Any] = {}
        if every_days is not None:
            body["every_days"] = every_days
        if risk_level is not None:
            body["risk_level"] = risk_level
        reply: dict[str, Any] = await self._call(
            "PUT", f"/v1/witnesses/{witness_id}/visit-plan", json=body
        )
        return reply

    async def visit_plan(self, witness_id: str) -> dict[str, Any]:
        reply: dict[str, Any] = await self._call("GET", f"/v1/witnesses/{witness_id}/visit-plan")
        return reply

    async def schedule_visit(
        self, case_id: str, *, visitor_staff_id: str, window_start: datetime, window_end: datetime
    ) -> dict[str, Any]:
        """Schedule a welfare visit. The visitor's client tells the witness who comes and
        when, end to end encrypted (at once when the visitor is this client's person,
        else when the visitor's client gets the push)."""
        visit: dict[str, Any] = await self._call(
            "POST",
            f"/v1/cases/{case_id}/visits",
            json={
                "visitor_staff_id": visitor_staff_id,
                "window_start": window_start.isoformat(),
                "window_end": window_end.isoformat(),
            },
        )
        if visitor_staff_id == self.staff_id:
            await self.send_visit_notice(visit)
        return visit

    async def send_visit_notice(self, visit: dict[str, Any]) -> SentMessage:
        """Tell the witness's phone, end to end encrypted, who comes and when (only the
        visitor's own client does: the phone keeps notices from the visitor alone).

        Raises:
            VisitError: this client is not the visitor's, or trusts no phone of the case.
        """
        if visit["visitor_staff_id"] != self.staff_id:
            raise visit_kit.VisitError("only the visitor's client announces a visit")
        case_id = str(visit["case_id"])
        await self.trust.fresh(case_id)
        phones = visit_kit.witness_devices(self.trust, case_id, f"witness:{visit['witness_id']}")
        if not phones:
            raise visit_kit.VisitError("no trusted phone of the witness to tell")
        name = self.trust.name_of(self.owner, case_id) or self.owner
        return await self.send_payload(
            case_id, visit_kit.notice_body(visit, self.owner, name), to=phones
        )

    async def _on_visit_event(self, frame: dict[str, Any]) -> None:
        if frame.get("visitor_staff_id") == self.staff_id:
            # Several clients of the visitor may each send it: the phone keeps one per
            # visit and version. Sent before the event is emitted, so whoever waits for
            # the event knows the phone has been told.
            with contextlib.suppress(WitnesslinkError):
                await self.send_visit_notice(frame)
        self.emit(visit_kit.visit_changed(frame))

    async def visits(self, case_id: str) -> list[dict[str, Any]]:
        reply = await self._call("GET", f"/v1/cases/{case_id}/visits")
        items: list[dict[str, Any]] = reply["visits"]
        return items

    async def visit(self, visit_id: str) -> dict[str, Any]:
        """One visit with its concerns opened (the server audits the reading)."""
        reply: dict[str, Any] = await self._call("GET", f"/v1/visits/{visit_id}")
        return reply

    async def cancel_visit(self, visit_id: str) -> dict[str, Any]:
        """Cancel a scheduled visit (the visitor's client tells the phone it is off)."""
        reply: dict[str, Any] = await self._call("POST", f"/v1/visits/{visit_id}/cancel")
        await self._announce_own(reply)
        return reply

    async def _announce_own(self, visit: dict[str, Any] | None) -> None:
        """Send the phone the notice of a visit of this client's person (new, recorded
        or cancelled: the phone keeps the newest version). Best effort: the push to the
        visitor's other clients does it again."""
        if visit is not None and visit["visitor_staff_id"] == self.staff_id:
            with contextlib.suppress(WitnesslinkError):
                await self.send_visit_notice(visit)

    async def record_visit(
        self,
        visit_id: str,
        *,
        outcome: str,
        seen_alone: bool | None = None,
        concerns: str | None = None,
        next_window: tuple[datetime, datetime] | None = None,
        next_visitor_staff_id: str | None = None,
    ) -> dict[str, Any]:
        """Record a visit ("held", "not_met" or "declined"); a held visit counts as
        contact. With ``next_window`` the next visit is scheduled (and announced)."""
        body: dict[str, Any] = {"outcome": outcome, "seen_alone": seen_alone}
        if concerns is not None:
            body["concerns"] = concerns
        if next_window is not None:
            body["next_visit"] = {
                "window_start": next_window[0].isoformat(),
                "window_end": next_window[1].isoformat(),
            }
            if next_visitor_staff_id is not None:
                body["next_visit"]["visitor_staff_id"] = next_visitor_staff_id
        reply: dict[str, Any] = await self._call("POST", f"/v1/visits/{visit_id}/record", json=body)
        await self._announce_own(reply["visit"])
        await self._announce_own(reply.get("next_visit"))
        return reply

    async def at_the_door(self, visit_id: str) -> str:
        """At the witness's door: send a fresh nonce to the witness's phone (end to end,
        to the phone alone) and return the code to show; the phone shows the same code
        only if this is the visitor it was told about and keys are as both trust them.

        Raises:
            VisitError: not this client's visit, or the witness is not trusted here.
        """
        visit = (await self.visit(visit_id))["visit"]
        if visit["visitor_staff_id"] != self.staff_id:
            raise visit_kit.VisitError("only the visitor's client can start the door check")
        case_id = str(visit["case_id"])
        nonce = visit_kit.new_door_nonce()
        code = visit_kit.visitor_code(self.trust, visit, nonce)
        phones = visit_kit.witness_devices(self.trust, case_id, f"witness:{visit['witness_id']}")
        if not phones:
            raise visit_kit.VisitError("no trusted phone of the witness to reach")
        await self.send_payload(
            case_id,
            {
                "kind": visit_kit.DOOR_KIND,
                "visit_id": visit_id,
                "version": int(visit["version"]),
                "nonce": nonce,
            },
            to=phones,
        )
        return code

    # ------------------------------------------------------------------ welfare

    async def on_event_frame(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "alert":
            level = frame.get("level")
            self.emit(
                AlertNotice(
                    alert_id=str(frame.get("alert_id")),
                    case_id=frame.get("case_id"),
                    kind=frame.get("kind"),
                    severity=frame.get("severity"),
                    status=frame.get("status"),
                    event=str(frame.get("event")),
                    level=None if level is None else int(level),
                )
            )
        elif kind == "appointment":
            self.emit(changed_event(frame))
        elif kind == "visit":
            await self._on_visit_event(frame)
        elif kind == "visit_door":
            self.emit(visit_kit.door_answered(frame))
        elif kind == "review_due":
            self.emit(
                ReviewDue(
                    str(frame.get("case_id")),
                    str(frame.get("assessment_id")),
                    str(frame.get("due_at")),
                )
            )
        elif kind == "case_closed":
            await self.send_case_outcome(
                str(frame.get("case_id")), str(frame.get("outcome")), str(frame.get("language"))
            )
        elif kind == "case_review_due":
            self.emit(CaseReviewDue(str(frame.get("case_id"))))
        elif kind == "checkin_answered":
            self.emit(
                CheckInAnswered(
                    str(frame.get("case_id")),
                    str(frame.get("checkin_id")),
                    str(frame.get("status")),
                )
            )

    async def alerts(self, *, include_resolved: bool = False) -> list[dict[str, Any]]:
        """Alerts on your cases, newest first (open and acknowledged by default)."""
        reply = await self._call(
            "GET", "/v1/alerts", params={"include_resolved": str(include_resolved).lower()}
        )
        alerts: list[dict[str, Any]] = reply["alerts"]
        return alerts

    async def alert(self, alert_id: str) -> dict[str, Any]:
        """One alert with who has been notified, and how."""
        result: dict[str, Any] = await self._call("GET", f"/v1/alerts/{alert_id}")
        return result

    async def acknowledge(self, alert_id: str) -> dict[str, Any]:
        """Take the alert (first acknowledgement wins; others get ``conflict``)."""
        result: dict[str, Any] = await self._call("POST", f"/v1/alerts/{alert_id}/acknowledge")
        return result

    async def resolve(self, alert_id: str, outcome: str, note: str) -> dict[str, Any]:
        """Close the alert with what happened, e.g. "home visit: witness safe"."""
        result: dict[str, Any] = await self._call(
            "POST", f"/v1/alerts/{alert_id}/resolve", json={"outcome": outcome, "note": note}
        )
        return result

    async def set_checkin_plan(
        self,
        witness_id: str,
        *,
        every_hours: int | None = None,
        start: str | None = None,
        weekdays: list[str] | None = None,
        times: list[str] | None = None,
        window_minutes: int = 60,
        grace_minutes: int = 30,
        reminder_minutes: int = 15,
    ) -> dict[str, Any]:
        """Every N hours (from ``start``, "HH:MM" local), or calendar times such as
        ``weekdays=["mon", "thu"], times=["10:00"]`` — in the witness's timezone."""
        body: dict[str, Any] = {
            "window_minutes": window_minutes,
            "grace_minutes": grace_minutes,
            "reminder_minutes": reminder_minutes,
        }
        if every_hours is not None:
            body["every_hours"] = every_hours
            if start is not None:
                body["start_local"] = start
        else:
            body["weekdays"] = weekdays or []
            body["times"] = times or []
        result: dict[str, Any] = await self._call(
            "PUT", f"/v1/witnesses/{witness_id}/checkin-plan", json=body
        )
        return result

    async def checkin_plan(self, witness_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("GET", f"/v1/witnesses/{witness_id}/checkin-plan")
        return result

    async def pause_checkins(
        self, witness_id: str, reason: str, until: datetime | None = None
    ) -> dict[str, Any]:
        """Pause with a reason (hospital stay, known travel), optionally until a date."""
        body: dict[str, Any] = {"reason": reason}
        if until is not None:
            body["until"] = until.isoformat()
        result: dict[str, Any] = await self._call(
            "POST", f"/v1/witnesses/{witness_id}/checkin-plan/pause", json=body
        )
        return result

    async def resume_checkins(self, witness_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "POST", f"/v1/witnesses/{witness_id}/checkin-plan/resume"
        )
        return result

    async def set_escalation_policy(self, case_id: str, policy: dict[str, Any]) -> dict[str, Any]:
        """A case's own escalation policy (see ``server.domain.escalation``)."""
        result: dict[str, Any] = await self._call(
            "PUT", f"/v1/cases/{case_id}/escalation-policy", json=policy
        )
        return result

    async def set_agency_policy(self, agency_id: str, policy: dict[str, Any]) -> dict[str, Any]:
        """The default policy for your agency's cases (supervisors and admins)."""
        result: dict[str, Any] = await self._call(
            "PUT", f"/v1/agencies/{agency_id}/escalation-policy", json=policy
        )
        return result

    async def set_witness_phone(self, witness_id: str, number: str | None) -> None:
        await self._call("PUT", f"/v1/witnesses/{witness_id}/phone", json={"number": number})

    async def set_witness_voice(
        self,
        witness_id: str,
        pin: str | None,
        duress_pin: str | None,
        *,
        checkin_call: str = "never",
    ) -> None:
        """Check-in by phone: the PIN and the duress PIN the witness enters on a call
        (4-8 digits; both None for none), and whether check-ins call the witness
        ("never", "fallback" when the phone is offline, "always")."""
        await self._call(
            "PUT",
            f"/v1/witnesses/{witness_id}/voice",
            json={"pin": pin, "duress_pin": duress_pin, "checkin_call": checkin_call},
        )

    async def set_my_phone(self, number: str | None) -> None:
        """The number alert SMS reach you on."""
        await self._call("PUT", "/v1/me/phone", json={"number": number})

    async def set_on_duty(self, on_duty: bool) -> None:
        await self._call("PUT", "/v1/me/duty", json={"on_duty": on_duty})

    async def set_welfare_settings(
        self,
        case_id: str,
        *,
        nudge_text: str | None = None,
        offline_after_minutes: int = 120,
        silent_after_hours: int = 48,
        reminder_offsets_minutes: list[int] | str | None = "keep",
    ) -> dict[str, Any]:
        """The case's neutral SMS nudge text, offline and silence thresholds, and court
        reminder offsets (minutes before; ``None`` restores the defaults, and by default
        the current offsets are kept)."""
        body: dict[str, Any] = {
            "nudge_text": nudge_text,
            "offline_after_minutes": offline_after_minutes,
            "silent_after_hours": silent_after_hours,
        }
        if reminder_offsets_minutes != "keep":
            body["reminder_offsets_minutes"] = reminder_offsets_minutes
        result: dict[str, Any] = await self._call(
            "PUT", f"/v1/cases/{case_id}/welfare-settings", json=body
        )
        return result

    # ------------------------------------------------ handover and risk assessment

    async def request_handover(self, case_id: str, return_on: date) -> dict[str, Any]:
        """Ask the case's support agency to take the witness on for a return on
        ``return_on`` (withdraws a request still open)."""
        result: dict[str, Any] = await self._call(
            "POST", f"/v1/cases/{case_id}/handover", json={"return_on": return_on.isoformat()}
        )
        return result

    async def handover(self, case_id: str) -> dict[str, Any]:
        """The case's latest handover (with a decline reason, audited) and consents."""
        result: dict[str, Any] = await self._call("GET", f"/v1/cases/{case_id}/handover")
        return result

    async def record_handover_consent(
        self, case_id: str, how: str, given_at: datetime | None = None
    ) -> dict[str, Any]:
        """Record the witness's consent: ``how`` is "in_person" or "phone_call"."""
        body: dict[str, Any] = {"how": how}
        if given_at is not None:
            body["given_at"] = given_at.isoformat()
        result: dict[str, Any] = await self._call(
            "POST", f"/v1/cases/{case_id}/handover/consent", json=body
        )
        return result

    async def handover_requests(self) -> list[dict[str, Any]]:
        """Handover requests to this staff member's agency (the minimum each needs)."""
        reply = await self._call("GET", "/v1/handover-requests")
        items: list[dict[str, Any]] = reply["requests"]
        return items

    async def handover_request(self, handover_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("GET", f"/v1/handover-requests/{handover_id}")
        return result

    async def accept_handover(
        self, handover_id: str, primary_contact_id: str, alternate_contact_id: str
    ) -> dict[str, Any]:
        """Accept, naming two staff of this agency (both join the case's team)."""
        result: dict[str, Any] = await self._call(
            "POST",
            f"/v1/handover-requests/{handover_id}/accept",
            json={
                "primary_contact_id": primary_contact_id,
                "alternate_contact_id": alternate_contact_id,
            },
        )
        return result

    async def decline_handover(self, handover_id: str, reason: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "POST", f"/v1/handover-requests/{handover_id}/decline", json={"reason": reason}
        )
        return result

    async def record_assessment(
        self, case_id: str, level: str, factors: list[str], notes: str | None = None
    ) -> dict[str, Any]:
        """Record a risk and needs assessment (notes are sealed at rest)."""
        result: dict[str, Any] = await self._call(
            "POST",
            f"/v1/cases/{case_id}/assessments",
            json={"level": level, "factors": factors, "notes": notes},
        )
        return result

    async def assessments(self, case_id: str) -> dict[str, Any]:
        """The assessments, newest first, and a check-in plan suggestion if any."""
        result: dict[str, Any] = await self._call("GET", f"/v1/cases/{case_id}/assessments")
        return result

    async def assessment_notes(self, assessment_id: str, *, reason: str | None = None) -> str:
        """An assessment's notes (an audited consultation; some agencies need a reason)."""
        headers = {"X-Witnesslink-Reason": reason} if reason else None
        reply = await self._call("GET", f"/v1/assessments/{assessment_id}/notes", headers=headers)
        return str(reply["notes"])


def _appointment_body(
    kind: str,
    starts_at: datetime,
    ends_at: datetime,
    timezone: str,
    interpreter_language: str | None,
    confirm_by: datetime | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": kind,
        "starts_at": starts_at.isoformat(),
        "ends_at": ends_at.isoformat(),
        "timezone": timezone,
        "interpreter_booked": interpreter_language is not None,
        "interpreter_language": interpreter_language,
    }
    if confirm_by is not None:
        body["confirm_by"] = confirm_by.isoformat()
    return body
