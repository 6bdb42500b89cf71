"""PostgreSQL's engine: a ``tsvector`` column on messages (subject weighted above body), a GIN index, a trigger.

Queries are translated from the search language (:mod:`.grammar`) into a ``tsquery`` string built
only from quoted words (:mod:`.fold`) and operators, so ``to_tsquery`` never meets user syntax and
never fails. Results rank by ``ts_rank`` (a subject match weighs three times a body match) and
carry a ``ts_headline`` snippet with the caller's markers.
"""

from __future__ import annotations

import itertools
from functools import lru_cache

from sqlalchemy import Connection, RowMapping, TextualSelect, text
from sqlalchemy.exc import DBAPIError

from mcp_agent_mail.db.fulltext.base import JOIN_SENDER, SELECT_MESSAGE, Order, Request, params, scope_sql, typed
from mcp_agent_mail.db.fulltext.fold import ASCII_SEPARATORS, fold_pairs, lexemes
from mcp_agent_mail.db.fulltext.grammar import Near, Part, Phrase
from mcp_agent_mail.db.transactions import ReadTransaction

NAME = "postgresql"
COLUMN = "search_vector"
INDEX = "ix_messages_search_vector"
TRIGGER = "messages_search_vector"
FOLD_FUNCTION = "mcp_agent_mail_search_fold"
VECTOR_FUNCTION = "mcp_agent_mail_search_vector"
TRIGGER_FUNCTION = "mcp_agent_mail_messages_search"
BODY_CHARS = 200_000
"""Only the start of a very long body is indexed: a ``tsvector`` holds at most 1 MB."""
_WEIGHTS = {"subject": "A", "body_md": "B"}
_RANK = f"ts_rank('{{0, 0, 0.333333, 1}}', m.{COLUMN}, q.query, 1)"  # {D, C, B=body, A=subject}
_BREAK = "mcpagentmailcolumnbreak"  # keeps a phrase from running from the subject into the body
_DEFAULT_NEAR = 10
_MAX_NEAR = 30
_MAX_NEAR_TERMS = 4


def _phrase(phrase: Phrase) -> str:
    """Render a word or phrase as quoted words joined by ``<->`` (a prefix marks the last word)."""
    weight = _WEIGHTS.get(phrase.column or "", "")
    words = lexemes(phrase.text) or ["_"]  # nothing searchable: PostgreSQL drops the operand
    rendered = [f"'{word}'" + (f":{weight}" if weight else "") for word in words]
    if phrase.prefix:
        rendered[-1] = f"'{words[-1]}':*{weight}"
    return "(" + " <-> ".join(rendered) + ")"


def _near(near: Near) -> str:
    """Render NEAR: every pair of terms at most ``distance`` words apart, in either order."""
    terms = [_phrase(term) for term in near.terms]
    distance = _DEFAULT_NEAR if near.distance is None else near.distance
    if len(terms) == 1:
        return terms[0]
    if len(terms) > _MAX_NEAR_TERMS or distance > _MAX_NEAR:
        return "(" + " & ".join(terms) + ")"
    pairs = []
    gaps = range(1, distance + 2)
    for first, second in itertools.combinations(terms, 2):
        either = (f"{first} <{gap}> {second} | {second} <{gap}> {first}" for gap in gaps)
        pairs.append("(" + " | ".join(either) + ")")
    return "(" + " & ".join(pairs) + ")"


def render(parts: list[Part]) -> str:
    """Return the ``tsquery`` text of parsed query pieces (FTS5 precedence: NOT, then AND, then OR)."""
    out: list[str] = []
    previous: Part | None = None
    for part in parts:
        operand = isinstance(part, (Phrase, Near))
        if (operand or part == "(") and (isinstance(previous, (Phrase, Near)) or previous == ")"):
            out.append("&")  # adjacent terms are ANDed
        if isinstance(part, Phrase):
            out.append(_phrase(part))
        elif isinstance(part, Near):
            out.append(_near(part))
        else:
            out.append({"AND": "&", "OR": "|", "NOT": "& !"}.get(part, part))
        previous = part
    return " ".join(out)


@lru_cache(maxsize=16)
def _statement(agent_scope: bool, order: Order, windowed: bool) -> TextualSelect:
    """Return the search statement (params tsquery, headline, project_id or agent_id, limit, offset, window)."""
    window = " ORDER BY m.id DESC LIMIT :window" if windowed else ""
    ordering = "score DESC, id DESC" if order == "relevance" else "created_ts DESC, id DESC"
    # Find the matches (the newest `window` of them), rank only those, keep one page, and only then build
    # the snippets of that page; MATERIALIZED keeps the ranking out of the scan of every match.
    return typed(
        text(
            "WITH q AS (SELECT to_tsquery('simple', :tsquery) AS query), "
            f"found AS MATERIALIZED (SELECT m.id FROM messages m, q "
            f"WHERE m.{COLUMN} @@ q.query{scope_sql(agent_scope)}{window}), "
            f"hits AS (SELECT m.id, m.created_ts, {_RANK} AS score FROM found JOIN messages m ON m.id = found.id, q), "
            f"page AS (SELECT id, created_ts, score FROM hits ORDER BY {ordering} LIMIT :limit OFFSET :offset) "
            f"SELECT {SELECT_MESSAGE}, -page.score AS rank, "
            "ts_headline('simple', m.body_md, q.query, :headline) AS snippet, NULL AS body_md "
            f"FROM page JOIN messages m ON m.id = page.id {JOIN_SENDER} CROSS JOIN q "
            f"ORDER BY {', '.join('page.' + key for key in ordering.split(', '))}"
        )
    )


