"""Backend configuration: a named list of backends; a request picks one with `backend=NAME`.

The first backend is the default. `Settings.backends` holds the list, so it is one environment
variable of JSON, e.g. `SERPSIM_BACKENDS='[{"kind":"simulated"},{"kind":"corpus","name":"wiki",
"index":"/data/wiki-idx","mode":"hybrid"}]'`. With no configuration there is one backend, the
simulation. At most one backend is `simulated`: there is one engine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, Field, RootModel, model_validator

from ..errors import InvalidParameter

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class SimulatedBackendSettings(BaseModel):
    """The simulation LLM (the engine and simulation settings of the main `Settings`)."""

    kind: Literal["simulated"] = "simulated"
    name: str = Field(default="simulated", pattern=NAME_PATTERN)


class CorpusBackendSettings(BaseModel):
    """A local corpus, served from an index directory built by `serpsim-simulator index`."""

    kind: Literal["corpus"] = "corpus"
    name: str = Field(default="corpus", pattern=NAME_PATTERN)
    index: Path = Field(description="Index directory (`serpsim-simulator index CORPUS OUT`).")
    mode: Literal["bm25", "dense", "hybrid"] = Field(
        default="bm25", description="hybrid: reciprocal-rank fusion of BM25 and dense; needs both in the index."
    )
    model: Path | None = Field(
        default=None, description="Dense model directory. Unset: where it was when the index was built."
    )
    device: str = "cpu"
    threads: int = Field(default=2, ge=1, description="Searches running at once (a thread pool).")
    mmap: bool = Field(default=True, description="Memory-map the index files instead of reading them into RAM.")
    rrf_k: int = Field(default=60, ge=1, description="hybrid: the k of 1/(k + rank).")
    candidates: int = Field(default=50, ge=1, description="hybrid: hits taken from each retriever before fusion.")
    faiss_params: dict[str, float] = Field(
        default_factory=dict, description='faiss search parameters, e.g. {"efSearch": 64} (HNSW), {"nprobe": 16} (IVF).'
    )


def _default_spend_file() -> str:
    return str(Path.home() / ".cache" / "serpsim" / "serpapi-spend.json")


class SerpApiBackendSettings(BaseModel):
    """Real Google through SerpApi. The key is read from the environment variable named here."""

    kind: Literal["serpapi"] = "serpapi"
    name: str = Field(default="serpapi", pattern=NAME_PATTERN)
    base_url: str = Field(default="https://serpapi.com", description="Tests point this at a fake upstream.")
    api_key_env: str = Field(default="SERPAPI_API_KEY", description="Environment variable holding the SerpApi key.")
    engine: str = "google"
    params: dict[str, str] = Field(
        default_factory=dict, description='Fixed upstream parameters, e.g. {"gl": "us", "hl": "en"}.'
    )
    timeout_s: float = Field(default=30.0, gt=0, description="Per upstream request; over it: 504.")
    max_connections: int = Field(default=8, ge=1)
    searches_per_hour: int = Field(default=100, ge=1, description="Spend cap: upstream searches in any hour.")
    searches_per_month: int = Field(default=1000, ge=1, description="Spend cap: upstream searches per calendar month (UTC).")
    spend_file: str = Field(
        default_factory=_default_spend_file,
        description="Where the spend counts persist across restarts and processes (`:memory:`: not kept).",
    )


BackendSettings = Annotated[
    SimulatedBackendSettings | CorpusBackendSettings | SerpApiBackendSettings, Field(discriminator="kind")
]


class BackendsSettings(RootModel[list[BackendSettings]]):
    """The configured backends, in order; the first is the default."""

    root: list[BackendSettings] = Field(default_factory=lambda: [SimulatedBackendSettings()], min_length=1)

    @model_validator(mode="after")
    def _names_and_kinds(self) -> BackendsSettings:
        names = [b.name for b in self.root]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"backend names must be unique; repeated: {', '.join(duplicates)}")
        if sum(b.kind == "simulated" for b in self.root) > 1:
            raise ValueError("at most one backend of kind `simulated` (there is one engine)")
        return self

    @property
    def backends(self) -> list[BackendSettings]:
        return self.root

    @property
    def default(self) -> BackendSettings:
        return self.root[0]

    @property
    def names(self) -> list[str]:
        return [b.name for b in self.root]

    def resolve(self, name: str | None) -> BackendSettings:
        """The backend a request asked for (`backend=NAME`), or the default; unknown: 400."""
        if name is None:
            return self.default
        for backend in self.root:
            if backend.name == name:
                return backend
        raise InvalidParameter(f"Unknown backend `{name}`. This server has: {', '.join(self.names)}.")
