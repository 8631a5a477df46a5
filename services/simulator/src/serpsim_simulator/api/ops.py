"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from .deps import EngineDep, EngineStatusDep, KeyDep, MetricsDep

router = APIRouter(tags=["ops"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up and serving HTTP."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(engine: EngineDep, status: EngineStatusDep) -> JSONResponse:
    """200 once the engine can generate; 503 while it loads, after it failed, or if it died."""
    body = {"engine": engine.kind, "model": engine.model_name}
    if status.error:
        return JSONResponse({**body, "status": "failed", "error": status.error}, status_code=503)
    if not engine.ready():
        return JSONResponse({**body, "status": "loading", "error": "The engine is not ready yet."}, status_code=503)
    return JSONResponse({**body, "status": "ready"})


@router.get(
    "/metrics",
    response_class=Response,
    responses={401: {"description": "Missing or invalid API key (when keys are configured)"}},
)
async def metrics(registry: MetricsDep, _: KeyDep) -> Response:
    """Prometheus metrics: requests, latency, in-flight, queue depth, tokens, cache hits, errors."""
    return Response(registry.render(), media_type=CONTENT_TYPE_LATEST)
