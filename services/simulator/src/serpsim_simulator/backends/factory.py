"""Real backends from their settings; the app builds the simulated one around its engine (app.build_backends)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..settings import OutagePolicy
from .base import Backend
from .settings import CorpusBackendSettings, SerpApiBackendSettings


def make_backend(
    settings: CorpusBackendSettings | SerpApiBackendSettings,
    shared_spend: Callable[[SerpApiBackendSettings], Any] | None = None,
    on_outage: OutagePolicy = "closed",
) -> Backend:
    """An unstarted backend; `await backend.start()` loads it and raises start-up errors.
    `shared_spend` builds a paid backend's spend cap in the shared state (Redis), if configured."""
    if isinstance(settings, CorpusBackendSettings):
        from .corpus.backend import CorpusBackend

        return CorpusBackend(settings)
    if isinstance(settings, SerpApiBackendSettings):
        from .serpapi.backend import SerpApiBackend

        spend = shared_spend(settings) if shared_spend is not None else None
        return SerpApiBackend(settings, spend=spend, on_outage=on_outage)
    raise TypeError(f"no real backend of kind {getattr(settings, 'kind', settings)!r}")
