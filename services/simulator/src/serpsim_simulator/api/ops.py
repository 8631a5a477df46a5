"""Liveness, readiness, the backend catalogue and metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from serpsim_protocol import BackendsResponse

from ..backends.base import Backend
from ..search.service import SearchService
from .deps import KeyDep, MetricsDep, SearchDep

router = APIRouter(tags=["ops"])


def backend_status(backend: Backend, default: bool) -> dict[str, Any]:
    """One backend as `/backends` and `/readyz` list it."""
    error = backend.error()
    status = "failed" if error else "ready" if backend.ready() else "loading"
    entry: dict[str, Any] = {"name": backend.name, "kind": backend.kind, "default": default, "status": status}
    if error:
        entry["error"] = error
    return entry


def catalogue(service: SearchService) -> list[dict[str, Any]]:
    return [backend_status(b, name == service.default) for name, b in service.backends.items()]


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up and serving HTTP."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(service: SearchDep) -> JSONResponse:
    """200 once every backend can answer; 503 while one loads (the simulation's engine), after it
    failed, or if it died. Each backend's state is listed."""
    backends = catalogue(service)
    body: dict[str, Any] = {}
    simulated = next((b for b in service.backends.values() if b.kind == "simulated"), None)
    if simulated is not None:
        info = simulated.describe()
        body.update(engine=info.get("engine"), model=info.get("model"))
    failed = next((b for b in backends if b["status"] == "failed"), None)
    loading = next((b for b in backends if b["status"] == "loading"), None)
    if failed is not None:
        return JSONResponse({**body, "status": "failed", "error": failed["error"], "backends": backends}, status_code=503)
    if loading is not None:
        message = f"The `{loading['name']}` backend is not ready yet."
        return JSONResponse({**body, "status": "loading", "error": message, "backends": backends}, status_code=503)
    return JSONResponse({**body, "status": "ready", "backends": backends})


@router.get("/backends", response_model=BackendsResponse, response_model_exclude_none=True)
async def backends(service: SearchDep) -> dict[str, Any]:
    """The backends this server hosts, in order (the first answers requests that name none), with
    each one's kind (`simulated`, `corpus`, `serpapi`) and state. Only `simulated` takes
    `quality`, `noise_ratio`, `noise_count`, `question` and `answer`."""
    return {"backends": catalogue(service)}


@router.get(
    "/metrics",
    response_class=Response,
    responses={401: {"description": "Missing or invalid API key (when keys are configured)"}},
)
async def metrics(registry: MetricsDep, _: KeyDep) -> Response:
    """Prometheus metrics: requests, latency, in-flight, queue depth, tokens, cache hits, errors."""
    return Response(registry.render(), media_type=CONTENT_TYPE_LATEST)
