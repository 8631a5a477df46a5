"""`Doc k:` parsing must survive whatever a small simulation model writes."""

from __future__ import annotations

import pytest
from serpsim_simulator.documents import parse_documents, scrub

WELL_FORMED = "\n".join(f"Doc {k}: Paris is the capital of France, fact {k}." for k in range(1, 6))


def test_well_formed_output() -> None:
    docs = parse_documents(WELL_FORMED)
    assert len(docs) == 5
    assert docs[0].snippet == "Paris is the capital of France, fact 1."
    assert docs[0].title == "Paris is the capital of France, fact 1"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Doc 1: alpha beta\n\nDoc 3: gamma delta", ["alpha beta", "gamma delta"]),  # missing doc 2
        ("Doc 1: alpha beta Doc 2: gamma delta", ["alpha beta", "gamma delta"]),  # merged on one line
        ("Doc 2: second\nDoc 1: first", ["second", "first"]),  # out of order: kept as written
        ("Doc 1: one\nDoc 2: two\nDoc 3: three\nDoc 4: four\nDoc 5: five\nDoc 6: six", ["one", "two", "three", "four", "five"]),
        ("Doc 1: complete sentence.\nDoc 2: trunc", ["complete sentence.", "trunc"]),  # truncated
        ("Doc 1:\nDoc 2: \nDoc 3: real text", ["real text"]),  # empty documents dropped
        ("**Doc 1:** bold marker\n Document 2. other style", ["bold marker", "other style"]),
        ("no markers at all\nsecond line", ["no markers at all", "second line"]),
        ("Useful Output:\nDoc 1: header echoed", ["header echoed"]),
        ("Doc 1: same\nDoc 2: same", ["same"]),  # duplicates collapse
    ],
)
def test_malformed_outputs(text: str, expected: list[str]) -> None:
    docs = parse_documents(text, limit=5)
    assert [d.snippet for d in docs] == expected
    assert all(d.title and d.snippet for d in docs)


@pytest.mark.parametrize("text", ["", "   \n\n", "Doc 1:", "<answer></answer>", "--- *** ---"])
def test_nothing_readable_gives_no_documents(text: str) -> None:
    assert parse_documents(text) == []


def test_protocol_tags_are_stripped() -> None:
    text = "Doc 1: The answer is <answer>Paris</answer> per <search>x</search>\nDoc 2: <information>leak</information> ok<|im_end|>"
    docs = parse_documents(text)
    joined = " ".join(d.title + " " + d.snippet for d in docs)
    for tag in ("<answer>", "</answer>", "<search>", "<information>", "<|im_end|>"):
        assert tag not in joined
    assert docs[0].snippet == "The answer is Paris per x"


def test_scrub_keeps_ordinary_angle_brackets() -> None:
    assert scrub("a < b and c > d <Answer >x</ANSWER>") == "a < b and c > d  x "


def test_document_identity_is_stable() -> None:
    a, b = parse_documents(WELL_FORMED)[0], parse_documents(WELL_FORMED)[0]
    assert a.key == b.key and a.slug == b.slug
    assert a.key != parse_documents(WELL_FORMED)[1].key
