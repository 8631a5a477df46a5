"""The trainer against one simulator URL hosting the simulation and a corpus: document-granularity
noise, validation on real search, and the packaged comparison run, each checked on the requests
the simulator received."""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from serpsim_trainer.search import SearchBackendConfig, SearchContext, Searcher, load_search_settings

from ..simulator.fakes import FakeEngine
from .conftest import answering_backends, serve_app

PASSAGES = [
    ("paris", "Paris", "Paris is the capital and largest city of France."),
    ("nile", "Nile", "The Nile is the longest river in Africa, flowing into the Mediterranean Sea."),
    ("everest", "Mount Everest", "Mount Everest is the highest mountain above sea level."),
    ("hamlet", "Hamlet", "Hamlet is a tragedy written by William Shakespeare around 1600."),
]
QUERY_KEYS = {"q", "num", "engine", "backend"}
"""All a real backend may be sent: the query, how many documents, the engine and the backend's name."""


class Recorder:
    """ASGI wrapper keeping each search request's path and query parameters, as the server got them."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.requests: list[tuple[str, dict[str, str]]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] in ("/search", "/search.json", "/retrieve"):
            self.requests.append((scope["path"], dict(parse_qsl(scope["query_string"].decode()))))
        await self.app(scope, receive, send)


@pytest.fixture(scope="module")
def simulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Recorder]]:
    """`simulated` (the default, a fake engine) and `corpus` (BM25) behind one URL, over real HTTP."""
    from serpsim_simulator.app import create_app
    from serpsim_simulator.backends.corpus.build import BuildOptions, build_index
    from serpsim_simulator.settings import Settings

    root = tmp_path_factory.mktemp("real-search")
    corpus = root / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"id": i, "title": t, "text": x}) + "\n" for i, t, x in PASSAGES))
    build_index(corpus, root / "index", BuildOptions(bm25=True), progress=False)
    settings = Settings(
        cache={"path": ":memory:"}, engine={"kind": "transformers", "model": "unused"},
        backends=[{"kind": "simulated"}, {"kind": "corpus", "name": "corpus", "index": str(root / "index")}],
    )
    recorder = Recorder(create_app(settings, engine=FakeEngine()))
    with serve_app(recorder) as url:
        deadline = time.monotonic() + 30
        while httpx.get(f"{url}/readyz", timeout=5).status_code != 200:
            assert time.monotonic() < deadline, "the simulator never became ready"
            time.sleep(0.05)
        yield url, recorder


def _search(searcher: Searcher, query: str, ctx: SearchContext) -> Any:
    async def go() -> Any:
        try:
            return await searcher.search(query, ctx)
        finally:
            await searcher.aclose()

    return asyncio.run(go())


TRAIN = SearchContext(step=100, split="train", uid="nq-7", rollout=2, turn=1, question="Capital of France?", answer="Paris")
VALIDATION = SearchContext(step=100, split="test", uid="nq-val-3", question="Capital of France?", answer="Paris")


def test_document_granularity_sends_the_curriculums_value(simulator: tuple[str, Recorder], tmp_path: Path) -> None:
    url, recorder = simulator
    cfg = SearchBackendConfig(url=url, curriculum={"granularity": "document", "total_steps": 203},
                              trace_path=str(tmp_path / "t.jsonl"))
    searcher = Searcher(cfg)
    recorder.requests.clear()
    out = _search(searcher, "capital of france", TRAIN)
    p = cfg.curriculum.prob(100)
    assert out.ok and out.noise_ratio == p and out.quality is None and out.p_noisy == p
    ((path, sent),) = recorder.requests
    assert path == "/search.json" and float(sent["noise_ratio"]) == p and "quality" not in sent
    assert (sent["question"], sent["answer"]) == ("Capital of France?", "Paris")  # hints still go to the simulation
    # The simulation mixed floor(p*5) or ceil(p*5) noisy documents; their labels go to the trace, and
    # the policy sees the documents alone.
    assert out.labels.count("noisy") in {math.floor(p * 5), math.ceil(p * 5)} and len(out.labels) == 5
    assert out.text == "\n".join(f"Doc {i}: {doc}" for i, doc in enumerate(out.documents, start=1))
    record = json.loads((tmp_path / "t.jsonl").read_text().splitlines()[0])
    assert (record["noise_ratio"], record["labels"], record["backend"]) == (p, out.labels, None)
    # Validation: no noise at all.
    recorder.requests.clear()
    out = _search(Searcher(cfg), "capital of france", VALIDATION)
    ((_, sent),) = recorder.requests
    assert "noise_ratio" not in sent and sent["quality"] == "useful" and "answer" not in sent


def test_validation_searches_the_real_backend_with_nothing_but_the_query(simulator: tuple[str, Recorder]) -> None:
    url, recorder = simulator
    cfg = SearchBackendConfig(url=url, validation_backend="corpus")  # hints and curriculum on, as in training
    recorder.requests.clear()
    train = _search(Searcher(cfg), "capital of france", TRAIN)
    validation = _search(Searcher(cfg), "capital of france", VALIDATION)
    assert train.ok and validation.ok
    (_, sent_train), (_, sent_validation) = recorder.requests
    assert sent_train["quality"] in ("useful", "noisy") and sent_train["answer"] == "Paris" and "backend" not in sent_train
    assert sent_validation == {"engine": "google", "q": "capital of france", "num": "5", "backend": "corpus"}
    # Real search is shown as titles and texts (Search-R1's rendering); the corpus's passage first.
    assert validation.documents[0] == "Paris: Paris is the capital and largest city of France."
    assert validation.backend == "corpus" and validation.quality is None and validation.labels == []


def test_comparison_config_sends_no_quality_noise_or_hints(simulator: tuple[str, Recorder], tmp_path: Path) -> None:
    """`grpo_corpus`: the packaged comparison run, rendered as `serpsim-train rl` renders it."""
    from serpsim_trainer.rl import plan_run, write_run_files

    url, recorder = simulator
    plan = plan_run("grpo_corpus", [f"serpsim.run_dir={tmp_path}", f"serpsim.search.url={url}"])
    write_run_files(plan)
    settings = load_search_settings(plan.tool_config_path)
    assert (settings.backend, settings.validation_backend) == ("corpus", "corpus")
    recorder.requests.clear()
    for step in (1, 100, 203):
        for ctx in (TRAIN, VALIDATION):
            out = _search(Searcher(settings), "longest river", SearchContext(**{**ctx.__dict__, "step": step}))
            assert out.ok and out.documents[0].startswith("Nile: ")
    assert len(recorder.requests) == 6
    for _, sent in recorder.requests:
        assert set(sent) <= QUERY_KEYS and sent["backend"] == "corpus", sent


def test_a_real_default_backend_is_never_sent_simulation_parameters() -> None:
    """Whatever the config says, the kind the simulator publishes decides: its default is a corpus here."""
    seen: list[dict[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(dict(request.url.params))
        return httpx.Response(200, json={"search_metadata": {"id": "x"}, "backend": {"name": "wiki", "kind": "corpus"},
                                         "organic_results": [{"position": 1, "title": "T", "link": "l", "snippet": "s"}]})

    catalogue = {"backends": [{"name": "wiki", "kind": "corpus", "default": True},
                              {"name": "sim", "kind": "simulated", "default": False}]}
    cfg = SearchBackendConfig(url="http://sim", curriculum={"granularity": "document"})
    for ctx in (TRAIN, VALIDATION):
        out = _search(Searcher(cfg, transport=httpx.MockTransport(answering_backends(handler, catalogue))), "q", ctx)
        assert out.ok and out.text == "Doc 1: T: s"
    assert seen == [{"engine": "google", "q": "q", "num": "5"}] * 2
    # An unknown name is the search's failure, naming what the simulator has.
    cfg = SearchBackendConfig(url="http://sim", backend="wikii")
    out = _search(Searcher(cfg, transport=httpx.MockTransport(answering_backends(handler, catalogue))), "q", TRAIN)
    assert not out.ok and "no backend 'wikii' (it has: wiki, sim)" in (out.error or "")


def test_backend_names_belong_to_a_simulator() -> None:
    with pytest.raises(ValueError, match="kind: simulator"):
        SearchBackendConfig(kind="serpapi", backend="corpus")
