"""Dependencies: each reads one object from the lifespan state, so routes never import globals.

All are `async def` although none awaits: FastAPI runs a plain `def` dependency in a worker
thread, and a dozen thread hops per request cost more than the rest of the route on a small host.
"""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request

from ..metrics import Metrics
from ..search.accounts import Accounts
from ..search.service import SearchService
from ..settings import Settings
from .security import KeyStore, hash_key, identity_of, presented_key

_BASE_URL_HEADERS = frozenset({b"x-forwarded-proto", b"x-forwarded-host", b"host", b"x-forwarded-prefix"})


def _state(request: Request, name: str) -> object:
    return getattr(request.state, name)


async def get_search(request: Request) -> SearchService:
    return cast(SearchService, _state(request, "search"))


async def get_settings(request: Request) -> Settings:
    return cast(Settings, _state(request, "settings"))


async def get_accounts(request: Request) -> Accounts:
    return cast(Accounts, _state(request, "accounts"))


async def get_metrics(request: Request) -> Metrics:
    return cast(Metrics, _state(request, "metrics"))


async def public_base_url(request: Request) -> str:
    return base_url_of(request)


def base_url_of(request: Request) -> str:
    """The base URL clients reached us by, for self-links (pagination, json_endpoint).

    Behind a proxy: X-Forwarded-Proto / X-Forwarded-Host / X-Forwarded-Prefix; otherwise the
    Host header and the app's root_path. `settings.public_base_url` overrides both.
    """
    configured = cast(Settings, _state(request, "settings")).public_base_url
    if configured:
        return configured.rstrip("/")
    # One pass over the raw (lower-case, per ASGI) headers; the first of each name counts, as in
    # `request.headers.get`. `request.url` is built only when a header is missing.
    found: dict[bytes, str] = {}
    for key, value in request.scope["headers"]:
        if key in _BASE_URL_HEADERS and key not in found:
            found[key] = value.decode("latin-1")
    scheme = found[b"x-forwarded-proto"] if b"x-forwarded-proto" in found else request.scope["scheme"]
    host = found.get(b"x-forwarded-host")
    if host is None:
        host = found[b"host"] if b"host" in found else request.url.netloc
    prefix = found.get(b"x-forwarded-prefix", "") + request.scope.get("root_path", "")
    return f"{scheme.split(',')[0].strip()}://{host.split(',')[0].strip()}{prefix.rstrip('/')}"


async def require_key(request: Request) -> str:
    return identify(request)


def identify(request: Request) -> str:
    """The caller's identity, for its account, its limits and the access log; 401 unless the
    request carries a configured key (with none configured, everyone passes).

    A key is one identity wherever it was presented (api_key, serp_api_key, Bearer, X-API-KEY):
    `key:` and a prefix of its sha256, never the key itself. An open server accounts a presented
    key the same way, and a request without one by its client address.
    """
    keys = cast(KeyStore, _state(request, "keys"))
    key = presented_key(request)
    if not keys.open:
        identity = keys.check(key)
    elif key is not None:
        identity = identity_of(hash_key(key))
    else:
        identity = "ip:" + (request.client.host if request.client else "unknown")
    request.state.identity = identity
    return identity


SearchDep = Annotated[SearchService, Depends(get_search)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
AccountsDep = Annotated[Accounts, Depends(get_accounts)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
BaseUrlDep = Annotated[str, Depends(public_base_url)]
KeyDep = Annotated[str, Depends(require_key)]
"""The caller's identity, after auth (account, metrics, archive). Searches are metered by their service."""
