"""`serpsim-train eval-sim`: controllability and quality of a served simulator on held-out triples."""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
from pathlib import Path
from typing import Any


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser("eval-sim", help="evaluate a simulator: useful vs noisy containment, format, diversity")
    p.add_argument("--simulator", required=True, help="simulator base URL (serpsim-simulator serve)")
    p.add_argument("--triples", required=True, type=Path, help="build-sft's triples_eval.jsonl")
    p.add_argument("--out", required=True, type=Path, help="directory: eval_sim.json, eval_sim.md, eval_sim.png, samples.jsonl")
    p.add_argument("--reference-backend", type=Path, default=None,
                   help="search settings file (search_tool.yaml style) of a real backend to compare with")
    p.add_argument("--api-key-env", default=None, help="environment variable with the simulator's API key")
    p.add_argument("--max-triples", type=int, default=None, help="a seeded sample of N triples")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--timeout", type=float, default=120.0, help="seconds per request")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..search import Searcher, load_search_settings
    from ..simllm.evaluate import evaluate_simulator, read_triples, sample_rows, summarize
    from ..simllm.records import write_jsonl
    from ..simllm.report import write_report

    try:
        triples = read_triples(args.triples)
        if args.max_triples is not None and args.max_triples < len(triples):
            triples = random.Random(args.seed).sample(triples, args.max_triples)
        reference = Searcher(load_search_settings(args.reference_backend)) if args.reference_backend else None
        api_key = os.environ.get(args.api_key_env) if args.api_key_env else None
    except (FileNotFoundError, ValueError, OSError) as exc:  # a missing file, a bad settings file or API key
        sys.stderr.write(f"eval-sim: {exc}\n")
        return 2
    samples = asyncio.run(evaluate_simulator(
        triples, args.simulator, reference=reference, api_key=api_key, concurrency=args.concurrency,
        seed=args.seed, timeout_s=args.timeout, progress=not args.no_progress,
    ))
    simulated = [s for s in samples if s.mode != "reference"]
    if all(s.error for s in simulated):
        sys.stderr.write(f"eval-sim: every request to {args.simulator} failed; first error: {simulated[0].error}\n")
        return 2
    summary = summarize(samples)
    meta = {"simulator": args.simulator, "triples": str(args.triples), "n_triples": len(triples), "seed": args.seed,
            "reference_backend": str(args.reference_backend) if args.reference_backend else None}
    paths = write_report(args.out, summary, meta)
    write_jsonl(args.out / "samples.jsonl", sample_rows(samples, triples))
    sys.stdout.write(paths["markdown"].read_text())
    sys.stdout.write("wrote " + ", ".join(str(p) for p in paths.values()) + "\n")
    return 0
