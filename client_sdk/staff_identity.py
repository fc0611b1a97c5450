"""A staff member's identity across their clients: made by the first, taken on by the
next with the recovery key, replaced when it is lost, and compared with colleagues.

The identity key signs the person's device list (which of their clients others may
encrypt to) and the rosters they sign as a case manager. Only the recovery key — 160
random bits shown once by the first client — opens the copy the server keeps, so the
server has nothing to guess (``wire.recovery``).
"""

from __future__ import annotations

from client_sdk.context import DeviceContext
from client_sdk.errors import WitnesslinkError
from client_sdk.identity import PersonalIdentity
from client_sdk.localstore import SelfPerson
from client_sdk.own_keys import current_device_list, publish_device_list, publish_device_object
from client_sdk.trust import DeviceTrust
from wire.recovery import new_recovery_key, open_identity_seed, seal_identity_seed


class IdentityMismatch(WitnesslinkError):
    """The identity in the recovery backup is not the one the server lists for you."""


class StaffIdentity:
    """The identity key of the staff member behind this client."""

    def __init__(self, ctx: DeviceContext, trust: DeviceTrust) -> None:
        self._ctx = ctx
        self._trust = trust

    @property
    def held(self) -> bool:
        """Whether this client holds its person's identity key."""
        return self._trust.personal_identity is not None

    async def restore(self, recovery_key: str) -> None:
        """Take on the identity from its backup and add this client to the person's
        device list.

        Raises:
            WrongRecoveryKey: the key does not open the backup.
            IdentityMismatch: the backup's identity is not the one the server lists.
            ApiError, TransportError: the server refused or could not be reached.
        """
        ctx = self._ctx
        backup = await ctx.transport.request("GET", "/v1/me/identity-backup")
        identity = PersonalIdentity.from_seed(open_identity_seed(backup["sealed"], recovery_key))
        version, devices = await current_device_list(ctx, identity)
        if version == 0:
            raise IdentityMismatch("the server lists another identity than the backup holds")
        devices[ctx.device_id] = await publish_device_object(ctx)
        await self._publish(identity, devices, after_version=version)

    async def replace(self) -> str:
        """Make a new identity with a new recovery key (returned); only this client is
        in its device list.

        Raises:
            ApiError, TransportError: the server refused or could not be reached.
        """
        ctx = self._ctx
        identity = PersonalIdentity.generate()
        recovery_key = new_recovery_key()
        await ctx.transport.request(
            "PUT",
            "/v1/me/identity-backup",
            json={
                "identity_key": identity.public_key,
                "sealed": seal_identity_seed(identity.seed, recovery_key),
            },
        )
        devices = {ctx.device_id: await publish_device_object(ctx)}
        await self._publish(identity, devices, after_version=0)
        return recovery_key

    async def leave(self) -> None:
        """Take this client out of the person's device list (before it is revoked).

        Raises:
            ApiError, TransportError: the server refused or could not be reached.
        """
        identity = self._trust.personal_identity
        if identity is None:
            return
        version, devices = await current_device_list(self._ctx, identity)
        devices.pop(self._ctx.device_id, None)
        await publish_device_list(
            self._ctx, identity, self._trust.me, devices, after_version=version
        )

    async def colleague_safety_number(self, staff_id: str) -> str:
        """The safety number to compare with a colleague.

        Raises:
            ApiError: no such colleague, or they have no identity yet.
            WitnesslinkError: this client has no identity key.
        """
        owner = f"staff:{staff_id}"
        reply = await self._ctx.transport.request("GET", f"/v1/staff/{staff_id}/identity")
        await self._trust.learn_person(owner, reply["device_list"])
        return self._trust.safety_number(owner)

    async def _publish(
        self, identity: PersonalIdentity, devices: dict[str, str], *, after_version: int
    ) -> None:
        me = SelfPerson(owner=self._trust.me.owner, identity_seed=identity.seed)
        self._trust.set_me(
            await publish_device_list(self._ctx, identity, me, devices, after_version=after_version)
        )
