"""Typed settings read from the environment and ``.env`` files.

Precedence: process environment, then ``./.env``, then ``<data dir>/.env``,
then the defaults below. Everything lives in one per-user data directory
(``~/.mcp_agent_mail`` unless ``MCP_AGENT_MAIL_HOME`` says otherwise), never
relative to the current directory.
"""

from __future__ import annotations

import logging
import os
import uuid
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from mcp_agent_mail.errors import ConfigurationError


def data_dir() -> Path:
    """Return the per-user directory holding the database, archive and restore points."""
    override = os.environ.get("MCP_AGENT_MAIL_HOME", "").strip()
    base = Path(override).expanduser() if override else Path.home() / ".mcp_agent_mail"
    return base.resolve()


def env_files() -> tuple[Path, ...]:
    """Return the ``.env`` files settings are read from, the later one winning."""
    return (data_dir() / ".env", Path.cwd() / ".env")


class _EnvSettings(BaseSettings):
    """Flat view of every environment variable the server reads."""

    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False)

    app_environment: str = Field("development", alias="APP_ENVIRONMENT")
    database_url: str = Field("", alias="DATABASE_URL")
    database_echo: bool = Field(False, alias="DATABASE_ECHO")
    database_busy_timeout_ms: int = Field(15000, alias="DATABASE_BUSY_TIMEOUT_MS")
    database_pool_size: int = Field(8, alias="DATABASE_POOL_SIZE")
    storage_root: str = Field("", alias="STORAGE_ROOT")
    git_author_name: str = Field("mcp-agent", alias="GIT_AUTHOR_NAME")
    git_author_email: str = Field("mcp-agent@example.com", alias="GIT_AUTHOR_EMAIL")
    archive_flush_interval_ms: int = Field(200, alias="ARCHIVE_FLUSH_INTERVAL_MS")
    archive_batch_size: int = Field(500, alias="ARCHIVE_BATCH_SIZE")
    inline_image_max_bytes: int = Field(65536, alias="INLINE_IMAGE_MAX_BYTES")
    convert_images: bool = Field(True, alias="CONVERT_IMAGES")
    keep_original_images: bool = Field(False, alias="KEEP_ORIGINAL_IMAGES")
    allow_absolute_attachment_paths: bool = Field(False, alias="ALLOW_ABSOLUTE_ATTACHMENT_PATHS")
    attachment_max_bytes: int = Field(10 * 1024 * 1024, alias="ATTACHMENT_MAX_BYTES")
    attachment_roots: str = Field("", alias="ATTACHMENT_ROOTS")
    http_host: str = Field("127.0.0.1", alias="HTTP_HOST")
    http_port: int = Field(8765, alias="HTTP_PORT")
    http_path: str = Field("/mcp/", alias="HTTP_PATH")
    http_bearer_token: str = Field("", alias="HTTP_BEARER_TOKEN")
    http_allow_localhost_unauthenticated: bool = Field(False, alias="HTTP_ALLOW_LOCALHOST_UNAUTHENTICATED")
    http_allowed_origins: str = Field("", alias="HTTP_ALLOWED_ORIGINS")
    http_cors_enabled: bool = Field(False, alias="HTTP_CORS_ENABLED")
    http_cors_origins: str = Field("", alias="HTTP_CORS_ORIGINS")
    http_jwt_enabled: bool = Field(False, alias="HTTP_JWT_ENABLED")
    http_jwt_algorithms: str = Field("HS256", alias="HTTP_JWT_ALGORITHMS")
    http_jwt_secret: str = Field("", alias="HTTP_JWT_SECRET")
    http_jwt_jwks_url: str = Field("", alias="HTTP_JWT_JWKS_URL")
    http_jwt_audience: str = Field("", alias="HTTP_JWT_AUDIENCE")
    http_jwt_issuer: str = Field("", alias="HTTP_JWT_ISSUER")
    http_jwt_role_claim: str = Field("role", alias="HTTP_JWT_ROLE_CLAIM")
    http_rbac_enabled: bool = Field(True, alias="HTTP_RBAC_ENABLED")
    http_rbac_reader_roles: str = Field("reader,read,ro", alias="HTTP_RBAC_READER_ROLES")
    http_rbac_writer_roles: str = Field("writer,write,tools,rw", alias="HTTP_RBAC_WRITER_ROLES")
    http_rbac_default_role: str = Field("reader", alias="HTTP_RBAC_DEFAULT_ROLE")
    http_rate_limit_enabled: bool = Field(False, alias="HTTP_RATE_LIMIT_ENABLED")
    http_rate_limit_backend: str = Field("memory", alias="HTTP_RATE_LIMIT_BACKEND")
    http_rate_limit_per_minute: int = Field(600, alias="HTTP_RATE_LIMIT_PER_MINUTE")
    http_rate_limit_tools_per_minute: int = Field(300, alias="HTTP_RATE_LIMIT_TOOLS_PER_MINUTE")
    http_rate_limit_tools_burst: int = Field(0, alias="HTTP_RATE_LIMIT_TOOLS_BURST")
    redis_url: str = Field("", alias="REDIS_URL")
    http_rate_limit_redis_url: str = Field("", alias="HTTP_RATE_LIMIT_REDIS_URL")
    http_web_session_secret: str = Field("", alias="HTTP_WEB_SESSION_SECRET", repr=False)
    http_web_session_hours: float = Field(12.0, alias="HTTP_WEB_SESSION_HOURS")
    log_level: str = Field("INFO", alias="LOG_LEVEL")
    file_reservation_min_ttl_seconds: int = Field(60, alias="FILE_RESERVATION_MIN_TTL_SECONDS")
    file_reservation_max_ttl_seconds: int = Field(7 * 86400, alias="FILE_RESERVATION_MAX_TTL_SECONDS")
    file_reservation_inactivity_seconds: int = Field(1800, alias="FILE_RESERVATION_INACTIVITY_SECONDS")
    file_reservation_activity_grace_seconds: int = Field(900, alias="FILE_RESERVATION_ACTIVITY_GRACE_SECONDS")
    contact_enforcement_enabled: bool = Field(True, alias="CONTACT_ENFORCEMENT_ENABLED")
    contact_auto_ttl_seconds: int = Field(86400, alias="CONTACT_AUTO_TTL_SECONDS")
    contact_auto_allow_same_project: bool = Field(True, alias="CONTACT_AUTO_ALLOW_SAME_PROJECT")
    agent_identity_mode: str = Field("trusted", alias="AGENT_IDENTITY_MODE")
    agent_capabilities_file: str = Field("", alias="AGENT_CAPABILITIES_FILE")
    llm_enabled: bool = Field(False, alias="LLM_ENABLED")
    llm_base_url: str = Field("https://api.openai.com/v1", alias="LLM_BASE_URL")
    llm_api_key: str = Field("", alias="LLM_API_KEY", repr=False)
    llm_model: str = Field("gpt-4o-mini", alias="LLM_MODEL")
    llm_timeout_seconds: float = Field(30.0, alias="LLM_TIMEOUT_SECONDS")
    llm_max_tokens: int = Field(1024, alias="LLM_MAX_TOKENS")
    llm_temperature: float = Field(0.2, alias="LLM_TEMPERATURE")
    session_binding_ttl_seconds: int = Field(86400, alias="MCP_AGENT_MAIL_SESSION_BINDING_TTL_SECONDS")
    retention_max_age_days: int = Field(180, alias="RETENTION_MAX_AGE_DAYS")
    ack_ttl_seconds: int = Field(1800, alias="ACK_TTL_SECONDS")
    tools_profile: str = Field("full", alias="TOOLS_PROFILE")
    window_id: str = Field("", alias="MCP_AGENT_MAIL_WINDOW_ID")
    window_ttl_days: int = Field(30, alias="MCP_AGENT_MAIL_WINDOW_TTL_DAYS")


