"""Real ``witnesslink serve`` processes for the scale benchmarks, and what they cost.

One instance on SQLite (the embedded default), or several instances sharing one
PostgreSQL database and one server key, as ``deploy/`` runs them. For PostgreSQL a
fresh database is created on the given server for the run and dropped afterwards, so a
benchmark never touches existing data. The server's resource use (CPU seconds, RSS) is
read with psutil from outside the process.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import resource
import secrets
import subprocess
from collections.abc import Coroutine, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import psutil

from tests.support.processes import free_port, seed, start_server, stop, wait_healthy

T = TypeVar("T")


@dataclass
class Instances:
    """Running server processes of one deployment."""

    urls: list[str]
    processes: list[subprocess.Popen[bytes]]
    env: dict[str, str]
    data_dir: Path
    support_id: str

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes]


def run_loop(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a load generator on uvloop when installed: it shares the machine with the
    server, and a cheaper client loop leaves more of it to what is measured."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


async def send_ciphertext(
    session: aiohttp.ClientSession,
    url: str,
    *,
    token: str,
    case_id: str,
    message_id: str,
    device_id: str,
    body: str,
) -> None:
    """Send one message with one ciphertext, as a client would; returns once it is
    acknowledged (stored durably).

    Raises:
        RuntimeError: the server did not store it (anything but 201).
    """
    payload = json.dumps({"ciphertexts": [{"device_id": device_id, "type": 1, "body": body}]})
    async with session.put(
        f"{url}/v1/cases/{case_id}/messages/{message_id}",
        data=payload,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    ) as response:
        if response.status != 201:
            raise RuntimeError(f"send failed: {response.status} {await response.text()}")
        await response.read()


def raise_fd_limit() -> int:
    """Raise this process's open-file limit to its hard limit (children inherit it);
    returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def cpu_seconds(pids: Sequence[int]) -> float:
    """User plus system CPU time used so far by these processes (threads included)."""
    total = 0.0
    for pid in pids:
        times = psutil.Process(pid).cpu_times()
        total += times.user + times.system
    return total


def rss_bytes(pids: Sequence[int]) -> int:
    """Resident memory of these processes now."""
    return sum(psutil.Process(pid).memory_info().rss for pid in pids)


def percentile_ms(ordered: Sequence[float], q: float) -> float:
    """The q-quantile (0..1) of sorted latencies in seconds, in milliseconds."""
    if not ordered:
        return 0.0
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000, 2)


@contextmanager
def fresh_postgres_database(dsn: str) -> Iterator[str]:
    """CREATE DATABASE wl_bench_<hex> on the server of ``dsn``; its DSN; DROP it after."""
    import asyncpg

    name = f"wl_bench_{secrets.token_hex(6)}"

    async def admin(statement: str) -> None:
        connection = await asyncpg.connect(dsn)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(admin(f"CREATE DATABASE {name}"))
    try:
        yield urlunsplit(urlsplit(dsn)._replace(path=f"/{name}"))
    finally:
        asyncio.run(admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@contextmanager
def server_instances(
    tmp: Path,
    *,
    count: int = 1,
    database: str = "sqlite",
    data_dir: Path | None = None,
    settings: dict[str, str] | None = None,
) -> Iterator[Instances]:
    """Seed (the real admin command) and start ``count`` instances, each healthy.

    ``database`` is ``sqlite`` (one instance only) or a ``postgresql://`` DSN, on whose
    server a fresh database is used. ``data_dir`` may hold an already seeded SQLite
    database (then nothing is seeded but the benchmark agencies). ``settings`` are
    ``WITNESSLINK_*`` variables for the servers (the caller's own are not passed on).
    """
    if database == "sqlite" and count != 1:
        raise ValueError("SQLite serves one instance; use --database postgresql://… for more")
    with contextlib.ExitStack() as stack:
        env = {k: v for k, v in os.environ.items() if not k.startswith("WITNESSLINK_")}
        env.update(settings or {})
        if database != "sqlite":
            # Every instance of one deployment shares the key; one SQLite instance
            # keeps it in its data folder (as the seeded world's sealed rows expect).
            env["WITNESSLINK_SECRET_KEY"] = base64.b64encode(os.urandom(32)).decode()
            env["WITNESSLINK_DATABASE_URL"] = stack.enter_context(fresh_postgres_database(database))
        base_dir = data_dir or tmp / "server-0"
        support_id = seed(base_dir, env)
        processes: list[subprocess.Popen[bytes]] = []
        urls: list[str] = []
        for number in range(count):
            port = free_port()
            process = start_server(base_dir if number == 0 else tmp / f"server-{number}", port, env)
            stack.callback(stop, process)
            processes.append(process)
            urls.append(f"http://127.0.0.1:{port}")
        for url in urls:
            asyncio.run(wait_healthy(url, timeout_s=120))
        yield Instances(urls, processes, env, base_dir, support_id)
