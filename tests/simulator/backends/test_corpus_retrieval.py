"""Retrieval quality and hit contents on a corpus the test makes (facts/distractors, facts.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from serpsim_simulator.backends.corpus.build import BuildOptions, build_index
from serpsim_simulator.backends.corpus.index import LINK_BASE, CorpusIndex, document_link

from ..facts import Fact, write_jsonl


@pytest.mark.parametrize("mode", ["bm25", "dense", "hybrid"])
def test_each_mode_puts_the_fact_in_the_top_3(corpus_index: CorpusIndex, questions: list[Fact], mode: str) -> None:
    results = corpus_index.search([q.question for q in questions], num=3, mode=mode)  # type: ignore[arg-type]
    found = sum(q.doc_id in [h.id for h in r.hits] for q, r in zip(questions, results))
    assert found >= 90, f"{mode}: the fact's passage in the top 3 for {found}/100 questions"
    # The passage that answers is the one stating the answer, not a lucky neighbour.
    top = {q.doc_id: r.hits[0] for q, r in zip(questions, results)}
    assert sum(q.answer in top[q.doc_id].text for q in questions) >= 80


def test_hits_come_from_the_corpus_with_stable_links(
    corpus_index: CorpusIndex, fact_corpus: tuple[list[dict[str, str]], list[Fact]], questions: list[Fact]
) -> None:
    by_id = {p["id"]: p for p in fact_corpus[0]}
    seen: dict[str, str] = {}
    for mode in ("bm25", "dense", "hybrid"):
        for result in corpus_index.search([q.question for q in questions[:20]], num=5, mode=mode):  # type: ignore[arg-type]
            for hit in result.hits:
                assert (hit.title, hit.text) == (by_id[hit.id]["title"], by_id[hit.id]["text"])
                assert hit.link == LINK_BASE + hit.id
                assert seen.setdefault(hit.id, hit.link) == hit.link
                assert hit.contents == f'"{hit.title}"\n{hit.text}'
                assert hit.label is None
    assert len(seen) > 20


@pytest.mark.parametrize("mode", ["bm25", "dense", "hybrid"])
def test_pages_continue_the_ranking(corpus_index: CorpusIndex, mode: str) -> None:
    query = ["What is the national dish?"]
    (full,) = corpus_index.search(query, num=9, mode=mode)  # type: ignore[arg-type]
    pages = [corpus_index.search(query, num=3, offset=o, mode=mode)[0] for o in (0, 3, 6)]  # type: ignore[arg-type]
    assert [h.id for p in pages for h in p.hits] == [h.id for h in full.hits]
    assert [p.offset for p in pages] == [0, 3, 6]
    scores = [h.score for h in full.hits]
    assert scores == sorted(scores, reverse=True)  # type: ignore[type-var]


def test_bm25_finds_nothing_for_words_it_never_saw(corpus_index: CorpusIndex) -> None:
    # Not an arbitrary top 5 of zero scores: no term matched, so no hit.
    (result,) = corpus_index.search(["xylophone quasar"], num=5, mode="bm25")
    assert result.hits == []
    (result,) = corpus_index.search(["the of and"], num=5, mode="bm25")  # stopwords only
    assert result.hits == []


def test_search_r1_contents_form_gives_the_same_index(
    tmp_path: Path, fact_corpus: tuple[list[dict[str, str]], list[Fact]], corpus_index: CorpusIndex,
    questions: list[Fact],
) -> None:
    source = write_jsonl(tmp_path / "contents.jsonl", fact_corpus[0], form="contents")
    build_index(source, tmp_path / "idx", BuildOptions(bm25=True), progress=False)
    index = CorpusIndex.load(tmp_path / "idx")
    try:
        assert index.modes == ("bm25",)
        asked = [q.question for q in questions[:30]]
        a = index.search(asked, num=5, mode="bm25")
        b = corpus_index.search(asked, num=5, mode="bm25")
        assert [[(h.id, h.title, h.text) for h in r.hits] for r in a] == [[(h.id, h.title, h.text) for h in r.hits] for r in b]
        # Rendered back, each document's `contents` is the line it was read from.
        lines = {p["id"]: f'"{p["title"]}"\n{p["text"]}' for p in fact_corpus[0]}
        assert all(h.contents == lines[h.id] for r in a for h in r.hits)
    finally:
        index.close()


def test_links_quote_ids_that_are_not_url_safe() -> None:
    assert document_link("c001-river") == LINK_BASE + "c001-river"
    assert document_link("Paris (France)/2") == LINK_BASE + "Paris%20%28France%29%2F2"
    assert document_link("Zürich") == LINK_BASE + "Z%C3%BCrich"
