"""Settings: where they come from (environment, .env files, defaults), how values are cleaned, and the cache."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from pydantic import ValidationError

from mcp_agent_mail.config import clear_settings_cache, data_dir, get_settings
from mcp_agent_mail.errors import ConfigurationError

# Variables these tests set themselves; anything the machine or another fixture left is removed first.
VARIABLES = (
    "DATABASE_URL",
    "STORAGE_ROOT",
    "TOOLS_PROFILE",
    "LLM_MODEL",
    "HTTP_JWT_ROLE_CLAIM",
    "LLM_API_KEY",
    "HTTP_PATH",
    "HTTP_PORT",
    "HTTP_HOST",
    "HTTP_ALLOWED_ORIGINS",
    "HTTP_RBAC_READER_ROLES",
    "HTTP_RATE_LIMIT_PER_MINUTE",
    "HTTP_RATE_LIMIT_REDIS_URL",
    "REDIS_URL",
    "DATABASE_BUSY_TIMEOUT_MS",
    "ARCHIVE_BATCH_SIZE",
    "LLM_TEMPERATURE",
    "LLM_TIMEOUT_SECONDS",
    "ACK_TTL_SECONDS",
    "AGENT_IDENTITY_MODE",
    "LOG_LEVEL",
    "LLM_ENABLED",
    "LLM_MAX_TOKENS",
    "MCP_AGENT_MAIL_WINDOW_ID",
    "ATTACHMENT_ROOTS",
    "HTTP_JWT_ENABLED",
    "HTTP_JWT_SECRET",
    "HTTP_RBAC_DEFAULT_ROLE",
    "HTTP_RATE_LIMIT_ENABLED",
    "HTTP_RATE_LIMIT_TOOLS_PER_MINUTE",
    "HTTP_CORS_ENABLED",
    "HTTP_CORS_ORIGINS",
)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty data directory and working directory, with none of the variables above set."""
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setenv("MCP_AGENT_MAIL_HOME", str(data))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    clear_settings_cache()
    return data


def test_without_configuration_everything_lives_in_the_data_directory(home):
    settings = get_settings()
    assert settings.data_dir == home.resolve() == data_dir()
    assert settings.database.url == f"sqlite+aiosqlite:///{home.resolve() / 'mailbox.sqlite3'}"
    assert settings.storage.root == str(home.resolve() / "archive")
    assert settings.http.path == "/mcp/" and settings.http.port == 8765
    assert settings.agent_identity_mode == "trusted" and settings.tools_profile == "full"


