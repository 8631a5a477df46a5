"""Other providers' search APIs, each a thin mapping onto the one search path (mapping.py):

    tavily.py      Tavily         POST /tavily/search                  api.tavily.com
    searxng.py     SearXNG        /searxng/search?format=json (+ /searxng root: 308)
    serper.py      Serper         POST /serper/search                  google.serper.dev
    brave.py       Brave          GET /brave/res/v1/web/search         api.search.brave.com
    google_cse.py  Custom Search  GET /cse/customsearch/v1             customsearch.googleapis.com, www.googleapis.com
    exa.py         Exa            POST /exa/search                     api.exa.ai

Each is reached by its path prefix, or by its vendor's host name (`ProviderHosts`: a client
whose URL is hard-coded, pointed here by name resolution, asks `Host: api.tavily.com` for
`/search` and gets Tavily's shape). Each renders errors in its provider's format
(`ProviderErrors`, used by the app's error handlers and the request guard).
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.types import ASGIApp, Receive, Scope, Send

from . import brave, exa, google_cse, searxng, serper, tavily
from .mapping import HOST_ROUTED, Failure, Rendered, Shape

SHAPES: tuple[Shape, ...] = (tavily.SHAPE, searxng.SHAPE, serper.SHAPE, brave.SHAPE, google_cse.SHAPE, exa.SHAPE)


def shape_of(path: str, shapes: Sequence[Shape] = SHAPES) -> Shape | None:
    """The shape whose prefix `path` is under."""
    for shape in shapes:
        if path == shape.prefix or path.startswith(shape.prefix + "/"):
            return shape
    return None


class ProviderErrors:
    """Errors on a provider's paths in that provider's format; None elsewhere (SerpApi's, Search-R1's)."""

    def __init__(self, shapes: Sequence[Shape] = SHAPES) -> None:
        self.shapes = tuple(shapes)

    def render(
        self, path: str, status: int, message: str, error: Exception | None = None, headers: dict[str, str] | None = None
    ) -> Rendered | None:
        shape = shape_of(path, self.shapes)
        if shape is None:
            return None
        return shape.render_error(Failure(status, message, error, headers))


class ProviderHosts:
    """ASGI middleware: a request whose `Host` (or `X-Forwarded-Host`) is a provider's API host
    is served by that provider's shape, its path prefixed with the shape's (`/search` on
    api.tavily.com is `/tavily/search`); self-links then leave the prefix out (`HOST_ROUTED`)."""

    def __init__(self, app: ASGIApp, shapes: Sequence[Shape] = SHAPES) -> None:
        self.app = app
        self.hosts = {host: shape.prefix for shape in shapes for host in shape.hosts}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.hosts:
            prefix = self.hosts.get(self._host(scope))
            path = scope["path"]
            if prefix is not None and not (path == prefix or path.startswith(prefix + "/")):
                scope = {**scope, "path": prefix + path, "raw_path": (prefix + path).encode(), HOST_ROUTED: True}
        await self.app(scope, receive, send)

    @staticmethod
    def _host(scope: Scope) -> str:
        found: dict[bytes, bytes] = {}
        for key, value in scope.get("headers", ()):
            if key in (b"host", b"x-forwarded-host") and key not in found:
                found[key] = value
        raw = found.get(b"x-forwarded-host") or found.get(b"host") or b""
        host = raw.decode("latin-1").split(",")[0].strip().lower()
        return host.rsplit(":", 1)[0] if not host.endswith("]") else host


__all__ = ["SHAPES", "ProviderErrors", "ProviderHosts", "Shape", "shape_of"]
