"""The packaged evaluation backends: each loads, and none can leak the gold answer."""

from __future__ import annotations

from pathlib import Path

import pytest
import serpsim_trainer
from serpsim_trainer.search import load_search_settings

CONFIGS = Path(serpsim_trainer.__file__).parent / "configs"


@pytest.mark.parametrize(("name", "kind"), [("eval_serpapi", "serpapi"), ("eval_simulator", "simulator"), ("eval_retrieve", "retrieve")])
def test_eval_backends_send_no_hints(name: str, kind: str) -> None:
    settings = load_search_settings(CONFIGS / f"{name}.yaml")
    assert settings.kind == kind
    assert settings.send_hints is False and settings.use_curriculum is False
