"""`serpsim-train mini-run OUT`: the whole miniature ZeroSearch, stage by stage.

    world      the seeded world (corpus + questions)          OUT/world
    index      `serpsim-simulator index` over its corpus (BM25) OUT/index
    data       `serpsim-train prepare-data` (verl parquet)     OUT/data
    policy     the tiny policy's warm-up                        OUT/policy
    collect    the policy answers training questions against the corpus (`collect`)
    simllm     rule `judge`, `build-sft`, `sft-sim` on a tiny model -> the simulation LLM
    eval-sim   that model served by the simulator, `eval-sim` (report in OUT/simllm/eval_sim)
    rl-X-sS    `serpsim-train rl` (verl GRPO, curriculum 0 -> 0.5) for arm X with seed S, exported
    eval-...   `serpsim-train eval` on held-out questions against the corpus, per arm
    report     OUT/report.md (the table) and OUT/rewards.png (`serpsim-train plot`)

Every stage drives the console commands a user would run, with its log in OUT/logs/. A stage that
finished writes OUT/stages/NAME.json (its figures and wall time); a rerun skips it, so an
interrupted run resumes at the stage it was in (an RL launch resumes from its last checkpoint).
The servers a stage needs are started on free ports and stopped when it ends.
"""

from __future__ import annotations

import fcntl
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import httpx
import yaml

from .profiles import RL_ARMS, Profile
from .servers import CORPUS_BACKEND, SIMULATED_BACKEND, policy_server, simulator

POLICY_NAME = "policy"


class StageError(RuntimeError):
    """A stage's command failed (the message names its log)."""


@dataclass
class Run:
    out: Path
    profile: Profile
    seeds: tuple[int, ...]
    sim_base: Path | None = None
    """The simulation LLM's base model (None: the warmed-up policy, see `sim_base`)."""
    policy: Path | None = None
    """A policy already warmed up on this world (`serpsim-train mini-policy`): copied, not trained."""
    lock: Path | None = None
    """A file to flock around heavy stages (a machine shared with other jobs)."""
    world_seed: int = 0
    stream: TextIO = field(default=sys.stdout)
    lock_wait_s: float = 0.0
    """Seconds spent waiting for `lock` (not counted in a stage's time)."""

    @property
    def logs(self) -> Path:
        return self.out / "logs"

    def cli(self, name: str, *argv: str | Path, module: str = "serpsim_trainer.cli", timeout: float = 3600) -> None:
        """One console command, its output appended to OUT/logs/NAME.log; raises on failure."""
        log = self.logs / f"{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as fh:
            fh.write(f"$ {module} {' '.join(map(str, argv))}\n".encode())
            fh.flush()
            rc = subprocess.run([sys.executable, "-m", module, *map(str, argv)], stdout=fh, stderr=subprocess.STDOUT,
                                timeout=timeout, check=False).returncode
        if rc != 0:
            tail = log.read_text(errors="replace")[-2500:]
            raise StageError(f"{module} {argv[0]} exited with {rc} (log: {log}):\n{tail}")

    @contextmanager
    def heavy(self) -> Iterator[None]:
        if self.lock is None:
            yield
            return
        self.lock.parent.mkdir(parents=True, exist_ok=True)
        with self.lock.open("a") as fh:
            t0 = time.monotonic()
            fcntl.flock(fh, fcntl.LOCK_EX)
            self.lock_wait_s += time.monotonic() - t0
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def rl_arms(self) -> list[tuple[str, int]]:
        return [(arm, seed) for arm in self.profile.arms if arm in RL_ARMS for seed in self.seeds]

    def policy_of(self, arm: str, seed: int | None) -> Path:
        return self.out / "policy" if arm in ("a", "b") else self.out / "rl" / f"{arm}-s{seed}" / "policy"


# ---------------------------------------------------------------- stages


def stage_world(run: Run) -> dict[str, Any]:
    from .build import write_world
    from .world import SIZES

    return write_world(run.out / "world", SIZES[run.profile.world], run.world_seed, size_name=run.profile.world)


def stage_index(run: Run) -> dict[str, Any]:
    run.cli("index", "index", run.out / "world" / "corpus.jsonl", run.out / "index", "--overwrite", "--quiet",
            module="serpsim_simulator.cli")
    return {"index": str(run.out / "index")}


def stage_data(run: Run) -> dict[str, Any]:
    run.cli("data", "prepare-data", "--source-dir", run.out / "world" / "qa", "--train", "mini", "--eval", "mini",
            "--out", run.out / "data", "--val-sample", "16")
    return {"files": sorted(p.name for p in (run.out / "data").iterdir())}