@dataclass(frozen=True, slots=True)
class DatabaseSettings:
    """Where the database lives and how connections behave."""

    url: str
    echo: bool = False
    busy_timeout_ms: int = 15000
    pool_size: int = 8


@dataclass(frozen=True, slots=True)
class StorageSettings:
    """The Git archive (a projection of the database for humans)."""

    root: str
    git_author_name: str = "mcp-agent"
    git_author_email: str = "mcp-agent@example.com"
    flush_interval_ms: int = 200
    batch_size: int = 500
    inline_image_max_bytes: int = 65536
    convert_images: bool = True
    keep_original_images: bool = False
    allow_absolute_attachment_paths: bool = False
    attachment_max_bytes: int = 10 * 1024 * 1024
    attachment_roots: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class JwtSettings:
    """Bearer JWTs: HS* verified with a shared secret, RS*/ES*/PS*/EdDSA with keys from a JWKS URL."""

    enabled: bool = False
    algorithms: tuple[str, ...] = ("HS256",)
    secret: str = ""
    jwks_url: str = ""
    audience: str = ""
    issuer: str = ""
    role_claim: str = "role"


@dataclass(frozen=True, slots=True)
class RbacSettings:
    """Roles: readers call read-only tools, writers call every tool."""

    enabled: bool = True
    reader_roles: tuple[str, ...] = ("reader", "read", "ro")
    writer_roles: tuple[str, ...] = ("writer", "write", "tools", "rw")
    default_role: str = "reader"


