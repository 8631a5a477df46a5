"""`serpsim-train rl --config FILE [--cpu | --ray-address ADDRESS] [--dry-run] [overrides...]`: train with verl."""

from __future__ import annotations

import argparse
import logging
import sys

logger = logging.getLogger(__name__)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "rl",
        help="train a search policy with verl (GRPO, PPO or REINFORCE++)",
        description="Compose verl's trainer config from a run config (a file, or a packaged name: grpo, ppo, "
        "reinforce_pp) plus Hydra overrides (verl keys, or serpsim.* for our section), then check it "
        "(--dry-run) or run verl's trainer. A run resumes from the last checkpoint in its run directory.",
    )
    parser.add_argument("--config", required=True, help="run config YAML, or grpo | ppo | reinforce_pp")
    parser.add_argument("--cpu", action="store_true", help="train on CPU (vLLM-CPU rollout, FSDP2 over gloo)")
    parser.add_argument(
        "--ray-address", metavar="ADDRESS",
        help="run on this existing Ray cluster (HEAD:6379 from a cluster node, ray://HEAD:10001 from outside, or "
        "auto on a node): verl's main_ppo joins it through ray_kwargs.ray_init.address, as with RAY_ADDRESS",
    )
    parser.add_argument("--dry-run", action="store_true", help="compose and import everything, print what would run, exit")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. trainer.total_training_steps=10")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..failure_bound import SearchFailureRateExceeded
    from ..rl import RunConfigError, cluster_summary, dry_run, launch, plan_run, write_run_files

    try:
        plan = plan_run(args.config, args.overrides, cpu=args.cpu, ray_address=args.ray_address)
        if args.dry_run:
            summary = dry_run(plan)
            if plan.ray_address:
                summary += cluster_summary(plan)
            write_run_files(plan)
            lines = [f"dry run ok: {args.config}", *(f"  {line}" for line in summary),
                     f"  composed config: {plan.config_path}"]
            sys.stdout.write("\n".join(lines) + "\n")  # command output
            return 0
        rc = launch(plan)
    except RunConfigError as exc:
        logger.error("%s", exc)
        return 2
    except SearchFailureRateExceeded as exc:
        logger.error("run stopped: %s", exc)
        return 3
    if rc != 0:
        logger.error("verl exited with code %d", rc)
    return rc
