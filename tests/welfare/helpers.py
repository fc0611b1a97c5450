"""Helpers for the welfare specifications: more cases and phones, raw check-in answers,
waiting for pushed events, and looking at what the server stored."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import aiohttp

from client_sdk import StaffClient, WitnessClient
from client_sdk.events import Event
from client_sdk.vault import KdfParams
from server.domain.models import AuditEntry
from server.domain.welfare_models import CheckIn
from tests.support.kdf import FAST_KDF, WITNESS_PIN
from tests.support.welfare import advance, advance_to
from tests.support.world import Conversation, World, finish_in_person
from wire.checkins import checkin_response_payload
from wire.i18n import texts

__all__ = [
    "EMPTY_TWIML",
    "Answer",
    "SecondCase",
    "alerts_of",
    "audit_entries",
    "checkin_row",
    "enrol_phone",
    "iso",
    "next_event",
    "open_case",
    "open_second_case",
    "parse",
    "post_answer",
    "server_bytes",
    "signed_answer",
    "start_and_connect",
    "texts",
    "utc",
    "wait_connected",
    "walk_to",
]

E = TypeVar("E", bound=Event)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


def utc(text: str) -> datetime:
    """``"2026-03-23 08:00"`` as an aware UTC datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def iso(when: datetime) -> str:
    """The server's rendering of an instant (RFC 3339, milliseconds, Z)."""
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def walk_to(world: World, when: datetime, step: timedelta = timedelta(minutes=5)) -> None:
    """Move the clock to ``when`` the way a running scheduler would see it: a sweep every
    ``step`` (one jump with one sweep only takes each due row one step further)."""
    while world.clock.now() + step < when:
        await advance(world, step)
    await advance_to(world, when)


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


async def start_and_connect(world: World, client: StaffClient | WitnessClient) -> None:
    """Start the client and wait until the server counts its WebSocket as connected."""
    client.start()
    await wait_connected(world, client)


async def wait_connected(world: World, client: StaffClient | WitnessClient) -> None:
    """Wait until the server counts the (started) client's WebSocket as connected."""
    hub = world.services.hub
    assert hub is not None
    async with asyncio.timeout(10):
        await client.connected.wait()
        # The server registers the socket right after the handshake, in the same event
        # loop: yield to it (no timed wait) until it has.
        while not hub.is_connected(client.device_id):  # noqa: ASYNC110
            await asyncio.sleep(0)


async def enrol_phone(
    world: World,
    officer: StaffClient,
    case_id: str,
    *,
    alias: str = "Sparrow",
    language: str = "ro",
    timezone: str = "Europe/Bucharest",
    name: str = "phone",
    pin: str = WITNESS_PIN,
    duress_pin: str | None = None,
    wipe_on_duress: bool = False,
    server_url: str | None = None,
    kdf: KdfParams = FAST_KDF,
) -> tuple[WitnessClient, str, Path]:
    """Add the case's witness and enrol a phone (through ``server_url`` if given, e.g.
    a recording proxy); returns (client, witness id, store)."""
    enrolment = await officer.add_witness(
        case_id, alias=alias, language=language, timezone=timezone
    )
    store = world.tmp / f"{name}.store"
    pending = await WitnessClient.enroll(
        server_url or world.url,
        enrolment.code,
        store,
        pin,
        kdf=kdf,
        clock=world.clock,
        duress_pin=duress_pin,
        wipe_on_duress=wipe_on_duress,
    )
    world.clients.append(pending.client)
    client = await finish_in_person(officer, enrolment, pending)
    return client, enrolment.witness_id, store


async def open_case(
    world: World,
    *,
    reference: str = "DE-2026-0042",
    **phone: Any,
) -> tuple[Conversation, Path]:
    """Like ``open_conversation``, with a say in how the witness's phone is enrolled
    (timezone, language, duress PIN, wrong-PIN limit)."""
    officer = await world.login("officer")
    worker = await world.login("worker")
    case = await officer.create_case(reference, world.agencies["support"])
    await officer.assign(case["case_id"], world.staff["worker"])
    witness, witness_id, store = await enrol_phone(world, officer, case["case_id"], **phone)
    return Conversation(officer, worker, witness, case["case_id"], witness_id), store


@dataclass
class SecondCase:
    case_id: str
    witness_id: str
    witness: WitnessClient


async def open_second_case(world: World, talk: Conversation) -> SecondCase:
    """Another case of the same team, with its own witness phone."""
    case = await talk.officer.create_case("DE-2026-0099", world.agencies["support"])
    await talk.officer.assign(case["case_id"], world.staff["worker"])
    witness, witness_id, _store = await enrol_phone(
        world, talk.officer, case["case_id"], alias="Heron", name="second-phone"
    )
    return SecondCase(case["case_id"], witness_id, witness)


# ---------------------------------------------------------------- raw check-in answers


@dataclass
class Answer:
    status: int
    body: dict[str, Any]


def signed_answer(
    witness: WitnessClient, checkin_id: str, nonce: str, status: str
) -> dict[str, str]:
    """The body the SDK posts: ``status`` signed by this phone's key over the prompt."""
    payload = checkin_response_payload(checkin_id, nonce, witness.device_id, status)
    return {"status": status, "signature": witness._olm.sign(payload)}


async def post_answer(
    world: World, witness: WitnessClient, checkin_id: str, body: dict[str, str]
) -> Answer:
    """POST a check-in answer as-is with the phone's credential (no SDK in the way)."""
    headers = {"Authorization": f"Bearer {witness.identity.token}"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{world.url}/v1/checkins/{checkin_id}/response", json=body, headers=headers
        ) as response,
    ):
        return Answer(response.status, await response.json(content_type=None))


# ---------------------------------------------------------------- what the server holds


async def checkin_row(world: World, checkin_id: str) -> CheckIn:
    async with world.services.store.read() as uow:
        row = await uow.checkins.get(checkin_id)
    assert row is not None
    return row


async def alerts_of(staff: StaffClient, kind: str, **filters: Any) -> list[dict[str, Any]]:
    """The caller's alerts of one kind (open and acknowledged unless told otherwise)."""
    return [a for a in await staff.alerts(**filters) if a["kind"] == kind]


async def audit_entries(
    world: World, *, action: str | None = None, case_id: str | None = None
) -> list[AuditEntry]:
    """Audit entries, newest first."""
    async with world.services.store.read() as uow:
        return await uow.audit.query(action=action, case_id=case_id, limit=1000)


async def server_bytes(world: World, backend: str) -> bytes:
    """Everything the server has stored: the SQLite files, or every table's rows."""
    if backend == "sqlite":
        folder = Path(world.settings.database_url.removeprefix("sqlite:///")).parent
        return b"".join(p.read_bytes() for p in folder.rglob("*") if p.is_file())
    chunks: list[bytes] = []
    async with world.services.db.transaction() as conn:
        tables = await conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = $1",
            world.settings.postgres_schema,
        )
        for (table,) in [tuple(t) for t in tables]:
            for row in await conn.fetch(f'SELECT * FROM "{table}"'):
                chunks.extend(
                    bytes(value) if isinstance(value, bytes | memoryview) else str(value).encode()
                    for value in tuple(row)
                )
    return b"\n".join(chunks)
