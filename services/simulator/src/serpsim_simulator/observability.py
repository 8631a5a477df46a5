"""Request metrics as pure ASGI middleware (no BaseHTTPMiddleware: it buffers and costs latency)."""

from __future__ import annotations

import time
from typing import Any

from fastapi import FastAPI
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def _route_of(app: Any, scope: Scope) -> str:
    """The route template (`/searches/{search_id}`), not the raw path: bounded label cardinality."""
    for route in getattr(app, "routes", []):
        match, _ = route.matches(scope)
        if match == Match.FULL:
            return getattr(route, "path", "other")
    return "unmatched"


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, fastapi_app: FastAPI) -> None:
        self.app = app
        self.fastapi_app = fastapi_app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = scope.get("state") or {}
        metrics = state.get("metrics")
        if scope["type"] != "http" or metrics is None:
            await self.app(scope, receive, send)
            return
        route = _route_of(self.fastapi_app.router, scope)
        status = 500
        started = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            metrics.in_flight.dec()
            metrics.requests.labels(route, str(status)).inc()
            metrics.latency.labels(route).observe(time.perf_counter() - started)
            if status >= 400:
                metrics.errors.labels(str(status)).inc()


def instrument(app: FastAPI) -> None:
    app.add_middleware(MetricsMiddleware, fastapi_app=app)
