"""The SerpApi backend against a fake SerpApi on loopback (the real one cannot be reached here)."""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from serpsim_simulator.backends.errors import BackendConfigError
from serpsim_simulator.backends.serpapi.backend import SerpApiBackend
from serpsim_simulator.backends.serpapi.spend import SpendCap
from serpsim_simulator.backends.settings import SerpApiBackendSettings
from serpsim_simulator.errors import SimulatorError

from .conftest import ask
from .fake_serpapi import NO_RESULTS, OUT_OF_SEARCHES, FakeSerpApi, serve_fake_serpapi

KEY = "sk-test-6f1d0c9a8b7e4d2f"


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeSerpApi]:
    with serve_fake_serpapi(KEY, slow_s=1.5) as fake:
        yield fake


def make_settings(base_url: str, tmp_path: Path, **overrides: object) -> SerpApiBackendSettings:
    values: dict[str, object] = {
        "name": "google", "base_url": base_url, "api_key_env": "TEST_SERPAPI_KEY", "timeout_s": 0.5,
        "params": {"gl": "us", "hl": "en"}, "spend_file": str(tmp_path / "spend.json"),
        "searches_per_hour": 1000, "searches_per_month": 1000,
    }
    values.update(overrides)
    return SerpApiBackendSettings(**values)  # type: ignore[arg-type]


@pytest.fixture
async def backend(upstream: FakeSerpApi, tmp_path: Path) -> AsyncIterator[SerpApiBackend]:
    b = SerpApiBackend(make_settings(upstream.url, tmp_path), environ={"TEST_SERPAPI_KEY": KEY})
    await b.start()
    yield b
    await b.aclose()


async def test_success_maps_organic_results_and_forwards_parameters(backend: SerpApiBackend, upstream: FakeSerpApi) -> None:
    upstream.requests.clear()
    (result,) = await backend.search(ask(["who wrote hamlet"], num=3, offset=10))
    assert [h.title for h in result.hits] == [f"who wrote hamlet result {i}" for i in (11, 12, 13)]
    first = result.hits[0]
    assert first.link == first.id == "https://example.org/who-wrote-hamlet/11"
    assert first.text == "Snippet 11 about who wrote hamlet."
    assert first.extra["displayed_link"] == "https://example.org › 11" and "title" not in first.extra
    assert first.score is None and first.label is None
    assert result.offset == 10 and result.total_results == 1234
    (sent,) = upstream.requests
    assert sent == {"q": "who wrote hamlet", "engine": "google", "num": "3", "start": "10", "output": "json",
                    "gl": "us", "hl": "en", "api_key": KEY}


async def test_empty_results_are_an_empty_answer_not_an_error(backend: SerpApiBackend) -> None:
    (result,) = await backend.search(ask(["empty"], num=5))
    assert result.hits == []
    assert NO_RESULTS.startswith("Google hasn't")


@pytest.mark.parametrize(
    ("query", "status", "says"),
    [
        ("err400", 400, "Missing query"),  # the caller's parameter: stays a 4xx
        ("err401", 502, "rejected this server's API key"),  # our key, not the caller's: never a 401
        ("err403", 502, "account"),
        ("err429", 503, OUT_OF_SEARCHES),
        ("err500", 502, "SerpApi failed (500)"),
        ("err503", 503, "try again later"),
        ("garbage", 502, "not a JSON object"),
        ("slow", 504, "did not answer in time"),
    ],
)
async def test_upstream_errors_map_to_our_contract(backend: SerpApiBackend, query: str, status: int, says: str) -> None:
    with pytest.raises(SimulatorError) as info:
        await backend.search(ask([query], num=5))
    assert info.value.status == status
    assert says.lower() in info.value.message.lower()


async def test_rate_limit_passes_retry_after(backend: SerpApiBackend) -> None:
    with pytest.raises(SimulatorError) as info:
        await backend.search(ask(["err429"], num=5))
    assert info.value.headers == {"Retry-After": "120"}


