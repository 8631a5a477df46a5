"""Prometheus metrics, one registry per app (no process-global collectors), served at /metrics."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class Metrics:
    """Everything the simulator counts. Built in the lifespan; routes and services record into it."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("serpsim_requests", "HTTP requests by route and status", ["route", "status"], registry=r)
        self.latency = Histogram(
            "serpsim_request_seconds", "HTTP request latency by route", ["route"], buckets=LATENCY_BUCKETS, registry=r
        )
        self.in_flight = Gauge("serpsim_requests_in_flight", "Requests being served", registry=r)
        self.queue_depth = Gauge("serpsim_queue_depth", "Generations waiting for the engine", registry=r)
        self.searches = Counter(
            "serpsim_searches", "Searches by backend and quality (useful, noisy, mixed; none for real search)",
            ["backend", "quality"], registry=r,
        )
        self.tokens = Counter("serpsim_tokens", "Engine tokens by kind (prompt, completion)", ["kind"], registry=r)
        self.cache_hits = Counter("serpsim_cache_hits", "Searches answered from the result cache", registry=r)
        self.engine_seconds = Counter("serpsim_engine_seconds", "Time spent generating", registry=r)
        self.errors = Counter("serpsim_errors", "Error responses by status", ["status"], registry=r)
        # reliability: why requests were refused or cut short, and what the engine did wrong
        self.engine_in_flight = Gauge("serpsim_engine_in_flight", "Generations admitted and running", registry=r)
        self.rejected = Counter(
            "serpsim_rejected", "Requests refused before the engine, by reason (auth, rate_limit, overload, too_large)",
            ["reason"], registry=r,
        )
        self.deadline_exceeded = Counter("serpsim_deadline_exceeded", "Requests cut off by their deadline (504)", registry=r)
        self.client_disconnects = Counter("serpsim_client_disconnects", "Requests whose client left; generation cancelled", registry=r)
        self.engine_failures = Counter(
            "serpsim_engine_failures", "Engine calls that failed, by kind (error, bad_output, unavailable)", ["kind"], registry=r
        )

        # Labelled children, looked up once: `.labels()` takes a lock and builds a key on every
        # call, which showed in the per-request overhead (bench/overhead.py).
        self._prompt_tokens = self.tokens.labels("prompt")
        self._completion_tokens = self.tokens.labels("completion")
        self._by_quality: dict[tuple[str, str], Any] = {}
        self._by_route: dict[str, Any] = {}
        self._by_route_status: dict[tuple[str, int], Any] = {}

    def observe_request(self, route: str, status: int, seconds: float) -> None:
        """One HTTP request: counted by route template and status, timed by route."""
        counter = self._by_route_status.get((route, status))
        if counter is None:
            counter = self._by_route_status[(route, status)] = self.requests.labels(route, str(status))
        counter.inc()
        latency = self._by_route.get(route)
        if latency is None:
            latency = self._by_route[route] = self.latency.labels(route)
        latency.observe(seconds)
        if status >= 400:
            self.errors.labels(str(status)).inc()

    def observe_search(
        self, backend: str, quality: str, prompt_tokens: int, completion_tokens: int, engine_seconds: float, cached: bool
    ) -> None:
        searches = self._by_quality.get((backend, quality))
        if searches is None:
            searches = self._by_quality[(backend, quality)] = self.searches.labels(backend, quality)
        searches.inc()
        if cached:
            self.cache_hits.inc()
            return
        self._prompt_tokens.inc(prompt_tokens)
        self._completion_tokens.inc(completion_tokens)
        self.engine_seconds.inc(engine_seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
