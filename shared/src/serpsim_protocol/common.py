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


BACKEND_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
"""A backend's name, as a server configures it and a request names it (`backend=`)."""

BackendKind = Literal["simulated", "corpus", "serpapi"]
REAL_BACKEND_KINDS: tuple[BackendKind, ...] = ("corpus", "serpapi")
"""Kinds that search something real: they take no quality, noise or hints."""


class SimulationInfo(WireModel):
    """serpsim's own block in a response from the simulation: how the documents were made, and
    each one's label (`useful`/`noisy`, in the order of the results). SerpApi clients ignore it."""

    backend: str | None = None
    quality: Quality | None = None
    labels: list[Quality] | None = None
    model: str | None = None
    engine: str | None = None
    prompt_mode: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    generations: int = 0
    cached: bool = False


class BackendUsed(WireModel):
    """serpsim's own block in a response from real search (a corpus, SerpApi): which backend
    answered, and its public facts (index mode...). SerpApi clients ignore it."""

    name: str
    kind: BackendKind
    cached: bool = False


class BackendInfo(WireModel):
    """One backend of a server, as `GET /backends` lists it."""

    name: str
    kind: BackendKind
    default: bool = False
    status: Literal["ready", "loading", "failed"] = "ready"
    error: str | None = None


class BackendsResponse(WireModel):
    """`GET /backends`: the server's backends, in order (the first is the default)."""

    backends: list[BackendInfo]

    def find(self, name: str | None) -> BackendInfo | None:
        """The backend `name` names, or the default for None."""
        if name is None:
            return next((b for b in self.backends if b.default), self.backends[0] if self.backends else None)
        return next((b for b in self.backends if b.name == name), None)
