"""Case rosters: who is on a case's team, as a team member's identity key vouches.

A roster is how a witness's phone (and a colleague's client) comes to trust someone it
never met: a case manager's client signs the list of members' identity keys, and
clients accept a new version only if someone they already trust for the case signed it
(``wire.keys``; ``client_sdk.trust``). The server keeps the latest version of each
case's roster and hands it out unchanged. It refuses versions that skip or repeat, rosters
not signed by the caller's own identity, and members that are not on the case or whose
keys are not theirs — early checks against mistakes; clients check for themselves.
"""

from __future__ import annotations

from typing import Any

from server.clock import Clock
from server.domain.access import Principal, can_manage_case
from server.domain.audit import AuditLog
from server.domain.denials import audit_denied
from server.domain.events import EventSink
from server.domain.identities import notify_keys_changed, stored_json
from server.domain.membership import is_case_member, member_owners
from server.domain.models import RosterRecord
from server.errors import Forbidden, InvalidKeyObject, NotFound, VersionConflict
from server.storage.protocols import Store
from wire.keys import InvalidObject, check_roster


class RosterService:
    """Keeps each case's latest signed roster."""

    def __init__(self, store: Store, audit: AuditLog, clock: Clock, events: EventSink) -> None:
        self._store = store
        self._audit = audit
        self._clock = clock
        self._events = events

    async def publish(self, principal: Principal, case_id: str, obj: Any) -> int:
        """Keep a new roster version signed by the caller, a manager of the case.

        Raises:
            NotFound: not a member of the case (audited).
            Forbidden: a witness, or staff who may not manage the case, or a roster not
                signed by the caller's own identity.
            InvalidKeyObject: malformed, badly signed, for another case, or naming
                people who are not members or keys that are not theirs.
            VersionConflict: not the version right after the one kept.
        """
        try:
            roster = check_roster(obj)
        except InvalidObject as exc:
            raise InvalidKeyObject(str(exc)) from exc
        if roster.case_id != case_id:
            raise InvalidKeyObject("the roster is for another case")
        async with self._store.write() as uow:
            member = await is_case_member(uow, principal, case_id)
            case = await uow.cases.get(case_id) if member else None
            if case is not None:
                staff = principal.staff
                if staff is None or not can_manage_case(staff, case, assigned=True):
                    raise Forbidden("Only the case's managers sign its roster")
                own = await uow.identities.get(principal.device.owner)
                if own is None or own.identity_key != roster.signer:
                    raise Forbidden("Sign the roster with your own identity")
                owners = set(await member_owners(uow, case_id))
                identities = await uow.identities.get_many([m.owner for m in roster.members])
                for entry in roster.members:
                    known = identities.get(entry.owner)
                    if entry.owner not in owners:
                        raise InvalidKeyObject("the roster names someone not on the case")
                    if known is None or known.identity_key != entry.identity_key:
                        raise InvalidKeyObject("the roster gives someone a key that is not theirs")
                current = await uow.rosters.get(case_id)
                expected = 1 if current is None else current.version + 1
                if roster.version != expected:
                    raise VersionConflict(current_version=expected - 1)
                record = RosterRecord(
                    case_id, roster.version, roster.signer, stored_json(obj), self._clock.now()
                )
                if not await uow.rosters.put(record):
                    raise VersionConflict()
                await self._audit.append(
                    uow.audit,
                    principal.actor,
                    "roster.published",
                    subject=("case", case_id),
                    case_id=case_id,
                    details={"version": roster.version, "members": len(roster.members)},
                )
        if case is None:
            await audit_denied(self._store, self._audit, principal.actor, case_id, "sign roster")
            raise NotFound("No such case")
        await notify_keys_changed(self._store, self._events, [case_id])
        return roster.version

    async def current(self, principal: Principal, case_id: str) -> RosterRecord | None:
        """The case's latest roster, for its members.

        Raises:
            NotFound: not a member of the case (audited).
        """
        async with self._store.read() as uow:
            member = await is_case_member(uow, principal, case_id)
            record = await uow.rosters.get(case_id) if member else None
        if not member:
            await audit_denied(self._store, self._audit, principal.actor, case_id, "read roster")
            raise NotFound("No such case")
        return record
