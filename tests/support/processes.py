"""Run a witnesslink server in its own process (crash tests and benchmarks).

The server is the real ``witnesslink serve`` on 127.0.0.1 with its own data folder;
agencies and staff are created with the real admin command.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import aiohttp

from client_sdk import StaffClient, WitnessClient
from tests.support.kdf import FAST_KDF, WITNESS_PIN
from tests.support.world import finish_in_person

PASSWORD = "benchmark password 1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def admin(
    data_dir: Path, *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> str:
    """Run ``witnesslink admin`` against the data folder; returns its output."""
    result = subprocess.run(
        [sys.executable, "-m", "server", "admin", *args, "--data-dir", str(data_dir)],
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    return result.stdout


def seed(data_dir: Path, env: dict[str, str] | None = None) -> str:
    """A police agency with an officer, and a support organisation; returns the support
    organisation's agency id."""
    for name, country, kind in (
        ("Bench Police", "DE", "police"),
        ("Bench Support", "RO", "support"),
    ):
        admin(
            data_dir, "create-agency", "--name", name, "--country", country, "--kind", kind, env=env
        )
    admin(
        data_dir,
        "create-staff",
        "--agency",
        "Bench Police",
        "--username",
        "officer",
        "--display-name",
        "Officer",
        "--role",
        "officer",
        "--password-stdin",
        stdin=PASSWORD + "\n",
        env=env,
    )
    for line in admin(data_dir, "list-agencies", env=env).splitlines():
        agency_id, kind, *_ = line.split("\t")
        if kind == "support":
            return agency_id
    raise RuntimeError("the support agency was not created")


def start_server(
    data_dir: Path,
    port: int,
    env: dict[str, str] | None = None,
    *,
    output: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``witnesslink serve`` in a new process, without waiting for it; its
    output goes to ``output`` if given, else nowhere."""
    command = [sys.executable, "-m", "server", "serve", "--data-dir", str(data_dir)]
    command += ["--port", str(port)]
    if output is None:
        return subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env or None
        )
    with output.open("wb") as sink:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=env or None)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(10)
    if process.poll() is None:
        process.kill()
        process.wait()


@contextmanager
def server_process(
    data_dir: Path,
    port: int,
    env: dict[str, str] | None = None,
    *,
    output: Path | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``witnesslink serve``, wait until /healthz answers, stop it afterwards."""
    process = start_server(data_dir, port, env, output=output)
    try:
        asyncio.run(wait_healthy(f"http://127.0.0.1:{port}"))
        yield process
    finally:
        stop(process)


async def wait_healthy(url: str, timeout_s: float = 30.0) -> None:
    """Poll /healthz until the server answers (start-up is not instantaneous)."""
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            try:
                async with session.get(url + "/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError("server did not become healthy")


async def enrol_pair(
    url: str, tmp: Path, support_id: str
) -> tuple[StaffClient, WitnessClient, str]:
    """Log the officer in, open a case, enrol a witness phone (real SDK, real keys)."""
    officer = await StaffClient.login(
        url, "officer", PASSWORD, tmp / "officer.store", "officer passphrase", kdf=FAST_KDF
    )
    case = await officer.create_case("BENCH-1", support_id)
    enrolment = await officer.add_witness(
        case["case_id"], alias="Bench", language="en", timezone="Europe/Berlin"
    )
    pending = await WitnessClient.enroll(
        url, enrolment.code, tmp / "witness.store", WITNESS_PIN, kdf=FAST_KDF
    )
    witness = await finish_in_person(officer, enrolment, pending)
    return officer, witness, case["case_id"]
