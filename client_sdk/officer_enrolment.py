"""The officer's side of enrolling a witness's phone in person (``wire.enrolment``).

This client — never the server — makes the secret the phone scans, vouches for the
team roster with a MAC only the phone can check, checks the phone's MAC over its new
identity key, and shows the comparison numbers. Only when the officer confirms that
both screens show the same numbers is the witness added to the signed roster, which is
how every other member comes to trust the phone. The secret and nonce stay in this
client's encrypted store until the enrolment is finished.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from client_sdk.context import DeviceContext
from client_sdk.errors import EnrolmentRefused, ServerTampering
from client_sdk.localstore import LocalStore, OfficerEnrolment
from client_sdk.team import TeamRoster
from client_sdk.trust import DeviceTrust
from wire.encoding import b64, unb64
from wire.enrolment import (
    EnrolmentCode,
    commitment,
    enrolment_keys,
    mac_matches,
    new_enrolment_code,
    new_nonce,
    phone_mac,
    sas,
    team_mac,
)


@dataclass(frozen=True, slots=True)
class Enrolment:
    """An enrolment code to hand to a witness's phone in person."""

    enrolment_id: str
    witness_id: str
    case_id: str
    code: str  # the typed form
    qr_payload: str  # the QR form, with the server's address
    expires_at: datetime

    def save_qr_png(self, path: Path, *, scale: int = 8) -> None:
        """Write the QR code as a PNG (for printing or showing on another screen)."""
        import segno

        segno.make(self.qr_payload, error="m").save(str(path), scale=scale)

    def qr_svg(self) -> str:
        """The QR code as SVG text."""
        import segno

        buffer = io.BytesIO()
        segno.make(self.qr_payload, error="m").save(buffer, kind="svg", scale=4, xmldecl=False)
        return buffer.getvalue().decode("utf-8")


@dataclass(frozen=True, slots=True)
class EnrolingPhone:
    """A phone that presented the code and proved it: compare ``sas`` with its screen."""

    enrolment_id: str
    device_id: str
    identity_key: str
    sas: str


