from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from serpsim_simulator.app import create_app
from serpsim_simulator.settings import Settings

from .fakes import FakeEngine


def make_settings(**overrides: object) -> Settings:
    # Each app gets its own in-memory result cache: no state shared between tests or runs.
    overrides.setdefault("cache", {"path": ":memory:"})
    return Settings(engine={"kind": "transformers", "model": "unused-with-injected-engine"}, **overrides)


@pytest.fixture
def fake_engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture
def client(fake_engine: FakeEngine) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(), engine=fake_engine)) as c:
        _wait_ready(c)
        yield c


def _wait_ready(c: TestClient) -> None:
    for _ in range(200):
        if c.get("/readyz").status_code == 200:
            return
        import time

        time.sleep(0.01)
    raise AssertionError("engine never became ready")
