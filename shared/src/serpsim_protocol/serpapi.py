"""SerpApi Google Search wire models (https://serpapi.com/search-api), as the simulator serves them.

Only the fields serpsim fills are declared; everything else a real SerpApi response may carry is
accepted through `extra="allow"`, so the same models parse real SerpApi answers too.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .common import BACKEND_NAME, MAX_SEED, BackendUsed, NonBlank, Quality, SimulationInfo, WireModel


class SearchRequest(BaseModel):
    """Query parameters of `GET /search[.json]`: SerpApi's Google Search ones, then serpsim's.

    Unknown parameters (clients add `source=python` and the like) are ignored.
    """

    model_config = ConfigDict(extra="ignore")

    q: NonBlank = Field(description="The search query.")
    engine: Literal["google"] = Field(default="google", description="Only `google` is simulated.")
    num: int = Field(default=10, ge=1, le=100, description="Results per page (SerpApi's default: 10).")
    start: int = Field(default=0, ge=0, le=1000, description="Result offset (0, 10, 20...).")
    hl: str | None = Field(default=None, max_length=16)
    gl: str | None = Field(default=None, max_length=16)
    location: str | None = Field(default=None, max_length=256)
    google_domain: str | None = Field(default=None, max_length=64)
    device: str | None = Field(default=None, max_length=16)
    api_key: str | None = Field(default=None, max_length=256)
    serp_api_key: str | None = Field(default=None, max_length=256)
    no_cache: bool = False
    output: Literal["json", "html"] = "json"
    backend: str | None = Field(
        default=None, pattern=BACKEND_NAME, description="serpsim: the backend to search (default: the server's first)."
    )
    quality: Quality | None = Field(
        default=None, description="serpsim, simulation only: useful (default) or noisy documents, for the whole call."
    )
    noise_ratio: float | None = Field(
        default=None, ge=0, le=1,
        description="serpsim, simulation only: each document noisy with this share (floor(r·num + u) of them).",
    )
    noise_count: int | None = Field(
        default=None, ge=0, le=100, description="serpsim, simulation only: this many noisy documents (at most num)."
    )
    question: str | None = Field(
        default=None, description="serpsim, simulation only: the question the searcher works on."
    )
    answer: str | None = Field(
        default=None, description="serpsim, simulation only: its gold answer (a training-time hint)."
    )
    seed: int | None = Field(default=None, ge=0, le=MAX_SEED, description="serpsim: sampling seed (simulation).")


class SearchMetadata(WireModel):
    id: str
    status: str = "Success"
    json_endpoint: str | None = None
    created_at: str | None = None
    processed_at: str | None = None
    google_url: str | None = None
    total_time_taken: float | None = None
    cached: bool | None = None


class SearchInformation(WireModel):
    query_displayed: str | None = None
    total_results: int | None = None
    time_taken_displayed: float | None = None
    organic_results_state: str | None = None


class OrganicResult(WireModel):
    position: int
    title: str
    link: str
    displayed_link: str | None = None
    snippet: str = ""
    source: str | None = None
    redirect_link: str | None = None
    snippet_highlighted_words: list[str] | None = None


class SerpApiPagination(WireModel):
    current: int
    next: str | None = None
    next_link: str | None = None
    other_pages: dict[str, str] = Field(default_factory=dict)


class SearchResponse(WireModel):
    """A Google Search response. An empty result is HTTP 200 with `error` set, as on SerpApi."""

    search_metadata: SearchMetadata
    search_parameters: dict[str, str | int | float | bool | None] = Field(default_factory=dict)
    search_information: SearchInformation = Field(default_factory=SearchInformation)
    organic_results: list[OrganicResult] = Field(default_factory=list)
    serpapi_pagination: SerpApiPagination | None = None
    error: str | None = None
    simulation: SimulationInfo | None = None
    backend: BackendUsed | None = None


class ErrorResponse(WireModel):
    """Every SerpApi error: `{"error": "..."}` with the matching HTTP status."""

    error: str


class AccountResponse(WireModel):
    """`GET /account.json`, with SerpApi's field names where they exist."""

    account_id: str | None = None
    api_key: str | None = None
    account_email: str | None = None
    plan_id: str | None = None
    plan_name: str | None = None
    searches_per_month: int | None = None
    plan_searches_left: int | None = None
    this_month_usage: int = 0
    this_hour_searches: int = 0
    last_hour_searches: int = 0
    account_rate_limit_per_hour: int | None = None
    total_searches: int = 0
    cache_hits: int = 0
    generations: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    engine_seconds: float = 0.0
    estimated_cost_usd: float = 0.0
