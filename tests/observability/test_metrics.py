"""Prometheus metrics: served only on the private listener, labelled by route template,
and showing what an operator needs after real traffic (connected phones, queued copies,
alerts, notifications)."""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp
import yaml
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from server.observability.metrics import ServerMetrics
from server.storage.operational import operational_counts
from tests.observability.scraping import samples, scrape, value
from tests.support.world import World, open_conversation
from tests.welfare.helpers import start_and_connect

ALERT_RULES = Path(__file__).parents[2] / "deploy" / "prometheus" / "alerts.yml"
CALENDAR_TOKEN = "feedTokenThatMustNotBeInMetrics0123456789"


async def test_the_public_listener_does_not_serve_metrics(metrics_world: World) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(metrics_world.url + "/metrics") as response:
            assert response.status == 404
        async with session.get(metrics_world.url + "/livez") as response:
            assert response.status == 200


async def test_requests_are_counted_by_route_template_and_status_never_by_path(
    metrics_world: World,
) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(3):
            async with session.get(f"{metrics_world.url}/v1/calendar/{CALENDAR_TOKEN}.ics") as r:
                assert r.status == 404
        async with session.get(f"{metrics_world.url}/no/such/{CALENDAR_TOKEN}") as r:
            assert r.status == 404
        async with session.get(f"{metrics_world.url}/livez") as r:
            assert r.status == 200
        async with session.request("PROPFIND", f"{metrics_world.url}/livez") as r:
            assert r.status == 405
    text = await scrape(metrics_world)
    assert "PROPFIND" not in text
    refused = {"method": "other", "route": "(no route)", "status": "405"}
    assert value(text, "witnesslink_http_requests_total", **refused) == 1
    assert CALENDAR_TOKEN not in text
    counted = "witnesslink_http_requests_total"
    feed = {"method": "GET", "route": "/v1/calendar/{token}.ics", "status": "404"}
    assert value(text, counted, **feed) == 3
    assert value(text, counted, method="GET", route="(no route)", status="404") == 1
    assert value(text, counted, method="GET", route="/livez", status="200") == 1
    latency = "witnesslink_http_request_duration_seconds_count"
    assert value(text, latency, method="GET", route="/v1/calendar/{token}.ics") == 3


async def test_gauges_follow_phones_queued_copies_alerts_and_notifications(
    metrics_world: World,
) -> None:
    world = metrics_world
    talk = await open_conversation(world)
    await start_and_connect(world, talk.witness)
    await talk.officer.send("a copy for the support worker, who is offline", case_id=talk.case_id)
    await talk.witness.panic()
    await world.services.dispatcher.drain()

    text = await scrape(world)
    connected = len(world.services.hub.connected_devices()) if world.services.hub else 0
    assert connected >= 1
    assert value(text, "witnesslink_connected_devices") == connected
    counts = await operational_counts(world.services.db)
    assert counts.queued_copies >= 1
    assert value(text, "witnesslink_queued_message_copies") == counts.queued_copies
    assert counts.alerts
    for (kind, state), count in counts.alerts.items():
        assert value(text, "witnesslink_alerts", kind=kind, state=state) == count
    delivered = world.services.delivery.outcomes
    assert delivered, "the panic alert queued notifications"
    for (channel, outcome), count in delivered.items():
        assert (
            value(text, "witnesslink_notifications_total", channel=channel, outcome=outcome)
            == count
        )
    assert value(text, "witnesslink_scheduler_enabled") == 0
    assert value(text, "witnesslink_database_up") == 1


async def test_every_metric_the_example_alert_rules_use_is_exported(
    metrics_world: World,
) -> None:
    rules = yaml.safe_load(ALERT_RULES.read_text())
    expressions = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    assert {r["alert"] for g in rules["groups"] for r in g["rules"]} >= {
        "WitnesslinkInstanceDown",
        "WitnesslinkSchedulerStopped",
        "WitnesslinkSweepLagging",
        "WitnesslinkSmsFailing",
    }
    named = {m for expr in expressions for m in re.findall(r"witnesslink_[a-z_]+", expr)}
    exported = set()
    for family in text_string_to_metric_families(await scrape(metrics_world)):
        exported.add(family.name)
        exported.update(s.name for s in family.samples)
        if family.type == "counter":
            exported.add(family.name + "_total")
    assert named, "the rules name no witnesslink metric"
    assert named <= exported, f"not exported: {sorted(named - exported)}"


def test_a_websocket_counts_as_a_request_but_its_lifetime_is_not_a_latency() -> None:
    metrics = ServerMetrics()
    metrics.observe_request("GET", "/v1/ws", 101, 3600.0)
    metrics.observe_request("GET", "/livez", 200, 0.002)
    text = generate_latest(metrics.registry).decode()
    assert (
        value(text, "witnesslink_http_requests_total", method="GET", route="/v1/ws", status="101")
        == 1
    )
    durations = [s for s in samples(text) if s.name.startswith("witnesslink_http_request_duration")]
    assert {s.labels["route"] for s in durations} == {"/livez"}
