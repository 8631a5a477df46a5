from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from serpsim_simulator.app import create_app
from serpsim_simulator.settings import Settings

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
