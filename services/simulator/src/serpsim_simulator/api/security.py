"""API keys. The key store is built in the app's lifespan; limits and usage live in accounts.py.

Keys are kept only as sha256 digests; a presented key is hashed and compared against every
configured digest with `hmac.compare_digest`, so neither the comparison nor the loop's length
tells an attacker how much of a guess was right.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

from starlette.requests import HTTPConnection

from ..errors import INVALID_KEY, Unauthorized
from ..settings import AuthSettings

_HEX = frozenset("0123456789abcdef")


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def identity_of(digest_hex: str) -> str:
    """An API key's identity for accounts, limits and logs: a digest prefix, never the key."""
    return "key:" + digest_hex[:16]


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
        return identity_of(digest.hex())
