"""API keys and per-key rate limits. Both objects are built in the app's lifespan.

Keys are kept only as sha256 digests; a presented key is hashed and compared against every
configured digest with `hmac.compare_digest`, so neither the comparison nor the loop's length
tells an attacker how much of a guess was right.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from starlette.requests import HTTPConnection

from .errors import INVALID_KEY, RateLimited, Unauthorized
from .settings import AuthSettings, LimitSettings

OUT_OF_SEARCHES = "Your account has run out of searches."
THROUGHPUT_EXCEEDED = "Your account has exceeded its throughput limit. Please slow down and retry shortly."
_HEX = frozenset("0123456789abcdef")


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _read_hashes(path: Path) -> list[str]:
    hashes = []
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.split("#", 1)[0].strip().lower()
        if not line:
            continue
        if len(line) != 64 or not set(line) <= _HEX:
            raise ValueError(f"{path}:{number}: expected a sha256 hex digest (serpsim-simulator hash-key)")
        hashes.append(line)
    return hashes


def presented_key(conn: HTTPConnection) -> str | None:
    """The key wherever a client put it: SerpApi's query params, a bearer token, or X-API-KEY."""
    for name in ("api_key", "serp_api_key"):
        value = conn.query_params.get(name)
        if value:
            return value
    auth = conn.headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return conn.headers.get("x-api-key") or None


class KeyStore:
    """The configured key digests. Empty: the service is open."""

    def __init__(self, hashes: list[str]) -> None:
        self._hashes = [bytes.fromhex(h) for h in dict.fromkeys(h.lower() for h in hashes)]

    @classmethod
    def from_settings(cls, auth: AuthSettings) -> KeyStore:
        hashes = [hash_key(k) for k in auth.api_keys] + list(auth.api_key_hashes)
        if auth.api_keys_file is not None:
            hashes += _read_hashes(auth.api_keys_file)
        return cls(hashes)

    @property
    def open(self) -> bool:
        return not self._hashes

    def __len__(self) -> int:
        return len(self._hashes)

    def check(self, key: str | None) -> str:
        """The caller's identity for rate limits and logs (a digest prefix, never the key)."""
        if key is None:
            raise Unauthorized(INVALID_KEY)
        digest = hashlib.sha256(key.encode()).digest()
        matched = False
        for known in self._hashes:  # no early exit: the time taken doesn't depend on which key matched
            matched |= hmac.compare_digest(digest, known)
        if not matched:
            raise Unauthorized(INVALID_KEY)
        return "key:" + digest.hex()[:12]


@dataclass
class _Window:
    tokens: float
    refilled: float
    hour: deque[float] = field(default_factory=deque)


class RateLimiter:
    """Per identity: a token bucket (requests per second) and a sliding one-hour window.

    Identities are keys (at most the configured ones) or, when open, client addresses; the table
    is bounded (least recently seen dropped) so an open server can't be made to grow it forever.
    """

    def __init__(self, limits: LimitSettings, clock: Callable[[], float] = time.monotonic, max_ids: int = 10_000) -> None:
        self.per_second = limits.rate_per_second
        self.burst = float(limits.rate_burst or max(1.0, limits.rate_per_second))
        self.per_hour = limits.rate_per_hour
        self.clock = clock
        self.max_ids = max_ids
        self._windows: OrderedDict[str, _Window] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self.per_second > 0 or self.per_hour > 0

    def acquire(self, identity: str) -> None:
        """Count one request, or raise RateLimited with the seconds until one is allowed."""
        if not self.enabled:
            return
        now = self.clock()
        window = self._windows.get(identity)
        if window is None:
            window = self._windows[identity] = _Window(tokens=self.burst, refilled=now)
            if len(self._windows) > self.max_ids:
                self._windows.popitem(last=False)
        self._windows.move_to_end(identity)
        if self.per_hour:
            while window.hour and window.hour[0] <= now - 3600:
                window.hour.popleft()
            if len(window.hour) >= self.per_hour:
                wait = window.hour[0] + 3600 - now
                raise RateLimited(OUT_OF_SEARCHES, headers={"Retry-After": str(max(1, math.ceil(wait)))})
        if self.per_second:
            window.tokens = min(self.burst, window.tokens + (now - window.refilled) * self.per_second)
            window.refilled = now
            if window.tokens < 1:
                wait = (1 - window.tokens) / self.per_second
                raise RateLimited(THROUGHPUT_EXCEEDED, headers={"Retry-After": str(max(1, math.ceil(wait)))})
            window.tokens -= 1
        if self.per_hour:
            window.hour.append(now)
