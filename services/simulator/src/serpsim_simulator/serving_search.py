"""SerpApi Google Search, served by the simulator: parameters in, a SerpApi-shaped response out."""

from __future__ import annotations

import secrets
import time
from typing import Any
from urllib.parse import quote_plus, urlencode

from serpsim_protocol import SearchRequest

from .accounts import Accounts
from .cache import CachedSimulator, NullCache, ResultCache
from .documents import Document
from .errors import NotFound
from .settings import Settings
from .simulate import SimRequest, SimResult, Simulator
from .store import SearchStore

EMPTY_RESULTS = "Google hasn't returned any results for this query."
LINK_DOMAIN = "serpsim.example"
"""Synthetic links live under a reserved domain (RFC 2606), so nobody mistakes them for real pages."""

_HIDDEN_PARAMS = frozenset({"api_key", "serp_api_key"})


def organic_result(position: int, doc: Document) -> dict[str, Any]:
    """One `OrganicResult`, as the plain dict it serialises to (the hot path skips pydantic)."""
    key, slug = doc.key, doc.slug
    return {
        "position": position,
        "title": doc.title,
        "link": f"https://{LINK_DOMAIN}/{key}/{slug}",
        "displayed_link": f"https://{LINK_DOMAIN} › {slug}",
        "snippet": doc.snippet,
        "source": "serpsim (simulated)",
    }


def _timestamp(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts))


class SearchService:
    def __init__(
        self,
        simulator: Simulator,
        store: SearchStore,
        accounts: Accounts,
        settings: Settings,
        cache: ResultCache | None = None,
    ) -> None:
        self.simulator = simulator
        self.cached = CachedSimulator(simulator, cache if cache is not None else NullCache())
        self.store = store
        self.accounts = accounts
        self.settings = settings

    async def search(self, params: SearchRequest, echo: dict[str, str], base_url: str, identity: str) -> dict[str, Any]:
        """One search for `identity` (api/deps.identify): admitted, simulated (or cached), recorded."""
        started = time.time()
        page = params.start // params.num
        sim_request = SimRequest(
            query=params.q,
            quality=params.quality,
            question=params.question,
            answer=params.answer,
            num=params.num,
            seed=params.seed,
            page=page,
        )
        self.accounts.admit(identity, [sim_request])
        ((result, cached),) = await self.cached.simulate([sim_request], no_cache=params.no_cache)
        self.accounts.record(identity, result, cached)
        response = self._response(params, echo, base_url, result, started, cached)
        self.store.put(response["search_metadata"]["id"], response)
        return response

    def archived(self, search_id: str) -> dict[str, Any]:
        response = self.store.get(search_id.removesuffix(".json").removesuffix(".html"))
        if response is None:
            raise NotFound("Search not found or expired.")
        return response

    def _response(
        self,
        params: SearchRequest,
        echo: dict[str, str],
        base_url: str,
        result: SimResult,
        started: float,
        cached: bool = False,
    ) -> dict[str, Any]:
        """The `SearchResponse` as the dict `model_dump(mode="json", exclude_none=True)` would give.

        Built directly: validating a model and dumping it again cost more than the rest of the
        request (bench/overhead.py); tests validate the shape against `SearchResponse`.
        """
        search_id = secrets.token_hex(12)
        finished = time.time()
        engine = self.simulator.engine
        organic = [organic_result(params.start + i + 1, doc) for i, doc in enumerate(result.documents)]
        shown = {k: v for k, v in echo.items() if k not in _HIDDEN_PARAMS}
        shown.setdefault("engine", "google")
        shown["q"] = params.q
        metadata: dict[str, Any] = {
            "id": search_id,
            "status": "Success",
            "json_endpoint": f"{base_url}/searches/{search_id}.json",
            "raw_html_file": f"{base_url}/searches/{search_id}.html",
            "created_at": _timestamp(started),
            "processed_at": _timestamp(finished),
            "google_url": f"https://www.google.com/search?q={quote_plus(params.q)}",
            "total_time_taken": round(finished - started, 3),
        }
        if cached:
            metadata["cached"] = True
        response: dict[str, Any] = {
            "search_metadata": metadata,
            "search_parameters": shown,
            "search_information": {
                "query_displayed": params.q,
                "total_results": len(organic) * self.settings.simulation.max_pages if organic else 0,
                "time_taken_displayed": round(finished - started, 2),
                "organic_results_state": "Results for exact spelling" if organic else "Fully empty",
            },
        }
        if organic:
            response["organic_results"] = organic
            response["serpapi_pagination"] = self._pagination(params, shown, base_url)
        else:  # as SerpApi: no `organic_results` key at all, and an `error` with a 200
            response["error"] = EMPTY_RESULTS
        response["simulation"] = {
            "quality": params.quality,
            "model": engine.model_name,
            "engine": engine.kind,
            "prompt_mode": self.simulator.prompt_mode,
            "prompt_tokens": result.prompt_tokens,
            "completion_tokens": result.completion_tokens,
            "generations": result.generations,
            "cached": cached,
        }
        return response

    def _pagination(self, params: SearchRequest, shown: dict[str, str], base_url: str) -> dict[str, Any]:
        """Links back to this server (never serpapi.com), ending after `max_pages` pages.

        Each link is `urlencode({**shown, "start": ...})`; only `start` differs between pages, so
        the other parameters are encoded once, on either side of where `start` goes.
        """
        num, max_pages = params.num, self.settings.simulation.max_pages
        current = params.start // num + 1
        before: list[tuple[str, str]] = []
        after: list[tuple[str, str]] = []
        side = before
        for key, value in shown.items():
            if key == "start":
                side = after  # an echoed `start` keeps its place; otherwise it goes last
            else:
                side.append((key, value))
        head = f"{base_url}/search.json?{urlencode(before)}{'&' if before else ''}start="
        tail = f"&{urlencode(after)}" if after else ""

        def page_url(page: int) -> str:
            return f"{head}{(page - 1) * num}{tail}"

        pagination: dict[str, Any] = {"current": current}
        if current < max_pages:
            pagination["next"] = pagination["next_link"] = page_url(current + 1)
        pagination["other_pages"] = {str(p): page_url(p) for p in range(1, max_pages + 1) if p != current}
        return pagination
