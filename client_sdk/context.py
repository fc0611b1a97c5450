"""What every part of a device's conversation engine shares: the device's own state.

The store, the device identity, its Olm account, the connection to the server, the
clock, the lock that serialises changes to Olm state, and the way events reach the
app. The parts (trust, sessions, outbox, receiver) each take this one object rather
than reaching into one another.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from client_sdk.crypto import OlmDevice
from client_sdk.events import Event
from client_sdk.localstore import DeviceIdentity, LocalStore, Put
from client_sdk.transport import Transport


class Clock(Protocol):
    def now(self) -> datetime: ...


class WallClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class DeviceContext:
    """The device's own state, shared by the parts of the engine.

    ``lock`` guards the Olm account and sessions: anything that advances them and
    persists the result holds it, so that the state written is the state used.
    """

    store: LocalStore
    identity: DeviceIdentity
    olm: OlmDevice
    transport: Transport
    clock: Clock
    emit: Callable[[Event], None]
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def device_id(self) -> str:
        return self.identity.device_id

    async def persist_crypto(self, extra: Sequence[Put] = ()) -> None:
        """Write the changed Olm state together with ``extra`` in one store write."""
        account, sessions = self.olm.take_changes()
        puts = LocalStore.olm_puts(account, self.olm.pickle_key, sessions)
        await self.store.write([*puts, *extra])