@dataclass(frozen=True, slots=True)
class RateLimitSettings:
    """Token buckets per caller: one per tool for ``tools/call``, one for every other request."""

    enabled: bool = False
    backend: str = "memory"
    per_minute: int = 600
    tools_per_minute: int = 300
    tools_burst: int = 0
    redis_url: str = ""


@dataclass(frozen=True, slots=True)
class HttpSettings:
    """The Streamable HTTP transport and its protections."""

    host: str = "127.0.0.1"
    port: int = 8765
    path: str = "/mcp/"
    bearer_token: str = ""
    allow_localhost_unauthenticated: bool = False
    allowed_origins: tuple[str, ...] = ()
    cors_enabled: bool = False
    cors_origins: tuple[str, ...] = ()
    jwt: JwtSettings = field(default_factory=JwtSettings)
    rbac: RbacSettings = field(default_factory=RbacSettings)
    rate_limit: RateLimitSettings = field(default_factory=RateLimitSettings)
    web_session_secret: str = field(default="", repr=False)
    web_session_hours: float = 12.0

    # Read-only aliases under the flat names the original server's Settings used (``settings.http.jwt_role_claim``).
    @property
    def jwt_enabled(self) -> bool:
        """Alias of ``jwt.enabled``."""
        return self.jwt.enabled

    @property
    def jwt_algorithms(self) -> tuple[str, ...]:
        """Alias of ``jwt.algorithms``."""
        return self.jwt.algorithms

    @property
    def jwt_secret(self) -> str | None:
        """Alias of ``jwt.secret`` (None when unset)."""
        return self.jwt.secret or None

    @property
    def jwt_jwks_url(self) -> str | None:
        """Alias of ``jwt.jwks_url`` (None when unset)."""
        return self.jwt.jwks_url or None

    @property
    def jwt_audience(self) -> str | None:
        """Alias of ``jwt.audience`` (None when unset)."""
        return self.jwt.audience or None

    @property
    def jwt_issuer(self) -> str | None:
        """Alias of ``jwt.issuer`` (None when unset)."""
        return self.jwt.issuer or None

    @property
    def jwt_role_claim(self) -> str:
        """Alias of ``jwt.role_claim``."""
        return self.jwt.role_claim

    @property
    def rbac_enabled(self) -> bool:
        """Alias of ``rbac.enabled``."""
        return self.rbac.enabled

    @property
    def rbac_reader_roles(self) -> tuple[str, ...]:
        """Alias of ``rbac.reader_roles``."""
        return self.rbac.reader_roles

    @property
    def rbac_writer_roles(self) -> tuple[str, ...]:
        """Alias of ``rbac.writer_roles``."""
        return self.rbac.writer_roles

    @property
    def rbac_default_role(self) -> str:
        """Alias of ``rbac.default_role``."""
        return self.rbac.default_role

    @property
    def rate_limit_enabled(self) -> bool:
        """Alias of ``rate_limit.enabled``."""
        return self.rate_limit.enabled

    @property
    def rate_limit_backend(self) -> str:
        """Alias of ``rate_limit.backend``."""
        return self.rate_limit.backend

    @property
    def rate_limit_per_minute(self) -> int:
        """Alias of ``rate_limit.per_minute``."""
        return self.rate_limit.per_minute

    @property
    def rate_limit_tools_per_minute(self) -> int:
        """Alias of ``rate_limit.tools_per_minute``."""
        return self.rate_limit.tools_per_minute

    @property
    def rate_limit_tools_burst(self) -> int:
        """Alias of ``rate_limit.tools_burst``."""
        return self.rate_limit.tools_burst

    @property
    def rate_limit_redis_url(self) -> str:
        """Alias of ``rate_limit.redis_url``."""
        return self.rate_limit.redis_url


