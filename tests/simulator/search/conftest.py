"""One server per session for the search-path tests: the simulation (fake engine), the fact corpus
in each mode (one loaded index shared by three backends), and SerpApi through a fake upstream."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from serpsim_simulator.app import create_app
from serpsim_simulator.backends.corpus.backend import CorpusBackend
from serpsim_simulator.backends.corpus.index import CorpusIndex
from serpsim_simulator.backends.serpapi.backend import SerpApiBackend
from serpsim_simulator.backends.settings import CorpusBackendSettings, SerpApiBackendSettings

from ..backends.fake_serpapi import FakeSerpApi, serve_fake_serpapi
from ..conftest import _wait_ready, make_settings
from ..fakes import FakeEngine

MODES = ("bm25", "dense", "hybrid")
KEY = "sk-upstream-3c9e71f0a2b84d65"
"""The fake upstream's SerpApi key: it must never leave the server."""
KEY_ENV = "SERPSIM_TEST_UPSTREAM_KEY"


@dataclass
class RealSearch:
    client: TestClient
    engine: FakeEngine
    upstream: FakeSerpApi


def corpus_backends(index_dir: Path, index: CorpusIndex, modes: tuple[str, ...] = MODES) -> dict[str, CorpusBackend]:
    """One backend per mode, all on the session's loaded index (loading it again costs seconds)."""
    return {m: CorpusBackend(CorpusBackendSettings(name=m, index=index_dir, mode=m), index) for m in modes}  # type: ignore[arg-type]


def serpapi_settings(url: str, spend_file: Path) -> SerpApiBackendSettings:
    return SerpApiBackendSettings(
        name="google", base_url=url, api_key_env=KEY_ENV, timeout_s=0.5, params={"gl": "us", "hl": "en"},
        spend_file=str(spend_file), searches_per_hour=10_000, searches_per_month=10_000,
    )


@pytest.fixture(scope="session")
def upstream() -> Iterator[FakeSerpApi]:
    with serve_fake_serpapi(KEY, slow_s=1.5) as fake:
        yield fake


@pytest.fixture(scope="session")
def real_search(
    index_dir: Path, corpus_index: CorpusIndex, upstream: FakeSerpApi, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RealSearch]:
    """`simulated` (the default), `bm25`, `dense`, `hybrid` and `google` (SerpApi) in one app."""
    google = serpapi_settings(upstream.url, tmp_path_factory.mktemp("spend") / "spend.json")
    backends = [{"kind": "simulated", "name": "simulated"}]
    backends += [{"kind": "corpus", "name": m, "index": str(index_dir), "mode": m} for m in MODES]
    backends.append(google.model_dump(mode="json"))
    injected: dict[str, object] = dict(corpus_backends(index_dir, corpus_index))
    injected["google"] = SerpApiBackend(google, environ={KEY_ENV: KEY})
    engine = FakeEngine()
    app = create_app(make_settings(backends=backends), engine=engine, backends=injected)  # type: ignore[arg-type]
    with TestClient(app) as client:
        _wait_ready(client)
        yield RealSearch(client, engine, upstream)
