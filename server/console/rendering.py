"""Jinja2 rendering: autoescaped templates, gettext per language, small time filters."""

from __future__ import annotations

import functools
import zoneinfo
from datetime import datetime
from typing import Any

import jinja2
from aiohttp import web

from server.console.alert_faces import face_of
from server.console.i18n import console_translations


@functools.cache
def environment(language: str) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("server.console", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(console_translations(language), newstyle=True)  # type: ignore[attr-defined]
    env.filters["when"] = when
    env.filters["local"] = local
    # Each alert kind's label, colour and sound, for the _alert_face.html fragment.
    env.globals["face_of"] = face_of
    return env


def when(value: datetime | None) -> str:
    """UTC time for staff screens, unambiguous across countries."""
    if value is None:
        return "—"
    return value.strftime("%Y-%m-%d %H:%M UTC")


def local(value: datetime | None, timezone: str) -> str:
    """A time in a given zone (the witness's, the court's)."""
    if value is None:
        return "—"
    return (
        value.astimezone(zoneinfo.ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M") + f" ({timezone})"
    )


def render(ui_language: str, template: str, status: int = 200, **context: Any) -> web.Response:
    html = environment(ui_language).get_template(template).render(**context)
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")
