"""What the distributions declare about themselves must be what CI runs."""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("pyproject", ["shared/pyproject.toml", "services/simulator/pyproject.toml"])
def test_declared_python_floor_is_the_one_ci_tests(pyproject: str) -> None:
    """CI builds every environment with one interpreter (this one). A lower floor promises
    versions nobody runs: on 3.10, `asyncio.wait_for`'s timeout is not the builtin TimeoutError,
    so `except TimeoutError` let the transformers engine's batch loop die."""
    declared = tomllib.loads((ROOT / pyproject).read_text())["project"]["requires-python"]
    floor = re.search(r">=\s*(\d+)\.(\d+)", declared)
    assert floor is not None, declared
    assert (int(floor.group(1)), int(floor.group(2))) == sys.version_info[:2], declared


def test_lint_targets_the_declared_floor() -> None:
    ruff = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["ruff"]["target-version"]
    assert ruff == f"py{sys.version_info[0]}{sys.version_info[1]}"
