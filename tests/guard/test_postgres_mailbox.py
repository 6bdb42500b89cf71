"""The guard on a PostgreSQL mailbox: read-only with timeouts, clear refusals, and no password in a hook."""

from __future__ import annotations

import stat
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from guard_kit import closed_port, guard_mailbox, hook_mailbox, unreachable

from mcp_agent_mail.guard.check import MailboxUnreadable, find_conflicts, reading
from mcp_agent_mail.guard.hook import run_check
from mcp_agent_mail.guard.mailbox import PostgresMailbox, parse_postgres_url
from mcp_agent_mail.guard.postgres_reader import CONNECT_TIMEOUT_SECONDS, connect_arguments
from mcp_agent_mail.services.reservations.guard import PASSFILE_NAME, postgres_target
from mcp_agent_mail.services.reservations.guard_install import (
    PasswordEntry,
    PostgresTarget,
    guard_status,
    install_guard,
    read_plugin,
    save_password,
)

# --- URLs and password files: no database needed, so these run on both backends ---------------------------------


def test_a_postgresql_url_is_read_as_libpq_will_use_it_and_shown_without_its_password():
    mailbox = parse_postgres_url("postgresql+psycopg://al%40ice:p%3As%2Fw@db.example:6432/mail%20box?sslmode=require")
    assert (mailbox.host, mailbox.port, mailbox.dbname, mailbox.user) == ("db.example", 6432, "mail box", "al@ice")
    assert mailbox.password == "p:s/w" and mailbox.options == (("sslmode", "require"),)
    assert str(mailbox) == "postgresql://al@ice@db.example:6432/mail box"
    assert "p:s/w" not in repr(mailbox) and "p:s/w" not in str(mailbox)
    assert connect_arguments(mailbox) == {
        "sslmode": "require",
        "host": "db.example",
        "port": 6432,
        "dbname": "mail box",
        "user": "al@ice",
        "password": "p:s/w",
        "application_name": "mcp-agent-mail guard",
        "connect_timeout": CONNECT_TIMEOUT_SECONDS,
    }
    socket_dir = parse_postgres_url("postgres://bob@/mail?host=/run/postgresql&password=pw&sslpassword=x")
    assert (socket_dir.host, socket_dir.port, socket_dir.password, socket_dir.options) == (
        "/run/postgresql",
        None,
        "pw",
        (),
    )
    stored = parse_postgres_url("postgresql://bob@h/mail", passfile="/home/bob/.mcp_agent_mail/guard.pgpass")
    assert connect_arguments(stored)["passfile"] == "/home/bob/.mcp_agent_mail/guard.pgpass"
    assert "password" not in connect_arguments(stored)
    with pytest.raises(ValueError, match="does not name a PostgreSQL") as refused:
        parse_postgres_url("mysql://bob:hunter2@h/mail")
    assert "hunter2" not in str(refused.value)


def test_install_keeps_the_password_out_of_the_url_and_in_an_escaped_password_file_line(tmp_path):
    target = postgres_target("postgresql+psycopg://bob:se%3Acr%5Cet@db.example:6432/mail?sslmode=require", tmp_path)
    assert target.url == "postgresql://bob@db.example:6432/mail?sslmode=require"
    assert target.entry is not None and target.entry.line() == "db.example:6432:mail:bob:se\\:cr\\\\et"
    assert "se:cr" not in repr(target)
    in_query = postgres_target("postgresql://bob@/mail?password=pw&host=/run/postgresql", tmp_path / "f")
    assert "pw" not in in_query.url.replace("postgresql", "") and in_query.entry is not None
    assert in_query.entry.line() == "localhost:*:mail:bob:pw"
    assert postgres_target("postgresql://bob@h/mail", tmp_path) == PostgresTarget("postgresql://bob@h/mail")


def test_the_password_file_is_private_and_keeps_one_line_per_login(tmp_path):
    passfile = tmp_path / "home" / PASSFILE_NAME
    save_password(passfile, PasswordEntry("h", "5432", "mail", "bob", "one"))
    save_password(passfile, PasswordEntry("h", "5432", "other", "bob", "two"))
    save_password(passfile, PasswordEntry("h", "5432", "mail", "bob", "three"))
    assert passfile.read_text() == "h:5432:other:bob:two\nh:5432:mail:bob:three\n"
    assert stat.S_IMODE(passfile.stat().st_mode) == 0o600
    assert [p.name for p in passfile.parent.iterdir()] == [PASSFILE_NAME]


def test_a_hook_never_holds_a_password(repo, tmp_path):
    passfile = tmp_path / "home" / PASSFILE_NAME
    target = postgres_target("postgresql+psycopg://bob:hunter2-secret@db.example:6432/mail", passfile)
    hook = install_guard(repo, mailbox=target, project_slug="code", prepush=True)
    hooks = hook.parent
    for path in hooks.rglob("*"):
        if path.is_file():
            assert b"hunter2-secret" not in path.read_bytes(), path
    plugin = hooks / "hooks.d" / "pre-commit" / "50-agent-mail.py"
    assert read_plugin(plugin) == {
        "database_url": "postgresql://bob@db.example:6432/mail",
        "passfile": str(passfile),
        "project_slug": "code",
    }
    assert passfile.read_text() == "db.example:6432:mail:bob:hunter2-secret\n"
    assert stat.S_IMODE(passfile.stat().st_mode) == 0o600
    assert guard_status(repo)["hooks"]["pre-push"]["passfile_exists"] is True
    leaky = replace(target, url="postgresql://bob:hunter2-secret@db.example:6432/mail")
    with pytest.raises(Exception, match="never hold a password"):
        install_guard(repo, mailbox=leaky, project_slug="code")
    assert b"hunter2-secret" not in plugin.read_bytes()


