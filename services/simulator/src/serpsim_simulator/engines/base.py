"""The engine interface: a batch of prompts and sampling settings in, texts and token counts out.

An engine knows nothing of search. It receives the simulation prompt as plain text and sends it
the way ZeroSearch did: one user turn after an empty system message, rendered through the
model's own chat template (`chat_messages`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class SamplingSettings:
    """Per-request sampling. ZeroSearch sampled its simulator at temperature 0.8, 600 new tokens."""

    temperature: float = 0.8
    top_p: float = 1.0
    max_tokens: int = 600
    seed: int | None = None


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int


class EngineError(Exception):
    """The engine failed to generate (crashed, timed out, or unreachable).

    Its message is for the log: it may name upstream URLs or quote their answers, so the
    simulator never returns it to a client.
    """


class PromptTooLong(EngineError):
    """The rendered prompt leaves no room in the model's context: the request's fault (a 400)."""

    def __init__(self, message: str, tokens: int | None = None, context: int | None = None) -> None:
        super().__init__(message)
        self.tokens = tokens
        self.context = context


@runtime_checkable
class Engine(Protocol):
    """What the simulator needs from a model runtime."""

    kind: str
    model_name: str
    model_revision: str
    """The checkpoint's version (settled once `start` returns): the result cache keys on it."""

    async def start(self) -> None:
        """Load weights / open connections. Called once by the app's lifespan."""

    def ready(self) -> bool:
        """True once `start` finished and the engine can serve."""

    async def generate(
        self, prompts: Sequence[str], settings: Sequence[SamplingSettings]
    ) -> list[Completion]:
        """One completion per prompt, in order. Raises `EngineError` on failure."""

    async def aclose(self) -> None:
        """Release the model and connections."""


def chat_messages(prompt: str) -> list[dict[str, str]]:
    """ZeroSearch's request shape: an empty system message, then the template as the user turn."""
    return [{"role": "system", "content": ""}, {"role": "user", "content": prompt}]
