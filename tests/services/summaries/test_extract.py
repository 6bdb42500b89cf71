"""The deterministic summariser and the LLM reply handling, on plain message values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mcp_agent_mail.services.summaries.extract import MailItem, combine, file_paths, summarize
from mcp_agent_mail.services.summaries.llm import LlmError, parse_json_object
from mcp_agent_mail.services.summaries.llm_summary import build_prompt, merge

T0 = datetime(2026, 1, 1, tzinfo=UTC)
KNOWN = {"bluelake": "BlueLake", "redfox": "RedFox", "greencastle": "GreenCastle"}


def mail(i: int, sender: str, body: str, thread: str = "T1", recipients: tuple[str, ...] = ()) -> MailItem:
    return MailItem(i, thread, sender, f"Subject {i}", body, T0 + timedelta(minutes=i), recipients)


def texts(items: list[dict]) -> list[str]:
    return [item["text"] for item in items]


def test_sections_with_refs():
    summary = summarize(
        [
            mail(
                1,
                "BlueLake",
                (
                    "Kickoff.\n\n- Cache layer lives in `src/cache.py`\n* Keep the API stable\n1. Ship on Friday\n"
                    "- [ ] Write notes in docs/cache.md\n- [ ] Benchmark the hot path\nTODO: check eviction\n"
                    "FIXME the flaky test\n@redfox please review src/app.py before Friday.\n"
                    "Which database should we use for the cache? Who owns the deploy script?\n"
                ),
                recipients=("RedFox",),
            ),
            mail(
                2,
                "RedFox",
                (
                    "Use SQLite as the cache database.\nWe decided to keep the public API stable.\n"
                    "- [x] Benchmark the hot path\n- Keep the API stable!\nCould you, @BlueLake, send the numbers?\n"
                    "Let's go with weekly releases.\n"
                ),
                recipients=("BlueLake", "GreenCastle"),
            ),
        ],
        KNOWN,
    )
    assert summary["participants"] == ["BlueLake", "GreenCastle", "RedFox"]
    assert summary["total_messages"] == 2
    assert summary["key_points"] == [
        {"text": "Cache layer lives in `src/cache.py`", "refs": [1]},
        {"text": "Keep the API stable", "refs": [1, 2]},
        {"text": "Ship on Friday", "refs": [1]},
    ]
    assert summary["decisions"] == [
        {"text": "We decided to keep the public API stable.", "refs": [2]},
        {"text": "Let's go with weekly releases.", "refs": [2]},
    ]
    actions = {a["text"]: a for a in summary["action_items"]}
    assert list(actions) == [
        "Write notes in docs/cache.md",
        "TODO: check eviction",
        "FIXME the flaky test",
        "@redfox please review src/app.py before Friday.",
        "Could you, @BlueLake, send the numbers?",
    ]
    assert actions["@redfox please review src/app.py before Friday."]["assignee"] == "RedFox"
    assert actions["Could you, @BlueLake, send the numbers?"] == {
        "text": "Could you, @BlueLake, send the numbers?",
        "kind": "request",
        "assignee": "BlueLake",
        "refs": [2],
    }
    assert actions["Write notes in docs/cache.md"]["kind"] == "checkbox"
    # The benchmark box was ticked later, so it is done and no longer open.
    assert summary["done_actions"] == [{"text": "Benchmark the hot path", "refs": [2]}]
    assert summary["open_questions"] == [{"text": "Who owns the deploy script?", "asked_by": "BlueLake", "refs": [1]}]
    assert summary["mentioned_files"] == [
        {"path": "src/cache.py", "refs": [1]},
        {"path": "docs/cache.md", "refs": [1]},
        {"path": "src/app.py", "refs": [1]},
    ]
    assert summary["mentions"] == [
        {"name": "BlueLake", "count": 1, "refs": [2]},
        {"name": "RedFox", "count": 1, "refs": [1]},
    ]


def test_repeated_bullets_are_merged_and_code_and_quotes_are_skipped():
    body = "- Same point\n- same   point.\n```\n- inside code\nTODO inside code\n```\n> - quoted point\n# - heading"
    summary = summarize([mail(1, "BlueLake", body), mail(2, "RedFox", "- SAME POINT")])
    assert summary["key_points"] == [{"text": "Same point", "refs": [1, 2]}]
    assert summary["action_items"] == []


def test_lone_question_is_answered_by_the_next_message_from_someone_else():
    own_follow_up = [mail(1, "BlueLake", "Ready to merge?"), mail(2, "BlueLake", "Still there?")]
    assert texts(summarize(own_follow_up)["open_questions"]) == ["Ready to merge?", "Still there?"]
    answered = [*own_follow_up, mail(3, "RedFox", "Yes, go ahead.")]
    assert summarize(answered)["open_questions"] == []
    other_thread = [mail(1, "BlueLake", "Ready to merge?"), mail(2, "RedFox", "Yes.", thread="T2")]
    assert texts(summarize(other_thread)["open_questions"]) == ["Ready to merge?"]


def test_question_answered_by_quote():
    summary = summarize(
        [
            mail(1, "BlueLake", "Is the index rebuilt? What about the cron entry?"),
            mail(2, "RedFox", "> What about the cron entry?\nRemoved it."),
        ]
    )
    assert texts(summary["open_questions"]) == ["Is the index rebuilt?"]


def test_file_paths():
    found = file_paths(
        "edit README.md, *.md and ./scripts/run.sh, **bold.md** (see src/a.py). "
        "e.g. v1.2 and 1.5 http://x.io/y.py me@host.py `not a path` `pkg/mod/`"
    )
    assert found == ["README.md", "*.md", "./scripts/run.sh", "bold.md", "src/a.py"]


def test_mentions_ignore_emails_and_count():
    summary = summarize(
        [mail(1, "A", "ping @Blue-Lake and @bluelake, mail x@redfox.com"), mail(2, "B", "@BlueLake.")], KNOWN
    )
    assert summary["mentions"] == [{"name": "BlueLake", "count": 3, "refs": [1, 2]}]


def test_combine_merges_threads():
    one = summarize([mail(1, "A", "- shared\n- [ ] task one")], KNOWN)
    two = summarize([mail(5, "B", "- Shared.\n@RedFox please look", thread="T2")], KNOWN)
    aggregate = combine([one, two])
    assert aggregate["total_messages"] == 2 and aggregate["participants"] == ["A", "B"]
    assert aggregate["key_points"] == [{"text": "shared", "refs": [1, 5]}]
    assert texts(aggregate["action_items"]) == ["task one", "@RedFox please look"]
    assert aggregate["top_mentions"] == [{"name": "RedFox", "count": 1, "refs": [5]}]


@pytest.mark.parametrize(
    "reply",
    [
        '{"a": 1}',
        'Sure! ```json\n{"a": 1}\n``` hope it helps',
        'Here: {"a": 1} -- done',
    ],
)
def test_parse_json_object_is_lenient(reply):
    assert parse_json_object(reply) == {"a": 1}


@pytest.mark.parametrize("reply", ["no json here", "[1, 2]", "{broken", ""])
def test_parse_json_object_refuses_non_objects(reply):
    with pytest.raises(LlmError):
        parse_json_object(reply)


def test_merge_keeps_only_grounded_items():
    draft = summarize([mail(1, "A", "- point\n- [ ] rule task"), mail(2, "B", "ok")])
    data = {
        "overview": "  A short   overview. ",
        "key_points": [
            {"text": "Grounded", "refs": [1, 99]},
            {"text": "Invented", "refs": [99]},
            {"text": "No refs"},
            "bare string",
            {"text": "Also grounded", "refs": ["#2"]},
        ],
        "action_items": [{"text": "Model task", "refs": [2], "assignee": "@RedFox"}],
        "decisions": "not a list",
    }
    merged = merge(draft, data, {1, 2})
    assert merged is not None
    assert merged["overview"] == "A short overview."
    assert merged["key_points"] == [{"text": "Grounded", "refs": [1]}, {"text": "Also grounded", "refs": [2]}]
    assert merged["action_items"][0] == {"text": "Model task", "assignee": "RedFox", "refs": [2]}
    assert texts(merged["action_items"])[1:] == ["rule task"]
    assert merged["decisions"] == draft["decisions"]
    assert merge(draft, {"key_points": [{"text": "x", "refs": [7]}]}, {1, 2}) is None


def test_prompt_is_bounded_and_lists_the_ids_it_shows():
    messages = [mail(i, "A", "x" * 5000) for i in range(1, 101)]
    prompt, ids = build_prompt(messages, summarize(messages))
    assert len(prompt) < 45000
    assert max(ids) == 100 and len(ids) < 100  # the most recent messages are kept
    assert f"[#{min(ids)}]" in prompt and "[#1]" not in prompt
