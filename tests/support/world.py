"""A running server with agencies and staff, for end-to-end tests.

The server is the real aiohttp application on 127.0.0.1 (real HTTP and WebSockets),
on SQLite or PostgreSQL, with a manual clock. Staff accounts are created through the
same service the admin command uses.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from client_sdk import PendingEnrolment, StaffClient, WitnessClient
from client_sdk.officer_enrolment import Enrolment
from server.api.context import SERVICES
from server.app import build_app
from server.clock import ManualClock
from server.config import Settings
from server.domain.audit import Actor
from server.domain.models import AgencyKind, Role
from server.observability.logs import PathOnlyAccessLogger
from server.services import Services
from tests.fakes.twilio_server import FakeTwilio
from tests.support.kdf import FAST_KDF, WITNESS_PIN

PASSWORD = "correct horse battery staple"
TWILIO_SENDER = "+15005550006"  # Twilio's magic "valid" test number
ADMIN = Actor.system("test")


@dataclass
class World:
    """A server and the people around it."""

    server: TestServer
    app: web.Application
    clock: ManualClock
    tmp: Path
    settings: Settings
    twilio: FakeTwilio | None = None
    _port: int | None = None
    agencies: dict[str, str] = field(default_factory=dict)
    staff: dict[str, str] = field(default_factory=dict)
    clients: list[StaffClient | WitnessClient] = field(default_factory=list)
    recovery_keys: dict[str, str] = field(default_factory=dict)
    #: Whether staff who log in compare safety numbers with everyone already logged in
    #: (as colleagues who met would); tests of unverified colleagues turn it off.
    staff_verify_each_other: bool = True

    @property
    def url(self) -> str:
        return str(self.server.make_url("")).rstrip("/")

    @property
    def services(self) -> Services:
        return self.app[SERVICES]

    async def add_agency(
        self, key: str, *, kind: AgencyKind, country: str, requires_reason: bool = False
    ) -> str:
        agency = await self.services.accounts.create_agency(
            ADMIN, name=f"{key} agency", country=country, kind=kind, requires_reason=requires_reason
        )
        self.agencies[key] = agency.id
        return agency.id

    async def add_staff(
        self, username: str, agency: str, role: Role, *, totp: bool = False
    ) -> str | None:
        created = await self.services.accounts.create_staff(
            ADMIN,
            agency_id=self.agencies[agency],
            username=username,
            display_name=username.title(),
            role=role,
            password=PASSWORD,
            with_totp=totp,
        )
        self.staff[username] = created.staff.id
        return created.totp_secret

    async def login(self, username: str, *, totp: str | None = None) -> StaffClient:
        """Log a staff member in from a new client (a second client of the same person
        takes on their identity with the recovery key their first client showed)."""
        client = await StaffClient.login(
            self.url,
            username,
            PASSWORD,
            self.tmp / f"{username}-{len(self.clients)}.store",
            "staff passphrase",
            totp=totp,
            recovery_key=self.recovery_keys.get(username),
            kdf=FAST_KDF,
            clock=self.clock,
        )
        if client.recovery_key is not None:
            self.recovery_keys[username] = client.recovery_key
        if self.staff_verify_each_other:
            for other in self.clients:
                if isinstance(other, StaffClient):
                    await introduce(client, other)
        self.clients.append(client)
        return client

    def issuer_of(self, enrolment: Enrolment) -> StaffClient:
        """The staff client that made an enrolment code."""
        for client in self.clients:
            if isinstance(client, StaffClient) and client.enrolments.issued(enrolment):
                return client
        raise LookupError("no client of this world issued that enrolment")

    async def enrol(
        self, enrolment: Enrolment, *, name: str = "witness", pin: str = WITNESS_PIN
    ) -> WitnessClient:
        """Enrol a phone in person: the phone scans the code, both screens show the
        same numbers, the officer and the witness confirm."""
        pending = await self.start_enrolment(enrolment, name=name, pin=pin)
        return await finish_in_person(self.issuer_of(enrolment), enrolment, pending)

    async def start_enrolment(
        self, enrolment: Enrolment, *, name: str = "witness", pin: str = WITNESS_PIN
    ) -> PendingEnrolment:
        """The phone's half of :meth:`enrol`, up to the comparison of numbers."""
        pending = await WitnessClient.enroll(
            self.url,
            enrolment.code,
            self.tmp / f"{name}.store",
            pin,
            kdf=FAST_KDF,
            clock=self.clock,
        )
        self.clients.append(pending.client)
        return pending

    async def stop_server(self) -> None:
        """Stop the server (clients see connection errors until it is back)."""
        self._port = self.server.port
        await self.server.close()

    async def start_server_again(self) -> None:
        """Start a fresh server (new application state) on the same database and port."""
        port = self._port
        assert port is not None
        self.app = build_app(self.settings, clock=self.clock)
        listening = bound_socket(port)
        self.server = TestServer(
            self.app,
            host="127.0.0.1",
            port=port,
            socket_factory=lambda *_: listening,
        )
        await self.server.start_server(access_log_class=PathOnlyAccessLogger)

    async def close_clients(self) -> None:
        for client in self.clients:
            # Some clients were closed or wiped by the test itself.
            with contextlib.suppress(Exception):
                await client.close()


