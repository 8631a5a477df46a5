"""All simulator configuration, in one pydantic-settings object.

Built once in `cli.main` (flags override `SERPSIM_*` environment variables) and handed to
`create_app`; nothing imports a global instance. Nested fields use `__`, e.g.
`SERPSIM_ENGINE__KIND=openai`, `SERPSIM_ENGINE__OPENAI_URLS='["http://vllm:8000/v1"]'`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from serpsim_protocol.prompts import PromptMode

from .backends.settings import BackendsSettings

EngineKind = Literal["transformers", "vllm", "openai"]

DEFAULT_HUB_MODEL = "sunhaonlp/Simulation_LLM_google_14B_V2"
"""ZeroSearch's recommended released simulator; used only when a user asks for it by id."""


class EngineSettings(BaseModel):
    kind: EngineKind = "transformers"
    model: str | None = Field(
        default=None,
        description="Local model directory or hub id. Unset: `make serve` builds a tiny demo model.",
    )
    served_model_name: str | None = Field(default=None, description="Name reported in responses.")
    model_revision: str | None = Field(
        default=None,
        description="The checkpoint's version, part of the result cache's key. Unset: derived from the "
        "checkpoint's files or hub commit (in-process engines), or the upstream's model id and root (openai); "
        "set it when an upstream's checkpoint changes under the same name.",
    )
    device: str = "auto"
    dtype: str = "auto"
    # transformers: dynamic batching of concurrent requests
    max_batch_size: int = Field(default=32, ge=1)
    batch_wait_ms: float = Field(default=5.0, ge=0)
    torch_threads: int | None = Field(
        default=None, ge=1,
        description="transformers: torch intra-op threads, set at engine start. Unset: torch's default (all cores). "
        "1 suits a tiny model on a small CPU, where threads spend more time waiting on each other than working.",
    )
    # vllm in-process
    gpu_memory_utilization: float = Field(default=0.85, gt=0, le=1)
    tensor_parallel_size: int = Field(default=1, ge=1)
    max_num_seqs: int = Field(default=256, ge=1)
    enable_prefix_caching: bool = True
    max_model_len: int | None = None
    # openai-compatible upstreams (vLLM / SGLang servers)
    openai_urls: list[str] = Field(default_factory=list)
    openai_api_key: str | None = None
    openai_sampling: dict[str, int | float] = Field(
        default_factory=lambda: {"top_k": -1, "repetition_penalty": 1.0, "min_p": 0.0},
        description="Sampling fields sent beyond OpenAI's own (temperature, top_p, max_tokens, seed). Left out, "
        "a vLLM or SGLang server applies the checkpoint's generation_config.json (Qwen2.5: top_k 20, "
        "repetition_penalty 1.05), which the in-process engines never do; the default sends neutral values, so "
        "every engine samples alike. {} for servers that reject these fields.",
    )
    request_timeout_s: float = Field(default=120.0, gt=0)
    max_retries: int = Field(default=2, ge=0)

    @model_validator(mode="after")
    def _check(self) -> EngineSettings:
        if self.kind == "openai" and not self.openai_urls:
            raise ValueError("engine kind 'openai' needs at least one URL in engine.openai_urls")
        return self


class SimulationSettings(BaseModel):
    prompt_mode: PromptMode = "sft"
    temperature: float = Field(default=0.8, ge=0)
    top_p: float = Field(default=1.0, gt=0, le=1)
    max_tokens: int = Field(default=600, ge=1)
    max_num: int = Field(default=100, ge=1, le=100, description="Largest `num` (and `/retrieve` `topk`) a request may ask for.")
    max_pages: int = Field(default=5, ge=1, description="Pagination stops after this many pages.")


class AuthSettings(BaseModel):
    """API keys. None configured: the service runs open (and warns loudly at start-up)."""

    api_keys: list[str] = Field(default_factory=list, description="Plain keys; hashed (sha256) at start-up.")
    api_key_hashes: list[str] = Field(default_factory=list, description="sha256 hex digests of keys.")
    api_keys_file: Path | None = Field(
        default=None, description="One sha256 hex digest per line (`serpsim-simulator hash-key`); `#` comments."
    )

    @property
    def configured(self) -> bool:
        return bool(self.api_keys or self.api_key_hashes or self.api_keys_file)


