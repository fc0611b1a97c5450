"""Request ids and structured log lines: every line written while a request is handled
carries its id, the id comes back in ``X-Request-Id``, a caller's id is kept only when
it is plainly shaped, and access lines survive requests that never reached routing."""

from __future__ import annotations

import asyncio
import io
import json
import logging

import aiohttp

from server.observability.logs import build_handler, resolve_format
from server.observability.requests import REQUEST_ID_HEADER, REQUEST_ID_PATTERN
from tests.support.world import World


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


async def test_each_response_carries_a_fresh_request_id_that_its_log_lines_carry_too(
    world: World, json_log: io.StringIO
) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(world.url + "/v1/cases/some-case") as response:
            first = response.headers[REQUEST_ID_HEADER]
        async with session.get(world.url + "/livez") as response:
            second = response.headers[REQUEST_ID_HEADER]
    assert first != second
    assert REQUEST_ID_PATTERN.fullmatch(first)
    access = [line for line in lines(json_log) if line["logger"] == "aiohttp.access"]
    by_id = {line["request_id"]: line for line in access}
    assert by_id[first]["route"] == "/v1/cases/{case_id}"
    assert by_id[first]["status"] == 401
    assert by_id[second]["route"] == "/livez"
    assert all(line["level"] == "INFO" for line in access)


async def test_a_plain_incoming_request_id_is_kept_and_an_odd_one_replaced(
    world: World, json_log: io.StringIO
) -> None:
    proxy_id = "0f9c2b7e-5d1a-4c3e-9a8b-7c6d5e4f3a2b"
    odd_ids = ["has spaces in it", "x" * 65, "short", 'quote"break']
    async with aiohttp.ClientSession() as session:
        async with session.get(world.url + "/livez", headers={REQUEST_ID_HEADER: proxy_id}) as r:
            assert r.headers[REQUEST_ID_HEADER] == proxy_id
        for odd in odd_ids:
            async with session.get(world.url + "/livez", headers={REQUEST_ID_HEADER: odd}) as r:
                replaced = r.headers[REQUEST_ID_HEADER]
                assert replaced != odd
                assert REQUEST_ID_PATTERN.fullmatch(replaced)
    logged = json_log.getvalue()
    assert proxy_id in logged
    assert not any(odd in logged for odd in odd_ids)


async def test_a_log_line_written_inside_a_handler_carries_the_request_id(
    world: World, json_log: io.StringIO
) -> None:
    # The readiness check logs a warning while handling the request when the database
    # does not answer.
    await world.services.db.close()
    async with aiohttp.ClientSession() as session, session.get(world.url + "/readyz") as response:
        assert response.status == 503
        request_id = response.headers[REQUEST_ID_HEADER]
    own = [line for line in lines(json_log) if line["request_id"] == request_id]
    assert [(line["logger"], line["level"]) for line in own] == [
        ("witnesslink.health", "WARNING"),
        ("aiohttp.access", "INFO"),
    ]


async def test_a_request_rejected_before_routing_is_logged_without_crashing_the_logger(
    world: World, json_log: io.StringIO
) -> None:
    """An oversized header is refused by aiohttp's parser, so the request never has a
    route: the access line says ``(no route)`` instead of the logger failing."""
    reader, writer = await asyncio.open_connection(world.server.host, world.server.port)
    try:
        writer.write(
            b"GET /v1/calendar/secret-token.ics HTTP/1.1\r\nHost: x\r\n"
            b"X-Huge: " + b"a" * 20000 + b"\r\n\r\n"
        )
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 10)
        await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    assert status_line.split()[1] == b"400"
    logged = lines(json_log)
    access = [line for line in logged if line["logger"] == "aiohttp.access"]
    assert [(a["route"], a["status"]) for a in access] == [
        ("(no route)", int(status_line.split()[1]))
    ]
    # aiohttp's own report of the refusal is one INFO line without the client's
    # address or the bytes of the offending header.
    assert not [line for line in logged if line["level"] == "ERROR"]
    refused = [line for line in logged if line["logger"] == "aiohttp.server"]
    assert [line["message"] for line in refused] == [
        "refused a malformed request (LineTooLong, HTTP 400)"
    ]
    text = json_log.getvalue()
    assert "secret-token" not in text
    assert "aaaaaaaa" not in text
    assert "127.0.0.1" not in text


def test_auto_format_is_text_at_a_terminal_and_json_anywhere_else() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert resolve_format("auto", Terminal()) == "text"
    assert resolve_format("auto", io.StringIO()) == "json"
    assert resolve_format("text", io.StringIO()) == "text"
    assert resolve_format("json", Terminal()) == "json"


async def test_text_lines_carry_the_request_id_too(world: World) -> None:
    stream = io.StringIO()
    handler = build_handler("text", stream)
    access = logging.getLogger("aiohttp.access")
    access.addHandler(handler)
    previous = access.level
    access.setLevel(logging.INFO)
    try:
        async with aiohttp.ClientSession() as session, session.get(world.url + "/livez") as r:
            request_id = r.headers[REQUEST_ID_HEADER]
    finally:
        access.removeHandler(handler)
        access.setLevel(previous)
    assert f"INFO aiohttp.access [{request_id}] GET /livez 200" in stream.getvalue()
