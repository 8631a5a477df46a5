"""`serpsim-train plot RUN_DIR [RUN_DIR...] --out FILE.png`: training reward curves of RL runs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def add_parser(subparsers: Any) -> None:
    from ..plot import REWARD_METRIC

    p = subparsers.add_parser("plot", help="plot the training reward per step of RL runs (verl's metrics.jsonl)")
    p.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR", help="`serpsim.run_dir` of each run")
    p.add_argument("--out", required=True, type=Path, help="PNG file to write")
    p.add_argument("--label", action="append", default=None,
                   help="a curve's name, once per RUN_DIR in order (default: the directory's name)")
    p.add_argument("--metric", default=REWARD_METRIC, help=f"verl metric to plot (default {REWARD_METRIC})")
    p.add_argument("--title", default=None)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..plot import plot_runs, read_run

    labels = args.label or [None] * len(args.run_dirs)
    if len(labels) != len(args.run_dirs):
        sys.stderr.write(f"plot: {len(labels)} --label for {len(args.run_dirs)} run directories\n")
        return 2
    try:
        runs = [read_run(d, label, args.metric) for d, label in zip(args.run_dirs, labels)]
    except (FileNotFoundError, ValueError) as exc:
        sys.stderr.write(f"plot: {exc}\n")
        return 2
    out = plot_runs(runs, args.out, metric=args.metric, title=args.title)
    for r in runs:
        steps = list(r.reward)
        noise = f", p(noisy) {r.p_noisy[steps[0]]:.3f} -> {r.p_noisy[steps[-1]]:.3f}" if (
            steps[0] in r.p_noisy and steps[-1] in r.p_noisy) else ""
        sys.stdout.write(f"{r.label}: steps {steps[0]}-{steps[-1]}, {args.metric} "
                         f"{r.reward[steps[0]]:.3f} -> {r.reward[steps[-1]]:.3f}{noise}\n")
    sys.stdout.write(f"wrote {out}\n")
    return 0