async def test_unreachable_upstream_is_503(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    b = SerpApiBackend(make_settings(f"http://127.0.0.1:{port}", tmp_path), environ={"TEST_SERPAPI_KEY": KEY})
    await b.start()
    try:
        with pytest.raises(SimulatorError) as info:
            await b.search(ask(["anything"], num=5))
        assert info.value.status == 503
        assert b.spend.usage()["this_month"] == 0  # never reached SerpApi: nothing spent
    finally:
        await b.aclose()


async def test_key_never_appears_in_results_errors_or_logs(
    backend: SerpApiBackend, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    for query in ("echo", "err401", "err400", "err503", "garbage", "slow", "ordinary query"):
        try:
            seen.append(repr(await backend.search(ask([query], num=2))))
        except SimulatorError as exc:
            seen.append(exc.message)
            seen.append(repr(exc.headers))
    seen += [record.getMessage() for record in caplog.records]
    # httpx did log the requests (so the check below looked at real log lines)...
    assert any("search.json" in line for line in seen)
    # ... and the key is in none of them, not even where the upstream echoed it back.
    assert not [line for line in seen if KEY in line]
    assert any("<redacted>" in line for line in seen)


async def test_missing_key_fails_at_start_naming_the_variable(upstream: FakeSerpApi, tmp_path: Path) -> None:
    b = SerpApiBackend(make_settings(upstream.url, tmp_path), environ={})
    with pytest.raises(BackendConfigError, match="TEST_SERPAPI_KEY"):
        await b.start()


async def test_spend_cap_per_hour_is_a_429_and_never_reaches_upstream(upstream: FakeSerpApi, tmp_path: Path) -> None:
    b = SerpApiBackend(make_settings(upstream.url, tmp_path, searches_per_hour=3), environ={"TEST_SERPAPI_KEY": KEY})
    await b.start()
    try:
        upstream.requests.clear()
        for i in range(3):
            await b.search(ask([f"q{i}"], num=1))
        with pytest.raises(SimulatorError) as info:
            await b.search(ask(["q3"], num=1))
        assert info.value.status == 429
        assert "searches_per_hour=3" in info.value.message
        assert 3000 < int(info.value.headers["Retry-After"]) <= 3601  # type: ignore[index]
        assert [r["q"] for r in upstream.requests] == ["q0", "q1", "q2"]
    finally:
        await b.aclose()


async def test_spend_cap_takes_a_batch_whole_or_not_at_all(upstream: FakeSerpApi, tmp_path: Path) -> None:
    b = SerpApiBackend(make_settings(upstream.url, tmp_path, searches_per_hour=5), environ={"TEST_SERPAPI_KEY": KEY})
    await b.start()
    try:
        upstream.requests.clear()
        results = await b.search(ask([f"c{i}" for i in range(4)], num=1))  # concurrent, within the cap
        assert [r.hits[0].title for r in results] == [f"c{i} result 1" for i in range(4)]
        with pytest.raises(SimulatorError) as info:
            await b.search(ask(["d0", "d1"], num=1))  # 4 + 2 > 5: none of the two is sent
        assert info.value.status == 429
        assert sorted(r["q"] for r in upstream.requests) == ["c0", "c1", "c2", "c3"]
        await b.search(ask(["d0"], num=1))  # the one search left
        assert b.spend.usage()["last_hour"] == 5
    finally:
        await b.aclose()


async def test_error_answers_are_refunded_and_timeouts_are_not(upstream: FakeSerpApi, tmp_path: Path) -> None:
    b = SerpApiBackend(make_settings(upstream.url, tmp_path), environ={"TEST_SERPAPI_KEY": KEY})
    await b.start()
    try:
        for query in ("err401", "err429", "err500"):
            with pytest.raises(SimulatorError):
                await b.search(ask([query], num=1))
        assert b.spend.usage()["this_month"] == 0  # SerpApi bills no error answer
        with pytest.raises(SimulatorError):
            await b.search(ask(["slow"], num=1))
        await b.search(ask(["fine"], num=1))
        assert b.spend.usage() == {"last_hour": 2, "this_month": 2}  # the timeout may have been billed
    finally:
        await b.aclose()


def test_spend_cap_per_month_rolls_over_and_persists(tmp_path: Path) -> None:
    now = [1_793_404_800.0]  # 2026-10-31 00:00 UTC
    path = str(tmp_path / "spend.json")
    cap = SpendCap("google", per_hour=100, per_month=2, path=path, clock=lambda: now[0])
    cap.reserve()
    now[0] += 4000
    # A restart (a new object on the same file) keeps the month's count.
    restarted = SpendCap("google", per_hour=100, per_month=2, path=path, clock=lambda: now[0])
    restarted.reserve()
    with pytest.raises(SimulatorError) as info:
        restarted.reserve()
    assert info.value.status == 429 and "searches_per_month=2" in info.value.message
    assert int(info.value.headers["Retry-After"]) == 86_400 - 4000 + 1  # type: ignore[index]
    # Another backend's budget on the same file is its own.
    SpendCap("other", per_hour=100, per_month=2, path=path, clock=lambda: now[0]).reserve()
    now[0] += 86_400  # 2026-11-01: a new month
    restarted.reserve()
    assert restarted.usage() == {"last_hour": 1, "this_month": 1}
