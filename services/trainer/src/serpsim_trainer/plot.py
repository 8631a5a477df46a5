"""`serpsim-train plot`: training reward per step of one or more runs, in one PNG.

A run directory (`serpsim-train rl`'s `serpsim.run_dir`) holds verl's `file` logger output,
`metrics.jsonl`, one `{"step": N, "data": {...}}` line per logged step; on every relaunch the
previous file is kept as `metrics.1.jsonl`, `metrics.2.jsonl`, ... (oldest first). Read in that
order, a step logged twice (a step retrained after a resume) keeps its latest value.

The curriculum's p(noisy) goes on a second axis when the run's `search_trace.jsonl` recorded it:
the value applied to the step's training searches (the last one recorded for the step).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REWARD_METRIC = "critic/score/mean"
METRICS_FILE = "metrics.jsonl"
TRACE_FILE = "search_trace.jsonl"
_ROTATED = re.compile(r"^metrics\.(\d+)\.jsonl$")


@dataclass
class RunCurves:
    run_dir: Path
    label: str
    reward: dict[int, float] = field(default_factory=dict)
    p_noisy: dict[int, float] = field(default_factory=dict)


def metrics_files(run_dir: Path) -> list[Path]:
    """The run's metrics files, oldest first: `metrics.1.jsonl`, `metrics.2.jsonl`, ..., `metrics.jsonl`."""
    rotated = sorted((int(m.group(1)), p) for p in run_dir.glob("metrics.*.jsonl") if (m := _ROTATED.match(p.name)))
    files = [p for _, p in rotated]
    if (run_dir / METRICS_FILE).exists():
        files.append(run_dir / METRICS_FILE)
    return files


def _lines(path: Path) -> Iterable[dict]:
    """JSON lines; a partial *last* line (a launch killed mid-write) is skipped, any other bad line raises."""
    bad: int | None = None
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            if bad is not None:
                raise ValueError(f"{path}:{bad}: not a JSON line")
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                bad = number


def read_metric(run_dir: Path, metric: str = REWARD_METRIC) -> dict[int, float]:
    """`metric` per training step across every launch of the run (the latest value of a step wins)."""
    values: dict[int, float] = {}
    for path in metrics_files(run_dir):
        for record in _lines(path):
            data = record.get("data") or {}
            if metric in data and data[metric] is not None and record.get("step") is not None:
                values[int(record["step"])] = float(data[metric])
    return dict(sorted(values.items()))


def read_p_noisy(run_dir: Path) -> dict[int, float]:
    """The p(noisy) the search trace recorded for each step's training searches (empty without one)."""
    path = run_dir / TRACE_FILE
    values: dict[int, float] = {}
    if path.exists():
        for record in _lines(path):
            if record.get("split") == "train" and record.get("p_noisy") is not None:
                values[int(record["step"])] = float(record["p_noisy"])
    return dict(sorted(values.items()))


def read_run(run_dir: Path, label: str | None = None, metric: str = REWARD_METRIC) -> RunCurves:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"{run_dir}: no such run directory")
    if not metrics_files(run_dir):
        raise FileNotFoundError(f"{run_dir}: no {METRICS_FILE} (has `serpsim-train rl` trained a step here?)")
    reward = read_metric(run_dir, metric)
    if not reward:
        raise ValueError(f"{run_dir}: no step logged {metric!r}")
    return RunCurves(run_dir, label or run_dir.name, reward, read_p_noisy(run_dir))


def plot_runs(runs: Sequence[RunCurves], out: Path, *, metric: str = REWARD_METRIC, title: str | None = None) -> Path:
    """One reward curve per run (left axis) and, where known, its p(noisy) dashed (right axis)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=120)
    noise_ax = ax.twinx() if any(r.p_noisy for r in runs) else None
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, run in enumerate(runs):
        color = colors[i % len(colors)]
        steps = list(run.reward)
        ax.plot(steps, [run.reward[s] for s in steps], marker="o" if len(steps) < 30 else None, color=color,
                label=run.label)
        if noise_ax is not None and run.p_noisy:
            noisy_steps = list(run.p_noisy)
            noise_ax.plot(noisy_steps, [run.p_noisy[s] for s in noisy_steps], linestyle="--", color=color, alpha=0.6,
                          label=f"{run.label}: p(noisy)")
    ax.set_xlabel("training step")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(f"training reward ({metric})")
    ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    if noise_ax is not None:
        noise_ax.set_ylabel("curriculum p(noisy), dashed")
        noise_ax.set_ylim(0, 1)
        more_handles, more_labels = noise_ax.get_legend_handles_labels()
        handles, labels = handles + more_handles, labels + more_labels
    ax.legend(handles, labels, loc="best", fontsize=8)
    ax.set_title(title or "training reward per step")
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out
