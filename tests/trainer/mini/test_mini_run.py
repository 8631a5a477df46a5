"""The miniature ZeroSearch end to end, reduced (`serpsim-train mini-run --profile ci`, the command
behind `make mini`): the CI world indexed by `serpsim-simulator index`, its warmed-up policy, a
simulation LLM tuned from that policy with collect -> judge -> build-sft -> sft-sim and judged by
eval-sim, two real GRPO steps (verl, CPU) against the simulator under the curriculum, the exported
policy and the warmed-up one evaluated on held-out questions against the corpus, the table and
the reward plot.

The RL arm's first launch also carries the assertions of tests/trainer/test_rl_cpu_training.py's
first launch (that file resumes this arm for its failure-bound and resume launches).
"""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

# The first test also sets up `mini_run_dir` (about 12 minutes here, twice that on a loaded machine).
pytestmark = [pytest.mark.heavy, pytest.mark.timeout(3000)]

STEPS = 2
ARM = "c-s1"


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _train_questions(run: Path) -> dict[str, str]:
    frame = pd.read_parquet(run / "data" / "train.parquet")
    return {e["uid"]: e["question"] for e in frame["extra_info"]}


def test_every_stage_ran_and_left_its_artefacts(mini_run_dir: Path) -> None:
    run = mini_run_dir
    stages = {p.stem: json.loads(p.read_text()) for p in (run / "stages").glob("*.json")}
    assert set(stages) == {"world", "index", "data", "policy", "collect", "simllm", "eval-sim", f"rl-{ARM}",
                           "eval-ab", f"eval-{ARM}", "report"}
    assert all(s["seconds"] >= 0 for s in stages.values())
    # The simulation LLM: made from what the warmed-up policy searched in the corpus.
    collected = _lines(run / "simllm" / "collect" / "searches.jsonl")
    passages = {f"{p['title']}: {p['text']}" for p in _lines(run / "world" / "corpus.jsonl")}
    documents = [d for r in collected for d in r["documents"]]
    assert documents and all(d in passages for d in documents)  # the corpus's passages, as the index served them
    # Tuned from the warmed-up policy (the one model that writes the world's names as whole tokens).
    assert stages["simllm"]["result"]["base"] == str(run / "policy") and stages["simllm"]["result"]["sft_rows"] > 0
    assert (run / "simllm" / "model" / "config.json").exists()
    report = json.loads((run / "simllm" / "eval_sim" / "eval_sim.json").read_text())
    assert {"useful", "noisy", "reference"} <= set(report["modes"])
    assert all(m["requests"] > 0 and m["errors"] == 0 for m in report["modes"].values())
    # The table: one row per arm, and the plot of the RL arm's rewards.
    table = (run / "report.md").read_text()
    for row in ("| a | warm-started, no search", "| b | warm-started, with search", "| c (seed 1) | RL against the simulator"):
        assert row in table, table
    assert (run / "rewards.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_arms_are_evaluated_against_the_corpus(mini_run_dir: Path) -> None:
    """Arm a never searches, b and the RL arm's exported policy search the corpus, every arm on the
    same held-out questions (none of them asked in training)."""
    run = mini_run_dir
    train = set(_train_questions(run).values())
    questions = {}
    for arm in ("a", "b", ARM):
        result = json.loads((run / "eval" / arm / "results.json").read_text())
        mini = result["sets"]["mini"]
        assert mini["n"] == 24 and mini["errors"] == 0 and mini["failed_searches"] == 0
        assert result["meta"]["backend"] == "simulator"
        predictions = _lines(run / "eval" / arm / "predictions_mini.jsonl")
        questions[arm] = {p["question"] for p in predictions}
        assert not questions[arm] & train
        if arm == "a":
            assert result["meta"]["max_turns"] == 0 and mini["searches_per_question"] == 0
        else:
            assert mini["searches_per_question"] > 0
    assert questions["a"] == questions["b"] == questions[ARM]
    backend = (run / "eval" / f"corpus-{ARM}.yaml").read_text()
    assert "backend: corpus" in backend and "send_hints: false" in backend
    assert json.loads((run / "stages" / f"eval-{ARM}.json").read_text())["result"][ARM]["n"] == 24
    # The exported policy is what was evaluated.
    assert (run / "rl" / ARM / "policy" / "config.json").exists()


def test_rl_arm_searched_under_the_curriculum_and_learned(mini_run_dir: Path) -> None:
    """test_rl_cpu_training.py's first launch, on the mini run's arm c: searches were made, each
    carried its own sample's question (trace and the simulator's own archive) and the curriculum's
    coin for its step, the trace holds the documents the simulator returned, rewards varied within
    groups (non-zero GRPO advantages), the reward, gradients and search counts reached verl's
    metrics, and the exported policy's weights differ from the warmed-up ones."""
    run = mini_run_dir
    run_dir = run / "rl" / ARM
    questions = _train_questions(run)
    records = _lines(run_dir / "search_trace.jsonl")
    first_launch = {r["launch"] for r in records}
    assert len(first_launch) == 1 and None not in first_launch
    train = [r for r in records if r["split"] == "train"]
    assert train, "no searches were made"
    assert {r["step"] for r in train} == {1, 2}
    assert all(r["ok"] for r in train)
    assert {r["backend"] for r in train} == {"simulated"}
    for r in train:
        assert r["question"] == questions[r["uid"]], r
    # Every call of a step is its own: no two share a seed.
    for step in (1, 2):
        seeds = [r["seed"] for r in train if r["step"] == step]
        assert len(seeds) == len(set(seeds))

    # The simulator received exactly that question, quality and seed, and returned the documents the
    # trace holds (its archive, saved by the pipeline before it stopped the simulator).
    archived = {a["search_metadata"]["id"]: a for a in _lines(run_dir / "archive.jsonl")}
    assert len(archived) == len(train)
    for r in train:
        params = archived[r["search_id"]]["search_parameters"]
        assert params["question"] == questions[r["uid"]]
        assert params["quality"] == r["quality"] and int(params["seed"]) == r["seed"]
        assert r["documents"] == [o["snippet"] for o in archived[r["search_id"]]["organic_results"]][: len(r["documents"])]

    # Each call's quality is the curriculum's coin at its step, written out: p = (4^(i/T) - 1) / 3 * 0.5
    # over the run's T = 2 steps, noisy iff a Random seeded with the call's seed draws below p.
    for r in train:
        p = (4 ** (r["step"] / STEPS) - 1) / 3 * 0.5
        assert math.isclose(r["p_noisy"], p)
        assert r["quality"] == ("noisy" if random.Random(r["seed"]).random() < p else "useful")

    # The reward (and the KL loss: the reference model runs on CPU) and the search count reached verl's
    # metrics; gradients were non-zero. Our reward is what GRPO's advantages are made of: a step whose
    # rollouts scored differently has non-zero advantages, a step whose rollouts all scored the same
    # has none. (Whether any rollout scores is the tiny policy's luck, about one in 64, so the test
    # cannot demand it: in five runs of this profile and its variants, 3 of 10 steps had one.)
    by_step = {m["step"]: m["data"] for m in _lines(run_dir / "metrics.jsonl") if "training/global_step" in m["data"]}
    assert set(by_step) == {1, 2}
    for step, data in by_step.items():
        assert 0.0 <= data["critic/score/min"] <= data["critic/score/mean"] <= data["critic/score/max"] <= 1.0
        assert "actor/kl_loss" in data and data["actor/grad_norm"] > 0
        assert data["search/calls"] == sum(r["step"] == step for r in train) and data["search/failure_rate"] == 0.0
        varied = data["critic/score/max"] > data["critic/score/min"]
        assert varied == (max(abs(data["critic/advantages/max"]), abs(data["critic/advantages/min"])) > 0), data

    # The policy's weights changed: the exported policy against the warmed-up one.
    out = subprocess.run([sys.executable, "-c", (
        "import sys, torch; from transformers import AutoModelForCausalLM as M\n"
        "a = M.from_pretrained(sys.argv[1], dtype=torch.float32).state_dict()\n"
        "b = M.from_pretrained(sys.argv[2], dtype=torch.float32).state_dict()\n"
        "assert set(a) == set(b)\n"
        "print(max((a[k] - b[k]).abs().max().item() for k in a))"), str(run / "policy"), str(run_dir / "policy")],
        capture_output=True, text=True, timeout=180, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    assert float(out.stdout.strip().splitlines()[-1]) > 1e-4


def test_a_rerun_skips_finished_stages(mini_run_dir: Path, tmp_path: Path) -> None:
    """Resumable per stage: rerunning the finished run redoes nothing but the report."""
    before = {p.name: p.stat().st_mtime for p in (mini_run_dir / "stages").glob("*.json")}
    out = subprocess.run([sys.executable, "-m", "serpsim_trainer.cli", "mini-run", str(mini_run_dir), "--profile", "ci"],
                         capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.count("done earlier") == len(before) - 1 and "[11/11] report: done in" in out.stdout
    after = {p.name: p.stat().st_mtime for p in (mini_run_dir / "stages").glob("*.json")}
    assert {k for k in before if before[k] != after[k]} == {"report.json"}
