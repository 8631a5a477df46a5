"""The corpus `Backend`: async searches off the event loop, pages, bad requests, start-up errors."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from serpsim_simulator.backends.base import Backend
from serpsim_simulator.backends.corpus.backend import CorpusBackend
from serpsim_simulator.backends.corpus.index import CorpusIndex
from serpsim_simulator.backends.errors import BackendConfigError, IndexLoadError
from serpsim_simulator.backends.settings import CorpusBackendSettings
from serpsim_simulator.errors import SimulatorError

from ..facts import Fact
from .conftest import ask


async def test_backend_answers_batches_like_the_index(
    index_dir: Path, corpus_index: CorpusIndex, questions: list[Fact]
) -> None:
    backend = CorpusBackend(CorpusBackendSettings(name="wiki", index=index_dir, mode="hybrid", threads=2), corpus_index)
    assert isinstance(backend, Backend)
    await backend.start()
    try:
        asked = [q.question for q in questions[:32]]
        results = await backend.search(ask(asked, num=5))
        expected = corpus_index.search(asked, num=5, mode="hybrid")
        assert [[h.id for h in r.hits] for r in results] == [[h.id for h in r.hits] for r in expected]
        assert [r.query for r in results] == asked
        # Concurrent requests, each on its own pool thread, get the same answers.
        concurrent = await asyncio.gather(*(backend.search(ask([q], num=5)) for q in asked[:8]))
        assert [[h.id for h in r[0].hits] for r in concurrent] == [[h.id for h in r.hits] for r in expected[:8]]
        (page,) = await backend.search(ask([asked[0]], num=2, offset=2))
        assert [h.id for h in page.hits] == [h.id for h in expected[0].hits[2:4]] and page.offset == 2
    finally:
        await backend.aclose()
    # The index was handed in, so it is the caller's to close: it still answers.
    assert corpus_index.search(["capital"], num=1, mode="bm25")[0].hits


@pytest.mark.parametrize(("num", "offset", "says"), [(0, 0, "`num`"), (5, -1, "`start`")])
async def test_bad_page_is_400(index_dir: Path, corpus_index: CorpusIndex, num: int, offset: int, says: str) -> None:
    backend = CorpusBackend(CorpusBackendSettings(index=index_dir), corpus_index)
    await backend.start()
    try:
        with pytest.raises(SimulatorError) as info:
            await backend.search(ask(["q"], num=num, offset=offset))
        assert info.value.status == 400 and says in info.value.message
    finally:
        await backend.aclose()


async def test_not_started_is_503(index_dir: Path) -> None:
    backend = CorpusBackend(CorpusBackendSettings(index=index_dir))
    assert not backend.ready()
    with pytest.raises(SimulatorError) as info:
        await backend.search(ask(["q"], num=5))
    assert info.value.status == 503


async def test_start_loads_the_index_and_fails_clearly(index_dir: Path, tmp_path: Path) -> None:
    backend = CorpusBackend(CorpusBackendSettings(index=index_dir, mode="dense"))
    await backend.start()
    try:
        assert backend.ready()
        (result,) = await backend.search(ask(["Who founded the country?"], num=3))
        assert len(result.hits) == 3
    finally:
        await backend.aclose()
    assert backend.index is None  # it loaded the index, so it closed it
    with pytest.raises(IndexLoadError, match="no such index directory"):
        await CorpusBackend(CorpusBackendSettings(index=tmp_path / "missing")).start()


async def test_start_rejects_a_mode_the_index_lacks(tmp_path: Path, corpus_file: Path) -> None:
    from serpsim_simulator.backends.corpus.build import BuildOptions, build_index

    build_index(corpus_file, tmp_path / "idx", BuildOptions(bm25=True), progress=False)
    backend = CorpusBackend(CorpusBackendSettings(index=tmp_path / "idx", mode="dense"))
    with pytest.raises(BackendConfigError, match="mode 'dense'"):
        await backend.start()
    await backend.aclose()


def test_dense_search_from_many_threads_at_once(corpus_index: CorpusIndex, questions: list[Fact]) -> None:
    # A fast tokenizer shared by threads raises "Already borrowed" when two calls overlap
    # (transformers#47085); the encoder must serialise its calls.
    from concurrent.futures import ThreadPoolExecutor

    asked = [q.question for q in questions[:48]]
    expected = [[h.id for h in r.hits] for r in corpus_index.search(asked, num=3, mode="dense")]
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda q: corpus_index.search([q], num=3, mode="dense")[0], asked))
    assert [[h.id for h in r.hits] for r in answers] == expected
