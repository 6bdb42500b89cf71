"""Server commands: ``serve`` (Streamable HTTP), ``stdio``, ``migrate`` and ``version``."""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mcp_agent_mail.cli import handle_errors
from mcp_agent_mail.errors import ConfigurationError, InvalidArgumentError, UnavailableError

if TYPE_CHECKING:
    from fastmcp import FastMCP

    from mcp_agent_mail.config import Settings

# Settings, the database layer and the MCP server load inside the commands that need them, so that
# `version` answers at once and `stdio` spends its first second on nothing it can do without.

_LOOPBACK = ("127.0.0.1", "localhost", "::1")
WORKER_APP_FACTORY = "mcp_agent_mail.http:app_from_environment"
"""What each ``serve --workers N`` process imports (uvicorn's ``module:attribute``) and calls to build its app."""
GRACEFUL_SHUTDOWN_S = 10
"""How long a stopping server lets requests in flight finish."""


def _normalise_path(path: str) -> str:
    cleaned = "/" + path.strip().strip("/")
    return cleaned if cleaned == "/" else cleaned + "/"


def _apply_http_options(host: str | None, port: int | None, path: str | None) -> Settings:
    """Apply the HTTP options given on the command line to this process's settings and return them."""
    from mcp_agent_mail.config import clear_settings_cache, get_settings
    from mcp_agent_mail.text_guard import check_text

    check_text(host, "--host")
    check_text(path, "--path")
    if port is not None and not 0 <= port <= 65535:
        raise InvalidArgumentError(f"--port {port} is outside 0..65535.", hint="Pick a free TCP port such as 8765.")
    if path is not None and _normalise_path(path) == "/":
        raise InvalidArgumentError("--path must not be '/'.", hint="Use a prefix such as /mcp/.")
    overrides = {"HTTP_HOST": host, "HTTP_PORT": None if port is None else str(port), "HTTP_PATH": path}
    for name, value in overrides.items():
        if value is not None:
            os.environ[name] = value
    clear_settings_cache()
    return get_settings()


ToolsOption = Annotated[
    str | None,
    typer.Option(
        "--tools",
        help="Tools to expose: core, full (default) or comma-separated tool names, e.g. core,whois "
        "(overrides TOOLS_PROFILE).",
    ),
]


def _tools_setting(tools: str | None) -> Settings:
    """Apply ``--tools`` to this process's settings (TOOLS_PROFILE) and return them."""
    from mcp_agent_mail.config import clear_settings_cache, get_settings
    from mcp_agent_mail.text_guard import check_text

    check_text(tools, "--tools")
    if tools is not None:
        os.environ["TOOLS_PROFILE"] = tools
        clear_settings_cache()
    return get_settings()


def _apply_tools_option(tools: str | None) -> Settings:
    """Apply ``--tools`` to this process's settings and check every name before anything starts."""
    from mcp_agent_mail.app import build_mcp_server

    settings = _tools_setting(tools)
    build_mcp_server(settings.tools_profile, mailbox=False)
    return settings


def _bind_error(host: str, port: int, exc: OSError) -> ConfigurationError | UnavailableError:
    """Return the coded error for a failure to listen on ``host:port``."""
    where = f"port {port} on {host}"
    if exc.errno == errno.EADDRINUSE:
        return UnavailableError(
            f"{where} is in use.",
            hint=f"Stop whatever listens there (another mcp-agent-mail serve?), or pick another port: --port {port + 1}"
            if port < 65535
            else "Stop whatever listens there, or pick another port with --port.",
        )
    if exc.errno in (errno.EACCES, errno.EPERM):
        return UnavailableError(
            f"Not permitted to listen on {where}.",
            hint="Ports below 1024 need privileges; use --port 8765 or another port above 1023.",
        )
    reason = exc.strerror or type(exc).__name__
    return ConfigurationError(
        f"Cannot listen on {where}: {reason}.",
        hint="Pass --host with an address of this machine, e.g. --host 127.0.0.1.",
    )


def _check_port_free(host: str, port: int) -> None:
    """Bind every address ``host`` resolves to, as the server will, and release it; raise a coded error if any fails.

    Failing here, before the database and the app start, turns uvicorn's raw ``[Errno 98]`` log line into one
    coded line and exit status 1.
    """
    try:
        addresses = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        raise ConfigurationError(
            f"Cannot listen on {host!r}: it is not a host name or address this machine can resolve.",
            hint="Pass --host with an address of this machine, e.g. --host 127.0.0.1.",
        ) from exc
    for family, kind, proto, _name, address in dict.fromkeys(addresses):
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind(address)
            except OSError as exc:
                raise _bind_error(host, port, exc) from exc


def _hold_mailbox(settings: Settings, transport: str) -> contextlib.AbstractContextManager[Any]:
    """Register this process as one of the (possibly many) servers of the mailbox while it runs."""
    from mcp_agent_mail.services.recovery.server_registry import hold_server_registration

    return hold_server_registration(settings, transport)


def _banner(settings: Settings, transport: str) -> str:
    from mcp_agent_mail import __version__
    from mcp_agent_mail.services.database import printable_url

    return (
        f"mcp-agent-mail {__version__}: {transport} | database {printable_url(settings.database.url)}"
        f" | archive {settings.storage.root}"
    )


