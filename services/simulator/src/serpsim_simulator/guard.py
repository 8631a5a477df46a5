"""Per-request guard, as pure ASGI middleware: request id, body limit, deadline, disconnects.

    X-Request-ID   taken from the request (if sane) or generated; returned on every response
                   and attached to every log line written while serving it.
    413            a body over `limits.max_body_bytes`, refused before the app parses it.
    504            the deadline (`timeout` query parameter or `X-Timeout` header, in seconds,
                   up to `limits.max_timeout_s`; default `limits.timeout_s`) passed: the
                   handler task is cancelled, so the cancellation reaches the engine call.
    disconnect     the client went away: the handler task is cancelled the same way.

The body is read here in full (it is small for every route) so the handler's `receive` can be
replayed, leaving the real `receive` free to watch for `http.disconnect` while it runs.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import time
import uuid
from contextlib import suppress
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import error_body
from .logs import REQUEST_ID
from .settings import LimitSettings

logger = logging.getLogger(__name__)
access_logger = logging.getLogger("serpsim_simulator.access")

_SANE_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
TOO_LARGE = "Request body too large."
DEADLINE = "The search took longer than its deadline. Please try again later."
BAD_TIMEOUT = "Invalid `timeout` parameter: a number of seconds greater than 0."
CLIENT_CLOSED = 499  # nginx's code for "client closed request"; only ever logged, never sent


class _BadTimeout(ValueError):
    pass


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _query_param(scope: Scope, name: str) -> str | None:
    for key, value in parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True):
        if key == name:
            return value
    return None


def deadline_of(scope: Scope, limits: LimitSettings) -> float:
    raw = _query_param(scope, "timeout") or _header(scope, b"x-timeout")
    if raw is None or raw == "":
        return limits.timeout_s
    try:
        value = float(raw)
    except ValueError as exc:
        raise _BadTimeout(raw) from exc
    if not math.isfinite(value) or value <= 0:
        raise _BadTimeout(raw)
    return min(value, limits.max_timeout_s)


class RequestGuard:
    def __init__(self, app: ASGIApp, limits: LimitSettings) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, b"x-request-id")
        request_id = incoming if incoming and _SANE_ID.match(incoming) else uuid.uuid4().hex
        token = REQUEST_ID.set(request_id)
        state: dict[str, Any] = scope.get("state") or {}
        metrics = state.get("metrics")
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", []), (b"x-request-id", request_id.encode())]}
            await send(message)

        async def reply(code: int, message: str, headers: dict[str, str] | None = None) -> None:
            body = json.dumps(error_body(scope["path"], message)).encode()
            raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
            await send_with_id({"type": "http.response.start", "status": code, "headers": raw})
            await send_with_id({"type": "http.response.body", "body": body})

        try:
            status = await self._guarded(scope, receive, send_with_id, reply, metrics, lambda: response_started)
        finally:
            elapsed = time.perf_counter() - started
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

    async def _guarded(self, scope: Scope, receive: Receive, send: Send, reply: Any, metrics: Any, started: Any) -> int:
        limits = self.limits
        try:
            deadline = deadline_of(scope, limits)
        except _BadTimeout:
            await reply(400, BAD_TIMEOUT)
            return 400

        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limits.max_body_bytes:
            return await self._too_large(reply, metrics)
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
                return await self._too_large(reply, metrics)
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        disconnected = asyncio.Event()
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            await disconnected.wait()
            return {"type": "http.disconnect"}

        status_box: dict[str, int] = {}

        async def send_tracking(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_box["status"] = message["status"]
            await send(message)

        handler = asyncio.create_task(self.app(scope, replay, send_tracking))
        watcher = asyncio.create_task(receive())
        try:
            done, _ = await asyncio.wait({handler, watcher}, timeout=deadline, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:  # the server itself is going away: take the handler with us
            handler.cancel()
            watcher.cancel()
            raise
        if handler in done:
            watcher.cancel()
            with suppress(asyncio.CancelledError):
                await watcher
            handler.result()  # re-raise what the app raised, as if unguarded
            return status_box.get("status", 500)
        handler.cancel()  # propagates into the route, the simulator and the engine call
        with suppress(asyncio.CancelledError):
            await handler
        if watcher in done:
            disconnected.set()
            if metrics is not None:
                metrics.client_disconnects.inc()
            logger.info("client disconnected; generation cancelled")
            return CLIENT_CLOSED
        watcher.cancel()
        with suppress(asyncio.CancelledError):
            await watcher
        if metrics is not None:
            metrics.deadline_exceeded.inc()
        logger.warning("deadline of %.3gs passed; generation cancelled", deadline)
        if started():
            return status_box.get("status", 500)
        await reply(504, DEADLINE)
        return 504

    @staticmethod
    async def _too_large(reply: Any, metrics: Any) -> int:
        if metrics is not None:
            metrics.rejected.labels("too_large").inc()
        await reply(413, TOO_LARGE)
        return 413
