"""The app factory. No app exists at import time: `create_app(settings)` builds one."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from fastapi import FastAPI

from .accounts import Accounts
from .admission import Admission
from .api import ops, retrieve, serpapi
from .api.contract import Contract
from .cache import build_cache
from .engines.base import Engine
from .errors import register_error_handlers
from .guard import RequestGuard
from .metrics import Metrics
from .security import KeyStore
from .serving_retrieve import RetrieveService
from .serving_search import SearchService
from .settings import Settings
from .simulate import Simulator
from .state import AppState, EngineStatus
from .store import SearchStore

logger = logging.getLogger(__name__)

OPEN_BANNER = """
==============================================================================
 serpsim has NO API KEYS configured: anyone who can reach this port can search
 and read /metrics. Set SERPSIM_AUTH__API_KEYS='["..."]' or
 SERPSIM_AUTH__API_KEYS_FILE=<file of sha256 digests> (serpsim-simulator hash-key).
==============================================================================
"""


async def _load(engine: Engine, status: EngineStatus) -> None:
    """Load in the background so /healthz answers while weights load; /readyz tells when done."""
    try:
        await engine.start()
    except Exception as exc:  # any load failure must surface on /readyz, not kill the server
        status.error = f"engine failed to load: {exc}"
        logger.exception("engine %s failed to load model %s", engine.kind, engine.model_name)
    else:
        status.loaded = True
        logger.info("engine %s ready with model %s", engine.kind, engine.model_name)


def _publish(app: FastAPI, contract: Contract) -> dict[str, object]:
    app.openapi_schema = contract.openapi(app)
    return app.openapi_schema


def create_app(settings: Settings, engine: Engine | None = None) -> FastAPI:
    """Build the simulator app. `engine` replaces the configured one (tests, benchmarks)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[AppState]:
        if engine is not None:
            eng = engine
        else:
            from .engines import build_engine  # heavy runtimes are imported only when chosen

            eng = build_engine(settings.engine)
        keys = KeyStore.from_settings(settings.auth)  # a bad keys file fails start-up, loudly
        if keys.open:
            logger.warning(OPEN_BANNER)
        else:
            logger.info("API keys required: %d configured", len(keys))
        status = EngineStatus()
        loading = asyncio.create_task(_load(eng, status))
        metrics = Metrics()
        limits = settings.limits
        admission = Admission(limits.max_in_flight, limits.max_queue, limits.retry_after_s, metrics)
        simulator = Simulator(eng, settings.simulation, admission)
        store = SearchStore(settings.search_store_size)
        accounts = Accounts(limits, metrics)
        cache = build_cache(settings.cache)
        try:
            yield {
                "settings": settings,
                "contract": contract,
                "engine": eng,
                "engine_status": status,
                "store": store,
                "accounts": accounts,
                "metrics": metrics,
                "keys": keys,
                "admission": admission,
                "search": SearchService(simulator, store, accounts, settings, cache),
                "retrieve": RetrieveService(simulator, accounts, cache),
            }
        finally:
            loading.cancel()
            with suppress(asyncio.CancelledError):
                await loading
            await eng.aclose()
            await cache.aclose()

    contract = Contract.from_settings(settings)
    app = FastAPI(
        title="serpsim",
        summary="A SerpApi-compatible search API whose results are written by a simulation LLM.",
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
