"""Fixtures for web UI tests: a mailbox made through the real services and the real HTTP app built from settings.

* ``web_mailbox``: two projects (``web_kit.PROJECT`` with BlueLake, RedFox, GreenCastle; ``web_kit.OTHER`` with
  PurpleHill) and five messages; ``web_mailbox.ids[subject]`` gives a message id.
* ``make_web_app(**env)``: the app of ``mcp_agent_mail.http.build_http_app`` with the given environment settings
  (every access setting cleared first), e.g. ``make_web_app(HTTP_BEARER_TOKEN=web_kit.TOKEN)``.
* ``local_app``: the app with no authentication (loopback only), the laptop default.
* ``web_kit.web_client(app, peer=..., token=...)``: an ASGI client; ``web_kit.csrf_from(html)`` reads a form's
  CSRF token; ``web_kit.sign_in(client)`` signs in through the form.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from starlette.applications import Starlette
from web_kit import WEB_ENV, WebMailbox, make_web_mailbox

from mcp_agent_mail.config import clear_settings_cache, get_settings
from mcp_agent_mail.http.app import build_http_app


@pytest.fixture
async def web_mailbox(isolated_env: dict[str, Path]) -> WebMailbox:
    """Two projects with agents and messages, made through the services."""
    return await make_web_mailbox()


@pytest.fixture
def make_web_app(isolated_env: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> Callable[..., Starlette]:
    """Build the whole HTTP app (the web UI at /mail) from the given environment settings."""

    def build(**env: str) -> Starlette:
        for name in WEB_ENV:
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        clear_settings_cache()
        return build_http_app(get_settings())

    return build


@pytest.fixture
def local_app(make_web_app: Callable[..., Starlette]) -> Starlette:
    """The app with no authentication configured: the UI answers direct loopback requests only."""
    return make_web_app()
