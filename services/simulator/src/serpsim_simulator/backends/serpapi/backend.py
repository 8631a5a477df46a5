"""The SerpApi `Backend`: spend cap, then the upstream, then organic results as hits."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import httpx
import orjson

from ...errors import EngineUnavailable, InvalidParameter, SimulatorError
from ..base import BackendResult, Hit
from ..errors import BackendConfigError, UpstreamBadResponse
from ..settings import SerpApiBackendSettings
from .client import SerpApiClient, billed
from .spend import SpendCap

if TYPE_CHECKING:
    from ...search.query import SearchQuery

_HIT_FIELDS = frozenset({"position", "title", "link", "snippet"})


def hits_from_response(query: str, body: Mapping[str, Any], offset: int, num: int) -> BackendResult:
    """SerpApi's `organic_results` as hits (id = link: Google's results have no other id).

    Results without a link or title are skipped (they cannot be cited); a missing snippet is an
    empty text, as Google shows none. The other fields SerpApi sent travel in `extra`.
    """
    organic = body.get("organic_results") or []
    if not isinstance(organic, list):
        raise UpstreamBadResponse("SerpApi answered `organic_results` that is not a list.")
    hits: list[Hit] = []
    for item in organic:
        if not isinstance(item, dict):
            continue
        link, title = item.get("link"), item.get("title")
        if not isinstance(link, str) or not link or not isinstance(title, str):
            continue
        snippet = item.get("snippet")
        hits.append(Hit(
            id=link, title=title, text=snippet if isinstance(snippet, str) else "", link=link,
            extra={k: v for k, v in item.items() if k not in _HIT_FIELDS},
        ))
        if len(hits) >= num:
            break
    info = body.get("search_information") or {}
    total = info.get("total_results") if isinstance(info, dict) else None
    return BackendResult(query=query, hits=hits, offset=offset, total_results=total if isinstance(total, int) else None)


class SerpApiBackend:
    kind = "serpapi"

    def __init__(
        self, settings: SerpApiBackendSettings, environ: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.name = settings.name
        self._environ = os.environ if environ is None else environ
        self._transport = transport
        self.spend = SpendCap(settings.name, settings.searches_per_hour, settings.searches_per_month, settings.spend_file)
        self.client: SerpApiClient | None = None

    async def start(self) -> None:
        s = self.settings
        key = self._environ.get(s.api_key_env, "").strip()
        if not key:
            raise BackendConfigError(
                f"backend `{self.name}`: no SerpApi key; set the environment variable {s.api_key_env}."
            )
        self.client = SerpApiClient(
            s.base_url, key, timeout_s=s.timeout_s, max_connections=s.max_connections, transport=self._transport
        )

    def ready(self) -> bool:
        return self.client is not None

    def error(self) -> str | None:
        return None  # a missing key stops the start-up instead

    def identity(self) -> str:
        s = self.settings
        return orjson.dumps(["serpapi", s.base_url, s.engine, sorted(s.params.items())]).decode()

    def describe(self) -> dict[str, Any]:
        return {"engine": self.settings.engine}

    def query_key(self, query: SearchQuery) -> tuple[Any, ...]:
        return (query.query, query.num, query.offset)

    async def _one(self, query: str, num: int, offset: int, token: float) -> BackendResult:
        assert self.client is not None
        s = self.settings
        params = {**s.params, "engine": s.engine, "q": query, "num": str(num), "start": str(offset), "output": "json"}
        try:
            body = await self.client.search(params)
        except SimulatorError as exc:
            # A timeout or a garbled answer may have run (and been billed): it stays counted.
            if not billed(exc):
                await asyncio.to_thread(self.spend.refund, token)
            raise
        return hits_from_response(query, body, offset, num)

    async def search(self, queries: Sequence[SearchQuery]) -> list[BackendResult]:
        if self.client is None:
            raise EngineUnavailable(f"The `{self.name}` backend is not started.")
        for q in queries:
            if q.num < 1:
                raise InvalidParameter("Invalid `num` parameter: at least 1.")
            if q.offset < 0:
                raise InvalidParameter("Invalid `start` parameter: at least 0.")
        # The whole batch fits in the cap or none of it is sent.
        token = await asyncio.to_thread(self.spend.reserve, len(queries))
        outcomes = await asyncio.gather(
            *(self._one(q.query, q.num, q.offset, token) for q in queries), return_exceptions=True
        )
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        return list(outcomes)  # type: ignore[arg-type]

    async def aclose(self) -> None:
        if self.client is not None:
            await self.client.aclose()
            self.client = None
