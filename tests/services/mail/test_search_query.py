"""Turning free text into safe full-text expressions: FTS5 for SQLite, tsquery text for PostgreSQL."""

from __future__ import annotations

import sqlite3

import pytest

from mcp_agent_mail.db.fulltext import fts5, pg
from mcp_agent_mail.db.fulltext.fold import lexemes
from mcp_agent_mail.db.fulltext.grammar import parse, plain, words


def fts_query(query: str) -> str | None:
    """The FTS5 expression of a query, or None when it cannot be used as written."""
    parts = parse(query)
    return None if parts is None else fts5.render(parts)


def tsquery(query: str) -> str | None:
    """The PostgreSQL tsquery text of a query, or None when it cannot be used as written."""
    parts = parse(query)
    return None if parts is None else pg.render(parts)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("DR-TEST", '"DR-TEST"'),
        ("plan DR-TEST", '"plan" "DR-TEST"'),
        ('"exact phrase" next', '"exact phrase" "next"'),
        ("pars*", '"pars"*'),
        ("*lead", '"lead"'),
        ("a OR b", '"a" OR "b"'),
        ("(a OR b) AND c", '( "a" OR "b" ) AND "c"'),
        ("subject:deploy", 'subject:"deploy"'),
        ("body:deploy", 'body_md:"deploy"'),
        ("NEAR(a b, 3)", 'NEAR("a" "b", 3)'),
        ("it's", '"it\'s"'),
    ],
)
def test_fts_query_quotes_terms_and_keeps_operators(query, expected):
    assert fts_query(query) == expected


@pytest.mark.parametrize(
    "query", ["", "   ", "*", '"unbalanced', "item AND (", "AND", "NOT x", "a OR", "(a) b", "a (b)", "()", ")("]
)
def test_fts_query_refuses_broken_structure(query):
    assert fts_query(query) is None


@pytest.mark.parametrize("query", ["DR-TEST", '"x y"*', "a OR (b AND c)", "x NOT y", "NEAR(a b)", "'; DROP --"])
def test_built_queries_are_valid_fts5(query):
    con = sqlite3.connect(":memory:")
    con.execute("CREATE VIRTUAL TABLE t USING fts5(subject, body_md)")
    built = fts_query(query)
    assert built is not None
    con.execute("SELECT * FROM t WHERE t MATCH ?", (built,)).fetchall()


def test_words_drop_operators_and_duplicates():
    assert words("Deploy AND deploy OR ship; NOT now") == ["deploy", "ship", "now"]
    assert words("*** ...") == []


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("pizza", "('pizza')"),
        ("DR-TEST", "('DR' <-> 'TEST')"),
        ('"quick brown" fox', "('quick' <-> 'brown') & ('fox')"),
        ("refactor*", "('refactor':*)"),
        ('"x y"*', "('x' <-> 'y':*)"),
        ("a OR b", "('a') | ('b')"),
        ("(a OR b) AND c", "( ('a') | ('b') ) & ('c')"),
        ("migration NOT blocked", "('migration') & ! ('blocked')"),
        ("subject:deploy", "('deploy':A)"),
        ("body:dep*", "('dep':*B)"),
        ("NEAR(a b, 1)", "((('a') <1> ('b') | ('b') <1> ('a') | ('a') <2> ('b') | ('b') <2> ('a')))"),
        ("it's src/app.py", "('it' <-> 's') & ('src' <-> 'app' <-> 'py')"),
        ("'; DROP --", "('DROP')"),
        ("Café ÉTÉ", "('Cafe') & ('eTe')"),  # PostgreSQL lower-cases ASCII itself
    ],
)
def test_tsquery_quotes_words_and_translates_operators(query, expected):
    assert tsquery(query) == expected


def test_tsquery_of_plain_words_never_carries_user_syntax():
    rendered = pg.render(plain("a' | b:* & !c <-> \\d"))
    assert rendered == "('a') & ('b') & ('c') & ('d')"


def test_lexemes_split_like_fts5_and_drop_accents():
    assert lexemes("POL-358 under_score x.y@z.org Ünïcödé ß") == [
        "POL",
        "358",
        "under",
        "score",
        "x",
        "y",
        "z",
        "org",
        "unicode",
        "ß",
    ]
    assert lexemes("...") == [] and lexemes("a\x00b") == ["a", "b"]
