"""Agent names: generated Adjective+Noun names, explicit ids, their stored form and their lookup key."""

from __future__ import annotations

import pytest

from mcp_agent_mail.services.identity.names import (
    ADJECTIVES,
    NOUNS,
    canonical_adjective_noun,
    generate_name,
    is_explicit_id,
    looks_like_placeholder,
    name_key,
    normalise_agent_name,
)


def test_generated_names_are_valid_adjective_noun_names_in_their_stored_form():
    for _ in range(200):
        name = generate_name()
        assert normalise_agent_name(name) == name
        assert any(name.startswith(a) and name[len(a) :] in NOUNS for a in ADJECTIVES)


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("GreenCastle", "GreenCastle"),
        ("greencastle", "GreenCastle"),
        (" GREEN-castle ", "GreenCastle"),
        ("Green Castle", "GreenCastle"),
        ("worker-1", "worker-1"),
        (" build_bot.2 ", "build_bot.2"),
    ],
)
def test_valid_names_are_stored_in_one_form(raw, stored):
    assert normalise_agent_name(raw) == stored


@pytest.mark.parametrize("raw", ["", "   ", "Castle", "GreenPlanet", "worker1", "-worker", "a" * 129 + "-x", "x y-z"])
def test_invalid_names_have_no_stored_form(raw):
    assert normalise_agent_name(raw) is None


def test_an_adjective_that_is_a_prefix_of_another_still_finds_its_noun():
    assert canonical_adjective_noun("bluelake") == "BlueLake"
    assert canonical_adjective_noun("redfox") == "RedFox"
    assert canonical_adjective_noun("blue") is None


def test_explicit_ids_need_a_separator_and_a_leading_letter_or_digit():
    assert is_explicit_id("worker-42") and is_explicit_id("ci.runner") and is_explicit_id("9_lives")
    assert not is_explicit_id("worker42") and not is_explicit_id("_worker") and not is_explicit_id("a/b-c")


def test_the_lookup_key_ignores_case_and_spelling_variants():
    assert name_key("BlueLake") == name_key(" blue-lake ") == name_key("BLUELAKE") == "bluelake"
    assert name_key("Worker-1") == "worker-1"
    assert name_key("not a name") == "not a name"


@pytest.mark.parametrize("value", ["YOUR_AGENT", "your_agent_name", "<agent>", "$AGENT", "my-{AGENT}-x"])
def test_template_placeholders_are_recognised(value):
    assert looks_like_placeholder(value)


def test_real_names_are_not_placeholders():
    assert not looks_like_placeholder("GreenCastle") and not looks_like_placeholder("worker-1")
