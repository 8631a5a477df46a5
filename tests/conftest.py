"""Fixtures shared by every test environment. Keep imports light: the client environments
have neither torch nor the simulator installed, so heavy imports happen inside fixtures."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("SERPSIM_TEST_CACHE", REPO / ".cache" / "test-models"))


@contextmanager
def _build_lock(name: str) -> Iterator[None]:
    """Serialise builds of one cached artefact across concurrent pytest processes."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@pytest.fixture(scope="session")
def tiny_model_dir() -> Path:
    """A tiny Qwen2 simulation model trained to write `Doc k:` lines, built once per run.

    `make test` builds it before the suites with `serpsim-simulator tiny-model`; this fixture
    builds it through the same function when a test runs on its own.
    """
    out = Path(os.environ.get("SERPSIM_TINY_MODEL", CACHE / "tiny-sim"))
    with _build_lock("tiny-sim"):
        if not (out / "config.json").exists():
            from serpsim_simulator.tiny_model import build_tiny_model

            build_tiny_model(out)
    return out
