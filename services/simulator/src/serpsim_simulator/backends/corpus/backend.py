"""The corpus `Backend`: a loaded `CorpusIndex`, searched in a thread pool off the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from ...errors import EngineUnavailable, InvalidParameter
from ..base import BackendResult
from ..settings import CorpusBackendSettings
from .index import CorpusIndex


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

    async def search(self, queries: Sequence[str], num: int, offset: int = 0) -> list[BackendResult]:
        if not self.ready():
            raise EngineUnavailable(f"The `{self.name}` backend is not loaded yet. Try again shortly.")
        if num < 1:
            raise InvalidParameter("Invalid `num` parameter: at least 1.")
        if offset < 0:
            raise InvalidParameter("Invalid `start` parameter: at least 0.")
        s, index = self.settings, self.index
        assert index is not None
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._pool,
            lambda: index.search(list(queries), num, offset, s.mode, rrf_k=s.rrf_k, candidates=s.candidates),
        )

    async def aclose(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(pool.shutdown, True)  # let running searches finish
        if self.index is not None and self._owns_index:
            self.index.close()
            self.index = None
