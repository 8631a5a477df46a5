"""`serpsim-simulator cost`: N simulated searches on rented GPUs against the same N on SerpApi.

Defaults reproduce ZeroSearch's figure (§5.5): about 64,000 searches cost $586.7 on SerpApi
and $70.8 on four A100s running the 14B simulator, an 88% saving. The paper gives totals only;
the defaults pick a price (A100 at $1.77/GPU-hour) and a throughput (64,000 searches in
10 hours) that give its total. Pass the throughput you measured, or `--from-server` to read it
from a running simulator's `/account.json` (searches per engine-second).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

import httpx

PAPER_SEARCHES = 64_000
PAPER_GPUS = 4
PAPER_GPU_HOURLY_USD = 1.77
PAPER_SEARCHES_PER_S = PAPER_SEARCHES / (10 * 3600)
PAPER_SERPAPI_PER_1000_USD = 586.7 / 64


@dataclass(frozen=True)
class CostEstimate:
    searches: int
    searches_per_s: float
    gpus: int
    gpu_hourly_usd: float
    serpapi_per_1000_usd: float

    @property
    def gpu_hours(self) -> float:
        return self.searches / self.searches_per_s / 3600 * self.gpus

    @property
    def simulated_usd(self) -> float:
        return self.gpu_hours * self.gpu_hourly_usd

    @property
    def serpapi_usd(self) -> float:
        return self.searches / 1000 * self.serpapi_per_1000_usd

    @property
    def saving(self) -> float:
        return 1 - self.simulated_usd / self.serpapi_usd if self.serpapi_usd else 0.0


def measured_throughput(base_url: str, api_key: str | None = None, timeout_s: float = 10.0) -> float:
    """Searches per engine-second so far, from a running server's /account.json.

    Cache hits are left out: they cost no engine time, and counting them would flatter the GPU.
    """
    params = {"api_key": api_key} if api_key else {}
    account = httpx.get(f"{base_url.rstrip('/')}/account.json", params=params, timeout=timeout_s).json()
    engine_searches = account.get("total_searches", 0) - account.get("cache_hits", 0)
    if engine_searches <= 0 or account.get("engine_seconds", 0) <= 0:
        raise ValueError(f"{base_url} has served no engine searches yet; run some, or pass --searches-per-s")
    return float(engine_searches / account["engine_seconds"])


def render(est: CostEstimate) -> str:
    return "\n".join(
        [
            f"searches:            {est.searches:,}",
            f"throughput:          {est.searches_per_s:.3f} searches/s on {est.gpus} GPU(s)"
            f" -> {est.gpu_hours / est.gpus:.2f} h wall, {est.gpu_hours:.2f} GPU-hours",
            f"simulated (serpsim): ${est.simulated_usd:,.2f}  at ${est.gpu_hourly_usd:.2f}/GPU-hour",
            f"SerpApi:             ${est.serpapi_usd:,.2f}  at ${est.serpapi_per_1000_usd:.2f}/1,000 searches",
            f"saving:              ${est.serpapi_usd - est.simulated_usd:,.2f} ({est.saving:.0%})",
        ]
    )


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--searches", type=int, default=PAPER_SEARCHES, help="N searches to price")
    p.add_argument("--searches-per-s", type=float, default=None, help="measured throughput (default: paper's)")
    p.add_argument("--from-server", metavar="URL", help="read throughput from a running server's /account.json")
    p.add_argument("--api-key", help="with --from-server: that key's usage")
    p.add_argument("--gpus", type=int, default=PAPER_GPUS)
    p.add_argument("--gpu-hourly-usd", type=float, default=PAPER_GPU_HOURLY_USD)
    p.add_argument("--serpapi-per-1000-usd", type=float, default=PAPER_SERPAPI_PER_1000_USD)


def run(args: argparse.Namespace) -> int:
    if args.from_server:
        rate = measured_throughput(args.from_server, args.api_key)
    else:
        rate = args.searches_per_s if args.searches_per_s is not None else PAPER_SEARCHES_PER_S
    if rate <= 0 or args.searches <= 0 or args.gpus <= 0:
        raise SystemExit("searches, throughput and GPUs must be positive")
    est = CostEstimate(args.searches, rate, args.gpus, args.gpu_hourly_usd, args.serpapi_per_1000_usd)
    sys.stdout.write(render(est) + "\n")
    return 0
