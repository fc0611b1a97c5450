"""The server's log: JSON lines (or plain text) that carry the request id.

JSON lines come from python-json-logger (its msgspec encoder), so a log shipper reads
fields (``level``, ``logger``, ``request_id``, ``route``, ``status``) instead of
parsing text. Text is for a person at a terminal. Either way every line written while
a request is handled carries that request's id (see
:mod:`server.observability.requests`), and access lines name the route's template,
never the path, query string or client address.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

from aiohttp.abc import AbstractAccessLogger
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse
from pythonjsonlogger.msgspec import MsgspecFormatter

from server.observability.requests import current_request_id, request_id_of, route_of

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
JSON_FIELDS = ("levelname", "name", "message", "request_id")
JSON_RENAMES = {"levelname": "level", "name": "logger"}


class RequestIdFilter(logging.Filter):
    """Puts the current request's id on every record (``-`` outside a request), unless
    the record brought its own (the access log does, after the request's context)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = current_request_id.get() or "-"
        return True


class MalformedRequestFilter(logging.Filter):
    """Turns aiohttp's ERROR-with-traceback for a request its parser refused (a header
    too long, a broken request line) into one INFO line naming the error class only.

    A malformed request is the client's fault, not the server's; and aiohttp's message
    quotes the client's address and the first bytes of the offending line, which may be
    a credential or a phone number in a header."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name != "aiohttp.server" or not record.exc_info:
            return True
        error = record.exc_info[1]
        if isinstance(error, HttpProcessingError):
            record.msg = "refused a malformed request (%s, HTTP %d)"
            record.args = (type(error).__name__, error.code)
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.exc_info = None
            record.exc_text = None
        return True


def resolve_format(log_format: str, stream: TextIO) -> str:
    """``json`` or ``text``; ``auto`` is text on a terminal and JSON anywhere else (a
    service manager, a container, a file), which is how a server runs in production."""
    if log_format != "auto":
        return log_format
    return "text" if stream.isatty() else "json"


def build_handler(log_format: str, stream: TextIO) -> logging.Handler:
    """A stream handler writing ``json`` or ``text`` lines, with the request id and the
    malformed-request filters."""
    handler = logging.StreamHandler(stream)
    handler.addFilter(MalformedRequestFilter())
    handler.addFilter(RequestIdFilter())
    if log_format == "json":
        # msgspec (already the wire codec) encodes a line in about three quarters of
        # the stdlib json encoder's time; "time" is ISO 8601 in UTC.
        handler.setFormatter(
            MsgspecFormatter(JSON_FIELDS, rename_fields=JSON_RENAMES, timestamp="time")
        )
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    return handler


def configure_logging(log_format: str, stream: TextIO | None = None) -> str:
    """Send the root logger's INFO and above to ``stream`` (stderr) in the chosen format;
    returns the format used. APScheduler's per-run lines are silenced (the check-in
    sweep runs four times a second; failures are logged by the jobs themselves)."""
    target = stream if stream is not None else sys.stderr
    chosen = resolve_format(log_format, target)
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(build_handler(chosen, target))
    root.setLevel(logging.INFO)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    return chosen


class PathOnlyAccessLogger(AbstractAccessLogger):
    """Access log lines that name the route, not the path: a path can carry a secret
    (the calendar feed's token) or ids that should not sit in logs, so the line shows
    the route's template (``/v1/calendar/{token}.ics``). No query strings, no client
    addresses (personal data). A request aiohttp rejected before routing (a header too
    large, a malformed request line) is logged as ``(no route)``."""

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        route = route_of(request)
        self.logger.info(
            "%s %s %s %.1fms",
            request.method,
            route,
            response.status,
            time * 1000,
            extra={
                "request_id": request_id_of(request) or "-",
                "route": route,
                "method": request.method,
                "status": response.status,
                "duration_ms": round(time * 1000, 1),
            },
        )
