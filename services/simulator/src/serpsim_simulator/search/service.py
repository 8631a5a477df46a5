"""The one search path: every API shape hands its queries to `SearchService.run`.

    route (a shape) -> SearchService.run -> backend (simulation, corpus, SerpApi) -> hits
                         |  backend choice, per-kind rules, admission (accounts/limits),
                         |  result cache, usage, archive

Contract of `run(queries, identity) -> list[SearchResult]`, one result per query, in order:
1. Each query's backend is the one it names (`SearchQuery.backend`) or the first configured;
   an unknown name is a 400 that lists the known ones.
2. Real backends (corpus, serpapi) take no `quality`, `noise_ratio`, `noise_count`, `question`
   or `answer`: a query sending any is a 400 naming them (real search has no such knob). The
   simulation takes `quality` or per-document noise, not both, and one of `noise_ratio` and
   `noise_count`. `seed` is the simulation's; a real backend ignores it.
3. The whole request is admitted before any work (`Accounts.admit`): one search per query,
   whatever its backend, and for the simulation the generations it may cause (ceil(num/5), one
   more when it mixes noise) against `limits.max_generations`; 400 beyond what could ever fit,
   429 beyond the caller's rate.
4. Per backend, cache hits are served (unless `no_cache`) and the misses go to the backend as
   ONE batch (one engine batch for the simulation); non-empty answers are written to the cache,
   keyed on the backend's identity and the query's fields that change its answer.
5. Each search's usage is recorded for the caller (searches, cache hits; generations, tokens and
   engine time for the simulation), then the results are returned.
Errors are `SimulatorError`s (errors.py), which every shape renders in its own protocol.

The archive (`keep`, `archived`) stores a rendered response by id for shapes that have one
(SerpApi's Search Archive API); the shape calls `keep` after rendering.

Accounts, cache and archive are held through narrow interfaces (`Accounts.admit/record`,
`ResultCache.get/put`, `Archive.put/get`), so a shared implementation of each (Redis) replaces
the in-process one without changing this module.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from serpsim_protocol.prompts import generations_for

from ..backends.base import REAL_KINDS, Backend, BackendResult
from ..errors import InvalidParameter, NotFound
from .accounts import Accounts
from .archive import Archive
from .cache import CachedResult, NullCache, ResultCache, cache_key
from .query import SearchQuery
from .result import SearchResult

ARCHIVE_MISSING = "Search not found or expired."


def max_generations(query: SearchQuery) -> int:
    """The most generations a simulated query may cause: ceil(num/5), plus one when it mixes
    noise (ceil(k/5) + ceil((num-k)/5) <= ceil(num/5) + 1). The published schema states the same."""
    return generations_for(query.num) + (1 if query.mixes_noise else 0)


def _join(names: Sequence[str]) -> str:
    quoted = [f"`{n}`" for n in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


class SearchService:
    def __init__(
        self,
        backends: Mapping[str, Backend],
        accounts: Accounts,
        cache: ResultCache | None = None,
        archive: Archive | None = None,
    ) -> None:
        if not backends:
            raise ValueError("a search service needs at least one backend")
        misnamed = [f"{key} ({b.name})" for key, b in backends.items() if b.name != key]
        if misnamed:
            raise ValueError(f"backends must be keyed by their own names: {', '.join(misnamed)}")
        self.backends = dict(backends)
        self.default = next(iter(self.backends))
        self.accounts = accounts
        self.cache = cache if cache is not None else NullCache()
        self.archive = archive

    def backend(self, name: str | None) -> Backend:
        """The backend `name` names, or the default; unknown: 400 listing the known ones."""
        backend = self.backends.get(self.default if name is None else name)
        if backend is None:
            raise InvalidParameter(f"Unknown backend `{name}`. This server has: {', '.join(self.backends)}.")
        return backend

    @staticmethod
    def check(query: SearchQuery, backend: Backend) -> None:
        """The rules of the backend's kind (module docstring, 2); a 400 for the first broken one."""
        if backend.kind in REAL_KINDS:
            sent = query.simulation_fields()
            if sent:
                raise InvalidParameter(
                    f"The `{backend.name}` backend is real search ({backend.kind}): it takes no {_join(sent)}. "
                    "Only the simulation has quality, noise and hints."
                )
            return
        if query.noise_ratio is not None and query.noise_count is not None:
            raise InvalidParameter("Give `noise_ratio` or `noise_count`, not both.")
        if query.quality is not None and query.mixes_noise:
            raise InvalidParameter(
                "Give `quality` (every document) or `noise_ratio`/`noise_count` (per document), not both."
            )

    async def run(self, queries: Sequence[SearchQuery], identity: str) -> list[SearchResult]:
        """One result per query, in order (module docstring)."""
        chosen = [self.backend(q.backend) for q in queries]
        for query, backend in zip(queries, chosen):
            self.check(query, backend)
        generations = sum(max_generations(q) for q, b in zip(queries, chosen) if b.kind == "simulated")
        self.accounts.admit(identity, len(queries), generations)

        results: list[SearchResult | None] = [None] * len(queries)
        groups: dict[str, list[int]] = {}
        for i, backend in enumerate(chosen):
            groups.setdefault(backend.name, []).append(i)
        for name, rows in groups.items():
            await self._answer(self.backends[name], [queries[i] for i in rows], rows, results)
        out: list[SearchResult] = results  # type: ignore[assignment]
        for result in out:
            self.accounts.record(identity, result)
        return out

    async def _answer(
        self, backend: Backend, queries: list[SearchQuery], rows: list[int], results: list[SearchResult | None]
    ) -> None:
        """Cache hits, then the misses as one batch to the backend, then the cache writes."""
        info = backend.describe()
        caching = not isinstance(self.cache, NullCache)
        keys: list[str] = []
        if caching:
            identity = backend.identity()
            keys = [cache_key(identity, backend.query_key(q)) for q in queries]
        missing: list[int] = []
        for j, query in enumerate(queries):
            hit = await self.cache.get(keys[j]) if caching and not query.no_cache else None
            if hit is None:
                missing.append(j)
            else:
                results[rows[j]] = self._result(query, hit.to_result(query.query, query.offset), backend, info, True)
        if not missing:
            return
        fresh = await backend.search([queries[j] for j in missing])
        for j, answer in zip(missing, fresh):
            results[rows[j]] = self._result(queries[j], answer, backend, info, False)
            # An empty answer is more likely a bad generation (or a transient upstream) than one worth an hour.
            if caching and answer.hits:
                await self.cache.put(keys[j], CachedResult.of(answer))

    @staticmethod
    def _result(
        query: SearchQuery, answer: BackendResult, backend: Backend, info: Mapping[str, Any], cached: bool
    ) -> SearchResult:
        return SearchResult(
            query=query, hits=answer.hits[: query.num], backend=backend.name, kind=backend.kind, info=info,
            usage=answer.usage, cached=cached, total_results=answer.total_results,
        )

    def keep(self, search_id: str, response: dict[str, Any]) -> None:
        """Archive a rendered response under its id (SerpApi's Search Archive API)."""
        if self.archive is not None:
            self.archive.put(search_id, response)

    def archived(self, search_id: str) -> dict[str, Any]:
        """An archived response by id (`.json`/`.html` suffix allowed); 404 when unknown or dropped."""
        found = None
        if self.archive is not None:
            found = self.archive.get(search_id.removesuffix(".json").removesuffix(".html"))
        if found is None:
            raise NotFound(ARCHIVE_MISSING)
        return found

    def ready(self) -> bool:
        return all(b.ready() for b in self.backends.values())
