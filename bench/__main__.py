"""`make bench`: run each benchmark, print a table, write JSON to bench/results/."""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


def table(result: dict[str, Any]) -> str:
    rows = result["rows"]
    cols = list(rows[0])
    fmt = lambda v: f"{v:.3f}" if isinstance(v, float) else str(v)  # noqa: E731
    widths = [max(len(c), *(len(fmt(r[c])) for r in rows)) for c in cols]
    lines = ["  ".join(c.rjust(w) for c, w in zip(cols, widths))]
    lines += ["  ".join(fmt(r[c]).rjust(w) for c, w in zip(cols, widths)) for r in rows]
    lines += [f"target {k}: {'MET' if v else 'NOT MET'}" for k, v in result.get("targets", {}).items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "only", nargs="*", help="overhead, cache, batching, vllm, corpus (default: all); profile (only when named)"
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="wrk duration per point")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is not met")
    parser.add_argument("--corpus-bm25", type=int, default=1_000_000, help="corpus: passages in the BM25 build")
    parser.add_argument("--corpus-dense", type=int, default=50_000, help="corpus: passages in the dense build")
    args = parser.parse_args(argv)
    chosen = set(args.only or ["overhead", "cache", "batching", "vllm", "corpus"])
    RESULTS.mkdir(parents=True, exist_ok=True)
    runs: list[Any] = []
    if "overhead" in chosen:
        from .overhead import run_overhead

        runs.append(lambda: run_overhead(args.seconds))
    if "cache" in chosen:
        from .overhead import run_cache_hit

        runs.append(lambda: run_cache_hit(args.seconds))
    if "batching" in chosen:
        from .batching import run_batching

        runs.append(run_batching)
    if "vllm" in chosen:
        from .vllm_engine import run_vllm

        runs.append(run_vllm)
    if "corpus" in chosen:
        from .corpus import run_corpus

        runs.append(lambda: run_corpus(args.corpus_bm25, args.corpus_dense))
    if "profile" in chosen:
        from .profile import run_profile

        runs.append(run_profile)
    missed: list[str] = []
    for run in runs:
        started = time.perf_counter()
        result = run()
        result["wall_s"] = round(time.perf_counter() - started, 1)
        result["machine"] = f"{platform.machine()} {platform.processor() or ''} python {platform.python_version()}".strip()
        sys.stdout.write(f"\n== {result['name']} ({result['wall_s']} s)\n{table(result)}\n")
        if "cprofile_tottime_top30" in result:
            sys.stdout.write(result["cprofile_tottime_top30"])
        (RESULTS / f"{result['name']}.json").write_text(json.dumps(result, indent=2))
        missed += [f"{result['name']}: {k}" for k, met in result.get("targets", {}).items() if not met]
    summary = "all targets met" if not missed else "targets not met: " + "; ".join(missed)
    sys.stdout.write(f"\n{summary}\nresults in {RESULTS}/\n")
    # Benchmarks measure; they are not a gate unless asked to be.
    return 1 if missed and args.strict else 0


if __name__ == "__main__":
    raise SystemExit(main())
