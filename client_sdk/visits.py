"""Welfare visits on both sides, and the door code.

The server knows who visits (a staff id) and when; the witness learns it only from the
visitor's own client, end to end encrypted (a ``visit_notice``), and the phone keeps
only notices from a device that chains to the named visitor — never the server's list.

At the door the visitor's client makes a fresh nonce and sends it end to end encrypted
to the witness's phone alone (a ``visit_door``); both compute the code of
``wire.door`` over the two people's identity keys *as each side's trust store holds
them*, the visit and the nonce. The phone takes the visitor's key from its own trust
store and accepts the nonce only from a device of the visitor named in the notice, so
another staff member, a device the server slipped in, or a key the server swapped
gives no code or a different one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec

from client_sdk.appointments import parse_time
from client_sdk.context import DeviceContext
from client_sdk.errors import WitnesslinkError
from client_sdk.events import (
    DoorAnswered,
    DoorCodeShown,
    Event,
    HeldMessage,
    VisitChanged,
    VisitNoticeReceived,
)
from client_sdk.localstore import KnownDevice, LocalStore, Put
from client_sdk.transport import Transport
from client_sdk.trust import DeviceTrust
from wire.door import DoorCodeError, door_code, new_door_nonce

NOTICE_KIND = "visit_notice"
DOOR_KIND = "visit_door"
VISIT_KINDS = frozenset({NOTICE_KIND, DOOR_KIND})
_NOTICES = "visit"
_DOORS = "door"


class VisitNotice(msgspec.Struct, kw_only=True):
    """A visit as the visitor told the phone (kept in the phone's encrypted store)."""

    visit_id: str
    version: int
    case_id: str
    visitor: str  # owner reference of the visitor, "staff:<id>"
    visitor_name: str
    window_start: str
    window_end: str
    status: str = "scheduled"


class DoorCheck(msgspec.Struct, kw_only=True):
    """The code the phone showed for a visitor at the door."""

    visit_id: str
    visitor: str
    code: str


class VisitError(WitnesslinkError):
    """A door check cannot be made (no trusted key for someone, no notice, …)."""


def notice_put(notice: VisitNotice) -> Put:
    return (_NOTICES, notice.visit_id, msgspec.json.encode(notice))


async def notices(store: LocalStore) -> dict[str, VisitNotice]:
    return {
        key: msgspec.json.decode(value, type=VisitNotice)
        for key, value in await store.vault.items(_NOTICES)
    }


async def door_check(store: LocalStore, visit_id: str) -> DoorCheck | None:
    raw = await store.vault.get(_DOORS, visit_id)
    return None if raw is None else msgspec.json.decode(raw, type=DoorCheck)


def trusted_identity_key(trust: DeviceTrust, owner: str, case_id: str) -> str:
    """``owner``'s identity key as this device's trust store holds it for the case.

    Raises:
        VisitError: the person is unknown or not trusted for the case.
    """
    person = trust.person(owner)
    if person is None or not trust.person_trusted(owner, case_id):
        raise VisitError(f"{owner} is not a verified member of this case")
    return person.identity_key


def own_identity_key(trust: DeviceTrust) -> str:
    identity = trust.personal_identity
    if identity is None:
        raise VisitError("this device holds no identity key")
    return identity.public_key


async def receive_visit_payload(
    ctx: DeviceContext,
    trust: DeviceTrust,
    sender: KnownDevice,
    case_id: str,
    message_id: str,
    payload: dict[str, object],
    opened: list[Put],
) -> Event | None:
    """Take in a visit notice or a door nonce (already decrypted and bound to this
    device); anything not from a trusted device of the named visitor is held apart."""
    visit_id = str(payload.get("visit_id", ""))
    verified = trust.device_trusted(sender, case_id)
    known = (await notices(ctx.store)).get(visit_id)
    if payload.get("kind") == NOTICE_KIND:
        try:
            notice = VisitNotice(
                visit_id=visit_id,
                version=int(str(payload.get("version"))),
                case_id=case_id,
                visitor=str(payload.get("visitor")),
                visitor_name=str(payload.get("visitor_name", "")),
                window_start=parse_time(str(payload.get("window_start"))).isoformat(),
                window_end=parse_time(str(payload.get("window_end"))).isoformat(),
                status=str(payload.get("status", "scheduled")),
            )
        except (TypeError, ValueError):
            notice = None
        # Only the visitor announces their own visit, from a device the phone trusts.
        if notice is None or not verified or notice.visitor != sender.owner:
            await ctx.persist_crypto(opened)
            return HeldMessage(case_id, message_id, sender.device_id, sender.owner)
        if known is not None and known.version >= notice.version:
            await ctx.persist_crypto(opened)  # an older or repeated notice
            return None
        await ctx.persist_crypto([notice_put(notice), *opened])
        return VisitNoticeReceived(
            visit_id,
            notice.version,
            notice.visitor_name,
            parse_time(notice.window_start),
            parse_time(notice.window_end),
        )
    # A door nonce: from a trusted device of the visitor this phone was told about.
    if known is None or not verified or sender.owner != known.visitor:
        await ctx.persist_crypto(opened)
        return HeldMessage(case_id, message_id, sender.device_id, sender.owner)
    try:
        code = door_code(
            str(payload.get("nonce", "")),
            visitor_owner=known.visitor,
            visitor_identity_key=trusted_identity_key(trust, known.visitor, case_id),
            witness_owner=trust.me.owner,
            witness_identity_key=own_identity_key(trust),
            visit_id=visit_id,
            visit_version=int(str(payload.get("version"))),
        )
    except (DoorCodeError, VisitError, TypeError, ValueError):
        await ctx.persist_crypto(opened)
        return HeldMessage(case_id, message_id, sender.device_id, sender.owner)
    check = DoorCheck(visit_id=visit_id, visitor=known.visitor, code=code)
    await ctx.persist_crypto([(_DOORS, visit_id, msgspec.json.encode(check)), *opened])
    return DoorCodeShown(visit_id, known.visitor_name, code)


# --------------------------------------------------------------------------- the phone


@dataclass(frozen=True, slots=True)
class UpcomingVisit:
    """A visit as the phone shows it: from the visitor's own end-to-end notice."""

    visit_id: str
    version: int
    visitor_name: str
    window_start: datetime
    window_end: datetime


async def upcoming_visits(store: LocalStore, now: datetime) -> list[UpcomingVisit]:
    """Visits whose window has not ended, earliest first, one per visit id (its newest
    version)."""
    out = [
        UpcomingVisit(
            n.visit_id,
            n.version,
            n.visitor_name,
            parse_time(n.window_start),
            parse_time(n.window_end),
        )
        for n in (await notices(store)).values()
        if n.status == "scheduled"
    ]
    return sorted(
        (v for v in out if v.window_end >= now), key=lambda v: (v.window_start, v.visit_id)
    )


async def answer_door(transport: Transport, visit_id: str, *, is_the_person: bool) -> str:
    """Tell the team what the witness pressed. A phone opened with the duress PIN sends
    the very same "confirmed" (it cannot tell); the server raises the duress alarm and
    answers exactly as for a real confirmation. Returns what to show: "confirmed" or
    "not_the_person"."""
    reply = await transport.request(
        "POST",
        f"/v1/visits/{visit_id}/door",
        json={"answer": "confirmed" if is_the_person else "not_the_person"},
    )
    return str(reply["answer"])


# --------------------------------------------------------------------------- staff


def witness_devices(trust: DeviceTrust, case_id: str, witness_owner: str) -> list[str]:
    """The witness's devices this client trusts for the case."""
    return [
        d.device_id
        for d in trust.known_devices(case_id)
        if d.owner == witness_owner and trust.device_trusted(d, case_id)
    ]


def notice_body(visit: dict[str, Any], visitor_owner: str, visitor_name: str) -> dict[str, Any]:
    return {
        "kind": NOTICE_KIND,
        "visit_id": visit["visit_id"],
        "version": int(visit["version"]),
        "visitor": visitor_owner,
        "visitor_name": visitor_name,
        "window_start": visit["window_start"],
        "window_end": visit["window_end"],
        "status": visit["status"],
    }


def visitor_code(trust: DeviceTrust, visit: dict[str, Any], nonce: str) -> str:
    """The code on the visitor's own screen, over keys this client trusts.

    Raises:
        VisitError: the witness's identity is not trusted here, or no identity key.
    """
    case_id = str(visit["case_id"])
    witness_owner = f"witness:{visit['witness_id']}"
    return door_code(
        nonce,
        visitor_owner=trust.me.owner,
        visitor_identity_key=own_identity_key(trust),
        witness_owner=witness_owner,
        witness_identity_key=trusted_identity_key(trust, witness_owner, case_id),
        visit_id=str(visit["visit_id"]),
        visit_version=int(visit["version"]),
    )


def visit_changed(frame: dict[str, Any]) -> VisitChanged:
    return VisitChanged(
        visit_id=str(frame["visit_id"]),
        case_id=str(frame["case_id"]),
        change=str(frame["change"]),
        visitor_staff_id=str(frame["visitor_staff_id"]),
        version=int(frame["version"]),
    )


def door_answered(frame: dict[str, Any]) -> DoorAnswered:
    return DoorAnswered(visit_id=str(frame["visit_id"]), answer=str(frame["answer"]))


__all__ = [
    "DOOR_KIND",
    "NOTICE_KIND",
    "DoorCheck",
    "UpcomingVisit",
    "VisitError",
    "VisitNotice",
    "new_door_nonce",
]
