"""Result cache: a search's hits, keyed on the backend's identity and the query's fields.

What is cached is a backend's answer (hits, total results, the engine work it took), not the
HTTP response: ids, timestamps and self-links are made fresh for every request, as SerpApi
does for its cached searches. One cache serves every backend: the key starts with the
backend's identity (`Backend.identity`: engine, model, revision, prompt mode and sampling for
the simulation; the index digest and mode for a corpus; the upstream's fixed parameters for
SerpApi), then the fields of the query that change that backend's answer (`Backend.query_key`).

Unseeded simulated searches are cached by their parameters too, as SerpApi caches identical
searches for an hour: within the TTL the same unseeded query returns the same documents.
Clients that want a fresh sample send `no_cache=true` (the read is skipped, the result still
written) or a seed.

Stores: SQLite (embedded default, one file, WAL) and Redis (`cache.redis_url`, extra `[redis]`),
behind `ResultCache` (get, put, aclose), so another store replaces either without touching the
search path.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import orjson

from ..backends.base import BackendResult, Hit, Usage
from ..settings import CacheSettings

logger = logging.getLogger(__name__)

KEY_VERSION = "v4"
"""Bumped when the prompts, the parser, the titles or the value layout change, so old entries are never read."""


def cache_key(identity: str, fields: Sequence[Any]) -> str:
    """A digest of the backend's identity and the query's fields that change its answer."""
    # JSON keeps None apart from "None" and never lets a separator inside a field fake another key.
    return hashlib.sha256(orjson.dumps([KEY_VERSION, identity, *fields])).hexdigest()


@dataclass(frozen=True)
class CachedResult:
    """A backend's answer as stored: hits, total results and usage (the query is the caller's)."""

    hits: list[Hit]
    total_results: int | None
    usage: Usage

    @classmethod
    def of(cls, result: BackendResult) -> CachedResult:
        return cls(list(result.hits), result.total_results, result.usage)

    def to_result(self, query: str, offset: int) -> BackendResult:
        return BackendResult(query=query, hits=list(self.hits), offset=offset, total_results=self.total_results,
                             usage=self.usage)

    def layout(self) -> list[Any]:
        """What `dumps` encodes: `[[[id, title, text, link, score, label, extra], ...], total, usage]`."""
        hits = [[h.id, h.title, h.text, h.link, h.score, h.label, dict(h.extra)] for h in self.hits]
        u = self.usage
        return [hits, self.total_results, [u.generations, u.prompt_tokens, u.completion_tokens, u.engine_seconds]]

    def dumps(self) -> bytes:
        return orjson.dumps(self.layout())

    @classmethod
    def loads(cls, raw: bytes | str) -> CachedResult:
        # Bytes (Redis) or text (SQLite stores its JSON text): orjson reads both.
        hits, total, usage = orjson.loads(raw)
        return cls([Hit(*fields) for fields in hits], total, Usage(*usage))


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


_INSERT_ROWS = (
    "INSERT OR REPLACE INTO results (key, value, expires_at) "
    "SELECT json_extract(value, '$[0]'), json(json_extract(value, '$[1]')), json_extract(value, '$[2]') FROM json_each(?)"
)
"""Rows `[[key, value layout, expires_at], ...]` given as one JSON array; a value is stored as its JSON text."""


class SqliteCache:
    """One SQLite file with a TTL and an entry bound (oldest entries evicted first).

    Reads run synchronously on the event loop: a WAL lookup by primary key takes microseconds,
    less than a thread hop (`asyncio.to_thread`) costs. Writes do not: with tens of thousands of
    entries each one dirties pages all over the file and waits on WAL writes and checkpoints,
    about 60 µs of wall time a row, more than the rest of a search with a zero-latency engine
    (bench/overhead.py). So writes are held back for at most `FLUSH_S` (or `FLUSH_ROWS` entries)
    and committed together, in one transaction, by a writer thread with its own connection
    (SQLite releases the GIL while it works; WAL lets the loop's connection read meanwhile).
    Entries not yet committed are served from memory; a crash loses them, which a cache can
    afford. With WAL and `synchronous=NORMAL` a commit does not fsync.

    `:memory:` (tests) has a single connection, so its writes run on the loop, batched alike.
    """

    FLUSH_S = 0.05
    FLUSH_ROWS = 256

    def __init__(
        self, path: str | Path, ttl_s: float, max_entries: int, clock: Callable[[], float] = time.time
    ) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self.clock = clock
        in_memory = str(path) == ":memory:"
        if not in_memory:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = self._connect(str(path))
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS results (key TEXT PRIMARY KEY, value BLOB NOT NULL, expires_at REAL NOT NULL)"
        )
        self._db.execute("CREATE INDEX IF NOT EXISTS results_expiry ON results (expires_at)")
        self._writer_db = self._db if in_memory else self._connect(str(path))
        self._executor = None if in_memory else ThreadPoolExecutor(max_workers=1, thread_name_prefix="serpsim-cache")
        # Counted once; the writer keeps it up to date so the bound costs no COUNT(*) per write.
        self._count: int = self._db.execute("SELECT COUNT(*) FROM results").fetchone()[0]
        self._pending: dict[str, tuple[CachedResult, float]] = {}  # key -> (value, expires_at), not yet handed over
        self._writing: dict[str, tuple[CachedResult, float]] = {}  # handed to the writer, maybe not committed
        self._in_flight: set[Future[None]] = set()
        self._flush_timer: asyncio.TimerHandle | None = None

    @staticmethod
    def _connect(path: str) -> sqlite3.Connection:
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        return db

    async def get(self, key: str) -> CachedResult | None:
        held = self._pending.get(key) or self._writing.get(key)
        if held is not None:
            value, expires_at = held
            return value if expires_at > self.clock() else None
        row = self._db.execute("SELECT value, expires_at FROM results WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        raw, expires_at = row
        if expires_at <= self.clock():
            return None
        return CachedResult.loads(raw)

    async def put(self, key: str, value: CachedResult) -> None:
        self._pending.pop(key, None)  # re-inserted last: the dict's order is the write order
        self._pending[key] = (value, self.clock() + self.ttl_s)
        if len(self._pending) >= self.FLUSH_ROWS:
            self.flush()
        elif self._flush_timer is None:
            self._flush_timer = asyncio.get_running_loop().call_later(self.FLUSH_S, self.flush)

    def flush(self) -> None:
        """Hand the held-back writes to the writer (`:memory:`: commit them now)."""
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        if not self._pending:
            return
        batch, self._pending = self._pending, {}
        if self._executor is None:
            self._write(batch)
            return
        self._writing.update(batch)
        future = self._executor.submit(self._write, batch)
        self._in_flight.add(future)
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is not None:
            future.add_done_callback(lambda f: loop.call_soon_threadsafe(self._written, f, batch))

    def _written(self, future: Future[None], batch: dict[str, tuple[CachedResult, float]]) -> None:
        """On the loop, once a batch is committed (or failed): stop serving it from memory."""
        self._in_flight.discard(future)
        for key, held in batch.items():
            if self._writing.get(key) is held:  # not overwritten by a later put meanwhile
                self._writing.pop(key, None)
        if future.exception() is not None:
            logger.warning("result cache: a batch of %d writes failed: %s", len(batch), future.exception())

    def _drain(self) -> None:
        """Block until every handed-over batch is committed (tests, `__len__`, shutdown)."""
        for future in list(self._in_flight):
            with suppress(Exception):
                future.result()
        self._in_flight.clear()
        self._writing.clear()

    def _write(self, batch: dict[str, tuple[CachedResult, float]]) -> None:
        """One statement for the whole batch (writer thread, or the loop for `:memory:`).

        The rows go in as one JSON array unpacked by `json_each`, not through `executemany`:
        that binds each row holding the GIL and steps it without, so a writer thread would take
        the GIL from the event loop once a row, and each handover costs the loop far more than
        the row does.
        """
        rows = orjson.dumps([[key, value.layout(), expires_at] for key, (value, expires_at) in batch.items()])
        cur = self._writer_db.execute(_INSERT_ROWS, (rows.decode(),))
        self._count += cur.rowcount
        if self._count > self.max_entries:
            self._evict(self._writer_db, self.clock())

    def _evict(self, db: sqlite3.Connection, now: float) -> None:
        """Drop expired entries, then the soonest-expiring (oldest) ones down to 90% of the bound.

        Evicting a tenth at once keeps eviction off most writes.
        """
        db.execute("DELETE FROM results WHERE expires_at <= ?", (now,))
        count = db.execute("SELECT COUNT(*) FROM results").fetchone()[0]
        target = max(1, int(self.max_entries * 0.9)) if self.max_entries > 1 else self.max_entries
        if count > target:
            db.execute(
                "DELETE FROM results WHERE key IN (SELECT key FROM results ORDER BY expires_at LIMIT ?)",
                (count - target,),
            )
        self._count = db.execute("SELECT COUNT(*) FROM results").fetchone()[0]

    def __len__(self) -> int:
        self.flush()
        self._drain()
        return int(self._db.execute("SELECT COUNT(*) FROM results WHERE expires_at > ?", (self.clock(),)).fetchone()[0])

    async def aclose(self) -> None:
        self.flush()
        if self._executor is not None:
            for future in list(self._in_flight):
                with suppress(Exception):
                    await asyncio.wrap_future(future)
            await asyncio.to_thread(self._executor.shutdown, wait=True)
            self._writer_db.close()
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
