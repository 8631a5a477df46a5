"""`Doc k:` parsing must survive whatever a small simulation model writes."""

from __future__ import annotations

import time

import pytest
from serpsim_simulator.simulation.documents import parse_documents, scrub

WELL_FORMED = "\n".join(f"Doc {k}: Paris is the capital of France, fact {k}." for k in range(1, 6))


def test_well_formed_output() -> None:
    docs = parse_documents(WELL_FORMED)
    assert len(docs) == 5
    assert docs[0].snippet == "Paris is the capital of France, fact 1."


@pytest.mark.parametrize(
    ("query", "snippet", "title"),
    [
        ("capital of France", "Paris is the capital of France and home to the Eiffel Tower.",
         "Capital of France: Eiffel Tower"),
        ("capital of France", "The city of Paris has been the capital since 987.", "Capital of France: Paris"),
        ("george washington bridge opening year", "It opened on October 25, 1931, designed by Othmar Ammann.",
         "George washington bridge opening year: October 25"),
        ("hamlet", "Written around 1600, the play follows a prince of Denmark.", "Hamlet: Written around 1600"),
        ("the", "the the the", "The"),  # nothing sets the document apart: the query alone
    ],
)
def test_title_is_the_query_and_a_distinguishing_phrase(query: str, snippet: str, title: str) -> None:
    (doc,) = parse_documents(f"Doc 1: {snippet}", query=query)
    assert doc.title == title and doc.snippet == snippet


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


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a document that mentions another is one document
        ("Doc 1: see Doc 2 for the rest.\nDoc 2: second", ["see Doc 2 for the rest.", "second"]),
        ("Doc 1: it weighs per doc 2.5 tons.", ["it weighs per doc 2.5 tons."]),
        ("Doc 1: as Doc 2. says, the bridge opened.", ["as Doc 2. says, the bridge opened."]),
        ("Doc 1: compare Doc 4: a later one.", ["compare Doc 4: a later one."]),  # in-line, not the next number
        ("Doc 1: a. Doc 1: b.", ["a. Doc 1: b."]),  # in-line repeat of the same number
        # merged onto one line: the next expected number still splits, in sequence
        ("Doc 1: alpha. Doc 2: beta. Doc 3: gamma.", ["alpha.", "beta.", "gamma."]),
        ("Doc 1: alpha.\nDoc 4: delta. Doc 5: epsilon.", ["alpha.", "delta.", "epsilon."]),
        # a marker that starts a line splits whatever its number
        ("Doc 3: three\n  **Doc 1.** one\n## Document 7) seven", ["three", "one", "seven"]),
    ],
)
def test_split_only_at_markers(text: str, expected: list[str]) -> None:
    assert [d.snippet for d in parse_documents(text)] == expected


def _parse_seconds(text: str) -> float:
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        parse_documents(text)
        best = min(best, time.perf_counter() - started)
    return best


@pytest.mark.parametrize("unit", [" ", "\n", " *#", "\t\r\n", "<answer ", "Doc ", "Doc 1 ", "x Doc 2: "])
def test_parse_time_is_linear(unit: str) -> None:
    """Runs of whitespace, marker debris and unclosed tags: 10x the text takes about 10x the time
    (quadratic backtracking took 100x: 16k characters ~3 s, 100k minutes, on the event loop)."""
    small = _parse_seconds(unit * (10_000 // len(unit)))
    large = _parse_seconds(unit * (100_000 // len(unit)))
    assert large < 0.5, f"100k characters of {unit!r} took {large:.2f} s"
    assert large < 30 * max(small, 1e-4), f"10k: {small:.4f} s, 100k: {large:.4f} s"
