"""Which devices this device encrypts to, and what it makes of the devices that write.

A device whose keys change is never used again and is reported; devices the app has
not verified are reported too, and a witness's phone does not send to them unless
told to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from client_sdk.context import DeviceContext
from client_sdk.events import Event, KeyChangeWarning, NewDevice
from client_sdk.localstore import KnownDevice, LocalStore, Put, Trust
from client_sdk.safety import safety_number, same_safety_number

DEVICE_LIST_MAX_AGE = timedelta(seconds=30)


@dataclass(frozen=True, slots=True)
class Recipients:
    """The devices of a case a message may be encrypted to, and those held back."""

    usable: list[KnownDevice]
    withheld: list[str] = field(default_factory=list)


class DeviceTrust:
    """The devices this device knows, and how far it trusts each."""

    def __init__(
        self, ctx: DeviceContext, devices: dict[str, KnownDevice], *, send_to_unverified: bool
    ) -> None:
        self._ctx = ctx
        self._devices = devices
        self.send_to_unverified = send_to_unverified
        self._refreshed: dict[str, datetime] = {}

    def get(self, device_id: str) -> KnownDevice | None:
        return self._devices.get(device_id)

    def known_devices(self, case_id: str | None = None) -> list[KnownDevice]:
        devices = list(self._devices.values())
        if case_id is not None:
            devices = [d for d in devices if case_id in d.case_ids]
        return sorted(devices, key=lambda d: d.device_id)

    async def refresh(self, case_id: str) -> list[KnownDevice]:
        """Fetch the case's device list; pin new devices as unverified, flag changed keys.

        Raises:
            ApiError, TransportError: the list could not be fetched.
        """
        ctx = self._ctx
        reply = await ctx.transport.request("GET", f"/v1/cases/{case_id}/devices")
        events: list[Event] = []
        puts: list[Put] = []
        async with ctx.lock:
            listed = {d["device_id"]: d for d in reply["devices"]}
            for device_id, info in listed.items():
                if device_id == ctx.device_id:
                    continue
                known = self._devices.get(device_id)
                if known is None:
                    known = KnownDevice(
                        device_id=device_id,
                        owner_kind=info["owner_kind"],
                        owner_id=info["owner_id"],
                        name=info["name"],
                        curve25519=info["curve25519"],
                        ed25519=info["ed25519"],
                        trust=Trust.UNVERIFIED,
                        case_ids=[case_id],
                    )
                    events.append(
                        NewDevice(device_id, known.owner_kind, known.owner_id, known.name, False)
                    )
                elif (known.curve25519, known.ed25519) != (info["curve25519"], info["ed25519"]):
                    if known.trust is not Trust.KEY_CHANGED:
                        known.trust = Trust.KEY_CHANGED
                        events.append(
                            KeyChangeWarning(
                                device_id, known.owner_kind, known.owner_id, known.name
                            )
                        )
                else:
                    known.active = True
                    known.name = info["name"]
                    known.owner_kind = info["owner_kind"]
                    known.owner_id = info["owner_id"]
                    if case_id not in known.case_ids:
                        known.case_ids.append(case_id)
                self._devices[device_id] = known
                puts.append(LocalStore.device_put(known))
            for known in self._devices.values():
                if case_id in known.case_ids and known.device_id not in listed and known.active:
                    known.active = False
                    puts.append(LocalStore.device_put(known))
            await ctx.store.write(puts)
            self._refreshed[case_id] = ctx.clock.now()
        for event in events:
            ctx.emit(event)
        return self.known_devices(case_id)

    async def fresh(self, case_id: str) -> list[KnownDevice]:
        """The case's devices, fetched again if the last look is older than a moment."""
        refreshed = self._refreshed.get(case_id)
        if refreshed is None or self._ctx.clock.now() - refreshed > DEVICE_LIST_MAX_AGE:
            return await self.refresh(case_id)
        return self.known_devices(case_id)

    async def recipients(self, case_id: str, *, offline: bool = False) -> Recipients:
        """The devices a message for ``case_id`` goes to (``offline``: those known)."""
        listed = self.known_devices(case_id) if offline else await self.fresh(case_id)
        devices = [d for d in listed if d.usable]
        if self.send_to_unverified:
            return Recipients(devices)
        return Recipients(
            [d for d in devices if d.trusted], [d.device_id for d in devices if not d.trusted]
        )

    def safety_number(self, device_id: str) -> str:
        """The safety number to compare with the person holding ``device_id``.

        Raises:
            KeyError: unknown device.
        """
        peer = self._devices[device_id]
        return safety_number(
            (self._ctx.device_id, self._ctx.olm.ed25519), (peer.device_id, peer.ed25519)
        )

    async def verify(self, device_id: str, compared_number: str) -> None:
        """Mark a device verified after comparing safety numbers with its holder.

        Raises:
            KeyError: unknown device.
            ValueError: the numbers differ (do not trust the device).
        """
        if not same_safety_number(self.safety_number(device_id), compared_number):
            raise ValueError("the safety numbers differ: this device cannot be trusted")
        async with self._ctx.lock:
            device = self._devices[device_id]
            device.trust = Trust.VERIFIED
            await self._ctx.store.write([LocalStore.device_put(device)])
