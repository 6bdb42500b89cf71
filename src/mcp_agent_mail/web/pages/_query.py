"""Reading query parameters for pages: bad values become a 400 page naming the parameter."""

from __future__ import annotations

from collections.abc import Iterable

from starlette.requests import Request

from mcp_agent_mail.web.errors import WebError

MAX_PAGE = 100_000


def int_param(request: Request, name: str, default: int, *, minimum: int = 1, maximum: int = MAX_PAGE) -> int:
    """Return an integer query parameter, ``default`` when absent; refuse a non-number or one out of range."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise WebError(400, f"{name} must be a whole number, not {raw[:40]!r}.") from None
    if not minimum <= value <= maximum:
        raise WebError(400, f"{name} must be between {minimum} and {maximum}, not {value}.")
    return value


def choice_param(request: Request, name: str, choices: Iterable[str], default: str = "") -> str:
    """Return a query parameter that must be one of ``choices`` (or empty for ``default``)."""
    raw = request.query_params.get(name, "").strip()
    if not raw:
        return default
    allowed = tuple(choices)
    if raw.lower() not in allowed:
        raise WebError(400, f"{name} must be one of {', '.join(allowed)}, not {raw[:40]!r}.")
    return raw.lower()


def flag_param(request: Request, name: str) -> bool:
    """Return a yes/no query parameter (``1``/``true``/``yes``/``on`` or ``0``/``false``/``no``/``off``/absent)."""
    raw = request.query_params.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise WebError(400, f"{name} must be 1 or 0, not {raw[:40]!r}.")


def text_param(request: Request, name: str, *, max_length: int = 200) -> str:
    """Return a trimmed text query parameter (empty when absent); refuse one longer than ``max_length``."""
    raw = request.query_params.get(name, "").strip()
    if len(raw) > max_length:
        raise WebError(400, f"{name} is longer than {max_length} characters.")
    return raw


def path_int(request: Request, name: str) -> int:
    """Return a numeric path parameter such as a message id; refuse anything else with a 400 page."""
    raw = str(request.path_params.get(name, ""))
    if not raw.isdigit() or len(raw) > 18:
        raise WebError(400, f"{name.replace('_', ' ')} must be a number, not {raw[:40]!r}.")
    return int(raw)