def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind (default HTTP_HOST, 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port (default HTTP_PORT, 8765).")] = None,
    path: Annotated[str | None, typer.Option(help="MCP endpoint path (default HTTP_PATH, /mcp/).")] = None,
    tools: ToolsOption = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=32,
            help="Worker processes sharing the mailbox; new connections are spread evenly over them.",
        ),
    ] = 1,
) -> None:
    """Serve MCP over Streamable HTTP (plus /health/liveness and /health/readiness) until SIGINT/SIGTERM."""
    import uvicorn

    from mcp_agent_mail.http.app import build_http_app, freeze_startup_heap
    from mcp_agent_mail.logging_setup import configure_logging
    from mcp_agent_mail.services.database import prepare_database
    from mcp_agent_mail.services.storage_root import check_storage_root

    _apply_http_options(host, port, path)
    settings = _apply_tools_option(tools)
    configure_logging(settings.log_level)
    _check_port_free(settings.http.host, settings.http.port)
    check_storage_root(settings)
    prepare_database(settings)
    app = build_http_app(settings)
    url = f"http://{settings.http.host}:{settings.http.port}{settings.http.path}"
    typer.echo(_banner(settings, f"MCP over HTTP at {url}"), err=True)
    typer.echo(
        f"Connect a client: claude mcp add --transport http mcp-agent-mail {url} "
        f'(other clients: {{"type": "http", "url": "{url}"}} in their MCP config). Ctrl-C stops the server.',
        err=True,
    )
    if settings.http.host not in _LOOPBACK and not (settings.http.bearer_token or settings.http.jwt.enabled):
        typer.secho(
            f"warning: listening on {settings.http.host} without authentication; anyone who can reach this port "
            "can act as any agent.",
            fg=typer.colors.YELLOW,
            err=True,
        )
    options: dict[str, Any] = {
        "host": settings.http.host,
        "port": settings.http.port,
        "log_config": None,
        "log_level": settings.log_level.lower(),
        "lifespan": "on",
        "ws": "none",
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_S,
        # Clients are judged by the connection itself; forwarding headers only ever count against them.
        "proxy_headers": False,
    }
    freeze_startup_heap()
    with _hold_mailbox(settings, "http"):
        if workers == 1:
            uvicorn.run(app, **options)
            return
        # Several workers each build the app from the environment the options above were written to.
        from mcp_agent_mail.cli import serve_workers

        if not serve_workers.balanced_workers_supported():
            uvicorn.run(WORKER_APP_FACTORY, factory=True, workers=workers, **options)
            return
        try:
            held = serve_workers.reuse_port_sockets(settings.http.host, settings.http.port, listen=False)
        except OSError as exc:
            raise _bind_error(settings.http.host, settings.http.port, exc) from exc
        worker_options = serve_workers.WorkerOptions(
            settings.http.host, settings.http.port, {"app": WORKER_APP_FACTORY, "factory": True, **options}
        )
        status = serve_workers.run_workers(workers, worker_options, GRACEFUL_SHUTDOWN_S, held)
    if status:
        raise typer.Exit(status)


def stdio(tools: ToolsOption = None) -> None:
    """Serve MCP over stdin/stdout for one client; logs go to stderr only."""
    from mcp_agent_mail.cli import stdio_relay

    # Answers the client's `initialize` while the rest loads (see stdio_relay); None when stdio is not a pipe.
    relay = stdio_relay.start(tools)
    try:
        settings = _tools_setting(tools)
        # Built once, before the database is touched: an unknown --tools name fails here with nothing changed.
        server = _stdio_server(settings)
        from mcp_agent_mail.logging_setup import configure_logging
        from mcp_agent_mail.services.database import prepare_database
        from mcp_agent_mail.services.storage_root import check_storage_root

        configure_logging(settings.log_level, stream=sys.stderr)
        check_storage_root(settings)
        prepare_database(settings)
        print(_banner(settings, "MCP over stdio"), file=sys.stderr, flush=True)
        with _hold_mailbox(settings, "stdio"):
            server.run(transport="stdio", show_banner=False)
    finally:
        if relay is not None:
            relay.finish()


def _stdio_server(settings: Settings) -> FastMCP:
    """Return the server ``stdio`` runs, with the tools of ``settings.tools_profile``."""
    from mcp_agent_mail.app import build_mcp_server

    return build_mcp_server(settings.tools_profile)


def migrate() -> None:
    """Create or upgrade the database schema and print its version."""
    from mcp_agent_mail.config import get_settings
    from mcp_agent_mail.services.database import prepare_database, printable_url

    settings = get_settings()
    version = prepare_database(settings)
    typer.echo(f"Schema version {version} ({printable_url(settings.database.url)})")


def version() -> None:
    """Print the installed version."""
    from mcp_agent_mail import __version__

    typer.echo(f"mcp-agent-mail {__version__}")


def attach(app: typer.Typer) -> None:
    """Register the server commands on ``app``."""
    app.command("serve")(handle_errors(serve))
    app.command("stdio")(handle_errors(stdio))
    app.command("serve-http", hidden=True)(handle_errors(serve))
    app.command("serve-stdio", hidden=True)(handle_errors(stdio))
    app.command("migrate")(handle_errors(migrate))
    app.command("version")(version)
