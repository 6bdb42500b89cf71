"""Turning free text into safe full-text expressions."""

from __future__ import annotations

import sqlite3

import pytest

from mcp_agent_mail.services.mail.search import fts_query, words


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
