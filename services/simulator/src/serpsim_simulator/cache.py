"""Result cache: a simulated search's documents, keyed on everything that changes them.

What is cached is the simulation's outcome (documents, token counts, generations), not the
HTTP response: ids, timestamps and self-links are made fresh for every request, as SerpApi
does for its cached searches.

Unseeded requests are cached by their parameters too, as SerpApi caches identical searches for
an hour: within the TTL the same unseeded query returns the same documents. Clients that want a
fresh sample send `no_cache=true` (the read is skipped, the result still written) or a seed.

Backends: SQLite (embedded default, one file, WAL) and Redis (`cache.redis_url`, extra `[redis]`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from .documents import Document
from .settings import CacheSettings, SimulationSettings
from .simulate import SimRequest, SimResult, Simulator

logger = logging.getLogger(__name__)

KEY_VERSION = "v1"
"""Bumped when the prompts, the parser or the value layout change, so old entries are never read."""


def cache_key(model: str, prompt_mode: str, sampling: SimulationSettings, request: SimRequest) -> str:
    """A digest of every input that changes a search's documents.

    `page` (not `start`) is keyed: documents depend on the page, positions are renumbered from
    `start` when the response is built.
    """
    fields = [
        KEY_VERSION,
        model,
        prompt_mode,
        request.quality,
        request.question,
        request.answer,
        request.query,
        request.num,
        request.page,
        request.seed,
        sampling.temperature,
        sampling.top_p,
        sampling.max_tokens,
    ]
    # JSON keeps None apart from "None" and never lets a separator inside a field fake another key.
    return hashlib.sha256(json.dumps(fields, ensure_ascii=False).encode()).hexdigest()


@dataclass(frozen=True)
class CachedResult:
    documents: list[Document]
    prompt_tokens: int
    completion_tokens: int
    generations: int

    @classmethod
    def of(cls, result: SimResult) -> CachedResult:
        return cls(list(result.documents), result.prompt_tokens, result.completion_tokens, result.generations)

    def to_result(self, request: SimRequest) -> SimResult:
        """A result for accounting and rendering; no engine time was spent on it."""
        return SimResult(
            request=request,
            documents=list(self.documents),
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            generations=self.generations,
        )

    def dumps(self) -> bytes:
        docs = [[d.title, d.snippet] for d in self.documents]
        return json.dumps([docs, self.prompt_tokens, self.completion_tokens, self.generations]).encode()

    @classmethod
    def loads(cls, raw: bytes | str) -> CachedResult:
        docs, prompt_tokens, completion_tokens, generations = json.loads(raw)
        return cls([Document(title, snippet) for title, snippet in docs], prompt_tokens, completion_tokens, generations)


class ResultCache(Protocol):
    async def get(self, key: str) -> CachedResult | None: ...

    async def put(self, key: str, value: CachedResult) -> None: ...

    async def aclose(self) -> None: ...


class NullCache:
    """`cache.enabled=false`: nothing is ever found or kept."""

    async def get(self, key: str) -> CachedResult | None:
        return None

    async def put(self, key: str, value: CachedResult) -> None:
        return None

    async def aclose(self) -> None:
        return None


class SqliteCache:
    """One SQLite file with a TTL and an entry bound (oldest entries evicted first).

    Called synchronously on the event loop: a WAL lookup by primary key takes tens of
    microseconds, far less than a thread hop (`asyncio.to_thread`) costs. With WAL and
    `synchronous=NORMAL` a commit does not fsync.
    """

    def __init__(
        self, path: str | Path, ttl_s: float, max_entries: int, clock: Callable[[], float] = time.time
    ) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self.clock = clock
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS results (key TEXT PRIMARY KEY, value BLOB NOT NULL, expires_at REAL NOT NULL)"
        )
        self._db.execute("CREATE INDEX IF NOT EXISTS results_expiry ON results (expires_at)")
        # Counted once; put() keeps it up to date so the bound costs no COUNT(*) per write.
        self._count: int = self._db.execute("SELECT COUNT(*) FROM results").fetchone()[0]

    async def get(self, key: str) -> CachedResult | None:
        row = self._db.execute("SELECT value, expires_at FROM results WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        value, expires_at = row
        if expires_at <= self.clock():
            return None
        return CachedResult.loads(value)

    async def put(self, key: str, value: CachedResult) -> None:
        now = self.clock()
        cur = self._db.execute(
            "INSERT OR REPLACE INTO results (key, value, expires_at) VALUES (?, ?, ?)",
            (key, value.dumps(), now + self.ttl_s),
        )
        self._count += cur.rowcount
        if self._count > self.max_entries:
            self._evict(now)

    def _evict(self, now: float) -> None:
        """Drop expired entries, then the soonest-expiring (oldest) ones down to 90% of the bound.

        Evicting a tenth at once keeps eviction off most writes.
        """
        self._db.execute("DELETE FROM results WHERE expires_at <= ?", (now,))
        count = self._db.execute("SELECT COUNT(*) FROM results").fetchone()[0]
        target = max(1, int(self.max_entries * 0.9)) if self.max_entries > 1 else self.max_entries
        if count > target:
            self._db.execute(
                "DELETE FROM results WHERE key IN (SELECT key FROM results ORDER BY expires_at LIMIT ?)",
                (count - target,),
            )
        self._count = self._db.execute("SELECT COUNT(*) FROM results").fetchone()[0]

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM results WHERE expires_at > ?", (self.clock(),)).fetchone()[0])

    async def aclose(self) -> None:
        self._db.close()


class RedisCache:
    """Redis (`redis.asyncio`): entries expire by TTL; the size bound is Redis's own `maxmemory`
    with an LRU policy, which shared deployments set on the server."""

    PREFIX = "serpsim:result:"

    def __init__(self, url: str, ttl_s: float, client: Any | None = None) -> None:
        if client is None:
            import redis.asyncio as aioredis  # optional dependency: serpsim-simulator[redis]

            client = aioredis.from_url(url)
        self.ttl_s = ttl_s
        self._redis = client

    async def get(self, key: str) -> CachedResult | None:
        raw = await self._redis.get(self.PREFIX + key)
        return None if raw is None else CachedResult.loads(raw)

    async def put(self, key: str, value: CachedResult) -> None:
        await self._redis.set(self.PREFIX + key, value.dumps(), px=max(1, int(self.ttl_s * 1000)))

    async def aclose(self) -> None:
        await self._redis.aclose()


def build_cache(settings: CacheSettings) -> ResultCache:
    if not settings.enabled:
        return NullCache()
    if settings.redis_url:
        logger.info("result cache: redis at %s (ttl %.0fs)", settings.redis_url, settings.ttl_s)
        return RedisCache(settings.redis_url, settings.ttl_s)
    logger.info("result cache: sqlite at %s (ttl %.0fs, at most %d entries)", settings.path, settings.ttl_s, settings.max_entries)
    return SqliteCache(settings.path, settings.ttl_s, settings.max_entries)


class CachedSimulator:
    """`Simulator.simulate` behind the cache: hits are served, the misses go to the engine as one batch.

    `no_cache=True` skips the reads (SerpApi's semantics: a fresh search) but still writes.
    """

    def __init__(self, simulator: Simulator, cache: ResultCache) -> None:
        self.simulator = simulator
        self.cache = cache

    def key(self, request: SimRequest) -> str:
        engine, settings = self.simulator.engine, self.simulator.settings
        return cache_key(engine.model_name, settings.prompt_mode, settings, request)

    async def simulate(self, requests: Sequence[SimRequest], no_cache: bool = False) -> list[tuple[SimResult, bool]]:
        """One `(result, cached)` per request, in order."""
        if isinstance(self.cache, NullCache) and requests:  # nothing to key, read or write
            return [(result, False) for result in await self.simulator.simulate(requests)]
        keys = [self.key(r) for r in requests]
        found: list[CachedResult | None] = [None] * len(requests)
        if not no_cache:
            for i, key in enumerate(keys):
                found[i] = await self.cache.get(key)
        missing = [i for i, hit in enumerate(found) if hit is None]
        fresh = await self.simulator.simulate([requests[i] for i in missing]) if missing else []
        out: list[tuple[SimResult, bool]] = [(SimResult(request=r, documents=[]), False) for r in requests]
        for i, result in zip(missing, fresh):
            out[i] = (result, False)
            if result.documents:  # an empty page is more likely a bad generation than an answer worth an hour
                await self.cache.put(keys[i], CachedResult.of(result))
        for i, hit in enumerate(found):
            if hit is not None:
                out[i] = (hit.to_result(requests[i]), True)
        return out