@dataclass(frozen=True, slots=True)
class CorsSettings:
    """The CORS part of the HTTP settings, under the names the original server used (``settings.cors``)."""

    enabled: bool = False
    origins: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LlmSettings:
    """An optional OpenAI-compatible endpoint used to refine summaries."""

    enabled: bool = False
    base_url: str = "https://api.openai.com/v1"
    api_key: str = field(default="", repr=False)
    model: str = "gpt-4o-mini"
    timeout_seconds: float = 30.0
    max_tokens: int = 1024
    temperature: float = 0.2

    @property
    def default_model(self) -> str:
        """Alias of ``model`` (the original server's name)."""
        return self.model


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the server reads from its environment, resolved once."""

    environment: str
    data_dir: Path
    database: DatabaseSettings
    storage: StorageSettings
    http: HttpSettings
    log_level: str = "INFO"
    file_reservation_min_ttl_seconds: int = 60
    file_reservation_max_ttl_seconds: int = 7 * 86400
    file_reservation_inactivity_seconds: int = 1800
    file_reservation_activity_grace_seconds: int = 900
    contact_enforcement_enabled: bool = True
    contact_auto_ttl_seconds: int = 86400
    contact_auto_allow_same_project: bool = True
    agent_identity_mode: str = "trusted"
    agent_capabilities_file: str = ""
    session_binding_ttl_seconds: int = 86400
    retention_max_age_days: int = 180
    ack_ttl_seconds: int = 1800
    tools_profile: str = "full"
    window_id: str = ""
    window_ttl_days: int = 30
    llm: LlmSettings = field(default_factory=LlmSettings)
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def cors(self) -> CorsSettings:
        """The CORS settings (``http.cors_enabled`` and ``http.cors_origins``) as the original's ``settings.cors``."""
        return CorsSettings(enabled=self.http.cors_enabled, origins=self.http.cors_origins)


def _normalise_http_path(path: str) -> str:
    cleaned = "/" + path.strip().strip("/")
    return cleaned if cleaned == "/" else cleaned + "/"


def _csv(value: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in value.split(",") if item.strip())


_SECRET_WORDS = ("TOKEN", "SECRET", "KEY", "PASSWORD", "URL")
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _settings_hint() -> str:
    files = " or ".join(str(path) for path in env_files())
    return f"Fix it in the environment or in {files}; the README's settings table lists every setting."


def _invalid_settings(exc: ValidationError) -> ConfigurationError:
    """Name every setting that cannot be read, with its value unless the name looks secret."""
    parts = []
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else "a setting"
        shown = "" if any(word in name.upper() for word in _SECRET_WORDS) else f"={str(error.get('input'))[:40]!r}"
        parts.append(f"{name.upper()}{shown}: {error['msg'][0].lower()}{error['msg'][1:]}")
    return ConfigurationError(f"A setting cannot be read: {'; '.join(parts)}.", hint=_settings_hint())


