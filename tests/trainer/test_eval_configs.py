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


def test_the_comparison_run_searches_the_corpus_only() -> None:
    """`grpo_corpus`: GRPO as `grpo`, both training and validation on the simulator's `corpus` backend."""
    from serpsim_trainer.rl import load_run_config

    serpsim, verl = load_run_config(CONFIGS / "grpo_corpus.yaml")
    grpo_serpsim, grpo_verl = load_run_config(CONFIGS / "grpo.yaml")
    search = serpsim["search"]
    assert (search["backend"], search["validation_backend"]) == ("corpus", "corpus")
    assert search["send_hints"] is False and search["use_curriculum"] is False
    # Everything else is grpo's: the same algorithm, data and model.
    assert {k: v for k, v in verl.items() if k != "trainer.experiment_name"} == {
        k: v for k, v in grpo_verl.items() if k != "trainer.experiment_name"}
    assert {k: v for k, v in search.items() if k not in ("backend", "validation_backend", "send_hints", "use_curriculum")} == {
        k: v for k, v in grpo_serpsim["search"].items() if k not in ("backend", "validation_backend", "send_hints", "use_curriculum")}
