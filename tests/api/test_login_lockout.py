"""Sign-in limits that bound guessing without locking the owner out, through the API
and the console's form (plain HTTP, no browser), on both databases.

The server sits behind a trusted proxy here (``trust_forwarded_for``), so each request
says which address it comes from: an attacker at one address, a botnet of many, and the
owner elsewhere, with and without the known-client proof of an earlier sign-in.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from client_sdk import ApiError, StaffClient
from scheduler.jobs import Maintenance
from server.clock import ManualClock
from server.console.sessions import COOKIE, KNOWN_CLIENT_COOKIE, LOGIN_CSRF_COOKIE
from server.domain.login_throttle import (
    BY_ACCOUNT,
    BY_ACCOUNT_AT_ADDRESS,
    BY_KNOWN_CLIENT,
    LoginThrottle,
    login_limiters,
)
from server.errors import LoginFailed, RateLimited
from server.security.known_clients import KnownClientProofs
from server.security.ratelimit import Rate
from server.security.shared_ratelimit import BucketKeys, SharedRateLimiter
from server.storage.database import Database
from server.storage.store import SqlStore
from tests.api.helpers import RawDevice
from tests.console.conftest import console_server
from tests.support.kdf import FAST_KDF
from tests.support.world import PASSWORD, World

ATTACKER = "203.0.113.66"
OWNER = "198.51.100.7"
WRONG = "definitely wrong password"


@pytest.fixture
async def proxied(backend: str, tmp_path: Path, clock: ManualClock) -> AsyncIterator[World]:
    async with console_server(tmp_path, clock, backend=backend, trust_forwarded_for=True) as w:
        yield w


async def api_login(
    world: World, address: str, *, password: str = PASSWORD, known_client: str | None = None
) -> tuple[int, dict[str, Any]]:
    body = RawDevice().login_body("officer", one_time_keys=0, fallback=False)
    body["password"] = password
    if known_client is not None:
        body["known_client"] = known_client
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{world.url}/v1/auth/login", json=body, headers={"X-Forwarded-For": address}
        ) as response,
    ):
        return response.status, await response.json()


async def console_sign_in(
    world: World, address: str, *, password: str = PASSWORD, known_client: str | None = None
) -> tuple[int, dict[str, str]]:
    """Post the sign-in form as a browser at ``address`` would; the status and the
    cookies set."""
    headers = {"X-Forwarded-For": address}
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        async with http.get(f"{world.url}/console/login", headers=headers) as form:
            (csrf,) = re.findall(r'name="csrf" value="([^"]+)"', await form.text())
            login_cookie = form.cookies[LOGIN_CSRF_COOKIE].value
        cookies = f"{LOGIN_CSRF_COOKIE}={login_cookie}"
        if known_client is not None:
            cookies += f"; {KNOWN_CLIENT_COOKIE}={known_client}"
        async with http.post(
            f"{world.url}/console/login",
            data={"csrf": csrf, "username": "officer", "password": password, "next": "/console/"},
            headers={**headers, "Cookie": cookies},
            allow_redirects=False,
        ) as response:
            return response.status, {name: c.value for name, c in response.cookies.items()}


async def test_api_failures_at_one_address_never_lock_the_owner_out(proxied: World) -> None:
    statuses = [(await api_login(proxied, ATTACKER, password=WRONG))[0] for _ in range(8)]
    assert statuses == [401] * BY_ACCOUNT_AT_ADDRESS.capacity + [429] * 3
    # Even the right password is refused at the attacker's address ...
    assert (await api_login(proxied, ATTACKER))[0] == 429
    # ... but the owner at another address signs in, and gets a known-client proof.
    status, body = await api_login(proxied, OWNER)
    assert status == 201, body
    proof = body["known_client"]

    # A botnet, each address guessing once, exhausts what the account allows unknown
    # clients; from then on a new client is refused even with the right password ...
    botnet = [f"192.0.2.{i}" for i in range(1, 12)]
    statuses = [(await api_login(proxied, a, password=WRONG))[0] for a in botnet]
    assert 429 in statuses
    assert set(statuses) == {401, 429}
    assert (await api_login(proxied, "192.0.2.200"))[0] == 429
    # ... while the owner's client that signed in before is not.
    status, body = await api_login(proxied, "192.0.2.201", known_client=proof)
    assert status == 201, body
    assert body["known_client"] != proof  # a fresh proof each time

    # A forged or altered proof exempts no one.
    forged = proof[:-4] + ("AAAA" if not proof.endswith("AAAA") else "BBBB")
    assert (await api_login(proxied, "192.0.2.202", known_client=forged))[0] == 429


async def test_console_failures_at_one_address_never_lock_the_owner_out(proxied: World) -> None:
    for _ in range(BY_ACCOUNT_AT_ADDRESS.capacity):
        assert (await console_sign_in(proxied, ATTACKER, password=WRONG))[0] == 401
    assert (await console_sign_in(proxied, ATTACKER))[0] == 429
    status, cookies = await console_sign_in(proxied, OWNER)
    assert status == 303
    assert COOKIE in cookies
    proof = cookies[KNOWN_CLIENT_COOKIE]

    for i in range(1, 12):
        await console_sign_in(proxied, f"192.0.2.{i}", password=WRONG)
    assert (await console_sign_in(proxied, "192.0.2.200"))[0] == 429
    status, cookies = await console_sign_in(proxied, "192.0.2.201", known_client=proof)
    assert status == 303
    assert COOKIE in cookies


async def test_a_proof_from_one_account_does_not_exempt_another(proxied: World) -> None:
    proofs = KnownClientProofs(b"x" * 32)
    mine = proofs.issue("officer")
    assert proofs.nonce_if_valid(mine, "officer") is not None
    assert proofs.nonce_if_valid(mine, "worker") is None
    assert KnownClientProofs(b"y" * 32).nonce_if_valid(mine, "officer") is None
    # And one the server issued to "worker" does not help against "officer"'s limit.
    async with aiohttp.ClientSession() as http:
        body = RawDevice().login_body("worker", one_time_keys=0, fallback=False)
        async with http.post(f"{proxied.url}/v1/auth/login", json=body) as response:
            worker_proof = (await response.json())["known_client"]
    for i in range(1, 12):
        await api_login(proxied, f"192.0.2.{i}", password=WRONG)
    assert (await api_login(proxied, "192.0.2.99", known_client=worker_proof))[0] == 429


async def test_the_staff_sdk_presents_the_proof_of_its_last_login(world: World) -> None:
    first = await world.login("officer")
    assert first.known_client is not None
    # A botnet exhausts the account's allowance for unknown clients.
    for i in range(1, 12):
        with contextlib.suppress(LoginFailed, RateLimited):
            await world.services.accounts.check_credentials("officer", WRONG, None, f"192.0.2.{i}")

    async def login(known_client: str | None, n: int) -> StaffClient:
        return await StaffClient.login(
            world.url,
            "officer",
            PASSWORD,
            world.tmp / f"again-{n}.store",
            "staff passphrase",
            recovery_key=world.recovery_keys["officer"],
            kdf=FAST_KDF,
            known_client=known_client,
        )

    with pytest.raises(ApiError) as refused:
        await login(None, 1)
    assert refused.value.code == "rate-limited"
    again = await login(first.known_client, 2)
    try:
        assert again.known_client not in (None, first.known_client)
    finally:
        await again.close()


async def test_the_housekeeping_job_forgets_buckets_once_they_are_full_again(
    world: World,
) -> None:
    async def buckets() -> int:
        async with world.services.store.read() as uow:
            return int(await uow.conn.fetchval("SELECT COUNT(*) FROM rate_buckets"))

    with contextlib.suppress(LoginFailed):
        await world.services.accounts.check_credentials("officer", WRONG, None, OWNER)
    assert await buckets() == 3  # the address, the account there, the account
    await Maintenance(world.services).purge_expired()
    assert await buckets() == 3
    world.clock.advance(timedelta(seconds=BY_ACCOUNT.refill_s))
    await Maintenance(world.services).purge_expired()
    assert await buckets() == 0


# ------------------------------------------------------------ guessing stays bounded

HOUR = timedelta(hours=1)
EVERY = timedelta(seconds=20)


def _throttle(database: Database, clock: ManualClock) -> tuple[LoginThrottle, KnownClientProofs]:
    store = SqlStore(database)
    keys = BucketKeys(b"k" * 32)
    proofs = KnownClientProofs(b"k" * 32)

    def shared(scope: str, rate: Rate) -> SharedRateLimiter:
        return SharedRateLimiter(store, clock, keys, scope, rate)

    return LoginThrottle(login_limiters(shared), proofs), proofs


async def _admitted_in_an_hour(
    throttle: LoginThrottle, clock: ManualClock, address_of: Any, proof: str | None = None
) -> int:
    async def ignore(_by: str) -> None:
        return None

    admitted = 0
    for attempt in range(int(HOUR / EVERY)):
        try:
            await throttle.admit("officer", address_of(attempt), proof, ignore)
            admitted += 1
        except RateLimited:
            pass
        clock.advance(EVERY)
    return admitted


def _bound(rate: Rate) -> int:
    return rate.capacity + int(HOUR.total_seconds() / rate.refill_s)


async def test_guessing_from_one_address_is_bounded(database: Database, clock: ManualClock) -> None:
    throttle, _ = _throttle(database, clock)
    admitted = await _admitted_in_an_hour(throttle, clock, lambda _i: ATTACKER)
    assert _bound(BY_ACCOUNT_AT_ADDRESS) - 1 <= admitted <= _bound(BY_ACCOUNT_AT_ADDRESS)


async def test_guessing_from_a_botnet_is_bounded_by_the_account_limit(
    database: Database, clock: ManualClock
) -> None:
    throttle, _ = _throttle(database, clock)
    admitted = await _admitted_in_an_hour(throttle, clock, lambda i: f"10.0.{i // 250}.{i % 250}")
    assert _bound(BY_ACCOUNT) - 1 <= admitted <= _bound(BY_ACCOUNT)


async def test_guessing_with_a_stolen_proof_from_a_botnet_is_bounded_by_the_proof_limit(
    database: Database, clock: ManualClock
) -> None:
    throttle, proofs = _throttle(database, clock)
    stolen = proofs.issue("officer")
    admitted = await _admitted_in_an_hour(
        throttle, clock, lambda i: f"10.1.{i // 250}.{i % 250}", stolen
    )
    assert _bound(BY_KNOWN_CLIENT) - 1 <= admitted <= _bound(BY_KNOWN_CLIENT)
