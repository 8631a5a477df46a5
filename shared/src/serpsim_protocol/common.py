"""Types shared by every protocol serpsim speaks."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints

Quality = Literal["useful", "noisy"]
"""Which kind of documents the simulation LLM is asked to write (ZeroSearch's two prompts)."""

QUALITIES: tuple[Quality, ...] = ("useful", "noisy")

MAX_SEED = 2**63 - 1
"""Largest seed: vLLM's OpenAI server takes int64 seeds."""

NonBlank = Annotated[str, StringConstraints(min_length=1, pattern=r"\S")]
"""A query: at least one character that is not whitespace. The pattern, not a `strip()` in the
server, decides, so the published schema and the server's validation are one rule."""


class WireModel(BaseModel):
    """Base of every wire model: unknown fields are kept, never rejected.

    A compatible API must tolerate what newer servers or other clients add.
    """

    model_config = ConfigDict(extra="allow", populate_by_name=True)


class SimulationInfo(WireModel):
    """serpsim's own block in a response: how the documents were made. SerpApi clients ignore it."""

    quality: Quality | None = None
    model: str | None = None
    engine: str | None = None
    prompt_mode: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    generations: int = 0
    cached: bool = False
