"""Usage accounting: searches, tokens and engine time, per API key and in total."""

from __future__ import annotations

from dataclasses import dataclass, field

from .metrics import Metrics
from .simulate import SimResult


@dataclass
class UsageCounters:
    searches: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    engine_seconds: float = 0.0

    def add(self, result: SimResult, cached: bool = False) -> None:
        self.searches += 1
        if cached:
            self.cache_hits += 1
            return
        self.prompt_tokens += result.prompt_tokens
        self.completion_tokens += result.completion_tokens
        self.engine_seconds += result.engine_seconds


@dataclass
class Usage:
    """Accounting per API key and in total; mirrors every search into the Prometheus metrics."""

    metrics: Metrics = field(default_factory=Metrics)
    total: UsageCounters = field(default_factory=UsageCounters)
    by_key: dict[str, UsageCounters] = field(default_factory=dict)

    def record(self, api_key: str | None, result: SimResult, cached: bool = False) -> None:
        self.total.add(result, cached)
        if api_key:
            self.by_key.setdefault(api_key, UsageCounters()).add(result, cached)
        self.metrics.observe_search(
            result.request.quality, result.prompt_tokens, result.completion_tokens, result.engine_seconds, cached
        )

    def for_key(self, api_key: str | None) -> UsageCounters:
        if api_key is None:
            return self.total
        return self.by_key.get(api_key, UsageCounters())
