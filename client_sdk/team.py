"""Signing a case's team roster from a manager's client.

The roster is what introduces people to each other: a phone trusts a staff member it
never met because a manager it trusts put their identity key in a signed roster. So a
manager's client adds someone only after verifying them itself (a colleague by safety
number, the witness by the enrolment comparison), takes everything else from the roster
it already accepted, and signs the next version on top of the newest one.
"""

from __future__ import annotations

from collections.abc import Sequence

from client_sdk.context import DeviceContext
from client_sdk.errors import ApiError, ServerTampering, WitnesslinkError
from client_sdk.trust import DeviceTrust
from wire.keys import Roster, RosterMember, check_roster

MAX_ATTEMPTS = 3


class NotVerified(WitnesslinkError):
    """This client has not verified the person it was asked to vouch for."""


class TeamRoster:
    """Signs new versions of a case's roster with this person's identity key."""

    def __init__(self, ctx: DeviceContext, trust: DeviceTrust) -> None:
        self._ctx = ctx
        self._trust = trust

    def member_entry(self, case_id: str, owner: str) -> RosterMember:
        """The roster entry this client would sign for ``owner``: their identity key as
        this client knows and trusts it; the role and name the roster already gives them,
        or, for a newcomer, those the server lists (the manager who verified them knows
        who they are).

        Raises:
            NotVerified: the person is not trusted by this client (verify their safety
                number first).
        """
        person = self._trust.person(owner)
        if person is None or not self._trust.vouchable(owner, case_id):
            raise NotVerified("compare safety numbers with this person before vouching for them")
        listed = self._trust.members(case_id).get(owner)
        role = listed.role if listed is not None else ""
        name = listed.name if listed is not None else ""
        current = self._trust.roster(case_id)
        previous = None if current is None else current.member(owner)
        if previous is not None and previous.identity_key == person.identity_key:
            # Someone already vouched for keeps the role and name the roster gave them:
            # the server's word cannot promote them to a role that may sign rosters.
            role, name = previous.role, previous.name
        if owner.startswith("witness:"):
            role = "witness"
        return RosterMember(owner, person.identity_key, role, name or owner.partition(":")[2])

    async def update(
        self,
        case_id: str,
        *,
        add: Sequence[str] = (),
        remove: Sequence[str] = (),
    ) -> Roster:
        """Sign and publish the next roster: the accepted one, plus ``add`` (people this
        client verified), minus ``remove``, and always with this person in it.

        Raises:
            NotVerified: someone to add is not verified by this client.
            ServerTampering: the server shows keys for this person that are not theirs.
            WitnesslinkError: this device does not hold its person's identity key.
            ApiError, TransportError: the server refused or could not be reached.
        """
        identity = self._trust.personal_identity
        if identity is None:
            raise WitnesslinkError("this client has no identity key yet")
        for attempt in range(MAX_ATTEMPTS):
            await self._trust.refresh(case_id)
            if self._trust.own_keys_tampered:
                raise ServerTampering("the server shows keys for you that are not yours")
            current = self._trust.roster(case_id)
            members = {m.owner: m for m in (current.members if current else ())}
            for owner in remove:
                members.pop(owner, None)
            for owner in {*add, self._trust.me.owner}:
                if owner not in remove:
                    members[owner] = self.member_entry(case_id, owner)
            version = 1 if current is None else current.version + 1
            obj = identity.roster(case_id, version, list(members.values()), self._ctx.clock.now())
            try:
                await self._ctx.transport.request(
                    "PUT", f"/v1/cases/{case_id}/roster", json={"roster": obj}
                )
            except ApiError as error:
                if error.code == "version-conflict" and attempt + 1 < MAX_ATTEMPTS:
                    continue  # someone signed first: sign again on top of theirs
                raise
            await self._trust.pin_roster(case_id, obj)
            return check_roster(obj)
        raise AssertionError("unreachable")  # pragma: no cover
