"""The miniature run's report: one table of every evaluated arm on the held-out questions against
the corpus (EM, cover-EM, F1, searches per question; RL arms per seed, and their mean and spread
when there are several seeds), the stages' wall times, and the RL arms' reward curves in one PNG
(`serpsim-train plot`)."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .profiles import ARMS, RL_ARMS

if TYPE_CHECKING:
    from .pipeline import Run

METRICS = ("em", "cover_em", "f1", "searches_per_question")


def _row(label: str, what: str, r: dict[str, Any]) -> str:
    return (f"| {label} | {what} | {r['n']} | {100 * r['em']:.1f} | {100 * r['cover_em']:.1f} | {100 * r['f1']:.1f} | "
            f"{r['searches_per_question']:.2f} |")


def _spread(label: str, what: str, results: list[dict[str, Any]]) -> str:
    def cell(m: str, scale: float, fmt: str) -> str:
        values = [scale * r[m] for r in results]
        return f"{statistics.mean(values):{fmt}} ± {statistics.stdev(values):{fmt}}"

    return (f"| {label} | {what}, mean ± sd of {len(results)} seeds | {results[0]['n']} | {cell('em', 100, '.1f')} | "
            f"{cell('cover_em', 100, '.1f')} | {cell('f1', 100, '.1f')} | {cell('searches_per_question', 1, '.2f')} |")


def collect_results(out: Path) -> dict[str, dict[str, Any]]:
    """Evaluated arms by label (`a`, `b`, `c-s1`, ...), from each eval stage's marker."""
    results: dict[str, dict[str, Any]] = {}
    for path in sorted((out / "stages").glob("eval-*.json")):
        if path.name == "eval-sim.json":
            continue
        results.update(json.loads(path.read_text())["result"])
    return results


def write_report(run: Run) -> dict[str, Any]:
    out = run.out
    results = collect_results(out)
    lines = ["| arm | policy | n | EM % | cover-EM % | F1 % | searches/q |", "|---|---|---|---|---|---|---|"]
    for arm in run.profile.arms:
        if arm not in RL_ARMS:
            if arm in results:
                lines.append(_row(arm, ARMS[arm], results[arm]))
            continue
        per_seed = [(s, results[f"{arm}-s{s}"]) for s in run.seeds if f"{arm}-s{s}" in results]
        for seed, r in per_seed:
            lines.append(_row(f"{arm} (seed {seed})", ARMS[arm], r))
        if len(per_seed) > 1:
            lines.append(_spread(arm, ARMS[arm], [r for _, r in per_seed]))
    from .pipeline import marker, stages

    timings = {}
    for name, _ in stages(run):
        if name != "report" and marker(run, name).exists():
            timings[name] = json.loads(marker(run, name).read_text())["seconds"]
    total = sum(timings.values())
    manifest = json.loads((out / "world" / "manifest.json").read_text())
    text = [
        f"# Miniature ZeroSearch: profile `{_profile_name(run)}`, world seed {manifest['seed']}, "
        f"RL seeds {', '.join(map(str, run.seeds))}",
        "",
        f"Held-out questions against the corpus (BM25), greedy. {manifest['test_questions']} held-out and "
        f"{manifest['train_questions']} training questions; {manifest['passages']} passages. RL: "
        f"{run.profile.rl_steps} GRPO steps per arm, {run.profile.rl_batch_size} questions x "
        f"{run.profile.rl_rollouts} rollouts a step, curriculum p(noisy) 0 -> 0.5.",
        "",
        *lines,
        "",
        "EM: exact match after normalisation; cover-EM: a gold answer is contained in the prediction (the "
        "papers' EM); F1: token F1.",
        "",
        "| stage | seconds |",
        "|---|---|",
        *(f"| {name} | {seconds:.0f} |" for name, seconds in timings.items()),
        f"| **all stages** | {total:.0f} |",
        "",
    ]
    rl_dirs = [(f"{arm} (seed {seed})", out / "rl" / f"{arm}-s{seed}") for arm, seed in run.rl_arms()]
    rl_dirs = [(label, d) for label, d in rl_dirs if (d / "metrics.jsonl").exists()]
    plot = None
    if rl_dirs:
        labels = [a for label, _ in rl_dirs for a in ("--label", label)]
        run.cli("plot", "plot", *(d for _, d in rl_dirs), *labels, "--out", out / "rewards.png",
                "--title", "mini: training reward per step")
        plot = str(out / "rewards.png")
        text += [f"Training reward per step of the RL arms: `{out / 'rewards.png'}`.", ""]
    (out / "report.md").write_text("\n".join(text))
    return {"results": results, "stage_seconds": timings, "stage_seconds_total": total, "plot": plot}


def _profile_name(run: Run) -> str:
    from .profiles import PROFILES

    return next((name for name, p in PROFILES.items() if p == run.profile), "custom")