class LimitSettings(BaseModel):
    """Rate limits, input limits, backpressure and deadlines. A rate of 0 turns that limit off.

    Limits count work, not requests. A search is one query: one per `/search`, one per entry of
    a `/retrieve` batch, whatever its `num`/`topk` and whichever backend answers (as
    `/account.json` counts them). A generation is one engine completion of five documents:
    `ceil(num / 5)` per simulated search, and at most one more when it mixes noise per document
    (`noise_ratio`, `noise_count`); real backends cause none.
    """

    rate_per_second: float = Field(
        default=0.0, ge=0, description="Searches per second, per identity (an API key, or the client address when open)."
    )
    rate_burst: int = Field(default=0, ge=0, description="Token-bucket size in searches; 0: max(1, rate_per_second).")
    rate_per_hour: int = Field(default=0, ge=0, description="Searches per identity in a sliding hour (one-minute steps).")
    max_query_chars: int = Field(default=2048, ge=1, description="Longest query, question or answer.")
    max_batch: int = Field(default=512, ge=1, description="Most queries in one /retrieve request.")
    max_generations: int = Field(
        default=1024, ge=1,
        description="Most generations one request may cause (a simulated /retrieve of n queries at topk k: "
        "n·ceil(k/5), n·(ceil(k/5) + 1) with noise_ratio or noise_count); beyond: 400."
    )
    max_body_bytes: int = Field(default=1 << 20, ge=1024)
    max_in_flight: int = Field(
        default=256, ge=1, description="Generations the engine runs at once (a larger request runs alone)."
    )
    max_queue: int = Field(default=1024, ge=0, description="Generations waiting for the engine; beyond: 503 at once.")
    max_accounts: int = Field(
        default=10_000, ge=1, description="Identities whose usage and limits are kept; the least recently seen go first."
    )
    timeout_s: float = Field(default=60.0, gt=0, description="Default per-request deadline.")
    max_timeout_s: float = Field(default=300.0, gt=0, description="Largest deadline a request may ask for.")
    retry_after_s: int = Field(default=1, ge=1, description="Retry-After sent with 503 overload answers.")
    graceful_shutdown_s: float = Field(default=30.0, ge=0, description="SIGTERM: time in-flight requests get.")


def _default_cache_path() -> str:
    return str(Path.home() / ".cache" / "serpsim" / "results.sqlite")


class CacheSettings(BaseModel):
    """Result cache (cache.py). Unseeded searches are cached by parameters too, as on SerpApi."""

    enabled: bool = True
    path: str = Field(default_factory=_default_cache_path, description="SQLite file (`:memory:` for none).")
    ttl_s: float = Field(default=3600.0, gt=0, description="SerpApi keeps cached searches for an hour.")
    max_entries: int = Field(default=100_000, ge=1)
    redis_url: str | None = Field(default=None, description="Set: Redis replaces SQLite (extra `[redis]`).")


class CostSettings(BaseModel):
    """Prices behind `estimated_cost_usd` in /account.json: engine seconds x GPUs x hourly price."""

    gpu_hourly_usd: float = Field(default=1.77, ge=0, description="Price of one GPU-hour.")
    gpu_count: int = Field(default=1, ge=1, description="GPUs the engine occupies.")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SERPSIM_", env_nested_delimiter="__", env_ignore_empty=True, extra="ignore"
    )

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    public_base_url: str | None = Field(
        default=None,
        description="Base URL for self-links. Unset: taken from each request (X-Forwarded-* / Host).",
    )
    backends: BackendsSettings = Field(
        default_factory=BackendsSettings,
        description="The backends this server hosts, in order; the first answers requests that name none "
        "(`SERPSIM_BACKENDS` as JSON). Default: the simulation alone.",
    )
    engine: EngineSettings = Field(default_factory=EngineSettings)
    simulation: SimulationSettings = Field(default_factory=SimulationSettings)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    cost: CostSettings = Field(default_factory=CostSettings)
    search_store_size: int = Field(default=1000, ge=1, description="Recent searches kept for /searches/{id}.json (the archive).")
    log_level: str = "info"
    log_format: Literal["json", "text"] = "json"
    auth: AuthSettings = Field(default_factory=AuthSettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)

    @model_validator(mode="after")
    def _one_search_always_fits(self) -> Settings:
        # Only a /retrieve batch may exceed the generation cap; a single search never does.
        needed = -(-self.simulation.max_num // 5) + 1
        if self.limits.max_generations < needed:
            raise ValueError(
                f"limits.max_generations must be at least {needed}: one search of num={self.simulation.max_num} "
                "mixing noise per document"
            )
        return self

    @property
    def simulated(self) -> bool:
        """Whether a backend of this server is the simulation (then it needs an engine)."""
        return any(b.kind == "simulated" for b in self.backends.backends)
