"""HTTP and WebSocket access to the witnesslink server (aiohttp).

Problem responses become :class:`~client_sdk.errors.ApiError` with the server's stable
code; connection failures become :class:`~client_sdk.errors.TransportError`, which the
outbox treats as "try again later".
"""

from __future__ import annotations

from typing import Any

import aiohttp

from client_sdk.errors import ApiError, TransportError

DEFAULT_TIMEOUT = aiohttp.ClientTimeout(total=30, connect=10)


class Transport:
    """One server, one device credential, one connection pool."""

    def __init__(self, base_url: str, token: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return f"Transport({self.base_url!r})"

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=DEFAULT_TIMEOUT)
        return self._session

    def _headers(self, extra: dict[str, str] | None) -> dict[str, str]:
        headers = dict(extra or {})
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> Any:
        """Send a request; return the decoded JSON body (or bytes for binary bodies).

        Raises:
            ApiError: the server refused (problem response).
            TransportError: the server could not be reached or the reply was cut off.
        """
        try:
            async with self._client().request(
                method,
                self.base_url + path,
                json=json,
                data=data,
                headers=self._headers(headers),
                params=params,
            ) as response:
                if response.status >= 400:
                    raise await _problem(response)
                if response.content_type == "application/json":
                    return await response.json()
                return await response.read()
        except (ValueError, RecursionError) as exc:
            # An answer that is not JSON, or nested deep enough to exhaust the stack: a
            # broken or hostile server must not crash the client.
            raise TransportError("the server's answer could not be read") from exc
        except (TimeoutError, aiohttp.ClientError, ConnectionError) as exc:
            raise TransportError(f"could not reach the server: {type(exc).__name__}") from exc

    async def websocket(self) -> aiohttp.ClientWebSocketResponse:
        """Open the device WebSocket.

        Raises:
            ApiError: the server refused the credential.
            TransportError: the server could not be reached.
        """
        try:
            return await self._client().ws_connect(
                self.base_url + "/v1/ws", headers=self._headers(None), heartbeat=30
            )
        except aiohttp.WSServerHandshakeError as exc:
            raise ApiError(exc.status, "websocket-refused", "WebSocket refused", None, {}) from exc
        except (TimeoutError, aiohttp.ClientError, ConnectionError) as exc:
            raise TransportError(f"could not reach the server: {type(exc).__name__}") from exc

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


async def _problem(response: aiohttp.ClientResponse) -> ApiError:
    try:
        body = await response.json(content_type=None)
    except (ValueError, RecursionError, aiohttp.ContentTypeError):
        body = {}
    if not isinstance(body, dict):
        body = {}
    known = {"type", "title", "status", "code", "detail"}
    return ApiError(
        status=response.status,
        code=str(body.get("code", "http-error")),
        title=str(body.get("title", response.reason or "")),
        detail=body.get("detail"),
        extra={k: v for k, v in body.items() if k not in known},
    )