async def finish_in_person(
    officer: StaffClient, enrolment: Enrolment, pending: PendingEnrolment
) -> WitnessClient:
    """The end of an enrolment in person: the officer's client checks the phone, both
    screens show the numbers, they match, and both sides confirm."""
    phone = await officer.phone_for(enrolment)
    assert phone is not None, "the phone has not used the code"
    assert await pending.sas() == phone.sas, "the two screens differ"
    await officer.confirm_phone(phone)
    return await pending.confirm()


async def introduce(a: StaffClient, b: StaffClient) -> None:
    """Two staff members compare safety numbers (as colleagues would, in the office or
    by call) and each marks the other verified. Clients of the same person need not."""
    if a.owner == b.owner or not (a.has_identity and b.has_identity):
        return
    number_at_a = await a.colleague_safety_number(b.owner.partition(":")[2])
    await b.verify_colleague(a.owner.partition(":")[2], number_at_a)
    await a.verify_person(b.owner, await b.colleague_safety_number(a.owner.partition(":")[2]))


def settings_for_tests(
    tmp: Path,
    database_url: str,
    schema: str | None = None,
    *,
    port: int = 8080,
    twilio: FakeTwilio | None = None,
) -> Settings:
    """Settings for a test server: cheap password hashing, no background scheduler (tests
    run the sweeps themselves after moving the clock), SMS through the fake Twilio."""
    return Settings(
        data_dir=tmp / "server",
        database_url=database_url,
        port=port,
        public_url=f"http://127.0.0.1:{port}",
        password_time_cost=1,
        password_memory_kib=8192,
        run_scheduler=False,
        postgres_schema=schema,
        attachment_max_bytes=256 * 1024,
        twilio_account_sid=None if twilio is None else twilio.account_sid,
        twilio_auth_token=None if twilio is None else twilio.auth_token,
        twilio_sender=None if twilio is None else TWILIO_SENDER,
        twilio_base_url=None if twilio is None else twilio.base_url,
        # Unpaced (issue 14): the suite's timings assume Twilio takes everything at once;
        # tests/delivery/test_pacing.py sets rates of its own.
        sms_per_second=0.0,
        calls_per_second=0.0,
    )


def bound_socket(port: int = 0) -> socket.socket:
    """A listening-ready TCP socket on 127.0.0.1 (an ephemeral port by default)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    return sock


@asynccontextmanager
async def running_world(
    tmp: Path,
    database_url: str,
    clock: ManualClock,
    schema: str | None = None,
    *,
    twilio: FakeTwilio | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> AsyncIterator[World]:
    """A server on an ephemeral port; ``overrides`` change its settings (e.g. metrics)."""
    listening = bound_socket()
    port = int(listening.getsockname()[1])
    settings = settings_for_tests(tmp, database_url, schema, port=port, twilio=twilio)
    settings = settings.with_overrides(**(overrides or {}))
    app = build_app(settings, clock=clock)
    # The socket is bound before the app is built (its URL goes into the settings) and
    # handed over as it is, so no other process can take the port in between. Access
    # lines are written as `serve` writes them (route templates, request ids).
    server = TestServer(
        app,
        host="127.0.0.1",
        port=port,
        socket_factory=lambda *_: listening,
    )
    await server.start_server(access_log_class=PathOnlyAccessLogger)
    world = World(server=server, app=app, clock=clock, tmp=tmp, settings=settings, twilio=twilio)
    try:
        yield world
    finally:
        await world.close_clients()
        await world.server.close()


async def standard_cast(world: World) -> None:
    """Police in Germany, a support organisation in Romania, and an unrelated police
    agency in France, each with staff."""
    await world.add_agency("police", kind=AgencyKind.POLICE, country="DE")
    await world.add_agency("support", kind=AgencyKind.SUPPORT, country="RO")
    await world.add_agency("other", kind=AgencyKind.POLICE, country="FR")
    await world.add_staff("officer", "police", Role.OFFICER)
    await world.add_staff("worker", "support", Role.SUPPORT_WORKER)
    await world.add_staff("outsider", "other", Role.OFFICER)


@dataclass
class Conversation:
    """A case with an officer, a support worker and an enrolled witness phone."""

    officer: StaffClient
    worker: StaffClient
    witness: WitnessClient
    case_id: str
    witness_id: str


async def open_conversation(world: World) -> Conversation:
    officer = await world.login("officer")
    worker = await world.login("worker")
    case = await officer.create_case("DE-2026-0042", world.agencies["support"])
    await officer.assign(case["case_id"], world.staff["worker"])
    enrolment = await officer.add_witness(
        case["case_id"], alias="Sparrow", language="ro", timezone="Europe/Bucharest"
    )
    witness = await world.enrol(enrolment)
    return Conversation(officer, worker, witness, case["case_id"], enrolment.witness_id)
