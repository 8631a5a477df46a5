"""The app factory. No app exists at import time: `create_app(settings)` builds one."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI

from .api import ops, playground, retrieve, serpapi
from .api.contract import Contract
from .api.guard import RequestGuard
from .api.mcp_server import mount_mcp
from .api.providers import SHAPES, ProviderErrors, ProviderHosts
from .api.security import KeyStore
from .backends.base import Backend
from .backends.errors import BackendConfigError
from .engines.base import Engine
from .errors import register_error_handlers
from .logs import configure_logging
from .metrics import Metrics
from .search.accounts import Accounts
from .search.archive import MemoryArchive
from .search.cache import build_cache
from .search.service import SearchService
from .settings import Settings
from .simulation.admission import Admission
from .state import AppState

if TYPE_CHECKING:
    from .shared_state.stores import SharedState

logger = logging.getLogger(__name__)

SETTINGS_ENV = "SERPSIM_SETTINGS_JSON"
"""How `serve` hands its validated settings to every worker process (`app_from_environment`)."""

PER_PROCESS = (
    "no shared state (shared_state.redis_url unset): rate limits, usage, /account.json, the search archive and the "
    "SerpApi spend budget are per process; set SERPSIM_SHARED_STATE__REDIS_URL to share them across workers and replicas"
)

OPEN_BANNER = """
==============================================================================
 serpsim has NO API KEYS configured: anyone who can reach this port can search
 and read /metrics. Set SERPSIM_AUTH__API_KEYS='["..."]' or
 SERPSIM_AUTH__API_KEYS_FILE=<file of sha256 digests> (serpsim-simulator hash-key).
==============================================================================
"""


def build_backends(
    settings: Settings, engine: Engine | None, admission: Admission, injected: Mapping[str, Backend],
    shared: SharedState | None = None,
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

            spend = shared.spend_cap if shared is not None else None
            backends[cfg.name] = make_backend(cfg, spend, settings.shared_state.limits_on_outage)
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


async def open_shared(settings: Settings, metrics: Metrics) -> SharedState | None:
    """The shared state when Redis is configured; else None, said once at start-up."""
    if not settings.shared_state.redis_url:
        logger.warning(PER_PROCESS)
        return None
    from .shared_state.stores import open_shared_state  # needs the `redis` extra

    return await open_shared_state(settings, metrics)


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
        shared = await open_shared(settings, metrics)
        try:
            hosted = build_backends(settings, engine, admission, backends or {}, shared)
            cache = build_cache(settings.cache, shared.cache if shared is not None else None)
        except BaseException:
            if shared is not None:
                await shared.aclose()
            raise
        try:
            await start_backends(hosted)
        except BaseException:
            await cache.aclose()
            if shared is not None:
                await shared.aclose()
            raise
        accounts = Accounts(
            limits, metrics, shared.accounts if shared is not None else None,
            on_outage=settings.shared_state.limits_on_outage, retry_after_s=settings.shared_state.retry_interval_s,
        )
        archive = shared.archive if shared is not None else MemoryArchive(settings.search_store_size)
        service = SearchService(hosted, accounts, cache, archive)
        try:
            async with mcp.session_manager.run():  # the /mcp transport's task group
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
            if shared is not None:
                await shared.aclose()

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
    app.include_router(playground.router)
    mcp = mount_mcp(app)  # the MCP `web_search` tool at /mcp (api/mcp_server.py)
    for shape in SHAPES:  # other providers' APIs, by path prefix and by Host (api/providers)
        app.include_router(shape.router)
    formats = ProviderErrors(SHAPES)
    register_error_handlers(app, formats)
    app.openapi_schema = None
    app.openapi = lambda: app.openapi_schema or _publish(app, contract)  # type: ignore[method-assign]
    # One middleware for ids, limits, deadlines, metrics and the access log (guard.py says why).
    app.add_middleware(RequestGuard, limits=settings.limits, router=app.router, formats=formats)
    app.add_middleware(ProviderHosts, shapes=SHAPES)  # outermost: the guard sees the routed path
    return app


def app_from_environment() -> FastAPI:
    """The app factory `serpsim-simulator serve` gives uvicorn (`--workers N`: each worker is a
    spawned interpreter that calls this with no arguments). The settings are the ones `serve`
    built once from flags and `SERPSIM_*` and validated, carried as JSON in SERPSIM_SETTINGS_JSON;
    nothing is read from the environment a second time."""
    raw = os.environ.get(SETTINGS_ENV)
    if not raw:
        raise RuntimeError(f"{SETTINGS_ENV} is not set: start the server with `serpsim-simulator serve`")
    settings = Settings.model_validate_json(raw)
    configure_logging(settings.log_level, settings.log_format)
    return create_app(settings)
