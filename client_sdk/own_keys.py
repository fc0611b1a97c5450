"""Publishing this device's own key material: its signed device object, and (when this
device holds its person's identity key) the person's signed device list."""

from __future__ import annotations

from typing import Any

from client_sdk.context import DeviceContext
from client_sdk.errors import ApiError
from client_sdk.identity import PersonalIdentity
from client_sdk.localstore import LocalStore, SelfPerson
from wire.keys import check_device_list, device_object, object_hash, signed


def own_device_object(ctx: DeviceContext) -> dict[str, Any]:
    """This device's object, signed by its own Ed25519 key."""
    identity = ctx.identity
    owner = f"{identity.owner_kind}:{identity.owner_id}"
    body = device_object(identity.device_id, owner, ctx.olm.curve25519, ctx.olm.ed25519)
    return signed(body, ctx.olm.sign)


async def publish_device_object(ctx: DeviceContext) -> str:
    """Upload this device's signed object; returns its hash (what lists vouch for).

    Raises:
        ApiError, TransportError: the server refused or could not be reached.
    """
    obj = own_device_object(ctx)
    await ctx.transport.request("PUT", "/v1/me/device-keys", json={"device": obj})
    return object_hash(obj)


async def current_device_list(
    ctx: DeviceContext, identity: PersonalIdentity
) -> tuple[int, dict[str, str]]:
    """The person's device list as the server holds it, if it verifies under this
    identity key (version 0 and no devices otherwise).

    Raises:
        ApiError, TransportError: the server could not be asked.
    """
    try:
        reply = await ctx.transport.request("GET", "/v1/me/identity")
    except ApiError as error:
        if error.status == 404:
            return 0, {}
        raise
    listed = check_device_list(reply["device_list"])
    if listed.identity_key != identity.public_key:
        return 0, {}
    return listed.version, dict(listed.devices)


async def publish_device_list(
    ctx: DeviceContext,
    identity: PersonalIdentity,
    me: SelfPerson,
    devices: dict[str, str],
    *,
    after_version: int,
) -> SelfPerson:
    """Sign and upload the person's device list (version ``after_version + 1``) and
    record the new version locally.

    Raises:
        ApiError, TransportError: the server refused (``version-conflict``: someone
            published a newer list first) or could not be reached.
    """
    version = after_version + 1
    obj = identity.device_list(me.owner, version, devices, ctx.clock.now())
    await ctx.transport.request("PUT", "/v1/me/identity", json={"device_list": obj})
    updated = SelfPerson(
        owner=me.owner,
        identity_seed=identity.seed,
        list_version=version,
        recovery_key_shown=me.recovery_key_shown,
    )
    await ctx.store.write([LocalStore.person_put(updated)])
    return updated