def stage_policy(run: Run) -> dict[str, Any]:
    from .warmup import MARKER_FILE, warm_up_policy

    if run.policy is not None:
        marker = json.loads((run.policy / MARKER_FILE).read_text())
        theirs, ours = Path(marker["world"]) / "manifest.json", run.out / "world" / "manifest.json"
        if theirs.exists() and json.loads(theirs.read_text()) != json.loads(ours.read_text()):
            raise StageError(f"{run.policy} was warmed up on another world ({marker['world']})")
        if (run.out / "policy").exists():
            shutil.rmtree(run.out / "policy")
        shutil.copytree(run.policy, run.out / "policy")
        return {**marker, "copied_from": str(run.policy)}
    with run.heavy():
        return warm_up_policy(run.out / "world", run.out / "policy", run.profile.warmup)


def agent_block(profile: Profile) -> dict[str, Any]:
    return {"max_turns": profile.max_turns, "max_tokens_per_turn": profile.max_tokens_per_turn,
            "max_obs_tokens": profile.max_obs_tokens}


def corpus_search_config(path: Path, url: str, profile: Profile) -> Path:
    """A search settings YAML: the simulator at `url`, its corpus backend, the query alone."""
    config = {"kind": "simulator", "url": url, "backend": CORPUS_BACKEND, "validation_backend": CORPUS_BACKEND,
              "topk": 5, "send_hints": False, "use_curriculum": False, "agent": agent_block(profile)}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config))
    return path


def stage_collect(run: Run) -> dict[str, Any]:
    out = run.out / "simllm" / "collect"
    with (run.heavy(), simulator(run.out / "index", run.logs / "collect-simulator.log") as url,
          policy_server(run.out / "policy", run.logs / "collect-policy.log", name=POLICY_NAME) as policy_url):
        backend = corpus_search_config(run.out / "simllm" / "corpus.yaml", url, run.profile)
        run.cli("collect", "collect", "--policy-url", policy_url, "--model", POLICY_NAME, "--tokenizer",
                run.out / "policy", "--backend-config", backend, "--questions",
                run.out / "world" / "qa" / "mini" / "train.jsonl", "--max-questions", run.profile.collect_questions,
                "--max-response-tokens", run.profile.max_response_length, "--out", out, "--no-progress")
    searches = sum(1 for _ in (out / "searches.jsonl").open())
    if searches == 0:
        raise StageError("collect: the policy made no search (nothing to tune a simulator on)")
    return {"searches": searches}


def sim_base(run: Run) -> Path:
    """The model the simulation LLM is tuned from: `--sim-base`, or the warmed-up policy. ZeroSearch
    tunes a pretrained LLM that can already copy from its prompt and write the web's prose; here the
    policy is the one model that can: its tokenizer holds every world name as whole tokens, it was
    taught to copy spans, and it has read the world's passages. (A random-weight tiny model with a
    generic tokenizer, tuned as briefly, wrote the answer into 0% of its useful results.)"""
    return run.sim_base if run.sim_base is not None else run.out / "policy"


def stage_simllm(run: Run) -> dict[str, Any]:
    d = run.out / "simllm"
    run.cli("judge", "judge", "--records", d / "collect" / "searches.jsonl", "--out", d / "judged.jsonl",
            "--no-progress")
    run.cli("build-sft", "build-sft", "--judged", d / "judged.jsonl", "--out", d / "sft", "--eval-fraction", "0.2")
    with run.heavy():
        base = sim_base(run)
        run.cli("sft-sim", "sft-sim", "--model", base, "--data", d / "sft" / "sft_train.jsonl", "--out", d / "model",
                "--lr", run.profile.sft_lr, "--batch-size", run.profile.sft_batch_size, "--max-steps",
                run.profile.sft_steps, "--device", "cpu", "--no-gradient-checkpointing", "--logging-steps", "50",
                "--no-progress")
    rows = sum(1 for _ in (d / "sft" / "sft_train.jsonl").open())
    return {"sft_rows": rows, "model": str(d / "model"), "base": str(base)}


def stage_eval_sim(run: Run) -> dict[str, Any]:
    d = run.out / "simllm"
    limit = [] if run.profile.eval_sim_triples is None else ["--max-triples", run.profile.eval_sim_triples]
    with run.heavy(), simulator(run.out / "index", run.logs / "eval-sim-simulator.log", model=d / "model") as url:
        reference = corpus_search_config(d / "reference.yaml", url, run.profile)
        run.cli("eval-sim", "eval-sim", "--simulator", url, "--triples", d / "sft" / "triples_eval.jsonl", *limit,
                "--reference-backend", reference, "--out", d / "eval_sim", "--no-progress")
    report = json.loads((d / "eval_sim" / "eval_sim.json").read_text())
    return {"controllability_gap": report.get("controllability_gap"),
            "modes": {m: {k: v for k, v in r.items() if k in ("requests", "containment", "five_documents")}
                      for m, r in report["modes"].items()}}


