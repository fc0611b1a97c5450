"""A malicious server, played by a proxy that rewrites the server's answers.

Clients talk to the proxy as if it were the server; it forwards every request to the
real server and hands back the answer, after ``rewrite`` has had its way with JSON
bodies. The database stays honest: only what the client is told changes.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

Rewrite = Callable[[str, str, Any], Any]  # (method, path, body) -> body, or raw bytes


class RewritingProxy:
    """Forwards HTTP to ``upstream``; ``rewrite`` may change any JSON answer."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.rewrite: Rewrite = lambda _method, _path, body: body
        self._session: aiohttp.ClientSession | None = None

    async def handle(self, request: web.Request) -> web.Response:
        assert self._session is not None
        headers = {
            k: v for k, v in request.headers.items() if k in ("Authorization", "Content-Type")
        }
        async with self._session.request(
            request.method,
            self.upstream + request.path_qs,
            data=await request.read(),
            headers=headers,
        ) as answer:
            body = await answer.read()
            content_type = answer.content_type
            if content_type.endswith("json") and body:
                changed = self.rewrite(request.method, request.path, json.loads(body))
                body = changed if isinstance(changed, bytes) else json.dumps(changed).encode()
            return web.Response(status=answer.status, body=body, content_type=content_type)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[str]:
        """Serve on 127.0.0.1; yields the proxy's URL."""
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        self._session = aiohttp.ClientSession()
        try:
            yield str(server.make_url("")).rstrip("/")
        finally:
            await self._session.close()
            await server.close()