def test_data_directory_defaults_to_the_home_folder_and_expands_a_tilde(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("MCP_AGENT_MAIL_HOME", raising=False)
    assert data_dir() == (tmp_path / ".mcp_agent_mail").resolve()
    monkeypatch.setenv("MCP_AGENT_MAIL_HOME", "~/mail-home")
    assert data_dir() == (tmp_path / "mail-home").resolve()
    monkeypatch.setenv("MCP_AGENT_MAIL_HOME", "   ")
    assert data_dir() == (tmp_path / ".mcp_agent_mail").resolve()


def test_environment_beats_the_working_directory_env_file_which_beats_the_data_directory_one(home, monkeypatch):
    (home / ".env").write_text(
        "TOOLS_PROFILE=from-data-dir\nLLM_MODEL=from-data-dir\nHTTP_JWT_ROLE_CLAIM=from-data-dir\n"
    )
    Path(".env").write_text("LLM_MODEL=from-cwd\nHTTP_JWT_ROLE_CLAIM=from-cwd\n")
    monkeypatch.setenv("HTTP_JWT_ROLE_CLAIM", "from-environment")
    settings = get_settings()
    assert settings.tools_profile == "from-data-dir"
    assert settings.llm.model == "from-cwd"
    assert settings.http.jwt.role_claim == "from-environment"


def test_paths_and_lists_are_normalised(home, monkeypatch):
    monkeypatch.setenv("HTTP_PATH", " api/mcp// ")
    monkeypatch.setenv("HTTP_ALLOWED_ORIGINS", "https://a.example/, ,http://b.example:8080")
    monkeypatch.setenv("HTTP_RBAC_READER_ROLES", "Viewer, AUDIT")
    monkeypatch.setenv("REDIS_URL", " redis://127.0.0.1:6379/0 ")
    monkeypatch.setenv("STORAGE_ROOT", str(home / "a" / ".." / "archive"))
    monkeypatch.setenv("AGENT_IDENTITY_MODE", " Strict ")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    settings = get_settings()
    assert settings.http.path == "/api/mcp/"
    assert settings.http.allowed_origins == ("https://a.example", "http://b.example:8080")
    assert settings.http.rbac.reader_roles == ("viewer", "audit")
    assert settings.http.rate_limit.redis_url == "redis://127.0.0.1:6379/0"  # falls back to REDIS_URL
    assert settings.storage.root == str(home.resolve() / "archive")
    assert settings.agent_identity_mode == "strict" and settings.log_level == "DEBUG"


@pytest.mark.parametrize("raw", ["/", "", "//"])
def test_a_root_http_path_stays_a_single_slash(home, monkeypatch, raw):
    monkeypatch.setenv("HTTP_PATH", raw)
    assert get_settings().http.path == "/"


def test_out_of_range_numbers_are_clamped_to_what_the_server_can_use(home, monkeypatch):
    monkeypatch.setenv("DATABASE_BUSY_TIMEOUT_MS", "5")
    monkeypatch.setenv("ARCHIVE_BATCH_SIZE", "0")
    monkeypatch.setenv("LLM_TEMPERATURE", "9")
    monkeypatch.setenv("LLM_TIMEOUT_SECONDS", "0")
    monkeypatch.setenv("ACK_TTL_SECONDS", str(10**9))
    monkeypatch.setenv("HTTP_RATE_LIMIT_PER_MINUTE", "-5")
    settings = get_settings()
    assert settings.database.busy_timeout_ms == 100
    assert settings.storage.batch_size == 1
    assert settings.llm.temperature == 2.0 and settings.llm.timeout_seconds == 0.1
    assert settings.ack_ttl_seconds == 365 * 86400
    assert settings.http.rate_limit.per_minute == 0


def test_a_value_of_the_wrong_type_is_a_configuration_error_naming_its_variable(home, monkeypatch):
    monkeypatch.setenv("HTTP_PORT", "eighty")
    monkeypatch.setenv("LLM_ENABLED", "maybe")
    with pytest.raises(ConfigurationError) as caught:
        get_settings()
    error = caught.value
    assert error.code == "CONFIGURATION_ERROR"
    assert error.message.startswith("A setting cannot be read: HTTP_PORT='eighty': input should be a valid integer")
    assert "LLM_ENABLED='maybe': input should be a valid boolean" in error.message
    assert str(home / ".env") in (error.hint or "")
    assert isinstance(error.__cause__, ValidationError)


def test_a_setting_whose_name_looks_secret_is_named_without_its_value(home, monkeypatch):
    monkeypatch.setenv("LLM_MAX_TOKENS", "sk-live-abc123")
    with pytest.raises(ConfigurationError) as caught:
        get_settings()
    assert caught.value.message.startswith("A setting cannot be read: LLM_MAX_TOKENS: input should be a valid integer")
    assert "sk-live-abc123" not in caught.value.message


@pytest.mark.parametrize("level", ["LOUD", "verbose", "5"])
def test_an_unknown_log_level_is_a_configuration_error(home, monkeypatch, level):
    monkeypatch.setenv("LOG_LEVEL", level)
    with pytest.raises(ConfigurationError) as caught:
        get_settings()
    assert caught.value.message == f"A setting cannot be read: LOG_LEVEL={level!r} is not a log level."
    assert (caught.value.hint or "").startswith("Use one of DEBUG, INFO, WARNING, ERROR, CRITICAL.")
    monkeypatch.setenv("LOG_LEVEL", " warning ")
    clear_settings_cache()
    assert get_settings().log_level == "WARNING"


def test_window_id_is_canonical_and_an_invalid_one_is_logged_and_ignored(home, monkeypatch, caplog):
    monkeypatch.setenv("MCP_AGENT_MAIL_WINDOW_ID", " 1B4E28BA-2FA1-11D2-883F-0016D3CCA427 ")
    assert get_settings().window_id == "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
    monkeypatch.setenv("MCP_AGENT_MAIL_WINDOW_ID", "window-7")
    clear_settings_cache()
    with caplog.at_level(logging.WARNING, logger="mcp_agent_mail.config"):
        assert get_settings().window_id == ""
    assert "'window-7' is not a UUID" in caplog.text


def test_attachment_roots_expand_a_tilde_and_drop_relative_entries(home, monkeypatch, tmp_path, caplog):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("ATTACHMENT_ROOTS", "~/shared/, docs, /srv/data/../files")
    with caplog.at_level(logging.WARNING, logger="mcp_agent_mail.config"):
        roots = get_settings().storage.attachment_roots
    assert roots == (str(tmp_path / "shared"), "/srv/files")
    assert "'docs' is not an absolute path" in caplog.text


def test_the_llm_api_key_never_shows_in_the_settings_repr(home, monkeypatch):
    monkeypatch.setenv("LLM_API_KEY", "sk-secret-value")
    settings = get_settings()
    assert settings.llm.api_key == "sk-secret-value"
    assert "sk-secret-value" not in repr(settings)


def test_settings_are_read_once_until_the_cache_is_cleared(home, monkeypatch):
    first = get_settings()
    monkeypatch.setenv("TOOLS_PROFILE", "minimal")
    assert get_settings() is first and first.tools_profile == "full"
    clear_settings_cache()
    assert get_settings().tools_profile == "minimal"


def test_the_original_servers_attribute_names_read_the_same_settings(home, monkeypatch):
    monkeypatch.setenv("HTTP_JWT_ENABLED", "true")
    monkeypatch.setenv("HTTP_JWT_SECRET", "s3")
    monkeypatch.setenv("HTTP_JWT_ROLE_CLAIM", "roles")
    monkeypatch.setenv("HTTP_RBAC_READER_ROLES", "Viewer")
    monkeypatch.setenv("HTTP_RBAC_DEFAULT_ROLE", "writer")
    monkeypatch.setenv("HTTP_RATE_LIMIT_ENABLED", "yes")
    monkeypatch.setenv("HTTP_RATE_LIMIT_TOOLS_PER_MINUTE", "7")
    monkeypatch.setenv("HTTP_CORS_ENABLED", "1")
    monkeypatch.setenv("HTTP_CORS_ORIGINS", "https://a.example/")
    monkeypatch.setenv("LLM_MODEL", "small-model")
    settings = get_settings()
    http = settings.http
    assert http.jwt_enabled is True and http.jwt_secret == "s3" and http.jwt_role_claim == "roles"
    assert http.jwt_algorithms == ("HS256",) and http.jwt_audience is None and http.jwt_jwks_url is None
    assert http.rbac_enabled is True and http.rbac_reader_roles == ("viewer",) and http.rbac_default_role == "writer"
    assert http.rate_limit_enabled is True and http.rate_limit_tools_per_minute == 7
    assert http.rate_limit_backend == "memory" and http.rate_limit_redis_url == ""
    assert settings.cors.enabled is True and settings.cors.origins == ("https://a.example",)
    assert settings.llm.default_model == "small-model"
    with pytest.raises((AttributeError, TypeError)):  # read-only: frozen dataclass, property without a setter
        http.jwt_role_claim = "other"  # type: ignore[misc]
    assert http.jwt_role_claim == "roles"


@pytest.mark.parametrize("port", ["70000", "-1"])
def test_an_http_port_outside_the_tcp_range_is_a_configuration_error(home, monkeypatch, port):
    monkeypatch.setenv("HTTP_PORT", port)
    with pytest.raises(ConfigurationError) as caught:
        get_settings()
    assert caught.value.message == f"A setting cannot be read: HTTP_PORT={port} is outside 0..65535."


def test_a_blank_http_host_means_the_default_loopback_address(home, monkeypatch):
    monkeypatch.setenv("HTTP_HOST", "  ")
    assert get_settings().http.host == "127.0.0.1"