class OfficerEnrolments:
    """Issues enrolment codes and carries them through to a verified phone."""

    def __init__(self, ctx: DeviceContext, trust: DeviceTrust, team: TeamRoster) -> None:
        self._ctx = ctx
        self._trust = trust
        self._team = team
        self._issued: set[str] = set()

    async def start(self, case_id: str, witness_id: str, alias: str) -> Enrolment:
        """Make a code for the witness's phone; any older unused code stops working.

        The team roster handed over is the one this client accepted (it signs one
        first if the case has none).

        Raises:
            ServerTampering: the server shows keys for this person that are not theirs:
                no code is made (the phone would be told to trust the team through it).
            WitnesslinkError: this client has no identity key.
            ApiError, TransportError: the server refused or could not be reached.
        """
        await self._trust.refresh(case_id)
        if self._trust.own_keys_tampered:
            raise ServerTampering("the server shows keys for you that are not yours")
        roster = self._trust.roster(case_id)
        if roster is None:
            roster = await self._team.update(case_id)
        accepted = await self._ctx.store.rosters()
        body = accepted[case_id].body
        code = new_enrolment_code(self._ctx.identity.server_url)
        keys = enrolment_keys(code.secret)
        nonce = new_nonce()
        reply = await self._ctx.transport.request(
            "POST",
            f"/v1/witnesses/{witness_id}/enrolments",
            json={
                "code_hash": b64(keys.code_hash),
                "roster": json.loads(body),
                "team_mac": team_mac(keys.team, roster.object_hash),
                "commitment": commitment(nonce),
            },
        )
        record = OfficerEnrolment(
            enrolment_id=reply["enrolment_id"],
            witness_id=witness_id,
            case_id=case_id,
            alias=alias,
            secret=code.secret,
            nonce=nonce,
            roster_hash=roster.object_hash,
        )
        await self._ctx.store.write([LocalStore.officer_enrolment_put(record)])
        self._issued.add(record.enrolment_id)
        return _enrolment(record, code, datetime.fromisoformat(reply["expires_at"]))

    def issued(self, enrolment: Enrolment) -> bool:
        """Whether this client made ``enrolment`` (and has not finished it)."""
        return enrolment.enrolment_id in self._issued

    async def phone_for(self, enrolment_id: str) -> EnrolingPhone | None:
        """The phone that used the code, once it has; None while no phone has.

        Checks the phone's MAC over its identity key (a phone that cannot show it knew
        the code is refused and its device revoked), then reveals this client's nonce
        so that both screens can show the comparison numbers.

        Raises:
            KeyError: no unfinished enrolment of that id on this client.
            EnrolmentRefused: the phone did not prove the code, or its identity key or
                nonce changed after this client revealed its nonce (the enrolment is
                aborted).
            ApiError, TransportError: the server refused or could not be reached.
        """
        record = (await self._ctx.store.officer_enrolments())[enrolment_id]
        view = await self._ctx.transport.request("GET", f"/v1/enrolments/{enrolment_id}")
        identity_key, mac, phone_nonce = (
            view.get("phone_identity"),
            view.get("phone_mac"),
            view.get("phone_nonce"),
        )
        if view["state"] not in ("claimed", "revealed") or phone_nonce is None:
            return None
        keys = enrolment_keys(record.secret)
        if not isinstance(identity_key, str) or not mac_matches(
            phone_mac(keys.phone, identity_key), str(mac)
        ):
            await self.reject(enrolment_id)
            raise EnrolmentRefused("the phone did not prove it holds the code: start again")
        if not record.revealed:
            record.revealed = True  # never reveal twice, whatever the server asks
            record.phone_identity, record.phone_nonce = identity_key, str(phone_nonce)
            await self._ctx.store.write([LocalStore.officer_enrolment_put(record)])
            await self._ctx.transport.request(
                "POST",
                f"/v1/enrolments/{enrolment_id}/reveal",
                json={"nonce": b64(record.nonce)},
            )
        elif (identity_key, phone_nonce) != (record.phone_identity, record.phone_nonce):
            # Once our nonce is out, a phone key or nonce other than the one committed
            # to before could have been chosen to make the numbers match.
            await self.reject(enrolment_id)
            raise EnrolmentRefused(
                "the phone's key or nonce changed during the comparison: start again"
            )
        return EnrolingPhone(
            enrolment_id,
            str(view["device_id"]),
            identity_key,
            sas(record.roster_hash, identity_key, record.nonce, unb64(str(phone_nonce))),
        )

    async def confirm(self, phone: EnrolingPhone) -> None:
        """The numbers matched: trust the witness's identity and add it to the roster.

        The enrolment is completed on the server first, so that a phone that refused
        the numbers (and so aborted) is never vouched for; a retry after a failure to
        sign the roster picks up from there.

        Raises:
            KeyError: no unfinished enrolment of that id on this client.
            ApiError, TransportError: the server refused (``conflict``: the phone or
                this client aborted, or it is not at the comparison step) or could not
                be reached.
        """
        record = (await self._ctx.store.officer_enrolments())[phone.enrolment_id]
        if not record.completed:
            await self._ctx.transport.request(
                "POST", f"/v1/enrolments/{phone.enrolment_id}/complete"
            )
            record.completed = True
            await self._ctx.store.write([LocalStore.officer_enrolment_put(record)])
        owner = f"witness:{record.witness_id}"
        await self._trust.vouch_directly(owner, phone.identity_key, record.case_id)
        await self._team.update(record.case_id, add=[owner])
        await self._ctx.store.write(deletes=[("officer_enrolment", phone.enrolment_id)])
        self._issued.discard(phone.enrolment_id)

    async def reject(self, enrolment_id: str) -> None:
        """The numbers differed, or the phone is not the one in front of you: the
        enrolment is aborted and the phone's device revoked.

        Raises:
            ApiError, TransportError: the server refused or could not be reached.
        """
        try:
            await self._ctx.transport.request("POST", f"/v1/enrolments/{enrolment_id}/abort")
        finally:
            await self._ctx.store.write(deletes=[("officer_enrolment", enrolment_id)])
            self._issued.discard(enrolment_id)


def _enrolment(record: OfficerEnrolment, code: EnrolmentCode, expires_at: datetime) -> Enrolment:
    return Enrolment(
        enrolment_id=record.enrolment_id,
        witness_id=record.witness_id,
        case_id=record.case_id,
        code=code.text(),
        qr_payload=code.qr_payload(),
        expires_at=expires_at,
    )
