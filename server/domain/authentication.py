"""Bearer-token authentication of devices, with a short-lived cache.

Tokens are 256-bit random strings stored only as SHA-256 hashes. Looking a token up on
every request would put a database round trip on the message hot path, so principals
are cached for a few seconds; a revocation evicts the device at once on this instance
(and, through the event bus, on the others), so a revoked token stops working
immediately.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime, timedelta

from server.clock import Clock
from server.domain.access import Principal
from server.domain.models import OwnerKind
from server.errors import DeviceRevoked, Unauthenticated
from server.ids import token_hash
from server.storage.protocols import Store


class DeviceAuthenticator:
    """Turns a bearer token into a :class:`Principal`."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        cache_ttl: timedelta = timedelta(seconds=10),
        max_entries: int = 50_000,
    ) -> None:
        self._store = store
        self._clock = clock
        self._ttl = cache_ttl
        self._max = max_entries
        self._cache: OrderedDict[bytes, tuple[Principal, datetime]] = OrderedDict()
        self._seen: dict[str, datetime] = {}

    async def authenticate(self, token: str) -> Principal:
        """Raises: Unauthenticated (unknown token), DeviceRevoked (revoked device or
        deactivated account)."""
        digest = token_hash(token)
        now = self._clock.now()
        cached = self._cache.get(digest)
        if cached is not None and cached[1] > now:
            self._seen[cached[0].device.id] = now
            return cached[0]
        principal = await self._load(digest)
        self._cache[digest] = (principal, now + self._ttl)
        self._cache.move_to_end(digest)
        while len(self._cache) > self._max:
            self._cache.popitem(last=False)
        self._seen[principal.device.id] = now
        return principal

    async def _load(self, digest: bytes) -> Principal:
        async with self._store.read() as uow:
            device = await uow.devices.get_by_token_hash(digest)
            if device is None:
                raise Unauthenticated("Unknown or expired device credential")
            if not device.active:
                raise DeviceRevoked()
            if device.owner_kind is OwnerKind.STAFF:
                staff = await uow.staff.get(device.owner_id)
                if staff is None or not staff.active:
                    raise DeviceRevoked("This account is disabled")
                return Principal(device=device, staff=staff)
            witness = await uow.witnesses.get(device.owner_id)
            if witness is None:
                raise DeviceRevoked()
            return Principal(device=device, witness=witness)

    def forget_devices(self, device_ids: set[str]) -> None:
        """Evict cached principals for these devices (revoked, or their owner changed)."""
        for digest, (principal, _) in list(self._cache.items()):
            if principal.device.id in device_ids:
                del self._cache[digest]

    def forget_owner(self, owner_id: str) -> None:
        """Evict every cached principal of a person (e.g. an account was disabled)."""
        for digest, (principal, _) in list(self._cache.items()):
            if principal.device.owner_id == owner_id:
                del self._cache[digest]

    def drain_last_seen(self) -> list[tuple[str, datetime]]:
        """Devices seen since the last call, for a batched last-seen update."""
        seen, self._seen = self._seen, {}
        return list(seen.items())

    async def flush_last_seen(self) -> int:
        """Write the batched last-seen times; returns how many devices were updated."""
        seen = self.drain_last_seen()
        if seen:
            async with self._store.write() as uow:
                await uow.devices.touch_many(seen)
        return len(seen)
