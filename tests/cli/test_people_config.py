"""``config show``: every setting, secrets masked, each with where its value came from."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from people_kit import as_json, invoke, require_registered, run_cli

from mcp_agent_mail.cli import config_cmds
from mcp_agent_mail.config import clear_settings_cache
from mcp_agent_mail.services.settings_view import MASK, mask_url

SECRETS = {
    "HTTP_BEARER_TOKEN": "bearer-abc-123",
    "HTTP_JWT_SECRET": "jwt-secret-xyz",
    "LLM_API_KEY": "sk-live-999",
    "HTTP_WEB_SESSION_SECRET": "session-secret-777",
}


@pytest.fixture
def env(isolated_env: dict[str, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, Path]:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("REDIS_URL", "redis://user:hunter2@cache.example:6379/0?password=pw2&db=1")
    workdir = tmp_path / "work"
    workdir.mkdir()
    (workdir / ".env").write_text("HTTP_RATE_LIMIT_PER_MINUTE=42\n", encoding="utf-8")
    monkeypatch.chdir(workdir)
    clear_settings_cache()
    return isolated_env


def _settings(result_json: dict) -> dict[str, dict]:
    return {entry["name"]: entry for entry in result_json["settings"]}


def test_secrets_are_masked_and_sources_shown(env: dict[str, Path]) -> None:
    result = invoke(config_cmds, "config", "show", "--json")
    text = result.stdout
    for value in [*SECRETS.values(), "hunter2", "pw2"]:
        assert value not in text
    settings = _settings(as_json(result))
    for name in SECRETS:
        assert settings[name]["value"] == MASK and settings[name]["secret"] and settings[name]["source"] == "env"
    assert settings["REDIS_URL"]["value"] == f"redis://user:{MASK}@cache.example:6379/0?password={MASK}&db=1"
    assert settings["HTTP_RATE_LIMIT_PER_MINUTE"]["value"] == 42
    assert settings["HTTP_RATE_LIMIT_PER_MINUTE"]["source"].startswith(".env (")
    assert settings["HTTP_PORT"] == {**settings["HTTP_PORT"], "value": 8765, "source": "env"}
    assert settings["LOG_LEVEL"]["source"] == "default"
    assert settings["STORAGE_ROOT"]["value"] == str(env["storage"])
    assert settings["MCP_AGENT_MAIL_HOME"]["source"] == "env"


def test_the_table_masks_secrets_too(env: dict[str, Path]) -> None:
    result = invoke(config_cmds, "config", "show")
    assert result.exit_code == 0, result.output
    assert "HTTP_BEARER_TOKEN" in result.stdout and MASK in result.stdout
    for value in [*SECRETS.values(), "hunter2"]:
        assert value not in result.stdout
    changed = invoke(config_cmds, "config", "show", "--changed", "--json")
    assert all(entry["source"] != "default" for entry in json.loads(changed.stdout)["settings"])


def test_a_database_password_is_masked(env: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://mail:s3cr3t@db.example:5432/mail")
    clear_settings_cache()
    settings = _settings(as_json(invoke(config_cmds, "config", "show", "--json")))
    assert settings["DATABASE_URL"]["value"] == f"postgresql+psycopg://mail:{MASK}@db.example:5432/mail"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("sqlite+aiosqlite:////tmp/x.sqlite3", "sqlite+aiosqlite:////tmp/x.sqlite3"),
        ("redis://:pw@h:1/0", f"redis://:{MASK}@h:1/0"),
        ("https://h/path?token=abc&x=1", f"https://h/path?token={MASK}&x=1"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
    ],
)
def test_mask_url(url: str, shown: str) -> None:
    assert mask_url(url) == shown


def test_installed_command_masks_secrets(env: dict[str, Path]) -> None:
    require_registered("config", "show")
    result = run_cli("config", "show", "--json")
    assert result.returncode == 0, result.stderr
    assert "bearer-abc-123" not in result.stdout
    assert _settings(json.loads(result.stdout))["HTTP_BEARER_TOKEN"]["value"] == MASK