def rl_overrides(run: Run, arm: str, seed: int, url: str) -> list[str]:
    p = run.profile
    run_dir = run.out / "rl" / f"{arm}-s{seed}"
    micro = min(p.rl_batch_size * p.rl_rollouts, 8)
    overrides = [
        f"data.train_files={run.out / 'data' / 'train.parquet'}",
        f"data.val_files={run.out / 'data' / 'val.parquet'}",
        f"data.train_batch_size={p.rl_batch_size}",
        f"data.seed={seed}",
        f"actor_rollout_ref.rollout.n={p.rl_rollouts}",
        f"actor_rollout_ref.rollout.seed={seed}",
        f"data.max_prompt_length={p.max_prompt_length}",
        f"data.max_response_length={p.max_response_length}",
        f"actor_rollout_ref.model.path={run.out / 'policy'}",
        f"actor_rollout_ref.actor.ppo_mini_batch_size={p.rl_batch_size}",
        f"actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu={micro}",
        f"actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu={micro}",
        f"actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu={micro}",
        f"actor_rollout_ref.actor.optim.lr={p.rl_lr}",
        "actor_rollout_ref.actor.optim.lr_warmup_steps_ratio=0",
        "trainer.test_freq=-1",
        f"trainer.total_training_steps={p.rl_steps}",
        f"trainer.save_freq={p.rl_steps}",
        f"serpsim.run_dir={run_dir}",
        f"serpsim.search.url={url}",
        f"serpsim.search.seed={seed}",
        f"serpsim.agent.max_turns={p.max_turns}",
        f"serpsim.agent.max_tokens_per_turn={p.max_tokens_per_turn}",
        f"serpsim.agent.max_obs_tokens={p.max_obs_tokens}",
        *p.extra_rl,
    ]
    if arm in ("c", "e"):
        overrides += [f"serpsim.search.backend={SIMULATED_BACKEND}", f"serpsim.search.validation_backend={CORPUS_BACKEND}"]
    if arm == "e":
        overrides.append("serpsim.curriculum.granularity=document")
    return overrides


def archive_searches(url: str, trace: Path, out: Path) -> int:
    """The simulator's own record (`/searches/{id}.json`) of each training search in `trace`, one
    JSON line each: what it was asked and what it returned, kept after the server stops."""
    records = [json.loads(line) for line in trace.read_text().splitlines()] if trace.exists() else []
    n = 0
    with httpx.Client(timeout=10) as client, out.open("w") as fh:
        for r in records:
            if r.get("split") != "train" or not r.get("search_id"):
                continue
            response = client.get(f"{url}/searches/{r['search_id']}.json")
            if response.status_code == 200:
                fh.write(json.dumps(response.json(), ensure_ascii=False) + "\n")
                n += 1
    return n


def rl_stage(arm: str, seed: int) -> Callable[[Run], dict[str, Any]]:
    def stage(run: Run) -> dict[str, Any]:
        run_dir = run.out / "rl" / f"{arm}-s{seed}"
        config = "grpo_corpus" if arm == "d" else "grpo"
        model = None if arm == "d" else run.out / "simllm" / "model"
        name = f"rl-{arm}-s{seed}"
        with run.heavy(), simulator(run.out / "index", run.logs / f"{name}-simulator.log", model=model) as url:
            overrides = rl_overrides(run, arm, seed, url)
            run_dir.mkdir(parents=True, exist_ok=True)
            (run_dir / "mini_command.json").write_text(json.dumps({"config": config, "overrides": overrides}, indent=2))
            run.cli(name, "rl", "--config", config, "--cpu", *overrides, timeout=4 * 3600)
            archived = archive_searches(url, run_dir / "search_trace.jsonl", run_dir / "archive.jsonl")
        if (run_dir / "policy").exists():
            shutil.rmtree(run_dir / "policy")
        run.cli(f"{name}-export", "export", run_dir, run_dir / "policy")
        metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
        rewards = {m["step"]: m["data"].get("critic/score/mean") for m in metrics if "critic/score/mean" in m["data"]}
        return {"config": config, "steps": len(rewards), "reward": rewards, "archived_searches": archived}

    return stage


