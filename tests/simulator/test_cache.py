"""Result cache: the key, TTL, size bound, backends, bypass, and hits marked and counted."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from serpsim_protocol import SearchResponse
from serpsim_simulator.app import create_app
from serpsim_simulator.backends.base import Hit, Usage
from serpsim_simulator.search.cache import CachedResult, RedisCache, SqliteCache, cache_key
from serpsim_simulator.search.query import SearchQuery
from serpsim_simulator.settings import SimulationSettings
from serpsim_simulator.simulation.backend import SimulatedBackend

from .conftest import _wait_ready, make_settings
from .fakes import FakeEngine

BASE = SearchQuery(query="q", quality="useful", question="Q?", answer="A", num=10, seed=1)
VALUE = CachedResult(
    [Hit("a1", "A title", "a snippet", "https://x/a1", None, "useful", {"source": "s"}),
     Hit("b2", "B", "b", "https://x/b2", 1.5, None, {})],
    None, Usage(2, 11, 22, 0.5),
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _key(query: SearchQuery = BASE, kind: str = "fake", model: str = "m", revision: str = "r1", **sampling: object) -> str:
    engine = FakeEngine()
    engine.kind, engine.model_name, engine.model_revision = kind, model, revision
    backend = SimulatedBackend("sim", engine, SimulationSettings(**sampling))  # type: ignore[arg-type]
    return cache_key(backend.identity(), backend.query_key(query))


def test_key_changes_with_every_input() -> None:
    base = _key()
    variants = {
        "engine kind": _key(kind="vllm"),
        "model": _key(model="m2"),
        "model revision": _key(revision="r2"),
        "prompt_mode": _key(prompt_mode="prompt"),
        "temperature": _key(temperature=0.7),
        "top_p": _key(top_p=0.9),
        "max_tokens": _key(max_tokens=599),
    }
    for name, value in (
        ("quality", "noisy"), ("question", "Q2?"), ("question", None), ("answer", "B"), ("answer", None),
        ("query", "q2"), ("num", 5), ("offset", 10), ("seed", 2), ("seed", None), ("noise_ratio", 0.2),
        ("noise_count", 2),
    ):
        variants[f"{name}={value}"] = _key(dataclasses.replace(BASE, **{name: value}))
    assert base not in variants.values()
    assert len(set(variants.values())) == len(variants)
    # Unrelated settings (max_num, max_pages), the backend's name and `no_cache` do not change the documents.
    assert _key(max_pages=2) == base and _key(dataclasses.replace(BASE, backend="sim", no_cache=True)) == base
    # A separator inside one field cannot fake another key; None is not the string "None".
    assert _key(dataclasses.replace(BASE, question="None")) != _key(dataclasses.replace(BASE, question=None))
    # An offset within the same page is the same page: the documents are renumbered, not rewritten.
    assert _key(dataclasses.replace(BASE, offset=3)) == base


def test_value_round_trips_every_hit_field() -> None:
    assert CachedResult.loads(VALUE.dumps()) == VALUE
    assert CachedResult.loads(VALUE.dumps().decode()) == VALUE


async def test_sqlite_roundtrip_ttl_and_persistence(tmp_path: Path) -> None:
    clock = Clock()
    path = tmp_path / "c" / "results.sqlite"
    cache = SqliteCache(path, ttl_s=60, max_entries=10, clock=clock)
    assert await cache.get("k") is None
    await cache.put("k", VALUE)
    assert await cache.get("k") == VALUE
    await cache.aclose()
    reopened = SqliteCache(path, ttl_s=60, max_entries=10, clock=clock)
    assert await reopened.get("k") == VALUE  # a file survives restarts
    clock.now += 59.9
    assert await reopened.get("k") == VALUE
    clock.now += 0.2
    assert await reopened.get("k") is None  # expired
    await reopened.aclose()


async def test_sqlite_size_bound_evicts_oldest() -> None:
    clock = Clock()
    cache = SqliteCache(":memory:", ttl_s=3600, max_entries=20, clock=clock)
    for i in range(100):
        clock.now += 1
        await cache.put(f"k{i}", VALUE)
        assert len(cache) <= 20
    assert await cache.get("k99") == VALUE
    assert await cache.get("k0") is None
    await cache.put("k99", VALUE)  # overwriting does not grow it
    assert len(cache) <= 20
    await cache.aclose()


async def test_redis_backend_roundtrip_and_ttl() -> None:
    fakeredis = pytest.importorskip("fakeredis")
    cache = RedisCache("redis://unused", ttl_s=0.2, client=fakeredis.FakeAsyncRedis())
    await cache.put("k", VALUE)
    assert await cache.get("k") == VALUE
    assert await cache.get("other") is None
    await asyncio.sleep(0.3)
    assert await cache.get("k") is None
    await cache.aclose()


def _client(engine: FakeEngine, **overrides: object) -> TestClient:
    return TestClient(create_app(make_settings(**overrides), engine=engine))


def test_hit_is_marked_and_counted() -> None:
    engine = FakeEngine()
    with _client(engine) as c:
        _wait_ready(c)
        params = {"q": "cached query", "seed": 3, "api_key": "k1"}
        first = c.get("/search.json", params=params).json()
        second = c.get("/search.json", params=params).json()
        assert len(engine.calls) == 1
        SearchResponse.model_validate(second)
        assert "cached" not in first["search_metadata"] and first["simulation"]["cached"] is False
        assert second["search_metadata"]["cached"] is True and second["simulation"]["cached"] is True
        assert second["organic_results"] == first["organic_results"]
        assert second["search_metadata"]["id"] != first["search_metadata"]["id"]
        assert c.get(second["search_metadata"]["json_endpoint"].split("testserver")[1]).status_code == 200

        account = c.get("/account.json", params={"api_key": "k1"}).json()
        assert account["total_searches"] == 2 and account["cache_hits"] == 1
        # tokens, generations and engine time are only spent once
        assert account["prompt_tokens"] == first["simulation"]["prompt_tokens"] and account["generations"] == 2
        metrics = c.get("/metrics").text
        assert "serpsim_cache_hits_total 1.0" in metrics


def test_no_cache_bypasses_reads_but_writes() -> None:
    engine = FakeEngine()
    with _client(engine) as c:
        _wait_ready(c)
        c.get("/search.json", params={"q": "x"})
        fresh = c.get("/search.json", params={"q": "x", "no_cache": "true"}).json()
        assert len(engine.calls) == 2 and fresh["simulation"]["cached"] is False
        again = c.get("/search.json", params={"q": "x"}).json()
        assert len(engine.calls) == 2 and again["simulation"]["cached"] is True
        # unseeded searches are cached by parameters (SerpApi): the latest write is what is served
        assert again["organic_results"] == fresh["organic_results"]


def test_every_parameter_that_changes_documents_misses() -> None:
    engine = FakeEngine()
    with _client(engine) as c:
        _wait_ready(c)
        base = {"q": "x", "seed": 1, "num": 10}
        c.get("/search.json", params=base)
        changes = ({"q": "y"}, {"seed": 2}, {"num": 5}, {"start": 10}, {"quality": "noisy"}, {"question": "Q"},
                   {"answer": "A"}, {"noise_ratio": 0.5}, {"noise_count": 2})
        for change in changes:
            body = c.get("/search.json", params={**base, **change}).json()
            assert body["simulation"]["cached"] is False, change
        # parameters that do not reach the prompt share the entry
        assert c.get("/search.json", params={**base, "hl": "fr", "source": "python"}).json()["simulation"]["cached"] is True


def test_disabled_cache_never_hits() -> None:
    engine = FakeEngine()
    with _client(engine, cache={"enabled": False}) as c:
        _wait_ready(c)
        for _ in range(2):
            assert c.get("/search.json", params={"q": "x", "seed": 1}).json()["simulation"]["cached"] is False
        assert len(engine.calls) == 2


def test_sqlite_file_is_shared_across_app_restarts(tmp_path: Path) -> None:
    cache = {"path": str(tmp_path / "results.sqlite")}
    for expected in (False, True):
        with _client(FakeEngine(), cache=cache) as c:
            _wait_ready(c)
            assert c.get("/search.json", params={"q": "x", "seed": 1}).json()["simulation"]["cached"] is expected


def test_another_engine_kind_or_model_revision_misses(tmp_path: Path) -> None:
    """The same model name served by another engine (other kernels, other numerics) or a
    checkpoint retrained under the same name must not be answered with the old documents."""
    cache = {"path": str(tmp_path / "results.sqlite")}

    def cached(kind: str, revision: str) -> bool:
        engine = FakeEngine()
        engine.kind, engine.model_revision = kind, revision
        with _client(engine, cache=cache) as c:
            _wait_ready(c)
            return bool(c.get("/search.json", params={"q": "x", "seed": 1}).json()["simulation"]["cached"])

    assert cached("fake", "r1") is False
    assert cached("fake", "r1") is True
    assert cached("other", "r1") is False
    assert cached("fake", "r2") is False


def test_retrieve_no_cache_skips_the_read() -> None:
    engine = FakeEngine()
    with _client(engine) as c:
        _wait_ready(c)
        body = {"queries": ["a"], "topk": 3, "seed": 1}
        first = c.post("/retrieve", json=body).json()
        fresh = c.post("/retrieve", json={**body, "no_cache": True}).json()
        assert len(engine.calls) == 2 and fresh == first  # seeded: the same documents, generated again
        c.post("/retrieve", json=body)
        assert len(engine.calls) == 2


def test_retrieve_serves_hits_per_query_and_batches_the_misses() -> None:
    engine = FakeEngine()
    with _client(engine) as c:
        _wait_ready(c)
        first = c.post("/retrieve", json={"queries": [{"query": "a", "seed": 1}, {"query": "b", "seed": 2}], "topk": 3}).json()
        second = c.post("/retrieve", json={"queries": [{"query": "b", "seed": 2}, {"query": "c", "seed": 3}], "topk": 3}).json()
        assert second["result"][0] == first["result"][1]
        prompts = engine.calls[-1][0]
        assert len(prompts) == 1 and "Query: c" in prompts[0]
        assert c.get("/account.json").json()["cache_hits"] == 1


def test_account_estimates_cost_from_engine_seconds() -> None:
    engine = FakeEngine(delay_s=0.05)
    with _client(engine, cost={"gpu_hourly_usd": 3600.0, "gpu_count": 4}) as c:
        _wait_ready(c)
        c.get("/search.json", params={"q": "x", "api_key": "k1"})
        c.get("/search.json", params={"q": "x", "api_key": "k1"})  # a hit costs nothing
        account = c.get("/account.json", params={"api_key": "k1"}).json()
        assert account["engine_seconds"] >= 0.05
        # $3600/h = $1/s per GPU, four GPUs
        assert account["estimated_cost_usd"] == pytest.approx(account["engine_seconds"] * 4, abs=0.01)
        assert c.get("/account.json", params={"api_key": "nobody"}).json()["estimated_cost_usd"] == 0
