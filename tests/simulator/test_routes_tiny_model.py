"""Every route once more, on a real tiny model through the `transformers` engine: the same code
path a user runs with a real checkpoint (loaded by path, rendered through its chat template)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from serpsim_protocol import RetrieveResponse, SearchResponse
from serpsim_simulator.app import create_app
from serpsim_simulator.settings import Settings

from .conftest import _wait_ready


@pytest.fixture(scope="module")
def tiny_client(tiny_model_dir: Path) -> Iterator[TestClient]:
    settings = Settings(engine={"kind": "transformers", "model": str(tiny_model_dir), "device": "cpu"},
                        simulation={"max_tokens": 160})
    with TestClient(create_app(settings)) as client:
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
