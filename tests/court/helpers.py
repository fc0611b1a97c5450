"""Helpers for the court-date specifications: more witnesses, waiting for pushes,
reminders at an exact minute, raw WebSocket frames, and what the server stored.

Nothing here sleeps. Time moves on the world's manual clock and ``catch_up`` runs
whatever is due; to know that every push caused by a sweep has reached a device,
``settle`` sends one more content-free frame through the server's real-time hub and
waits for it: frames to a connection are written in order, so everything queued
before it has arrived by then.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import aiohttp

from client_sdk import (
    ApiError,
    AppointmentReminder,
    StaffClient,
    WitnessClient,
)
from client_sdk.events import CheckInAnswered, CheckInClosed, Event
from server.domain.models import AuditEntry
from tests.support.welfare import catch_up
from tests.support.world import World

__all__ = [
    "APPOINTMENT_ALERTS",
    "DAY",
    "HEARING_DETAILS",
    "VIDEO_DETAILS",
    "Party",
    "RawSocket",
    "add_party",
    "alerts_of",
    "api_error",
    "appointment_alerts",
    "audit_entries",
    "connect",
    "next_event",
    "quiet_phone_alerts",
    "raw_socket",
    "reminder_exactly_at",
    "reminders_now",
    "server_bytes",
    "set_reminder_offsets",
    "settle",
    "utc",
]

DAY = 24 * 60

#: Private details that only the witness's phone may ever hold in readable form.
HEARING_DETAILS = {
    "court": "LANDGERICHT-KOELN-SAAL-7",
    "address": "LUXEMBURGER-STRASSE-101-KOELN",
    "instructions": "ASK-FOR-WITNESS-SUPPORT-ROOM-B12",
    "interpreter": "INTERPRETER-IOANA-POPESCU",
}
VIDEO_DETAILS = {
    "link": "https://video.example/join/8842-SECRET-ROOM",
    "pin": "PIN-482193",
    "location": "CENTRUL-SPERANTA-STRADA-LALELELOR-12",
    "instructions": "BRING-ID-CARD-ARRIVE-20-MIN-EARLY",
    "interpreter": "INTERPRETER-MIHAI-IONESCU",
}

E = TypeVar("E", bound=Event)


def utc(text: str) -> datetime:
    """``"2026-03-31 07:00"`` as an aware UTC datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# --------------------------------------------------------------------------- people


@dataclass
class Party:
    """A case of the officer's with its own enrolled witness phone."""

    case_id: str
    witness_id: str
    phone: WitnessClient
    store: Path


_references = iter(range(100, 10_000))


async def add_party(
    world: World,
    officer: StaffClient,
    *,
    alias: str,
    language: str,
    timezone: str,
    worker: StaffClient | None = None,
    name: str | None = None,
) -> Party:
    """Open another case, add its witness and enrol a phone for them."""
    case = await officer.create_case(f"DE-2026-{next(_references):04d}", world.agencies["support"])
    if worker is not None:
        await officer.assign(case["case_id"], worker.staff_id)
    enrolment = await officer.add_witness(
        case["case_id"], alias=alias, language=language, timezone=timezone
    )
    store_name = name or f"phone-{alias.lower()}"
    phone = await world.enrol(enrolment, name=store_name)
    return Party(case["case_id"], enrolment.witness_id, phone, world.tmp / f"{store_name}.store")


async def set_reminder_offsets(
    staff: StaffClient, case_id: str, minutes: list[int] | None
) -> dict[str, Any]:
    """PUT the case's reminder offsets over HTTP: ``StaffClient.set_welfare_settings``
    has no parameter for them."""
    reply: dict[str, Any] = await staff.transport.request(
        "PUT",
        f"/v1/cases/{case_id}/welfare-settings",
        json={
            "nudge_text": None,
            "offline_after_minutes": 120,
            "silent_after_hours": 48,
            "reminder_offsets_minutes": minutes,
        },
    )
    return reply


# --------------------------------------------------------------------------- pushes


async def connect(world: World, client: StaffClient | WitnessClient) -> None:
    """Start the client and wait until the server counts its WebSocket as connected."""
    client.start()
    hub = world.services.hub
    assert hub is not None
    async with asyncio.timeout(10):
        await client.connected.wait()
        while not hub.is_connected(client.device_id):  # noqa: ASYNC110
            await asyncio.sleep(0)  # a yield to the server's handler, not a timed wait


def _barrier(client: StaffClient | WitnessClient, tag: str) -> dict[str, Any]:
    if isinstance(client, WitnessClient):
        return {"type": "checkin_closed", "checkin_id": tag}
    return {"type": "checkin_answered", "case_id": tag, "checkin_id": tag, "status": tag}


def _is_barrier(event: Event, tag: str) -> bool:
    return (isinstance(event, CheckInClosed) and event.checkin_id == tag) or (
        isinstance(event, CheckInAnswered) and event.checkin_id == tag
    )


async def settle(world: World, client: StaffClient | WitnessClient) -> list[Event]:
    """Every event the (connected) client has been sent so far, in order."""
    hub = world.services.hub
    assert hub is not None
    tag = f"barrier-{secrets.token_hex(4)}"
    await hub.device_event([client.device_id], _barrier(client, tag))
    events: list[Event] = []
    async with asyncio.timeout(10):
        while True:
            event = await client.receive()
            if _is_barrier(event, tag):
                return events
            events.append(event)


