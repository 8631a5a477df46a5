"""The app factory. No app exists at import time: `create_app(settings)` builds one."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager

from fastapi import FastAPI

from .api import ops, retrieve, serpapi
from .api.contract import Contract
from .api.guard import RequestGuard
from .api.security import KeyStore
from .backends.base import Backend
from .backends.errors import BackendConfigError
from .engines.base import Engine
from .errors import register_error_handlers
from .metrics import Metrics
from .search.accounts import Accounts
from .search.archive import MemoryArchive
from .search.cache import build_cache
from .search.service import SearchService
from .settings import Settings
from .simulation.admission import Admission
from .state import AppState

logger = logging.getLogger(__name__)

OPEN_BANNER = """
==============================================================================
 serpsim has NO API KEYS configured: anyone who can reach this port can search
 and read /metrics. Set SERPSIM_AUTH__API_KEYS='["..."]' or
 SERPSIM_AUTH__API_KEYS_FILE=<file of sha256 digests> (serpsim-simulator hash-key).
==============================================================================
"""


def build_backends(
    settings: Settings, engine: Engine | None, admission: Admission, injected: Mapping[str, Backend]
) -> dict[str, Backend]:
    """The configured backends, in order, unstarted; `injected` ones (tests, benchmarks) replace
    the configured backend of the same name."""
    unknown = sorted(set(injected) - set(settings.backends.names))
    if unknown:
        raise ValueError(f"injected backends {unknown} are not configured (settings.backends)")
    backends: dict[str, Backend] = {}
    for cfg in settings.backends.backends:
        if cfg.name in injected:
            backends[cfg.name] = injected[cfg.name]
        elif cfg.kind == "simulated":
            from .simulation.backend import SimulatedBackend

            if engine is None:
                from .engines import build_engine  # heavy runtimes are imported only when chosen

                engine = build_engine(settings.engine)
            backends[cfg.name] = SimulatedBackend(cfg.name, engine, settings.simulation, admission)
        else:
            from .backends.factory import make_backend

            backends[cfg.name] = make_backend(cfg)
    return backends


async def start_backends(backends: Mapping[str, Backend]) -> None:
    """Start each backend, real search first (an index loads in seconds, and a bad one should stop
    the start-up before an engine begins loading); the first that cannot start stops the start-up
    with its reason (a missing or corrupt index, a missing SerpApi key) after the started ones are
    closed."""
    started: list[Backend] = []
    order = sorted(backends.values(), key=lambda b: b.kind == "simulated")
    try:
        for backend in order:
            await backend.start()
            started.append(backend)
            logger.info("backend `%s` (%s) started", backend.name, backend.kind)
    except BackendConfigError as exc:
        logger.error("backend `%s` cannot start: %s", backend.name, exc)
        await close_backends(started)
        raise
    except BaseException:
        await close_backends(started)
        raise


async def close_backends(backends: Iterable[Backend]) -> None:
    for backend in backends:
        try:
            await backend.aclose()
        except Exception:  # one backend failing to close must not keep the others open
            logger.exception("backend `%s` failed to close", backend.name)


def _publish(app: FastAPI, contract: Contract) -> dict[str, object]:
    app.openapi_schema = contract.openapi(app)
    return app.openapi_schema


def create_app(
    settings: Settings, engine: Engine | None = None, backends: Mapping[str, Backend] | None = None
) -> FastAPI:
    """Build the simulator app. `engine` replaces the configured one (tests, benchmarks), and so
    does each of `backends` the configured backend of its name."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[AppState]:
        keys = KeyStore.from_settings(settings.auth)  # a bad keys file fails start-up, loudly
        if keys.open:
            logger.warning(OPEN_BANNER)
        else:
            logger.info("API keys required: %d configured", len(keys))
        metrics = Metrics()
        limits = settings.limits
        admission = Admission(limits.max_in_flight, limits.max_queue, limits.retry_after_s, metrics)
        hosted = build_backends(settings, engine, admission, backends or {})
        cache = build_cache(settings.cache)
        try:
            await start_backends(hosted)
        except BaseException:
            await cache.aclose()
            raise
        accounts = Accounts(limits, metrics)
        service = SearchService(hosted, accounts, cache, MemoryArchive(settings.search_store_size))
        try:
            yield {
                "settings": settings,
                "contract": contract,
                "search": service,
                "accounts": accounts,
                "metrics": metrics,
                "keys": keys,
            }
        finally:
            await close_backends(hosted.values())
            await cache.aclose()

    contract = Contract.from_settings(settings)
    app = FastAPI(
        title="serpsim",
        summary="A SerpApi-compatible search API whose results are written by a simulation LLM, "
        "or found in a local corpus or on Google, behind the same routes.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.include_router(serpapi.router)
    app.include_router(retrieve.router)
    app.include_router(ops.router)
    register_error_handlers(app)
    app.openapi_schema = None
    app.openapi = lambda: app.openapi_schema or _publish(app, contract)  # type: ignore[method-assign]
    # One middleware for ids, limits, deadlines, metrics and the access log (guard.py says why).
    app.add_middleware(RequestGuard, limits=settings.limits, router=app.router)
    return app
