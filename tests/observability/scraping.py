"""Reading the metrics listener the way Prometheus does, for the tests."""

from __future__ import annotations

import aiohttp
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from tests.support.world import World


async def scrape(world: World) -> str:
    listen = world.settings.metrics_listen
    assert listen is not None
    async with aiohttp.ClientSession() as session, session.get(f"http://{listen}/metrics") as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain")
        return await r.text()


def samples(text: str) -> list[Sample]:
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def value(text: str, name: str, **labels: str) -> float:
    found = [s.value for s in samples(text) if s.name == name and s.labels == labels]
    assert len(found) == 1, f"{name}{labels} not exported exactly once"
    return found[0]