async def next_event(
    client: StaffClient | WitnessClient,
    kind: type[E],
    where: Callable[[E], bool] = lambda _e: True,
) -> E:
    """The next pushed event of ``kind`` that satisfies ``where`` (others are passed by)."""
    async with asyncio.timeout(10):
        while True:
            event = await client.receive()
            if isinstance(event, kind) and where(event):
                return event


async def reminders_now(world: World, phone: WitnessClient) -> list[AppointmentReminder]:
    """Run what is due now; the reminders that reached the (connected) phone."""
    await catch_up(world)
    return [e for e in await settle(world, phone) if isinstance(e, AppointmentReminder)]


async def reminder_exactly_at(
    world: World, phone: WitnessClient, when: datetime
) -> AppointmentReminder:
    """One minute before ``when`` nothing arrives; at ``when`` exactly one reminder."""
    world.clock.set(when - timedelta(minutes=1))
    early = await reminders_now(world, phone)
    assert early == [], f"a reminder came a minute before {when:%Y-%m-%d %H:%M} UTC: {early}"
    world.clock.set(when)
    arrived = await reminders_now(world, phone)
    assert len(arrived) == 1, f"expected one reminder at {when:%Y-%m-%d %H:%M} UTC: {arrived}"
    return arrived[0]


@dataclass
class RawSocket:
    """A device's WebSocket opened without the SDK: the frames exactly as sent."""

    ws: aiohttp.ClientWebSocketResponse
    frames: list[str] = field(default_factory=list)
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def _read(self) -> None:
        async for message in self.ws:
            if message.type is aiohttp.WSMsgType.TEXT:
                self.frames.append(str(message.data))
                self._arrived.set()

    def decoded(self) -> list[dict[str, Any]]:
        return [json.loads(f) for f in self.frames]

    async def settle(self, world: World, device_id: str) -> list[dict[str, Any]]:
        """Every frame sent to this socket so far (the barrier itself left out)."""
        hub = world.services.hub
        assert hub is not None
        tag = f"barrier-{secrets.token_hex(4)}"
        await hub.device_event([device_id], {"type": "checkin_closed", "checkin_id": tag})
        async with asyncio.timeout(10):
            while not any(tag in f for f in self.frames):
                self._arrived.clear()
                await self._arrived.wait()
        self.frames = [f for f in self.frames if tag not in f]
        return self.decoded()


@asynccontextmanager
async def raw_socket(world: World, token: str) -> AsyncIterator[RawSocket]:
    """Open ``/v1/ws`` with a device's bearer token and record every text frame."""
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(
            world.url + "/v1/ws", headers={"Authorization": f"Bearer {token}"}
        ) as ws,
    ):
        raw = RawSocket(ws)
        reader = asyncio.create_task(raw._read())
        try:
            yield raw
        finally:
            await ws.close()
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader


# --------------------------------------------------------------------------- server side


APPOINTMENT_ALERTS = ("no_confirmation", "not_ready", "missed_appointment")


async def alerts_of(staff: StaffClient, kind: str) -> list[dict[str, Any]]:
    return [a for a in await staff.alerts() if a["kind"] == kind]


async def appointment_alerts(staff: StaffClient) -> list[dict[str, Any]]:
    """Open alerts about court dates (not, say, a phone that went quiet), newest first."""
    return [a for a in await staff.alerts() if a["kind"] in APPOINTMENT_ALERTS]


async def quiet_phone_alerts(world: World, staff: StaffClient, phone: WitnessClient) -> None:
    """The phone reports in and staff resolve alerts about the phone itself ("device
    silent" after days on a manual clock), so that only court-date alerts move the SMS
    counts from here on."""
    await phone.heartbeat()
    for alert in await staff.alerts():
        if alert["kind"] not in APPOINTMENT_ALERTS:
            await staff.resolve(alert["alert_id"], "phone checked", "It reported in again.")
    await catch_up(world)


async def api_error(call: Any) -> ApiError:
    """The ApiError an awaitable raises (fails the test if it succeeds)."""
    try:
        await call
    except ApiError as error:
        return error
    raise AssertionError("the server accepted it")


async def audit_entries(
    world: World, *, action: str, actor_id: str | None = None
) -> list[AuditEntry]:
    async with world.services.store.read() as uow:
        return await uow.audit.query(action=action, actor_id=actor_id, limit=1000)


async def server_bytes(world: World, backend: str) -> bytes:
    """Everything the server has stored: its SQLite files (database, WAL, data folder),
    or every row of every table of the PostgreSQL test schema."""
    if backend == "sqlite":
        return await asyncio.to_thread(_sqlite_bytes, world)
    chunks: list[bytes] = []
    async with world.services.db.transaction() as conn:
        tables = await conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = $1",
            world.settings.postgres_schema,
        )
        assert tables
        for (table,) in [tuple(t) for t in tables]:
            for row in await conn.fetch(f'SELECT * FROM "{table}"'):
                chunks.extend(
                    bytes(value) if isinstance(value, bytes | memoryview) else str(value).encode()
                    for value in tuple(row)
                )
    return b"\n".join(chunks)


def _sqlite_bytes(world: World) -> bytes:
    database = Path(world.settings.database_url.removeprefix("sqlite:///"))
    files = [p for p in database.parent.glob(database.name + "*") if p.is_file()]
    files += [p for p in Path(world.settings.data_dir).rglob("*") if p.is_file()]
    assert files
    return b"".join(p.read_bytes() for p in files)