def read_environment() -> _EnvSettings:
    """Return every setting's raw value (environment over ``.env`` files) as one flat model, before grouping.

    A value of the wrong kind (``HTTP_PORT=abc``) is CONFIGURATION_ERROR naming the setting.
    """
    try:
        return _EnvSettings(_env_file=env_files(), _env_file_encoding="utf-8")  # type: ignore[call-arg]
    except ValidationError as exc:
        raise _invalid_settings(exc) from exc


def _http_port(value: int) -> int:
    """Return HTTP_PORT, refusing (CONFIGURATION_ERROR) a number that is no TCP port (70000 would bind 4464)."""
    if not 0 <= value <= 65535:
        raise ConfigurationError(
            f"A setting cannot be read: HTTP_PORT={value} is outside 0..65535.",
            hint=f"Pick a free TCP port such as 8765. {_settings_hint()}",
        )
    return value


def _log_level(value: str) -> str:
    """Return LOG_LEVEL in upper case, refusing (CONFIGURATION_ERROR) a level Python's logging does not know."""
    level = value.strip().upper() or "INFO"
    if level not in _LOG_LEVELS:
        raise ConfigurationError(
            f"A setting cannot be read: LOG_LEVEL={value[:40]!r} is not a log level.",
            hint=f"Use one of {', '.join(_LOG_LEVELS)}. {_settings_hint()}",
        )
    return level


def _http_settings(env: _EnvSettings) -> HttpSettings:
    return HttpSettings(
        host=env.http_host.strip() or "127.0.0.1",
        port=_http_port(env.http_port),
        path=_normalise_http_path(env.http_path),
        bearer_token=env.http_bearer_token.strip(),
        allow_localhost_unauthenticated=env.http_allow_localhost_unauthenticated,
        web_session_secret=env.http_web_session_secret.strip(),
        web_session_hours=env.http_web_session_hours if env.http_web_session_hours > 0 else 12.0,
        allowed_origins=tuple(origin.rstrip("/") for origin in _csv(env.http_allowed_origins)),
        cors_enabled=env.http_cors_enabled,
        cors_origins=tuple(origin.rstrip("/") for origin in _csv(env.http_cors_origins)),
        jwt=JwtSettings(
            enabled=env.http_jwt_enabled,
            algorithms=_csv(env.http_jwt_algorithms) or ("HS256",),
            secret=env.http_jwt_secret,
            jwks_url=env.http_jwt_jwks_url.strip(),
            audience=env.http_jwt_audience.strip(),
            issuer=env.http_jwt_issuer.strip(),
            role_claim=env.http_jwt_role_claim.strip() or "role",
        ),
        rbac=RbacSettings(
            enabled=env.http_rbac_enabled,
            reader_roles=tuple(role.lower() for role in _csv(env.http_rbac_reader_roles)),
            writer_roles=tuple(role.lower() for role in _csv(env.http_rbac_writer_roles)),
            default_role=env.http_rbac_default_role.strip().lower(),
        ),
        rate_limit=RateLimitSettings(
            enabled=env.http_rate_limit_enabled,
            backend=env.http_rate_limit_backend.strip().lower() or "memory",
            per_minute=max(0, env.http_rate_limit_per_minute),
            tools_per_minute=max(0, env.http_rate_limit_tools_per_minute),
            tools_burst=max(0, env.http_rate_limit_tools_burst),
            redis_url=(env.http_rate_limit_redis_url or env.redis_url).strip(),
        ),
    )


def _window_id(value: str) -> str:
    """Return the canonical lower-case form of a window UUID; an invalid one is logged and treated as unset."""
    cleaned = value.strip()
    if not cleaned:
        return ""
    try:
        return str(uuid.UUID(cleaned))
    except ValueError:
        logging.getLogger("mcp_agent_mail.config").warning(
            "MCP_AGENT_MAIL_WINDOW_ID %r is not a UUID; window identities are off.", cleaned
        )
        return ""


