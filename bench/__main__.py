"""`make bench`: run each benchmark, print a table, write JSON to bench/results/."""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable
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


def _overhead(args: argparse.Namespace) -> dict[str, Any]:
    from .overhead import run_overhead

    return run_overhead(args.seconds)


def _cache(args: argparse.Namespace) -> dict[str, Any]:
    from .overhead import run_cache_hit

    return run_cache_hit(args.seconds)


def _batching(args: argparse.Namespace) -> dict[str, Any]:
    from .batching import run_batching

    return run_batching()


def _vllm(args: argparse.Namespace) -> dict[str, Any]:
    from .vllm_engine import run_vllm

    return run_vllm()


def _corpus(args: argparse.Namespace) -> dict[str, Any]:
    from .corpus import run_corpus

    return run_corpus(args.corpus_bm25, args.corpus_dense, seconds=args.seconds)


def _profile(args: argparse.Namespace) -> dict[str, Any]:
    from .profile import run_profile

    return run_profile()


BENCHMARKS: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "overhead": _overhead, "cache": _cache, "batching": _batching, "vllm": _vllm, "corpus": _corpus,
    "profile": _profile,
}
"""Each benchmark by name, given the command line's arguments; imported only when it runs."""
DEFAULT = ("overhead", "cache", "batching", "vllm", "corpus")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("only", nargs="*", help=f"any of {', '.join(BENCHMARKS)} (default: all but profile)")
    parser.add_argument("--seconds", type=float, default=5.0, help="wrk duration per point")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is not met or a benchmark fails")
    parser.add_argument("--corpus-bm25", type=int, default=1_000_000, help="corpus: passages in the BM25 build")
    parser.add_argument("--corpus-dense", type=int, default=50_000, help="corpus: passages in the dense build")
    args = parser.parse_args(argv)
    chosen = args.only or list(DEFAULT)
    unknown = [name for name in chosen if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    missed: list[str] = []
    failed: list[str] = []
    for name in chosen:
        started = time.perf_counter()
        try:
            result = BENCHMARKS[name](args)
        except Exception as exc:  # a benchmark that cannot measure says why; the others still run
            result = {"name": name, "error": f"{type(exc).__name__}: {exc}"}
        result["wall_s"] = round(time.perf_counter() - started, 1)
        result["machine"] = f"{platform.machine()} {platform.processor() or ''} python {platform.python_version()}".strip()
        if "error" in result:
            failed.append(name)
            sys.stdout.write(f"\n== {name} ({result['wall_s']} s)\n{name}: not measured: {result['error']}\n")
        else:
            sys.stdout.write(f"\n== {result['name']} ({result['wall_s']} s)\n{table(result)}\n")
            if "cprofile_tottime_top30" in result:
                sys.stdout.write(result["cprofile_tottime_top30"])
            missed += [f"{result['name']}: {k}" for k, met in result.get("targets", {}).items() if not met]
        (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2))
    summary = "all targets met" if not missed else "targets not met: " + "; ".join(missed)
    if failed:
        summary += "\nnot measured: " + ", ".join(failed)
    sys.stdout.write(f"\n{summary}\nresults in {RESULTS}/\n")
    # Benchmarks measure; they are not a gate unless asked to be.
    return 1 if (missed or failed) and args.strict else 0


if __name__ == "__main__":
    raise SystemExit(main())
