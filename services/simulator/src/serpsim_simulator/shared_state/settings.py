"""Settings of the shared state: one Redis for every piece of state that must hold across processes.

Meant to sit in `Settings` as `shared_state` (`SERPSIM_SHARED_STATE__REDIS_URL=redis://...`).
Today's `SERPSIM_CACHE__REDIS_URL` names the same Redis: `shared_redis_url` resolves the two.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

OutagePolicy = Literal["closed", "open"]


class SharedStateSettings(BaseModel):
    """Redis for the result cache, rate limits, usage, the search archive and the SerpApi spend cap."""

    redis_url: str | None = Field(
        default=None,
        description="Redis for all shared state (e.g. redis://redis:6379/0). Unset: state is kept per process.",
    )
    key_prefix: str = Field(default="serpsim", min_length=1, description="Prefix of every key this service writes.")
    limits_on_outage: OutagePolicy = Field(
        default="closed",
        description="Redis unreachable: `closed` refuses what the rate limits and the spend cap guard (503 with "
        "Retry-After), `open` serves it unchecked (counted and logged). The cache, usage and archive always "
        "degrade (miss / skip).",
    )
    connect_timeout_s: float = Field(default=0.5, gt=0, description="Connecting to Redis; longer is an outage.")
    timeout_s: float = Field(default=0.5, gt=0, description="One Redis command; longer is an outage.")
    max_connections: int = Field(default=64, ge=1, description="Redis connections per process; more calls wait for one.")
    retry_interval_s: float = Field(
        default=1.0, ge=0, description="After a failure, Redis is not tried again for this long (answered degraded)."
    )
    error_log_interval_s: float = Field(
        default=30.0, gt=0, description="An outage is logged at most once per interval, with the count since the last line."
    )
    archive_ttl_s: float = Field(default=86_400.0, gt=0, description="How long /searches/{id}.json stays answerable.")


def shared_redis_url(shared_url: str | None, cache_url: str | None) -> str | None:
    """The one Redis URL: `shared_state.redis_url`, or else the older `cache.redis_url`.

    Both set to different servers is refused: limits on one Redis and the cache on another is
    never what a user meant by setting one of them.
    """
    if shared_url and cache_url and shared_url != cache_url:
        raise ValueError(
            "shared_state.redis_url and cache.redis_url name different servers; set one "
            "(SERPSIM_SHARED_STATE__REDIS_URL; SERPSIM_CACHE__REDIS_URL is its older name)"
        )
    return shared_url or cache_url or None
