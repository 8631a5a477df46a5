"""The MCP server: one `web_search` tool over the one search path, with the official `mcp` SDK.

Two transports, one tool:
- streamable HTTP at `/mcp` in the app itself (`mount_mcp`): the key is the HTTP request's
  (Bearer, X-API-KEY or `api_key`, as on every route), the state the app's lifespan built.
- stdio (`serpsim-simulator mcp`, cli.py): the key comes from `--api-key` / `SERPSIM_MCP_API_KEY`
  and the state from the same lifespan, run in-process.
Either way the call is validated by the SerpApi shape's own parameter model (`Contract.search`:
lengths, `num`, backend names) and searched by `SearchService.run`, so keys, limits, cache and
accounting are those of every other route. A refused call (bad key, a limit, a bad argument,
a backend not ready) is a tool error whose text is the service's message.

Stateless HTTP sessions: each request stands alone, so any worker behind a balancer can answer it.
DNS-rebinding protection is off: the SDK turns it on for `host="127.0.0.1"`, which would refuse
every request whose `Host` is not loopback (a container name, a proxy's host).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import FastAPI
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.transport_security import TransportSecuritySettings
from pydantic import Field
from starlette.requests import Request

from ..errors import EngineUnavailable, SimulatorError
from ..search.service import SearchService
from ..settings import Settings
from .contract import Contract
from .deps import identify
from .providers.mapping import search_request
from .security import KeyStore, hash_key, identity_of
from .serpapi import search_query

MCP_PATH = "/mcp"
INSTRUCTIONS = (
    "Web search. `web_search` returns ranked results (title, url, snippet) for a query. On a serpsim server "
    "the results are written by a simulation LLM (quality `useful` or `noisy`, or a share of noisy ones with "
    "`noise_ratio`) or found in a local corpus (`backend`)."
)


@dataclass(frozen=True)
class Caller:
    """What one tool call runs with: the app's search service and contract, and who is asking."""

    search: SearchService
    contract: Contract
    identity: str


Resolve = Callable[[Context], Awaitable[Caller]]


def _quietly(make: Callable[[], MCPServer]) -> MCPServer:
    """`make()` without the SDK's logging set-up: `MCPServer()` calls `logging.basicConfig` with a
    rich handler, which takes over the root logger of a process that has not configured one yet
    (a test, a library user); serpsim's own logging (logs.py) decides where lines go."""
    root = logging.getLogger()
    placeholder = None if root.handlers else logging.NullHandler()
    if placeholder is not None:
        root.addHandler(placeholder)  # basicConfig is a no-op when the root has a handler
    try:
        return make()
    finally:
        if placeholder is not None:
            root.removeHandler(placeholder)


def build_mcp_server(resolve: Resolve) -> MCPServer:
    """An MCP server with the `web_search` tool; `resolve` finds the caller of each call."""
    server = _quietly(lambda: MCPServer("serpsim", instructions=INSTRUCTIONS))

    @server.tool()
    async def web_search(
        query: Annotated[str, Field(description="What to search for.")],
        ctx: Context,
        num_results: Annotated[int, Field(ge=1, le=100, description="How many results (1-100).")] = 10,
        quality: Annotated[
            Literal["useful", "noisy"] | None, Field(description="Simulation only: useful or noisy documents.")
        ] = None,
        noise_ratio: Annotated[
            float | None, Field(ge=0, le=1, description="Simulation only: the share of noisy documents.")
        ] = None,
        backend: Annotated[str | None, Field(description="A backend of this server (default: its first).")] = None,
        seed: Annotated[int | None, Field(ge=0, description="Simulation only: sampling seed.")] = None,
    ) -> dict[str, Any]:
        """Search the web: ranked results with title, url and snippet."""
        try:
            caller = await resolve(ctx)
            fields = {"q": query, "num": num_results, "quality": quality, "noise_ratio": noise_ratio,
                      "backend": backend, "seed": seed}
            params = search_request(caller.contract, fields, {"q": "query", "num": "num_results"})
            (result,) = await caller.search.run([search_query(params)], caller.identity)
        except SimulatorError as exc:
            raise ToolError(exc.message) from None
        results = []
        for hit in result.hits:
            item = {"title": hit.title, "url": hit.link, "snippet": hit.text}
            if hit.label is not None:
                item["label"] = hit.label
            results.append(item)
        return {"query": params.q, "backend": result.backend, "kind": result.kind, "results": results}

    return server


async def _from_http(ctx: Context) -> Caller:
    request = ctx.request_context.request
    if not isinstance(request, Request):
        raise ToolError("No HTTP request behind this call.")
    state = request.state
    return Caller(state.search, state.contract, identify(request))


async def serve_stdio(settings: Settings, api_key: str | None, ready_timeout_s: float = 600.0) -> None:
    """The app's lifespan in-process (backends, engine, keys, limits, cache) and the tool on
    stdin/stdout, every call as `api_key`'s; a wrong key or a backend that fails to start stops it."""
    from ..app import create_app  # the app imports this module

    identity = identity_of_key(KeyStore.from_settings(settings.auth), api_key)  # before anything loads
    app = create_app(settings)
    async with app.router.lifespan_context(app) as state:
        service: SearchService = state["search"]
        await wait_ready(service, ready_timeout_s)
        caller = Caller(service, state["contract"], identity)

        async def resolve(ctx: Context) -> Caller:
            return caller

        await build_mcp_server(resolve).run_stdio_async()


def identity_of_key(keys: KeyStore, key: str | None) -> str:
    """The stdio caller's identity: its key's, checked when keys are configured (401 otherwise)."""
    if not keys.open:
        return keys.check(key)
    return identity_of(hash_key(key)) if key else "local:stdio"


async def wait_ready(service: SearchService, timeout_s: float) -> None:
    """Until every backend can answer; a failed one, or the timeout, is `EngineUnavailable`."""
    deadline = time.monotonic() + timeout_s
    while not service.ready():
        failed = [f"{b.name}: {b.error()}" for b in service.backends.values() if b.error()]
        if failed or time.monotonic() > deadline:
            raise EngineUnavailable(f"backends not ready: {'; '.join(failed) or 'timed out'}")
        await asyncio.sleep(0.2)


def mount_mcp(app: FastAPI) -> MCPServer:
    """`/mcp` (streamable HTTP) on `app`; the app's lifespan must run `server.session_manager.run()`."""
    server = build_mcp_server(_from_http)
    sub = server.streamable_http_app(
        streamable_http_path=MCP_PATH, stateless_http=True,
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )
    app.router.routes.extend(sub.routes)  # a plain route at /mcp: a mount would answer POST /mcp with a 307
    return server
