"""The corpus `Backend`: a loaded `CorpusIndex`, searched in a thread pool off the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import orjson

from ...errors import EngineUnavailable, InvalidParameter
from ..base import BackendResult
from ..settings import CorpusBackendSettings
from .index import CorpusIndex

if TYPE_CHECKING:
    from ...search.query import SearchQuery


class CorpusBackend:
    kind = "corpus"

    def __init__(self, settings: CorpusBackendSettings, index: CorpusIndex | None = None) -> None:
        self.settings = settings
        self.name = settings.name
        self.index = index
        self._owns_index = index is None  # an index handed in (shared by tests) is the caller's to close
        self._pool: ThreadPoolExecutor | None = None

    async def start(self) -> None:
        """Load the index (in a thread: a large one takes seconds) and check the mode; raises
        `BackendConfigError` at start-up for a missing, corrupt or mismatched index."""
        s = self.settings
        if self.index is None:
            self.index = await asyncio.to_thread(
                CorpusIndex.load, s.index, model=s.model, device=s.device, mmap=s.mmap, faiss_params=s.faiss_params
            )
        self.index.check_mode(s.mode)
        await asyncio.to_thread(self.index.warm_up)
        self._pool = ThreadPoolExecutor(max_workers=s.threads, thread_name_prefix=f"corpus-{self.name}")

    def ready(self) -> bool:
        return self.index is not None and self._pool is not None

    def error(self) -> str | None:
        return None  # a corpus that cannot load stops the start-up instead

    def _manifest(self) -> Any:
        if self.index is None:
            raise EngineUnavailable(f"The `{self.name}` backend is not loaded yet. Try again shortly.")
        return self.index.manifest

    def identity(self) -> str:
        s, m = self.settings, self._manifest()
        fields = ["corpus", m.corpus.sha256, m.created_at, s.mode, s.rrf_k, s.candidates, sorted(s.faiss_params.items())]
        return orjson.dumps(fields).decode()

    def describe(self) -> dict[str, Any]:
        m = self._manifest()
        return {"mode": self.settings.mode, "documents": m.documents, "corpus_sha256": m.corpus.sha256[:16]}

    def query_key(self, query: SearchQuery) -> tuple[Any, ...]:
        return (query.query, query.num, query.offset)

    async def search(self, queries: Sequence[SearchQuery]) -> list[BackendResult]:
        """Queries asking for the same page go to the index as one batch (a `/retrieve` is one)."""
        if not self.ready():
            raise EngineUnavailable(f"The `{self.name}` backend is not loaded yet. Try again shortly.")
        pages: dict[tuple[int, int], list[int]] = {}
        for i, q in enumerate(queries):
            if q.num < 1:
                raise InvalidParameter("Invalid `num` parameter: at least 1.")
            if q.offset < 0:
                raise InvalidParameter("Invalid `start` parameter: at least 0.")
            pages.setdefault((q.num, q.offset), []).append(i)
        s, index = self.settings, self.index
        assert index is not None
        loop = asyncio.get_running_loop()
        out: list[BackendResult | None] = [None] * len(queries)
        for (num, offset), rows in pages.items():
            texts = [queries[i].query for i in rows]
            found = await loop.run_in_executor(
                self._pool,
                lambda texts=texts, num=num, offset=offset: index.search(  # type: ignore[misc]
                    texts, num, offset, s.mode, rrf_k=s.rrf_k, candidates=s.candidates
                ),
            )
            for i, result in zip(rows, found):
                out[i] = result
        return out  # type: ignore[return-value]

    async def aclose(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(pool.shutdown, True)  # let running searches finish
        if self.index is not None and self._owns_index:
            self.index.close()
            self.index = None