def _attachment_roots(value: str) -> tuple[str, ...]:
    """Return the absolute directories of ATTACHMENT_ROOTS (``~`` expanded); relative entries are logged and dropped."""
    roots: list[str] = []
    for entry in _csv(value):
        path = Path(entry).expanduser()
        if not path.is_absolute():
            logging.getLogger("mcp_agent_mail.config").warning(
                "ATTACHMENT_ROOTS entry %r is not an absolute path; it is ignored.", entry
            )
            continue
        roots.append(os.path.normpath(path))
    return tuple(roots)


def _build_settings() -> Settings:
    env = read_environment()
    home = data_dir()
    db_url = env.database_url.strip() or f"sqlite+aiosqlite:///{home / 'mailbox.sqlite3'}"
    storage_root = env.storage_root.strip() or str(home / "archive")
    return Settings(
        environment=env.app_environment,
        data_dir=home,
        database=DatabaseSettings(
            url=db_url,
            echo=env.database_echo,
            busy_timeout_ms=max(100, env.database_busy_timeout_ms),
            pool_size=max(1, env.database_pool_size),
        ),
        storage=StorageSettings(
            root=str(Path(storage_root).expanduser().resolve()),
            git_author_name=env.git_author_name,
            git_author_email=env.git_author_email,
            flush_interval_ms=max(0, env.archive_flush_interval_ms),
            batch_size=max(1, env.archive_batch_size),
            inline_image_max_bytes=max(0, env.inline_image_max_bytes),
            convert_images=env.convert_images,
            keep_original_images=env.keep_original_images,
            allow_absolute_attachment_paths=env.allow_absolute_attachment_paths,
            attachment_max_bytes=max(0, env.attachment_max_bytes),
            attachment_roots=_attachment_roots(env.attachment_roots),
        ),
        http=_http_settings(env),
        log_level=_log_level(env.log_level),
        file_reservation_min_ttl_seconds=max(1, env.file_reservation_min_ttl_seconds),
        file_reservation_max_ttl_seconds=max(60, env.file_reservation_max_ttl_seconds),
        file_reservation_inactivity_seconds=max(60, env.file_reservation_inactivity_seconds),
        file_reservation_activity_grace_seconds=max(0, env.file_reservation_activity_grace_seconds),
        contact_enforcement_enabled=env.contact_enforcement_enabled,
        contact_auto_ttl_seconds=max(0, env.contact_auto_ttl_seconds),
        contact_auto_allow_same_project=env.contact_auto_allow_same_project,
        agent_identity_mode=env.agent_identity_mode.strip().lower() or "trusted",
        agent_capabilities_file=str(
            Path(env.agent_capabilities_file.strip() or home / "agent_capabilities.json").expanduser()
        ),
        llm=LlmSettings(
            enabled=env.llm_enabled,
            base_url=env.llm_base_url.strip(),
            api_key=env.llm_api_key.strip(),
            model=env.llm_model.strip() or "gpt-4o-mini",
            timeout_seconds=min(300.0, max(0.1, env.llm_timeout_seconds)),
            max_tokens=max(16, env.llm_max_tokens),
            temperature=min(2.0, max(0.0, env.llm_temperature)),
        ),
        session_binding_ttl_seconds=max(60, env.session_binding_ttl_seconds),
        retention_max_age_days=max(1, env.retention_max_age_days),
        ack_ttl_seconds=min(365 * 86400, max(1, env.ack_ttl_seconds)),
        tools_profile=env.tools_profile.strip() or "full",
        window_id=_window_id(env.window_id),
        window_ttl_days=max(1, env.window_ttl_days),
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings, reading the environment on first use."""
    return _build_settings()


def clear_settings_cache() -> None:
    """Forget cached settings so the next :func:`get_settings` re-reads the environment."""
    get_settings.cache_clear()


__all__ = [
    "CorsSettings",
    "DatabaseSettings",
    "HttpSettings",
    "JwtSettings",
    "LlmSettings",
    "RateLimitSettings",
    "RbacSettings",
    "Settings",
    "StorageSettings",
    "clear_settings_cache",
    "data_dir",
    "env_files",
    "get_settings",
    "read_environment",
]
