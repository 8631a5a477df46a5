"""One real redis-server for the shared-state tests; outage tests start their own, to kill it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from serpsim_simulator.settings import SharedStateSettings
from serpsim_simulator.shared_state.client import SharedRedis

from ..redis_server import RedisServer


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A server of this test's own, free to be killed, paused and restarted."""
    with RedisServer() as server:
        yield server


def state_settings(url: str, **overrides: object) -> SharedStateSettings:
    """Settings for one test: its own key prefix (the session's server is shared), quick outage timings."""
    values: dict[str, object] = {
        "redis_url": url,
        "key_prefix": f"test-{uuid.uuid4().hex[:12]}",
        "timeout_s": 0.3,
        "connect_timeout_s": 0.3,
        "retry_interval_s": 0.1,
    }
    values.update(overrides)
    return SharedStateSettings.model_validate(values)


@pytest.fixture
async def shared(redis_server: RedisServer) -> AsyncIterator[SharedRedis]:
    client = SharedRedis(state_settings(redis_server.url))
    yield client
    await client.aclose()


class Clock:
    def __init__(self, t: float = 1_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t
