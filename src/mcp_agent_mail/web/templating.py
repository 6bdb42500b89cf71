"""Jinja2 templates of the web UI: one environment (autoescape on), page rendering and time filters."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from mcp_agent_mail.timeutil import ensure_utc, parse_timestamp, utcnow

TEMPLATES = Path(__file__).parent / "templates"
PAGE_HEADERS = {"Cache-Control": "no-store"}


def _as_datetime(value: datetime | str | None) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return ensure_utc(value)
    return parse_timestamp(str(value), field="timestamp")


def exact_time(value: datetime | str | None) -> str:
    """Return a timestamp as exact UTC text, e.g. ``2026-05-01 14:03:07 UTC`` (empty for none)."""
    moment = _as_datetime(value)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else ""


def relative_words(moment: datetime, now: datetime | None = None) -> str:
    """Return how long ago (or ahead) ``moment`` is in words: ``just now``, ``5 min ago``, ``in 2 h``, ``3 d ago``."""
    seconds = int(((now or utcnow()) - moment).total_seconds())
    ahead, seconds = seconds < 0, abs(seconds)
    if seconds < 45:
        return "just now"
    count, unit = max(1, seconds // 60), "min"
    for size, name in ((31_536_000, "y"), (2_592_000, "mo"), (86_400, "d"), (3_600, "h")):
        if seconds >= size:
            count, unit = seconds // size, name
            break
    return f"in {count} {unit}" if ahead else f"{count} {unit} ago"


def reltime(value: datetime | str | None) -> Markup:
    """Return a ``<time>`` element showing relative time, the exact ISO time in ``datetime`` and ``title``."""
    moment = _as_datetime(value)
    if moment is None:
        return Markup('<span class="muted">never</span>')
    iso_text = moment.isoformat()
    return Markup('<time datetime="{0}" title="{1}">{2}</time>').format(
        iso_text, exact_time(moment), relative_words(moment)
    )


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """Return the shared Jinja2 environment (templates from ``web/templates``, autoescape always on)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["reltime"] = reltime
    env.filters["exact_time"] = exact_time
    return env


def url_builder(request: Request) -> Any:
    """Return ``url(name, **params)``: the path of a named route (query ``_query`` dict appended when given)."""

    def url(name: str, _query: dict[str, Any] | None = None, **params: Any) -> str:
        path = str(request.url_for(name, **{key: str(value) for key, value in params.items()}).path)
        if _query:
            pairs = {key: value for key, value in _query.items() if value not in (None, "", False)}
            if pairs:
                path += "?" + urlencode(pairs)
        return path

    return url


def render(request: Request, template: str, context: dict[str, Any] | None = None, status: int = 200) -> HTMLResponse:
    """Render a page template with the request's globals (``csrf_token()``, ``url()``, ``principal``)."""
    state = request.scope.get("state", {})
    values: dict[str, Any] = {
        "request": request,
        "principal": state.get("principal"),
        "csrf_token": lambda: str(state.get("csrf_token", "")),
        "url": url_builder(request),
    }
    values.update(context or {})
    html = environment().get_template(template).render(values)
    return HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)


__all__ = ["environment", "escape", "exact_time", "relative_words", "reltime", "render", "url_builder"]
