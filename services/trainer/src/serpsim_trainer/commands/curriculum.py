"""`serpsim-train curriculum`: print (and optionally plot) the noise schedule."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser("curriculum", help="print the p(noisy) schedule of a run")
    p.add_argument("--start", type=float, default=0.0, help="p(noisy) at step 0")
    p.add_argument("--end", type=float, default=0.5, help="p(noisy) at the last step")
    p.add_argument("--steps", type=int, default=203, help="total training steps")
    p.add_argument("--base", type=float, default=4.0, help="exponential base (ZeroSearch: 4)")
    p.add_argument("--every", type=int, default=0, help="print every N steps (default: about 20 rows)")
    p.add_argument("--plot", default=None, help="write a PNG of the schedule (needs matplotlib)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..curriculum import Curriculum

    cur = Curriculum(start=args.start, end=args.end, base=args.base, total_steps=args.steps)
    every = args.every or max(1, args.steps // 20)
    rows = sorted({*range(0, args.steps + 1, every), 1, args.steps})
    sys.stdout.write("step\tp_noisy\n")
    for step in rows:
        sys.stdout.write(f"{step}\t{cur.prob(step):.3f}\n")
    if args.plot:
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            sys.stderr.write("--plot needs matplotlib: pip install 'serpsim-trainer[plot]'\n")
            return 2
        steps, probs = zip(*cur.schedule(), strict=True)
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.plot(steps, probs)
        ax.set_xlabel("training step")
        ax.set_ylabel("p(noisy)")
        ax.set_title(f"curriculum {args.start} → {args.end}, base {args.base:g}")
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(args.plot, dpi=120)
        sys.stdout.write(f"wrote {args.plot}\n")
    return 0