def eval_stage(arms: list[tuple[str, int | None]]) -> Callable[[Run], dict[str, Any]]:
    """Evaluate arms sharing one policy (a and b: the warmed-up one) behind one vLLM server."""

    def stage(run: Run) -> dict[str, Any]:
        policy = run.policy_of(*arms[0])
        sample = [] if run.profile.eval_questions is None else ["--sample", run.profile.eval_questions]
        label = arm_label(*arms[0])
        results = {}
        with (run.heavy(), simulator(run.out / "index", run.logs / f"eval-{label}-simulator.log") as url,
              policy_server(policy, run.logs / f"eval-{label}-policy.log", name=POLICY_NAME) as policy_url):
            backend = corpus_search_config(run.out / "eval" / f"corpus-{label}.yaml", url, run.profile)
            for arm, seed in arms:
                name = arm_label(arm, seed)
                turns = ["--max-turns", "0"] if arm == "a" else []
                run.cli(f"eval-{name}", "eval", "--policy-url", policy_url, "--model", POLICY_NAME, "--tokenizer",
                        policy, "--backend-config", backend, *turns, "--data", run.out / "data", "--sets", "mini",
                        *sample, "--max-response-tokens", run.profile.max_response_length, "--concurrency", "16",
                        "--out", run.out / "eval" / name, "--no-progress")
                results[name] = json.loads((run.out / "eval" / name / "results.json").read_text())["sets"]["mini"]
        return results

    return stage


def arm_label(arm: str, seed: int | None) -> str:
    return arm if seed is None or arm not in RL_ARMS else f"{arm}-s{seed}"


def stage_report(run: Run) -> dict[str, Any]:
    from .report import write_report

    return write_report(run)


# ---------------------------------------------------------------- driver


def stages(run: Run) -> list[tuple[str, Callable[[Run], dict[str, Any]]]]:
    plan: list[tuple[str, Callable[[Run], dict[str, Any]]]] = [
        ("world", stage_world), ("index", stage_index), ("data", stage_data), ("policy", stage_policy),
    ]
    if any(arm in ("c", "e") for arm in run.profile.arms):
        plan += [("collect", stage_collect), ("simllm", stage_simllm), ("eval-sim", stage_eval_sim)]
    plan += [(f"rl-{arm}-s{seed}", rl_stage(arm, seed)) for arm, seed in run.rl_arms()]
    warm = [(arm, None) for arm in ("a", "b") if arm in run.profile.arms]
    if warm:
        plan.append(("eval-" + "".join(a for a, _ in warm), eval_stage(warm)))
    plan += [(f"eval-{arm}-s{seed}", eval_stage([(arm, seed)])) for arm, seed in run.rl_arms()]
    plan.append(("report", stage_report))
    return plan


def marker(run: Run, name: str) -> Path:
    return run.out / "stages" / f"{name}.json"


def run_pipeline(run: Run, *, only: set[str] | None = None) -> dict[str, Any]:
    """Run every stage not yet done (all of `only`, if given, done or not); returns the report."""
    plan = stages(run)
    run.out.mkdir(parents=True, exist_ok=True)
    (run.out / "stages").mkdir(exist_ok=True)
    started = time.monotonic()
    for k, (name, fn) in enumerate(plan, start=1):
        done = marker(run, name)
        head = f"[{k}/{len(plan)}] {name}"
        # The report is rebuilt every time: it reads whatever arms have finished.
        if done.exists() and name != "report" and (only is None or name not in only):
            record = json.loads(done.read_text())
            run.stream.write(f"{head}: done earlier ({record['seconds']:.0f} s), skipped\n")
            run.stream.flush()
            continue
        run.stream.write(f"{head}: running ...\n")
        run.stream.flush()
        t0, waited = time.monotonic(), run.lock_wait_s
        result = fn(run)
        waited = run.lock_wait_s - waited
        seconds = time.monotonic() - t0 - waited
        done.write_text(json.dumps({"stage": name, "seconds": round(seconds, 1), "lock_wait_s": round(waited, 1),
                                    "result": result}, indent=2) + "\n")
        note = f" (+{waited:.0f} s waiting for {run.lock})" if waited >= 1 else ""
        run.stream.write(f"{head}: done in {seconds:.0f} s{note}\n")
        run.stream.flush()
    report = json.loads(marker(run, "report").read_text())["result"]
    run.stream.write((run.out / "report.md").read_text())
    run.stream.write(f"this invocation: {time.monotonic() - started:.0f} s; all stages: "
                     f"{report['stage_seconds_total']:.0f} s\n")
    return dict(report)

