"""`SearchClient`: the one async client for every search backend serpsim talks to.

The same client speaks to the serpsim simulator, to real SerpApi (base URL `https://serpapi.com`)
and to any Search-R1 `/retrieve` server. Every call has a deadline and a bounded number of retries
with exponential backoff; it never retries forever. Failures raise the tree in `errors.py`.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from .common import BackendsResponse, Quality
from .errors import (
    SearchError,
    SearchHTTPError,
    SearchRateLimited,
    SearchTimeout,
    SearchTransportError,
)
from .retrieve import DEFAULT_TOPK, RetrieveQuery, RetrieveRequest, RetrieveResponse
from .serpapi import SearchResponse

M = TypeVar("M", bound=BaseModel)

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


@dataclass
class ClientStats:
    """Counters a caller can read to report failure rates (e.g. per training step)."""

    calls: int = 0
    retries: int = 0
    failures: int = 0


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 3
    backoff_s: float = 0.25
    max_backoff_s: float = 4.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_backoff_s)
        base = min(self.backoff_s * (2**attempt), self.max_backoff_s)
        return base * (0.5 + random.random() / 2)  # jitter spreads a burst of retries


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    if isinstance(body, dict):
        for key in ("error", "detail", "message"):
            if key in body:
                value = body[key]
                return value if isinstance(value, str) else str(value)
    return str(body)[:200]


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class SearchClient:
    """Async client with connection pooling, deadlines and bounded retries.

    Use it as an async context manager, or call `aclose()`. `transport` lets tests send requests
    straight into an ASGI app or a `httpx.MockTransport`.
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 30.0,
        retry: RetryPolicy | None = None,
        max_connections: int = 256,
        transport: httpx.AsyncBaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout_s = timeout_s
        self.retry = retry or RetryPolicy()
        self.stats = ClientStats()
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout_s),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            transport=transport,
            headers=dict(headers or {}),
        )

    async def __aenter__(self) -> SearchClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def search(
        self,
        q: str,
        *,
        quality: Quality | None = None,
        question: str | None = None,
        answer: str | None = None,
        seed: int | None = None,
        num: int | None = None,
        start: int | None = None,
        no_cache: bool | None = None,
        backend: str | None = None,
        noise_ratio: float | None = None,
        noise_count: int | None = None,
        engine: str = "google",
        extra: Mapping[str, Any] | None = None,
    ) -> SearchResponse:
        """`GET /search.json`. serpsim-only parameters are sent only when set, so real SerpApi works too."""
        params: dict[str, Any] = {"engine": engine, "q": q}
        optional = {
            "backend": backend, "quality": quality, "noise_ratio": noise_ratio, "noise_count": noise_count,
            "question": question, "answer": answer, "seed": seed, "num": num, "start": start, "api_key": self.api_key,
        }
        params.update({k: v for k, v in optional.items() if v is not None})
        if no_cache is not None:
            params["no_cache"] = "true" if no_cache else "false"
        params.update(extra or {})
        return await self._call("GET", "/search.json", SearchResponse, params=params)

    async def retrieve(
        self,
        queries: Sequence[str],
        topk: int = DEFAULT_TOPK,
        *,
        quality: Quality | list[Quality | None] | None = None,
        question: str | list[str | None] | None = None,
        answer: str | list[str | None] | None = None,
        seed: int | list[int | None] | None = None,
        no_cache: bool | None = None,
        backend: str | None = None,
        noise_ratio: float | None = None,
        noise_count: int | None = None,
        path: str = "/retrieve",
    ) -> RetrieveResponse:
        """`POST /retrieve` (Search-R1), scores requested as Search-R1's own client does.

        Each of `quality`, `question`, `answer` and `seed` is one value for the batch or a list
        with one per query; a list travels inside `queries` as per-query objects. `backend` and
        the noise are the batch's. Unset fields are left out, so any Search-R1 server works
        too. A list of the wrong length raises ValueError, unsent.
        """
        fields: dict[str, Any] = {"quality": quality, "question": question, "answer": answer, "seed": seed}
        per_query = {name: value for name, value in fields.items() if isinstance(value, list)}
        for name, values in per_query.items():
            if len(values) != len(queries):
                raise ValueError(f"`{name}` has {len(values)} values for {len(queries)} queries")
        entries: list[str | RetrieveQuery] = [
            RetrieveQuery(query=q, **{name: values[i] for name, values in per_query.items()}) if per_query else q
            for i, q in enumerate(queries)
        ]
        batch_wide = {name: value for name, value in fields.items() if name not in per_query}
        batch_wide.update(backend=backend, noise_ratio=noise_ratio, noise_count=noise_count)
        request = RetrieveRequest(queries=entries, topk=topk, return_scores=True, no_cache=bool(no_cache), **batch_wide)
        body = request.model_dump(exclude_none=True, exclude_defaults=True)
        body.update(topk=topk, return_scores=True)
        body = {"queries": body.pop("queries"), **body}
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else None
        return await self._call("POST", path, RetrieveResponse, json=body, headers=headers)

    async def backends(self) -> BackendsResponse:
        """`GET /backends`: a serpsim server's backends, their kinds and readiness (first: default)."""
        return await self._call("GET", "/backends", BackendsResponse)

    async def _call(self, method: str, path: str, model: type[M], **kwargs: Any) -> M:
        self.stats.calls += 1
        try:
            return await asyncio.wait_for(self._attempts(method, path, model, **kwargs), self.timeout_s)
        except TimeoutError as exc:
            self.stats.failures += 1
            raise SearchTimeout(f"{method} {path} took longer than {self.timeout_s:.1f}s") from exc
        except SearchError:
            self.stats.failures += 1
            raise

    async def _attempts(self, method: str, path: str, model: type[M], **kwargs: Any) -> M:
        attempt = 0
        while True:
            try:
                response = await self._http.request(method, path, **kwargs)
            except httpx.TimeoutException as exc:
                error: SearchError = SearchTimeout(f"{method} {path}: {exc!r}")
                retry_after = None
            except httpx.TransportError as exc:
                error = SearchTransportError(f"{method} {path}: {exc!r}")
                retry_after = None
            else:
                if response.status_code < 400:
                    return self._parse(response, model)
                message = _error_message(response)
                retry_after = _retry_after(response)
                if response.status_code == 429:
                    error = SearchRateLimited(429, message, retry_after)
                else:
                    error = SearchHTTPError(response.status_code, message)
                if response.status_code not in RETRYABLE_STATUS:
                    raise error
            if attempt >= self.retry.max_retries:
                raise error
            self.stats.retries += 1
            await asyncio.sleep(self.retry.delay(attempt, retry_after))
            attempt += 1

    @staticmethod
    def _parse(response: httpx.Response, model: type[M]) -> M:
        try:
            return model.model_validate(response.json())
        except (ValueError, ValidationError) as exc:
            raise SearchTransportError(f"unexpected response body: {exc}") from exc
