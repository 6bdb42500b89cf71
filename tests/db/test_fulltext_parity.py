"""SQLite's FTS5 and PostgreSQL's tsvector search find the same messages for every query form and scope.

The same mailbox is written into a SQLite file and into a PostgreSQL database through the services,
then every query of the table is asked of both (the search tool, in the project's and in two agents'
scopes, and the web search page). In a PostgreSQL run the session's cluster provides the database;
in a SQLite run this module starts a private cluster when the PostgreSQL server binaries are installed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import delete
from typer.testing import CliRunner

from mcp_agent_mail.archive import clear_repo_cache
from mcp_agent_mail.cli import app as cli_app
from mcp_agent_mail.config import clear_settings_cache
from mcp_agent_mail.db import fulltext, reset_database_state, schema, sync_read_connection, sync_write_connection
from mcp_agent_mail.db.migrations import LATEST_VERSION, current_version
from mcp_agent_mail.services.identity.agents import register_agent
from mcp_agent_mail.services.identity.projects import ensure_project
from mcp_agent_mail.services.mail.messages import send_message
from mcp_agent_mail.services.mail.search import search_messages
from mcp_agent_mail.services.mail.search_page import search_page
from pg_cluster import PgCluster, find_pg_bindir, on_postgresql

PROJECT = "/work/parity"
OTHER = "/work/parity-other"
AGENTS = ("BlueLake", "RedFox", "GreenCastle")
SCOPES = (None, "GreenCastle", "RedFox")

# (sender, to, bcc, subject, body)
MAILS: list[tuple[str, list[str], list[str], str, str]] = [
    ("BlueLake", ["RedFox"], [], "[DR-TEST] Initial planning", "Starting the disaster recovery test."),
    ("BlueLake", ["RedFox"], [], "Ticket POL-358 migration", "The item database migration is blocked."),
    ("BlueLake", ["GreenCastle"], [], "Lunch", "Pizza or pasta? the quick brown fox"),
    ("BlueLake", ["RedFox"], ["GreenCastle"], "Secret plan", "Only for the hidden reader: payroll numbers."),
    ("BlueLake", ["GreenCastle"], [], "Refactor parser", "parsing tokens; refactoring the lexer"),
    ("BlueLake", ["RedFox"], [], "Café menu", "Crème brûlée at the café, a naïve résumé"),
    (
        "BlueLake",
        ["GreenCastle"],
        [],
        "Paths and links",
        "See src/app.py and https://example.org/docs/guide.html or write to ops@example.org; version 1.2.3",
    ),
    ("RedFox", ["GreenCastle"], [], "Hyphen words", "A well-known state-of-the-art build; e-mail me"),
    ("GreenCastle", ["RedFox"], [], "Unicode", "Grüße aus München — 東京 and ΑΘΗΝΑ"),
    ("GreenCastle", ["BlueLake"], [], "under_score names", "call snake_case_function now"),
    ("RedFox", ["BlueLake"], [], "Deploy plan", "We deploy the gateway on Friday; the deploy plan is ready"),
    ("RedFox", ["BlueLake"], [], "Near test", "alpha one two three four five six seven eight nine ten eleven beta"),
    ("BlueLake", ["RedFox"], [], "Subject plan", "nothing in the body"),
]

QUERIES = [
    # words
    "pizza", "PIZZA", "deploy", "the", "plan",
    # phrases
    '"quick brown fox"', '"brown quick"', '"disaster recovery"', '"deploy plan"', '"planning starting"',
    # prefixes
    "refactor*", "pars*", "dep*", '"quick br"*', "pl*",
    # AND / OR / NOT and groups
    "pizza OR payroll", "migration NOT blocked", "(pizza OR parser) AND lexer", "deploy AND friday",
    "plan NOT secret", "pizza OR payroll NOT hidden", "plan OR pizza NOT pasta", "(plan OR deploy) NOT gateway",
    "plan NOT (secret OR deploy)", "deploy friday gateway", "migration OR database",
    # ids and hyphenated words
    "POL-358", "pol-358", "DR-TEST", "358", "well-known", "state-of-the-art", "e-mail", "known",
    # column filters
    "subject:pizza", "body:pizza", "subject:plan", "body:plan*", "subject:deploy", "body:deploy", "subject:pl*",
    # broken syntax
    '"unterminated', '"disaster recovery', "AND", "*", "***", "NOT x", "NOT pizza", "item AND (", "pizza)",
    "a OR", "()", ")(", "x OR OR y", "(a) b", "NEAR(", 'body:"', "plan AND (deploy",
    # NEAR
    "NEAR(alpha beta, 12)", "NEAR(alpha beta, 5)", "NEAR(pizza pasta, 2)", "NEAR(beta alpha)", "NEAR(pizza fox, 1)",
    # unicode, accents and case
    "café", "cafe", "CRÈME", "creme brulee", "naive", "grüße", "münchen", "MÜNCHEN", "東京", "αθηνα", "🍕 pizza",
    # paths, addresses, numbers, underscores
    "app", "src/app.py", "app.py", "example", "ops@example.org", "1.2.3", "guide", "snake_case_function", "case",
    "under_score", "100% pizza", "C++ pizza?", "pasta?",
    # nothing to search or hostile
    "   ", "...", "'; DROP TABLE messages; --", "pizza\x00",
]  # fmt: skip


@dataclass
class Answers:
    """What one backend answered: subjects per (query, scope), search page subjects and notices, failed queries."""

    tool: dict[tuple[str, str | None], set[str]] = field(default_factory=dict)
    page: dict[str, tuple[set[str], bool]] = field(default_factory=dict)
    best: dict[str, str | None] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    indexed: int = 0


class _Failures(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


async def _seed() -> None:
    for key in (PROJECT, OTHER):
        await ensure_project(key)
        for name in AGENTS:
            await register_agent(key, "pytest", "test-model", name=name)
    for sender, to, bcc, subject, body in MAILS:
        await send_message(PROJECT, sender, to, subject, body, bcc=bcc)
    await send_message(OTHER, "BlueLake", ["RedFox"], "[DR-TEST] other project", "payroll and pizza elsewhere")


async def _ask() -> Answers:
    answers = Answers()
    for query in QUERIES:
        for agent in SCOPES:
            hits = await search_messages(PROJECT, query, limit=100, agent_name=agent)
            answers.tool[(query, agent)] = {hit["subject"] for hit in hits}
            if agent is None:
                answers.best[query] = hits[0]["subject"] if hits else None
        page = await search_page(PROJECT, query, page_size=100)
        answers.page[query] = ({hit["subject"] for hit in page.hits}, page.notice is not None)
    return answers


def _answers_of(database_url: str, home: Path, monkeypatch: pytest.MonkeyPatch) -> Answers:
    """Write the mailbox into ``database_url`` and ask it every query."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("STORAGE_ROOT", str(home / "storage"))
    monkeypatch.setenv("MCP_AGENT_MAIL_HOME", str(home / "home"))
    monkeypatch.setenv("APP_ENVIRONMENT", "test")
    for reset in (clear_repo_cache, reset_database_state, clear_settings_cache):
        reset()
    failures = _Failures()
    logger = logging.getLogger("mcp_agent_mail.search")
    logger.addHandler(failures)
    previous = logger.level
    logger.setLevel(logging.INFO)
    try:
        asyncio.run(_seed())
        answers = asyncio.run(_ask())
        with sync_read_connection() as conn:
            answers.indexed = fulltext.indexed_count(conn)
    finally:
        logger.removeHandler(failures)
        logger.setLevel(previous)
        for reset in (clear_repo_cache, reset_database_state, clear_settings_cache):
            reset()
    answers.failures = failures.messages
    return answers


