"""Real backends from their settings; the app builds the simulated one around its engine (app.build_backends)."""

from __future__ import annotations

from .base import Backend
from .settings import CorpusBackendSettings, SerpApiBackendSettings


def make_backend(settings: CorpusBackendSettings | SerpApiBackendSettings) -> Backend:
    """An unstarted backend; `await backend.start()` loads it and raises start-up errors."""
    if isinstance(settings, CorpusBackendSettings):
        from .corpus.backend import CorpusBackend

        return CorpusBackend(settings)
    if isinstance(settings, SerpApiBackendSettings):
        from .serpapi.backend import SerpApiBackend

        return SerpApiBackend(settings)
    raise TypeError(f"no real backend of kind {getattr(settings, 'kind', settings)!r}")