def _headline_options(request: Request) -> str:
    snippet = request.snippet
    words = max(2, snippet.words)
    return (
        f'StartSel="{snippet.open}", StopSel="{snippet.close}", MaxWords={words}, '
        f"MinWords={max(1, words // 2)}, ShortWord=0, MaxFragments=0"
    )


async def search(session: ReadTransaction, parts: list[Part], request: Request) -> list[RowMapping]:
    """Run one search; a failure (an index that is gone) is rolled back to a savepoint and raised.

    A session whose statements commit one by one needs no savepoint: a failed statement spoils nothing.
    """
    statement = _statement(request.scope.agent_id is not None, request.order, request.window is not None)
    values = {**params(request), "tsquery": render(parts), "headline": _headline_options(request)}
    if getattr(session, "per_statement", False):
        return list((await session.execute(statement, values)).mappings().all())
    await session.execute(text("SAVEPOINT fulltext_search"))
    try:
        return list((await session.execute(statement, values)).mappings().all())
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            await session.execute(text("ROLLBACK TO SAVEPOINT fulltext_search"))
        raise


def _vector_sql(subject: str, body: str) -> str:
    fold = FOLD_FUNCTION
    return (
        f"ts_delete(setweight(to_tsvector('simple', {fold}(coalesce({subject}, ''))), 'A') "
        f"|| to_tsvector('simple', '{_BREAK}') "
        f"|| setweight(to_tsvector('simple', {fold}(left(coalesce({body}, ''), {BODY_CHARS}))), 'B'), "
        f"'{_BREAK}')"
    )


def install_fold(conn: Connection) -> None:
    """Create (or replace) the function folding text into searchable words (same words as before, faster).

    ``translate`` scans its whole table of accented letters for every character, a millisecond
    for a short message; every folded letter lies outside ASCII, so ASCII text (one byte per
    character) skips it.
    """
    source, target = fold_pairs()
    conn.exec_driver_sql(
        f"CREATE OR REPLACE FUNCTION {FOLD_FUNCTION}(t text) RETURNS text "
        "LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $body$ SELECT regexp_replace("
        "CASE WHEN octet_length(t) = length(t) THEN t "
        f"ELSE translate(t, $fold${source}$fold$, $fold${target}$fold$) END, "
        f"$re${ASCII_SEPARATORS}$re$, ' ', 'g') $body$"
    )


def install(conn: Connection) -> None:
    """Create (or refresh) the column, its functions, trigger and GIN index, and index every message."""
    install_fold(conn)
    conn.exec_driver_sql(
        f"CREATE OR REPLACE FUNCTION {VECTOR_FUNCTION}(subject text, body text) RETURNS tsvector "
        f"LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $body$ SELECT {_vector_sql('subject', 'body')} $body$"
    )
    conn.exec_driver_sql(
        f"CREATE OR REPLACE FUNCTION {TRIGGER_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $body$ "
        f"BEGIN NEW.{COLUMN} := {VECTOR_FUNCTION}(NEW.subject, NEW.body_md); RETURN NEW; END $body$"
    )
    conn.exec_driver_sql(f"ALTER TABLE messages ADD COLUMN IF NOT EXISTS {COLUMN} tsvector")
    conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {TRIGGER} ON messages")
    conn.exec_driver_sql(
        f"CREATE TRIGGER {TRIGGER} BEFORE INSERT OR UPDATE OF subject, body_md ON messages "
        f"FOR EACH ROW EXECUTE FUNCTION {TRIGGER_FUNCTION}()"
    )
    rebuild(conn)
    conn.exec_driver_sql(f"CREATE INDEX IF NOT EXISTS {INDEX} ON messages USING gin ({COLUMN}) WITH (fastupdate = off)")


def index_without_pending_list(conn: Connection) -> None:
    """Make new messages go straight into the GIN index, and move what waits in its pending list there.

    With ``fastupdate`` on, PostgreSQL appends new entries to a pending list (up to 4 MB by default)
    that every search scans from end to end until a vacuum merges it: a search's cost grew with
    each message written since. Off, a message's insert updates the index itself, a little slower.
    """
    conn.exec_driver_sql(f"ALTER INDEX IF EXISTS {INDEX} SET (fastupdate = off)")
    conn.exec_driver_sql(f"SELECT gin_clean_pending_list(c.oid) FROM pg_class c WHERE c.oid = to_regclass('{INDEX}')")


def rebuild(conn: Connection) -> None:
    """Recompute every message's search vector."""
    conn.exec_driver_sql(f"UPDATE messages SET {COLUMN} = {VECTOR_FUNCTION}(subject, body_md)")


def drop(conn: Connection) -> None:
    """Remove the index, trigger and column (searches fall back to plain matching until installed again)."""
    conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {TRIGGER} ON messages")
    conn.exec_driver_sql(f"DROP INDEX IF EXISTS {INDEX}")
    conn.exec_driver_sql(f"ALTER TABLE messages DROP COLUMN IF EXISTS {COLUMN}")


def indexed_count(conn: Connection) -> int:
    """Return how many messages have a search vector."""
    return int(conn.exec_driver_sql(f"SELECT count(*) FROM messages WHERE {COLUMN} IS NOT NULL").scalar_one())


__all__ = ["NAME", "drop", "index_without_pending_list", "indexed_count", "install", "rebuild", "render", "search"]