@pytest.fixture(scope="module")
def new_postgresql_database(request: pytest.FixtureRequest) -> Iterator[Callable[[], str]]:
    """Make fresh PostgreSQL databases: in the run's cluster, or in a private one started for this module."""
    if on_postgresql():
        cluster: PgCluster = request.getfixturevalue("pg_cluster")
        made: list[str] = []

        def make() -> str:
            made.append(cluster.create_database())
            return cluster.url(made[-1])

        try:
            yield make
        finally:
            for name in made:
                cluster.drop_database(name)
        return
    bindir = find_pg_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries are not installed (Debian: apt-get install postgresql)")
    pytest.importorskip("psycopg", reason="PostgreSQL needs psycopg: pip install 'psycopg[binary]>=3.2'")
    own = PgCluster(bindir)
    try:
        own.start()
    except (RuntimeError, OSError) as exc:
        own.stop()
        pytest.skip(f"could not start a private PostgreSQL cluster: {exc}")
    try:
        yield lambda: own.url(own.create_database())
    finally:
        own.stop()


@pytest.fixture(scope="module")
def answers(new_postgresql_database: Callable[[], str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Answers]:
    """Both backends' answers to every query."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        sqlite_home = tmp_path_factory.mktemp("parity-sqlite")
        return {
            "sqlite": _answers_of(f"sqlite+aiosqlite:///{sqlite_home / 'mail.sqlite3'}", sqlite_home, monkeypatch),
            "postgresql": _answers_of(new_postgresql_database(), tmp_path_factory.mktemp("parity-pg"), monkeypatch),
        }


@pytest.mark.parametrize("query", QUERIES)
def test_both_engines_find_the_same_messages(answers: dict[str, Answers], query: str) -> None:
    sqlite, postgresql = answers["sqlite"], answers["postgresql"]
    for agent in SCOPES:
        assert postgresql.tool[(query, agent)] == sqlite.tool[(query, agent)], (query, agent)
    assert postgresql.page[query] == sqlite.page[query], query


def test_queries_are_answered_as_written_without_engine_errors(answers: dict[str, Answers]) -> None:
    assert answers["postgresql"].failures == []
    assert answers["sqlite"].failures == []


def test_both_indexes_hold_every_message(answers: dict[str, Answers]) -> None:
    assert answers["sqlite"].indexed == answers["postgresql"].indexed == len(MAILS) + 1


RANKED = ["plan", "deploy", "migration OR database", "pl*", "pizza OR payroll NOT hidden"]


@pytest.mark.parametrize("query", RANKED)
def test_both_engines_rank_subject_matches_first(answers: dict[str, Answers], query: str) -> None:
    assert answers["postgresql"].best[query] == answers["sqlite"].best[query], query


def test_the_table_exercises_matches_and_misses(answers: dict[str, Answers]) -> None:
    tool = answers["sqlite"].tool
    assert tool[("POL-358", None)] == {"Ticket POL-358 migration"}
    assert tool[('"brown quick"', None)] == set()
    assert tool[("NEAR(alpha beta, 12)", None)] == {"Near test"} and tool[("NEAR(alpha beta, 5)", None)] == set()
    assert tool[("cafe", None)] == {"Café menu"} and tool[("app", None)] == {"Paths and links"}
    assert tool[("pizza OR payroll", "GreenCastle")] == {"Lunch", "Secret plan"}
    assert tool[("pizza OR payroll", "RedFox")] == {"Secret plan"}


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_migration_7_indexes_mail_written_before_it(
    backend: str, new_postgresql_database: Callable[[], str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = new_postgresql_database() if backend == "postgresql" else f"sqlite+aiosqlite:///{tmp_path / 'mail.sqlite3'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("STORAGE_ROOT", str(tmp_path / "storage"))
    monkeypatch.setenv("MCP_AGENT_MAIL_HOME", str(tmp_path / "home"))
    clear_settings_cache()
    reset_database_state()
    asyncio.run(_seed())
    if backend == "postgresql":  # take the database back to version 6: mail and no search index
        with sync_write_connection() as conn:
            fulltext.drop(conn)
            conn.execute(delete(schema.schema_version).where(schema.schema_version.c.version >= 7))
    reset_database_state()
    result = CliRunner().invoke(cli_app, ["migrate"])
    assert result.exit_code == 0, result.output
    assert f"Schema version {LATEST_VERSION}" in result.output
    with sync_read_connection() as conn:
        assert current_version(conn) == LATEST_VERSION
        assert fulltext.indexed_count(conn) == len(MAILS) + 1
    hits = asyncio.run(search_messages(PROJECT, '"src/app.py" OR POL-358', agent_name="GreenCastle"))
    assert [hit["subject"] for hit in hits] == ["Paths and links"]
    (lunch,) = asyncio.run(search_messages(PROJECT, "pasta"))
    assert lunch["snippet"] == "Pizza or \u27e6pasta\u27e7? the quick brown fox"
    assert CliRunner().invoke(cli_app, ["migrate"]).exit_code == 0  # nothing left to apply
