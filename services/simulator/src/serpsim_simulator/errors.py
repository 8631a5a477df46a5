"""Errors the simulator's core raises, and their rendering in each caller's protocol.

    SimulatorError            .status, .message
    ├── InvalidParameter      400
    ├── NotFound              404
    ├── Unauthorized          401: missing or wrong API key
    ├── RateLimited           429: per-key rate limit, with Retry-After
    ├── Overloaded            503: in-flight and queue full, with Retry-After (answered at once)
    ├── EngineUnavailable     503: not loaded yet, or failed to load
    ├── EngineFailed          503: generation raised
    └── EngineBadOutput       502: the engine answered something unusable

StoreUnavailable (not an HTTP error): a shared store (Redis) could not answer; the caller applies
its outage policy (limits refuse or admit, the cache misses, usage skips), so it never reaches a route.

413 (body too large) and 504 (deadline) are rendered by `guard.RequestGuard`, outside routing.

Routes never catch and re-wrap: handlers registered in `create_app` render errors as SerpApi's
`{"error": "..."}` on SerpApi routes and as `{"detail": "..."}` on `/retrieve` (Search-R1).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Protocol

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

logger = logging.getLogger(__name__)

MISSING_Q = "Missing query `q` parameter."


class StoreUnavailable(Exception):
    """A shared store (Redis) could not answer one operation (already counted and logged by its client)."""


INVALID_KEY = "Invalid API key. Your API key should be here: https://serpapi.com/manage-api-key"


class SimulatorError(Exception):
    status = 500

    def __init__(self, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers


class InvalidParameter(SimulatorError):
    status = 400


class NotFound(SimulatorError):
    status = 404


class Unauthorized(SimulatorError):
    status = 401


class RateLimited(SimulatorError):
    status = 429


class Overloaded(SimulatorError):
    status = 503


class EngineBadOutput(SimulatorError):
    status = 502


class EngineUnavailable(SimulatorError):
    status = 503


class EngineFailed(SimulatorError):
    status = 503


def is_retrieve_path(path: str) -> bool:
    return path.rstrip("/").endswith("/retrieve")


def error_body(path: str, message: str) -> dict[str, str]:
    """SerpApi's `{"error"}` everywhere but Search-R1's `/retrieve`, which uses `{"detail"}`."""
    return {"detail": message} if is_retrieve_path(path) else {"error": message}


class ErrorFormats(Protocol):
    """Other protocols' error formats by path (api/providers: Tavily's, Brave's...): a status,
    body and headers for a path it owns, None elsewhere."""

    def render(
        self, path: str, status: int, message: str, error: Exception | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any, dict[str, str]] | None: ...


def error_response(
    request: Request,
    status: int,
    message: str,
    headers: dict[str, str] | None = None,
    error: Exception | None = None,
    formats: ErrorFormats | None = None,
) -> JSONResponse:
    if formats is not None:
        rendered = formats.render(request.url.path, status, message, error, headers)
        if rendered is not None:
            code, body, out_headers = rendered
            return JSONResponse(body, status_code=code, headers=out_headers or None)
    return JSONResponse(error_body(request.url.path, message), status_code=status, headers=headers)


_BLANK_Q = frozenset({"missing", "string_too_short", "string_pattern_mismatch"})


def _where(err: Any) -> list[str]:
    """An error's location as field names and list indexes: without the `query`/`body` prefix
    and without the union members pydantic names (`constrained-str`, `RetrieveQuery`)."""
    parts = [str(p) for p in err.get("loc", ()) if p not in ("query", "body")]
    return [p for p in parts if "-" not in p and not p[:1].isupper()]


def validation_message(errors: Sequence[Any]) -> str:
    """A SerpApi-style sentence from pydantic errors (never `str(exc)`: it leaks file paths)."""
    for err in errors:
        where = _where(err)
        if where == ["q"] and err.get("type") in _BLANK_Q:
            return MISSING_Q
        if where == ["engine"] and err.get("type") == "literal_error":
            return f"Unsupported `{err.get('input')}` search engine."
    # A value a union refuses gets one error per member; the one that is not "wrong type" names
    # the member the value was meant for (a query object whose `question` is too long).
    first = next((e for e in errors if not str(e.get("type", "")).endswith("_type")), errors[0] if errors else {})
    loc = ".".join(_where(first)) or "request"
    return f"Invalid `{loc}` parameter: {first.get('msg', 'invalid value')}."


_ENGINE_FAILURE_KINDS: dict[type[SimulatorError], str] = {
    EngineFailed: "error",
    EngineBadOutput: "bad_output",
    EngineUnavailable: "unavailable",
}
_REJECTION_REASONS: dict[type[SimulatorError], str] = {Unauthorized: "auth", RateLimited: "rate_limit"}


def _count(request: Request, exc: SimulatorError) -> None:
    metrics = getattr(request.state, "metrics", None)
    if metrics is None:
        return
    if type(exc) in _ENGINE_FAILURE_KINDS:
        metrics.engine_failures.labels(_ENGINE_FAILURE_KINDS[type(exc)]).inc()
    elif type(exc) in _REJECTION_REASONS:
        metrics.rejected.labels(_REJECTION_REASONS[type(exc)]).inc()


def register_error_handlers(app: FastAPI, formats: ErrorFormats | None = None) -> None:
    """Render errors in the caller's protocol: `formats` for the paths it owns, else SerpApi's or Search-R1's."""

    async def simulator_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, SimulatorError)
        if exc.status >= 500:
            logger.warning("%s %s -> %d: %s", request.method, request.url.path, exc.status, exc.message)
        _count(request, exc)
        return error_response(request, exc.status, exc.message, exc.headers, exc, formats)

    async def request_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return error_response(request, 400, validation_message(exc.errors()), None, exc, formats)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        message = exc.detail if isinstance(exc.detail, str) else "Request failed."
        if exc.status_code == 404 and message == "Not Found":
            message = "Resource not found."
        return error_response(request, exc.status_code, message, getattr(exc, "headers", None), exc, formats)

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(request, 500, "Internal server error.", None, exc, formats)

    app.add_exception_handler(SimulatorError, simulator_error)
    app.add_exception_handler(RequestValidationError, request_validation)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
