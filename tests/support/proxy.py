"""A recording HTTP proxy in front of the test server, and a switch to cut it off.

Phones enrolled through the proxy's URL keep it in their store's locator, so every
request they make to unlock goes through it: the tests see the exact sequence of
requests and the bytes of every answer, and can make the server unreachable (the proxy
accepts the connection and drops it, as a dead mobile network does) without touching
the server itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

_HOP_BY_HOP = {"host", "content-length", "transfer-encoding", "connection"}


@dataclass(frozen=True)
class Exchange:
    """One request as it went through: the answer's status and body (None and b"" when
    the connection was dropped)."""

    method: str
    path: str
    status: int | None
    body: bytes

    @property
    def line(self) -> str:
        return f"{self.method} {self.path} -> {self.status if self.status else 'dropped'}"


class RecordingProxy:
    """Forwards everything to ``upstream``; records; can play a dead network."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.exchanges: list[Exchange] = []
        self.reachable = True
        self.listeners: list[list[str]] = []
        self._server: TestServer | None = None
        self._client: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return str(self._server.make_url("")).rstrip("/")

    def lines(self, prefix: str = "") -> list[str]:
        return [e.line for e in self.exchanges if e.path.startswith(prefix)]

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        if not self.reachable:
            self._record(Exchange(request.method, request.path, None, b""))
            assert request.transport is not None
            request.transport.close()
            return web.Response(status=503)  # never reaches the phone
        assert self._client is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        async with self._client.request(
            request.method,
            self.upstream + request.path_qs,
            data=body,
            headers=headers,
            allow_redirects=False,
        ) as reply:
            answer = await reply.read()
            self._record(Exchange(request.method, request.path, reply.status, answer))
            kept = {k: v for k, v in reply.headers.items() if k.lower() not in _HOP_BY_HOP}
            return web.Response(status=reply.status, body=answer, headers=kept)

    def _record(self, exchange: Exchange) -> None:
        self.exchanges.append(exchange)
        for listener in self.listeners:
            listener.append(exchange.line)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[RecordingProxy]:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._server = TestServer(app, host="127.0.0.1")
        self._client = aiohttp.ClientSession()
        await self._server.start_server()
        try:
            yield self
        finally:
            await self._server.close()
            await self._client.close()
