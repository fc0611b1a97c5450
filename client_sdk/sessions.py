"""Olm sessions with other devices, and this device's supply of one-time keys.

A session to a device is opened by claiming one of its signed one-time keys (or its
fallback key) through the server and checking the signature against the device's
Ed25519 key before use. This device keeps enough of its own one-time keys on the server
for others to open sessions with it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from client_sdk.context import DeviceContext
from client_sdk.crypto import SignedKeyMaterial, UntrustedKey
from client_sdk.localstore import KnownDevice

log = logging.getLogger("witnesslink.sdk")

MIN_ONE_TIME_KEYS = 10
TARGET_ONE_TIME_KEYS = 50


class Sessions:
    """Opens sessions with devices and keeps this device's one-time keys topped up."""

    def __init__(self, ctx: DeviceContext) -> None:
        self._ctx = ctx

    async def ensure_one_time_keys(self) -> int:
        """Top up the server's supply of this device's one-time keys when low.

        Returns how many keys the server holds afterwards.

        Raises:
            ApiError, TransportError: the server could not be asked or told.
        """
        ctx = self._ctx
        reply = await ctx.transport.request("GET", "/v1/keys/count")
        count = int(reply["one_time_keys"])
        if count >= MIN_ONE_TIME_KEYS:
            return count
        async with ctx.lock:
            keys = ctx.olm.generate_one_time_keys(TARGET_ONE_TIME_KEYS - count)
            await ctx.persist_crypto()
        reply = await ctx.transport.request(
            "POST", "/v1/keys", json={"one_time_keys": [k.as_json() for k in keys]}
        )
        async with ctx.lock:
            ctx.olm.mark_published()
            await ctx.persist_crypto()
        return int(reply["one_time_keys"])

    async def ensure(
        self, case_id: str, targets: list[KnownDevice], *, renew: Sequence[str] = ()
    ) -> list[str]:
        """Open sessions with targets that have none, and a new one with each target
        listed in ``renew`` (session repair); returns devices left without a session
        (a device to renew whose key could not be claimed keeps its old session).

        The caller holds the context's lock and persists the new sessions.

        Raises:
            ApiError, TransportError: keys could not be claimed.
        """
        ctx = self._ctx
        renewing = set(renew)
        missing = [
            d for d in targets if d.device_id in renewing or not ctx.olm.has_session(d.curve25519)
        ]
        if not missing:
            return []
        by_id = {d.device_id: d for d in missing}
        reply = await ctx.transport.request(
            "POST",
            "/v1/keys/claim",
            json={"case_id": case_id, "device_ids": [d.device_id for d in missing]},
        )
        failed: list[str] = []
        for item in reply["keys"]:
            device = by_id.get(item["device_id"])
            key = item.get("key")
            if device is None or key is None:
                failed.append(item["device_id"])
                continue
            if (item["curve25519"], item["ed25519"]) != (device.curve25519, device.ed25519):
                failed.append(device.device_id)
                continue
            try:
                ctx.olm.start_session(
                    device.curve25519,
                    device.ed25519,
                    SignedKeyMaterial(key["key_id"], key["key"], key["signature"]),
                    fallback=bool(item["fallback"]),
                )
            except UntrustedKey:
                log.warning("a claimed key did not verify; device skipped")
                failed.append(device.device_id)
        return [d for d in failed if d not in renewing or not self._has_session(by_id, d)]

    def _has_session(self, devices: dict[str, KnownDevice], device_id: str) -> bool:
        device = devices.get(device_id)
        return device is not None and self._ctx.olm.has_session(device.curve25519)
