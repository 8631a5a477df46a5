"""The one async Redis client behind all shared state, and what an outage does to it.

Every operation goes through `SharedRedis.call`, which turns any Redis failure into
`StoreUnavailable` (errors.py); the search path decides what that means (limits refuse or let
through per `limits_on_outage`, the cache misses, usage and the archive skip), so no Redis error
ever reaches a route.

After a connection failure or a timeout, Redis is not tried again for `retry_interval_s`: during
an outage requests are answered degraded at once instead of each waiting out a timeout. Every
degraded operation is counted (`unavailable`, and the `on_unavailable` hook for metrics); the
outage is logged at most once per `error_log_interval_s`, and its end once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from redis import exceptions as redis_errors
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript

from ..errors import StoreUnavailable
from ..settings import SharedStateSettings

logger = logging.getLogger(__name__)

T = TypeVar("T")

_OUTAGE_ERRORS = (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError)
"""Redis is unreachable or too slow: every other operation would fail alike, so stop trying for a while."""


def redacted_url(url: str) -> str:
    """The URL without its password, for logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host += f":{parts.port}"
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit((parts.scheme, user + host, parts.path, parts.query, parts.fragment))


class SharedRedis:
    """A `redis.asyncio` client with bounded timeouts, no retry loops, and outage accounting.

    Keys are `{key_prefix}:{part}:{part}...`. Built once in the app's lifespan; `aclose` at the end.
    """

    def __init__(
        self,
        settings: SharedStateSettings,
        *,
        on_unavailable: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        client: Redis | None = None,
    ) -> None:
        if settings.redis_url is None and client is None:
            raise ValueError("shared state needs a Redis URL (shared_state.redis_url)")
        self.settings = settings
        self.url = redacted_url(settings.redis_url or "redis://(injected client)")
        self.prefix = settings.key_prefix
        # No retries inside redis-py (its default is ten, with backoff: seconds per call during an
        # outage); a pooled connection the server closed is detected and replaced before use.
        self.client = client or Redis.from_url(
            settings.redis_url or "",
            socket_connect_timeout=settings.connect_timeout_s,
            socket_timeout=settings.timeout_s,
            retry=Retry(NoBackoff(), 0),
            max_connections=settings.max_connections,
        )
        # Calls beyond the pool wait here for a connection: a full pool is load, not an outage
        # (redis-py would raise MaxConnectionsError, a ConnectionError, and trip the breaker).
        self._slots = asyncio.Semaphore(settings.max_connections)
        self.on_unavailable = on_unavailable
        self.clock = clock
        self.unavailable: Counter[str] = Counter()
        """Degraded operations by name since start (failed, or skipped while Redis was down)."""
        self._down_until = float("-inf")
        self._in_outage = False
        self._last_log = float("-inf")
        self._since_log = 0

    def key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def script(self, source: str) -> AsyncScript:
        """A Lua script run by its digest (reloaded by redis-py when a restarted Redis lost it)."""
        return self.client.register_script(source)

    @property
    def down(self) -> bool:
        """Whether operations are being answered degraded without trying Redis."""
        return self.clock() < self._down_until

    async def call(self, op: str, fn: Callable[[Redis], Awaitable[T]]) -> T:
        """`await fn(client)`, or `StoreUnavailable` if Redis is down or the call fails."""
        if self.down:
            self._degraded(op, None)
            raise StoreUnavailable(op)
        try:
            async with self._slots:
                result = await fn(self.client)
        except _OUTAGE_ERRORS as exc:
            self._down_until = self.clock() + self.settings.retry_interval_s
            self._in_outage = True
            self._degraded(op, exc)
            raise StoreUnavailable(op) from exc
        except redis_errors.RedisError as exc:
            # Redis answered, with an error (out of memory, read-only replica, a bad key type): this
            # operation degrades, the next ones still try.
            self._degraded(op, exc)
            raise StoreUnavailable(op) from exc
        if self._in_outage:
            self._in_outage = False
            logger.warning(
                "shared state: Redis at %s answers again (%d operations degraded since start)",
                self.url, sum(self.unavailable.values()),
            )
            self._last_log = float("-inf")
        return result

    def _degraded(self, op: str, exc: BaseException | None) -> None:
        self.unavailable[op] += 1
        self._since_log += 1
        if self.on_unavailable is not None:
            self.on_unavailable(op)
        now = self.clock()
        if now - self._last_log < self.settings.error_log_interval_s:
            return
        reason = "skipped while down" if exc is None else f"{type(exc).__name__}: {exc}"
        logger.error(
            "shared state: Redis at %s unavailable (%s, last in %s); %d operations degraded since the last report",
            self.url, reason, op, self._since_log,
        )
        self._last_log = now
        self._since_log = 0

    async def ping(self) -> bool:
        """Whether Redis answers now (readiness, start-up checks). Never raises."""
        try:
            return bool(await self.call("ping", lambda r: r.ping()))
        except StoreUnavailable:
            return False

    async def aclose(self) -> None:
        await self.client.aclose()


async def run_script(
    shared: SharedRedis, op: str, script: AsyncScript, keys: list[str], args: list[Any]
) -> Any:
    """Run a registered script through `shared.call`."""
    return await shared.call(op, lambda r: script(keys=keys, args=args, client=r))
