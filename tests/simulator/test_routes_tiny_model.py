"""Every route once more, on a real tiny model through the `transformers` engine: the same code
path a user runs with a real checkpoint (loaded by path, rendered through its chat template),
with the fact corpus beside it in the same process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from serpsim_protocol import RetrieveResponse, SearchResponse
from serpsim_simulator.app import create_app
from serpsim_simulator.backends.corpus.index import CorpusIndex
from serpsim_simulator.settings import Settings

from .conftest import _wait_ready
from .facts import Fact
from .search.conftest import corpus_backends


@pytest.fixture(scope="module")
def tiny_client(tiny_model_dir: Path, index_dir: Path, corpus_index: CorpusIndex) -> Iterator[TestClient]:
    settings = Settings(engine={"kind": "transformers", "model": str(tiny_model_dir), "device": "cpu"},
                        simulation={"max_tokens": 160}, cache={"path": ":memory:"},
                        backends=[{"kind": "simulated"}, {"kind": "corpus", "name": "bm25", "index": str(index_dir)}])
    with TestClient(create_app(settings, backends=corpus_backends(index_dir, corpus_index, ("bm25",)))) as client:
        _wait_ready(client, timeout_s=120)  # a model that fails to load fails here, not later
        yield client


@pytest.mark.parametrize("quality", ["useful", "noisy"])
def test_search_on_tiny_model(tiny_client: TestClient, quality: str) -> None:
    r = tiny_client.get("/search.json", params={"q": "capital of France", "quality": quality, "num": 5, "seed": 1})
    assert r.status_code == 200
    body = SearchResponse.model_validate(r.json())
    assert body.simulation and body.simulation.quality == quality and body.simulation.engine == "transformers"
    assert body.simulation.prompt_tokens > 0 and body.simulation.completion_tokens > 0
    assert 1 <= len(body.organic_results) <= 5
    assert all(o.title and o.snippet for o in body.organic_results)


def test_same_seed_same_documents_on_tiny_model(tiny_client: TestClient) -> None:
    params = {"q": "tallest mountain", "seed": 42, "num": 5, "no_cache": "true"}
    first = tiny_client.get("/search.json", params=params).json()["organic_results"]
    second = tiny_client.get("/search.json", params=params).json()["organic_results"]
    assert [o["snippet"] for o in first] == [o["snippet"] for o in second]


def test_archive_account_health_on_tiny_model(tiny_client: TestClient) -> None:
    body = tiny_client.get("/search", params={"q": "river", "num": 3}).json()
    assert tiny_client.get(f"/searches/{body['search_metadata']['id']}.json").json() == body
    account = tiny_client.get("/account.json").json()
    assert account["total_searches"] >= 1 and account["completion_tokens"] > 0
    assert tiny_client.get("/healthz").status_code == 200
    ready = tiny_client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["engine"] == "transformers"


def test_retrieve_on_tiny_model(tiny_client: TestClient) -> None:
    r = tiny_client.post(
        "/retrieve",
        json={"queries": [{"query": "ocean depth", "seed": 3}, {"query": "first president", "quality": "noisy", "seed": 4}],
              "topk": 3},
    )
    assert r.status_code == 200
    result = RetrieveResponse.model_validate(r.json()).result
    assert len(result) == 2
    for hits in result:
        assert 1 <= len(hits) <= 3
        assert all(h.document.title and h.document.text for h in hits)


def test_noise_mixes_on_tiny_model(tiny_client: TestClient) -> None:
    params = {"q": "largest desert", "num": 5, "noise_count": 2, "seed": 9, "no_cache": "true"}
    body = SearchResponse.model_validate(tiny_client.get("/search.json", params=params).json())
    assert body.simulation is not None and body.simulation.quality is None
    labels = body.simulation.labels or []
    assert len(labels) == len(body.organic_results) >= 1
    # A generation may write fewer documents than asked; a label is never given to another's document.
    assert labels.count("noisy") <= 2 and labels.count("useful") <= 3
    assert body.simulation.generations == 2  # one noisy, one useful, in one engine batch
    again = SearchResponse.model_validate(tiny_client.get("/search.json", params=params).json())
    assert again.organic_results == body.organic_results and again.simulation.labels == labels  # type: ignore[union-attr]
    r = tiny_client.post("/retrieve", json={"queries": ["largest desert"], "topk": 5, "noise_ratio": 0.4, "seed": 9})
    assert r.status_code == 200 and 1 <= len(r.json()["result"][0]) <= 5


def test_corpus_beside_the_tiny_model(tiny_client: TestClient, questions: list[Fact]) -> None:
    fact = questions[0]
    body = tiny_client.get("/search.json", params={"q": fact.question, "num": 3, "backend": "bm25"}).json()
    assert body["backend"]["kind"] == "corpus" and "simulation" not in body
    assert fact.doc_id in [o["link"].rsplit("/", 1)[1] for o in body["organic_results"]]
    r = tiny_client.post("/retrieve", json={"queries": [fact.question], "topk": 3, "backend": "bm25"})
    assert fact.doc_id in [item["id"] for item in r.json()["result"][0]]
    assert tiny_client.get("/search.json", params={"q": "x", "backend": "bm25", "quality": "noisy"}).status_code == 400
    ready = tiny_client.get("/readyz").json()
    assert [(b["name"], b["status"]) for b in ready["backends"]] == [("simulated", "ready"), ("bm25", "ready")]
