"""Per-request guard, as one pure ASGI middleware: request id, body limit, deadline, disconnects,
request metrics and the access log line.

    X-Request-ID   taken from the request (if sane) or generated; returned on every response
                   and attached to every log line written while serving it.
    413            a body over `limits.max_body_bytes`, refused before the app parses it.
    504            the deadline (`timeout` query parameter or `X-Timeout` header, in seconds,
                   up to `limits.max_timeout_s`; default `limits.timeout_s`) passed: the
                   handler is cancelled, so the cancellation reaches the engine call.
    disconnect     the client went away: the handler is cancelled the same way.
    metrics        requests by route template and status, latency, in flight, errors (the
                   guard's own 400, 413 and 504 answers included).

One middleware, not one per concern: each ASGI layer wraps `send` and adds frames to every
request, which showed in the overhead benchmark (bench/overhead.py).

The handler runs in the request's own task, cancelled from a timer at the deadline, rather than
in a task of its own raced against a `receive()` watcher: two tasks and an `asyncio.wait` per
request cost more than the rest of a cached search. Disconnects are still watched, by a task
started only once a request has run `WATCH_AFTER_S`: a quick answer never needs one, and a
generation that runs for seconds is cancelled at most that much later than before.

The body is read here in full (it is small for every route) so the handler's `receive` can be
replayed, leaving the real `receive` free to watch for `http.disconnect` while it runs.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import re
import time
from typing import Any
from urllib.parse import parse_qsl

from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import error_body
from ..logs import REQUEST_ID
from ..metrics import Metrics
from ..settings import LimitSettings

logger = logging.getLogger(__name__)
access_logger = logging.getLogger("serpsim_simulator.access")

_SANE_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
TOO_LARGE = "Request body too large."
DEADLINE = "The search took longer than its deadline. Please try again later."
BAD_TIMEOUT = "Invalid `timeout` parameter: a number of seconds greater than 0."
CLIENT_CLOSED = 499  # nginx's code for "client closed request"; only ever logged, never sent
WATCH_AFTER_S = 0.05
"""A request still running after this long gets a task watching for its client's disconnect."""


class _BadTimeout(ValueError):
    pass


_GUARD_HEADERS = frozenset({b"x-request-id", b"x-timeout", b"content-length"})


def _guard_headers(scope: Scope) -> dict[bytes, str]:
    """The headers the guard reads, in one pass; the first of each name counts."""
    found: dict[bytes, str] = {}
    for key, value in scope.get("headers", ()):
        key = key.lower()
        if key in _GUARD_HEADERS and key not in found:
            found[key] = value.decode("latin-1")
    return found


def _query_param(scope: Scope, name: str) -> str | None:
    raw: bytes = scope.get("query_string", b"")
    if name.encode() not in raw:  # the common case, without parsing the whole query string
        return None
    for key, value in parse_qsl(raw.decode("latin-1"), keep_blank_values=True):
        if key == name:
            return value
    return None


def deadline_of(scope: Scope, limits: LimitSettings, header: str | None = None) -> float:
    """Seconds this request may run: `timeout` in the query, else `header` (X-Timeout), else the default."""
    raw = _query_param(scope, "timeout") or header
    if raw is None or raw == "":
        return limits.timeout_s
    try:
        value = float(raw)
    except ValueError as exc:
        raise _BadTimeout(raw) from exc
    if not math.isfinite(value) or value <= 0:
        raise _BadTimeout(raw)
    return min(value, limits.max_timeout_s)


def route_label(app: Any, scope: Scope) -> str:
    """The route template (`/searches/{search_id}`), not the raw path: bounded label cardinality.

    The router leaves the route it matched in `scope["route"]`; only answers given before routing
    (the guard's own 400, 413, 504) need a match of their own.
    """
    route = scope.get("route")
    if route is None:
        for candidate in getattr(app, "routes", ()):
            match, _ = candidate.matches(scope)
            if match == Match.FULL:
                route = candidate
                break
        else:
            return "unmatched"
    return str(getattr(route, "path", "other"))


