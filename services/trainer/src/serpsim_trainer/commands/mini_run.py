"""`serpsim-train mini-run OUT`: the miniature ZeroSearch end to end (`make mini`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def add_parser(subparsers: Any) -> None:
    from ..mini.profiles import ARMS, PROFILES

    p = subparsers.add_parser(
        "mini-run", help="the miniature ZeroSearch end to end: world, index, warm-up, simulation LLM, RL arms, table",
        description="Stages: world, index, data, policy (warm-up), collect / simllm / eval-sim (the simulation LLM "
        "made with the tuning pipeline), rl-X-sS (verl GRPO per RL arm and seed), eval-... (every arm on the "
        "held-out questions against the corpus), report (OUT/report.md, OUT/rewards.png). A finished stage "
        "is skipped on a rerun: an interrupted run resumes. Arms: "
        + "; ".join(f"{k}: {v}" for k, v in ARMS.items()) + ".",
    )
    p.add_argument("out", type=Path, help="run directory (created; reused to resume)")
    p.add_argument("--profile", choices=sorted(PROFILES), default="full", help="budget: full (make mini) or ci")
    p.add_argument("--seeds", type=int, default=1, help="RL seeds 1..N per RL arm (the world and simulator stay fixed)")
    p.add_argument("--arms", default=None, help="comma list of arms (default: the profile's)")
    p.add_argument("--rl-steps", type=int, default=None, help="GRPO steps per RL arm (default: the profile's)")
    p.add_argument("--eval-questions", type=int, default=None,
                   help="held-out questions each arm is evaluated on (default: the profile's)")
    p.add_argument("--sim-base", type=Path, default=None,
                   help="base model of the simulation LLM (default: the warmed-up policy, OUT/policy)")
    p.add_argument("--policy", type=Path, default=None,
                   help="a policy already warmed up on the same world (serpsim-train mini-policy): skips the warm-up")
    p.add_argument("--lock", type=Path, default=None,
                   help="a file to flock around the heavy stages (on a machine shared with other jobs)")
    p.add_argument("--redo", default="", help="comma list of stages to run again even if done")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import dataclasses

    from ..mini.pipeline import Run, StageError, run_pipeline
    from ..mini.profiles import ARMS, PROFILES
    from ..mini.servers import ServerError

    profile = PROFILES[args.profile]
    if args.arms is not None:
        arms = tuple(a.strip() for a in args.arms.split(",") if a.strip())
        unknown = [a for a in arms if a not in ARMS]
        if unknown or not arms:
            sys.stderr.write(f"mini-run: unknown arms {unknown} (known: {', '.join(ARMS)})\n")
            return 2
        profile = dataclasses.replace(profile, arms=arms)
    if args.seeds < 1 or (args.rl_steps is not None and args.rl_steps < 1) or (
            args.eval_questions is not None and args.eval_questions < 1):
        sys.stderr.write("mini-run: --seeds, --rl-steps and --eval-questions must be >= 1\n")
        return 2
    if args.rl_steps is not None:
        profile = dataclasses.replace(profile, rl_steps=args.rl_steps)
    if args.eval_questions is not None:
        profile = dataclasses.replace(profile, eval_questions=args.eval_questions)
    if args.sim_base is not None and not (args.sim_base / "config.json").exists():
        sys.stderr.write(f"mini-run: --sim-base {args.sim_base}: no config.json (not a model directory)\n")
        return 2
    if args.policy is not None and not (args.policy / "config.json").exists():
        sys.stderr.write(f"mini-run: --policy {args.policy}: no config.json (not a model directory)\n")
        return 2
    mini = Run(out=args.out, profile=profile, seeds=tuple(range(1, args.seeds + 1)), sim_base=args.sim_base,
               policy=args.policy, lock=args.lock)
    redo = {s.strip() for s in args.redo.split(",") if s.strip()}
    try:
        run_pipeline(mini, only=redo or None)
    except (StageError, ServerError) as exc:
        sys.stderr.write(f"mini-run: {exc}\nrerun the same command to resume from this stage\n")
        return 1
    return 0
