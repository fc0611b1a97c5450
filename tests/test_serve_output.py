"""What ``witnesslink serve`` writes to its log: the start-up lines an operator needs
(including a warning per production setting left unset), JSON access lines that name
routes rather than paths (a path can carry a secret) and carry request ids, and not a
line for every run of every scheduler job (the check-in sweep runs four times a second,
which would bury everything else). Its metrics are on the private listener only."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

import aiohttp

from tests.support.processes import free_port, server_process


async def _until_the_sweeps_have_run(url: str) -> None:
    """Poll /healthz until the check-in sweep has demonstrably run: it reports a run
    within the last half second, more than a second after the server answered."""
    answered = time.monotonic()
    async with aiohttp.ClientSession() as session, asyncio.timeout(30):
        while True:
            async with session.get(url + "/healthz") as response:
                jobs = (await response.json())["scheduler"]["jobs"]
            if time.monotonic() - answered > 1.0 and jobs["checkins"]["seconds_since_run"] < 0.5:
                return
            await asyncio.sleep(0.1)


async def _fetch(url: str) -> int:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status


async def _read(url: str) -> str:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        assert response.status == 200
        return await response.text()


def test_serve_logs_start_up_and_routes_but_not_secrets_or_every_scheduler_run(
    tmp_path: Path,
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    metrics_url = f"http://127.0.0.1:{free_port()}/metrics"
    env = {**os.environ, "WITNESSLINK_METRICS_LISTEN": metrics_url.split("/")[2]}
    output = tmp_path / "serve.log"
    token = "feedTokenThatMustNotBeLogged0123456789"
    with server_process(tmp_path / "data", port, env, output=output):
        asyncio.run(_until_the_sweeps_have_run(url))
        assert asyncio.run(_fetch(f"{url}/v1/calendar/{token}.ics")) == 404
        assert asyncio.run(_fetch(f"{url}/no/such/{token}")) == 404
        assert asyncio.run(_fetch(f"{url}/metrics")) == 404
        metrics = asyncio.run(_read(metrics_url))
    feed = 'route="/v1/calendar/{token}.ics",status="404"'
    assert f'witnesslink_http_requests_total{{method="GET",{feed}}} 1.0' in metrics
    assert "witnesslink_scheduler_running 1.0" in metrics
    assert 'witnesslink_sweep_seconds_since_run{sweep="checkins"}' in metrics
    assert token not in metrics
    text = output.read_text()
    assert token not in text
    assert "GET /v1/calendar/{token}.ics 404" in text
    assert "GET (no route) 404" in text
    assert f"listening on http://127.0.0.1:{port}" in text
    assert "No staff accounts exist yet" in text
    assert "Running job" not in text
    assert "executed successfully" not in text
    # The log is not a terminal, so lines are JSON, and access lines carry request ids.
    records = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    access = [r for r in records if r["logger"] == "aiohttp.access"]
    assert access
    assert all(len(r["request_id"]) == 24 for r in access)
    warned = [r["message"] for r in records if r["logger"] == "witnesslink.startup"]
    assert all(r["level"] == "WARNING" for r in records if r["logger"] == "witnesslink.startup")
    for gap in ("Twilio is not configured", "PUBLIC_URL is not set", "SQLite is in use"):
        assert sum(gap in line for line in warned) == 1, gap
    assert not any("metrics are off" in line for line in warned)