class _Exchange:
    """One request as the guard sees it: the status sent, the replayed body, and the timer and
    (after `WATCH_AFTER_S`) the task that cancel its handler at the deadline or on a disconnect.

    A class with slots rather than closures: it is built for every request.
    """

    __slots__ = (
        "body", "cut", "deadline_at", "gone", "loop", "receive", "replayed", "request_id", "send", "started",
        "status", "task", "timer", "waiters", "watcher",
    )

    def __init__(self, send: Send, receive: Receive, request_id: str) -> None:
        self.send = send
        self.receive = receive
        self.request_id = request_id.encode()
        self.status = 500
        self.started = False
        self.cut: str | None = None  # "deadline" or "disconnect", once the guard cancels the handler
        self.body = b""
        self.replayed = False
        self.gone = False  # the client disconnected
        self.waiters: asyncio.Event | None = None  # made only if the handler waits for a disconnect
        self.task: asyncio.Task[Any] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.watcher: asyncio.Task[None] | None = None
        self.deadline_at = 0.0

    async def send_with_id(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
            self.status = message["status"]
            message = {**message, "headers": [*message.get("headers", ()), (b"x-request-id", self.request_id)]}
        await self.send(message)

    async def replay(self) -> Message:
        """The handler's `receive`: the body read up front, then `http.disconnect` when it happens."""
        if not self.replayed:
            self.replayed = True
            return {"type": "http.request", "body": self.body, "more_body": False}
        if not self.gone:
            if self.waiters is None:
                self.waiters = asyncio.Event()
            await self.waiters.wait()
        return {"type": "http.disconnect"}

    def arm(self, deadline_s: float) -> None:
        """One timer: at `WATCH_AFTER_S` it starts the disconnect watcher and re-arms for the deadline."""
        loop = self.loop = asyncio.get_running_loop()
        self.task = asyncio.current_task()
        now = loop.time()
        self.deadline_at = now + deadline_s
        if WATCH_AFTER_S < deadline_s:
            self.timer = loop.call_at(now + WATCH_AFTER_S, self._start_watching)
        else:
            self.timer = loop.call_at(self.deadline_at, self._cut, "deadline")

    def disarm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        if self.watcher is not None and not self.watcher.done():
            self.watcher.cancel()

    def _start_watching(self) -> None:
        assert self.loop is not None
        self.watcher = self.loop.create_task(self._watch())
        self.timer = self.loop.call_at(self.deadline_at, self._cut, "deadline")

    async def _watch(self) -> None:
        while (await self.receive())["type"] != "http.disconnect":
            pass
        self.gone = True
        if self.waiters is not None:
            self.waiters.set()
        self._cut("disconnect")

    def _cut(self, reason: str) -> None:
        if self.cut is None and self.task is not None:
            self.cut = reason
            self.task.cancel()  # propagates into the route, the simulator and the engine call

    def uncancel(self) -> None:
        """Take back the guard's own cancellation request (3.11+), so the task's later awaits run."""
        uncancel = getattr(self.task, "uncancel", None)
        if uncancel is not None:
            uncancel()


class RequestGuard:
    def __init__(self, app: ASGIApp, limits: LimitSettings, router: Any = None) -> None:
        """`router`: what `route_label` matches paths against (the FastAPI app's router)."""
        self.app = app
        self.limits = limits
        self.router = router

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = _guard_headers(scope)
        incoming = headers.get(b"x-request-id")
        request_id = incoming if incoming and _SANE_ID.match(incoming) else os.urandom(16).hex()
        token = REQUEST_ID.set(request_id)
        state: dict[str, Any] = scope.get("state") or {}
        metrics: Metrics | None = state.get("metrics")
        exchange = _Exchange(send, receive, request_id)
        started = time.perf_counter()
        status = 500
        if metrics is not None:
            metrics.in_flight.inc()
        try:
            status = await self._guarded(scope, receive, exchange, metrics, headers)
        finally:
            elapsed = time.perf_counter() - started
            if metrics is not None:
                metrics.in_flight.dec()
                metrics.observe_request(route_label(self.router, scope), status, elapsed)
            if access_logger.isEnabledFor(logging.INFO):
                access_logger.info(
                    "%s %s %d",
                    scope.get("method"),
                    scope.get("path"),
                    status,
                    extra={
                        "method": scope.get("method"),
                        "path": scope.get("path"),
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 1),
                        "client": (scope.get("client") or ("?",))[0],
                        "identity": state.get("identity"),
                    },
                )
            REQUEST_ID.reset(token)

    @staticmethod
    async def _reply(scope: Scope, exchange: _Exchange, code: int, message: str) -> int:
        body = json.dumps(error_body(scope["path"], message)).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await exchange.send_with_id({"type": "http.response.start", "status": code, "headers": headers})
        await exchange.send_with_id({"type": "http.response.body", "body": body})
        return code

    async def _guarded(
        self, scope: Scope, receive: Receive, exchange: _Exchange, metrics: Metrics | None, headers: dict[bytes, str]
    ) -> int:
        limits = self.limits
        try:
            deadline = deadline_of(scope, limits, headers.get(b"x-timeout"))
        except _BadTimeout:
            return await self._reply(scope, exchange, 400, BAD_TIMEOUT)

        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limits.max_body_bytes:
            return await self._too_large(scope, exchange, metrics)
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return CLIENT_CLOSED
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limits.max_body_bytes:
                return await self._too_large(scope, exchange, metrics)
            chunks.append(chunk)
            more = message.get("more_body", False)
        exchange.body = b"".join(chunks)
        exchange.arm(deadline)
        try:
            await self.app(scope, exchange.replay, exchange.send_with_id)
        except asyncio.CancelledError:
            if exchange.cut is None:  # the server itself is going away: let the cancellation through
                raise
            exchange.uncancel()
        else:
            if exchange.cut is not None:
                exchange.uncancel()  # the handler swallowed our cancellation and finished anyway
            return exchange.status
        finally:
            exchange.disarm()
        if exchange.cut == "disconnect":
            if metrics is not None:
                metrics.client_disconnects.inc()
            logger.info("client disconnected; generation cancelled")
            return CLIENT_CLOSED
        if metrics is not None:
            metrics.deadline_exceeded.inc()
        logger.warning("deadline of %.3gs passed; generation cancelled", deadline)
        if exchange.started:
            return exchange.status
        return await self._reply(scope, exchange, 504, DEADLINE)

    async def _too_large(self, scope: Scope, exchange: _Exchange, metrics: Metrics | None) -> int:
        if metrics is not None:
            metrics.rejected.labels("too_large").inc()
        return await self._reply(scope, exchange, 413, TOO_LARGE)

