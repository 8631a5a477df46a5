"""All simulator configuration, in one pydantic-settings object.

Built once in `cli.main` (flags override `SERPSIM_*` environment variables) and handed to
`create_app`; nothing imports a global instance. Nested fields use `__`, e.g.
`SERPSIM_ENGINE__KIND=openai`, `SERPSIM_ENGINE__OPENAI_URLS='["http://vllm:8000/v1"]'`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

EngineKind = Literal["transformers", "vllm", "openai"]
PromptMode = Literal["sft", "prompt"]

DEFAULT_HUB_MODEL = "sunhaonlp/Simulation_LLM_google_14B_V2"
"""ZeroSearch's recommended released simulator; used only when a user asks for it by id."""


class EngineSettings(BaseModel):
    kind: EngineKind = "transformers"
    model: str | None = Field(
        default=None,
        description="Local model directory or hub id. Unset: `make serve` builds a tiny demo model.",
    )
    served_model_name: str | None = Field(default=None, description="Name reported in responses.")
    device: str = "auto"
    dtype: str = "auto"
    # transformers: dynamic batching of concurrent requests
    max_batch_size: int = Field(default=32, ge=1)
    batch_wait_ms: float = Field(default=5.0, ge=0)
    # vllm in-process
    gpu_memory_utilization: float = Field(default=0.85, gt=0, le=1)
    tensor_parallel_size: int = Field(default=1, ge=1)
    max_num_seqs: int = Field(default=256, ge=1)
    enable_prefix_caching: bool = True
    max_model_len: int | None = None
    # openai-compatible upstreams (vLLM / SGLang servers)
    openai_urls: list[str] = Field(default_factory=list)
    openai_api_key: str | None = None
    request_timeout_s: float = Field(default=120.0, gt=0)
    max_retries: int = Field(default=2, ge=0)

    @model_validator(mode="after")
    def _check(self) -> EngineSettings:
        if self.kind == "openai" and not self.openai_urls:
            raise ValueError("engine kind 'openai' needs at least one URL in engine.openai_urls")
        if self.kind != "openai" and not self.model:
            raise ValueError(f"engine kind {self.kind!r} needs engine.model (a directory or hub id)")
        return self


class SimulationSettings(BaseModel):
    prompt_mode: PromptMode = "sft"
    temperature: float = Field(default=0.8, ge=0)
    top_p: float = Field(default=1.0, gt=0, le=1)
    max_tokens: int = Field(default=600, ge=1)
    max_num: int = Field(default=100, ge=1, description="Largest `num` a request may ask for.")
    max_pages: int = Field(default=5, ge=1, description="Pagination stops after this many pages.")


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
    engine: EngineSettings = Field(default_factory=EngineSettings)
    simulation: SimulationSettings = Field(default_factory=SimulationSettings)
    search_store_size: int = Field(default=1000, ge=1, description="Recent searches kept for /searches/{id}.json.")
    log_level: str = "info"
