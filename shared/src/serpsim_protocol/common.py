"""Types shared by every protocol serpsim speaks."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

Quality = Literal["useful", "noisy"]
"""Which kind of documents the simulation LLM is asked to write (ZeroSearch's two prompts)."""

QUALITIES: tuple[Quality, ...] = ("useful", "noisy")


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
