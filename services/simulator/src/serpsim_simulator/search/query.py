"""`SearchQuery`: one search, as every API shape asks for it.

An API shape (api/serpapi.py, api/retrieve.py, and the shapes after them) parses its own
request into `SearchQuery`s and hands them to `SearchService.run`; nothing else of the request
reaches the search path.
"""

from __future__ import annotations

from dataclasses import dataclass

from serpsim_protocol import Quality

SIMULATION_ONLY: tuple[str, ...] = ("quality", "noise_ratio", "noise_count", "question", "answer")
"""Fields only the simulation understands: a real backend answers them with a 400."""


@dataclass(frozen=True, slots=True)
class SearchQuery:
    query: str
    num: int = 10
    """Documents wanted (SerpApi's `num`, Search-R1's `topk`)."""
    offset: int = 0
    """Rank of the first document (SerpApi's `start`)."""
    backend: str | None = None
    """A configured backend's name; None: the first configured."""
    quality: Quality | None = None
    """Simulation: the whole call useful or noisy (ZeroSearch's coin); None: useful."""
    noise_ratio: float | None = None
    """Simulation: each document noisy with this share, k = floor(r·num + u) (simulation/noise.py)."""
    noise_count: int | None = None
    """Simulation: exactly min(k, num) noisy documents."""
    question: str | None = None
    """Simulation: the question the searcher works on (a training-time hint)."""
    answer: str | None = None
    """Simulation: its gold answer (a training-time hint)."""
    seed: int | None = None
    """Simulation: sampling seed (same seed, same documents). Real backends ignore it."""
    no_cache: bool = False
    """Skip the result cache's read (a fresh search); the result is still written."""

    def simulation_fields(self) -> list[str]:
        """The simulation-only fields this query sets, in `SIMULATION_ONLY` order."""
        return [name for name in SIMULATION_ONLY if getattr(self, name) is not None]

    @property
    def mixes_noise(self) -> bool:
        """Noise chosen per document (`noise_ratio` or `noise_count`), not per call."""
        return self.noise_ratio is not None or self.noise_count is not None