# --- A real PostgreSQL mailbox -------------------------------------------------------------------------------------


@pytest.fixture
def pg_mailbox(postgresql_only: None, project: dict[str, Any]) -> PostgresMailbox:
    """The test's PostgreSQL mailbox, with the project of ``repo`` in it."""
    mailbox = guard_mailbox()
    assert isinstance(mailbox, PostgresMailbox)
    return mailbox


def test_the_guard_reads_in_a_read_only_transaction_with_a_statement_timeout(pg_mailbox):
    with reading(pg_mailbox) as reader:
        conn = reader.connection
        assert conn.execute("SHOW transaction_read_only").fetchone() == ("on",)
        assert conn.execute("SHOW statement_timeout").fetchone() == ("5s",)
        assert conn.execute("SELECT current_setting('application_name')").fetchone() == ("mcp-agent-mail guard",)
    with pytest.raises(MailboxUnreadable, match="read-only transaction"), reading(pg_mailbox) as reader:
        reader.connection.execute("UPDATE projects SET slug = slug")


def test_an_unreachable_database_is_named_without_its_password(pg_mailbox, project, repo, capsys):
    gone = replace(unreachable(pg_mailbox), password="hunter2-secret")
    with pytest.raises(MailboxUnreadable) as caught:
        find_conflicts(gone, project["slug"], ["src/app.py"], agent_name=None)
    assert caught.value.path == gone
    assert caught.value.why.startswith(
        f"PostgreSQL at 127.0.0.1:{gone.port} (database {gone.dbname}, user {gone.user}) cannot be reached: "
    )
    assert "Connection refused" in caught.value.why and "hunter2-secret" not in str(caught.value)
    assert run_check(["src/app.py"], repo=repo, agent_name=None, advisory=False, database_path=gone) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"[guard check] mcp-agent-mail guard cannot read the mailbox at {gone}: PostgreSQL at ")
    assert "hunter2-secret" not in err and "Traceback" not in err
    assert run_check(["src/app.py"], repo=repo, agent_name=None, advisory=True, database_path=gone) == 0


def test_a_refused_login_says_where_the_password_comes_from(pg_mailbox, project):
    stranger = replace(pg_mailbox, user="nobody_here", password=None, passfile="/home/x/.mcp_agent_mail/guard.pgpass")
    with pytest.raises(MailboxUnreadable) as caught:
        find_conflicts(stranger, project["slug"], ["a"], agent_name=None)
    why = caught.value.why
    assert why.startswith(
        f"PostgreSQL at {pg_mailbox.address} (database {pg_mailbox.dbname}, user nobody_here) refused the login: "
    )
    assert "PGPASSWORD" in why and "/home/x/.mcp_agent_mail/guard.pgpass" in why and "install the guard again" in why
    without = replace(stranger, passfile=None)
    with pytest.raises(MailboxUnreadable, match=r"PGPASSWORD or ~/\.pgpass"):
        find_conflicts(without, project["slug"], ["a"], agent_name=None)


def test_a_missing_or_empty_database_is_not_a_mailbox(pg_mailbox, project, pg_cluster):
    with pytest.raises(MailboxUnreadable, match='refused the connection: database "no_such_db" does not exist'):
        find_conflicts(replace(pg_mailbox, dbname="no_such_db"), project["slug"], ["a"], agent_name=None)
    empty = pg_cluster.create_database()
    try:
        with pytest.raises(MailboxUnreadable, match=r"it is not a mailbox database \(relation \"projects\""):
            find_conflicts(replace(pg_mailbox, dbname=empty), project["slug"], ["a"], agent_name=None)
    finally:
        pg_cluster.drop_database(empty)


def test_guard_check_reads_the_configured_postgresql_mailbox(pg_mailbox, repo, project, capsys):
    assert run_check(["src/app.py"], repo=repo, agent_name=None, advisory=False) == 0
    assert capsys.readouterr().err == ""
    port = closed_port()
    assert (
        run_check(["a"], repo=repo, agent_name=None, advisory=False, database_path=replace(pg_mailbox, port=port)) == 1
    )
    assert f"127.0.0.1:{port}" in capsys.readouterr().err


def test_the_installed_hook_reads_the_password_file_install_wrote(pg_mailbox, repo, project):
    target = hook_mailbox()
    assert isinstance(target, PostgresTarget) and target.passfile is not None
    assert target.passfile == Path(target.passfile).parent / PASSFILE_NAME
    install_guard(repo, mailbox=target, project_slug=project["slug"])
    plugin = read_plugin(repo / ".git" / "hooks" / "hooks.d" / "pre-commit" / "50-agent-mail.py")
    assert plugin["database_url"] == target.url and plugin["passfile"] == str(target.passfile)
    assert pg_mailbox.password and urlsplit(target.url).password is None and "password" not in target.url
    assert stat.S_IMODE(target.passfile.stat().st_mode) == 0o600
    with reading(parse_postgres_url(target.url, passfile=plugin["passfile"])) as reader:
        assert reader.has_project(project["slug"])
