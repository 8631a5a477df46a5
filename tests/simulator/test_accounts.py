"""Accounts: who used what (searches, generations, tokens), and the limits that count the same
work, per identity: the API key however it is presented (`api_key`, `serp_api_key`, Bearer,
X-API-KEY), or the client address when the server is open and no key is sent."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from serpsim_simulator.app import create_app

from .conftest import _wait_ready, make_settings
from .fakes import FakeEngine
from .live import LiveServer


@contextmanager
def _client(engine: FakeEngine | None = None, **overrides: Any) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(**overrides), engine=engine or FakeEngine())) as c:
        _wait_ready(c)
        yield c


def _retrieve(
    c: TestClient, n: int, topk: int = 3, headers: dict[str, str] | None = None, **fields: object
) -> httpx.Response:
    body = {"queries": [f"query {i}" for i in range(n)], "topk": topk, **fields}
    return c.post("/retrieve", json=body, headers=headers)


def test_rate_limits_count_searches_not_requests() -> None:
    """A /retrieve of n queries is n searches for the token bucket and the hourly quota, as for
    /account.json; one /search is one search whatever its `num`."""
    with _client(auth={"api_keys": ["a"]}, limits={"rate_per_second": 0.01, "rate_burst": 4}) as c:
        bearer = {"Authorization": "Bearer a"}
        assert _retrieve(c, 3, headers=bearer).status_code == 200
        r = _retrieve(c, 2, headers=bearer)  # 2 searches, 1 left in the bucket
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        assert c.get("/search.json", params={"q": "x", "num": 100, "api_key": "a"}).status_code == 200
        assert c.get("/search.json", params={"q": "y", "api_key": "a"}).status_code == 429
    with _client(limits={"rate_per_hour": 6}) as c:  # open: per client address
        assert _retrieve(c, 5).status_code == 200
        assert c.get("/search.json", params={"q": "x", "num": 100}).status_code == 200
        account = c.get("/account.json").json()
        assert account["total_searches"] == account["last_hour_searches"] == 6
        assert account["generations"] == 5 + 20
        r = _retrieve(c, 1)
        assert r.status_code == 429 and 3500 <= int(r.headers["retry-after"]) <= 3600


def test_a_request_larger_than_any_allowance_is_a_400() -> None:
    """Waiting would never help, so it is not a 429 a client retries forever."""
    with _client(limits={"rate_per_second": 1, "rate_burst": 4, "rate_per_hour": 100}) as c:
        r = _retrieve(c, 5)
        assert r.status_code == 400 and "5 searches" in r.json()["detail"] and "4" in r.json()["detail"]
    with _client(limits={"rate_per_hour": 3}) as c:
        r = _retrieve(c, 4)
        assert r.status_code == 400 and "4 searches" in r.json()["detail"] and "3" in r.json()["detail"]


def test_generations_one_request_may_cause_are_capped() -> None:
    engine = FakeEngine()
    with _client(engine, limits={"max_generations": 10}, simulation={"max_num": 45}) as c:
        r = _retrieve(c, 3, topk=20)  # 3 x ceil(20/5) = 12
        assert r.status_code == 400
        assert "12 generations" in r.json()["detail"] and "at most 10" in r.json()["detail"]
        # Mixing noise may take one generation more per query (ceil(k/5) + ceil((topk-k)/5)).
        r = _retrieve(c, 3, topk=10, noise_count=3)  # 3 x (2 + 1) = 9 ...
        assert r.status_code == 200
        r = _retrieve(c, 3, topk=15, noise_count=3)  # ... 3 x (3 + 1) = 12
        assert r.status_code == 400 and "12 generations" in r.json()["detail"]
        calls = len(engine.calls)
        assert calls == 1
        assert _retrieve(c, 2, topk=20).status_code == 200  # 8
        assert c.get("/search.json", params={"q": "x", "num": 45}).status_code == 200  # 9
        assert c.get("/search.json", params={"q": "x", "num": 45, "noise_ratio": 0.5}).status_code == 200  # 10


def test_settings_let_one_search_fit_the_generation_cap() -> None:
    with pytest.raises(ValueError, match="max_generations must be at least 11"):
        make_settings(limits={"max_generations": 10}, simulation={"max_num": 50})


def test_admission_counts_generations() -> None:
    """Four generations run and four wait: a search of num=20 (four generations) takes all of
    either, so of three sent at once one runs, one waits and one is refused at once."""
    settings = make_settings(limits={"max_in_flight": 4, "max_queue": 4, "retry_after_s": 2})

    async def burst(url: str) -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=url, timeout=10) as c:
            return await asyncio.gather(*(c.get("/search.json", params={"q": f"b{i}", "num": 20}) for i in range(3)))

    with LiveServer(create_app(settings, engine=FakeEngine(delay_s=0.5))) as url:
        started = time.monotonic()
        codes = sorted(r.status_code for r in asyncio.run(burst(url)))
        assert codes == [200, 200, 503]
        assert time.monotonic() - started >= 1.0  # the second waited for the first


def test_every_way_of_presenting_a_key_is_one_account() -> None:
    with _client(auth={"api_keys": ["k1", "k2"]}) as c:
        c.get("/search.json", params={"q": "a", "num": 5, "api_key": "k1"})
        c.get("/search.json", params={"q": "b", "num": 5, "serp_api_key": "k1"})
        c.get("/search.json", params={"q": "c", "num": 5}, headers={"Authorization": "Bearer k1"})
        c.get("/search.json", params={"q": "d", "num": 5}, headers={"X-API-KEY": "k1"})
        _retrieve(c, 2, headers={"X-API-KEY": "k1"})
        _retrieve(c, 1, headers={"Authorization": "Bearer k2"})
        views = [
            c.get("/account.json", params={"api_key": "k1"}).json(),
            c.get("/account.json", headers={"Authorization": "Bearer k1"}).json(),
            c.get("/account", headers={"X-API-KEY": "k1"}).json(),
        ]
        assert [v["total_searches"] for v in views] == [6, 6, 6]
        # a caller sees its own account, never the others' or the server's totals
        k2 = c.get("/account.json", headers={"Authorization": "Bearer k2"}).json()
        assert k2["total_searches"] == 1 and k2["api_key"] == "k2"
        assert c.get("/account.json", params={"api_key": "k2"}).json()["total_searches"] == 1


def test_open_server_accounts_per_presented_key_or_address() -> None:
    with _client() as c:
        c.get("/search.json", params={"q": "x", "num": 5, "api_key": "k1"})
        c.get("/search.json", params={"q": "y", "num": 5}, headers={"Authorization": "Bearer k1"})
        _retrieve(c, 2, headers={"X-API-KEY": "k2"})
        _retrieve(c, 1)
        assert c.get("/account.json", params={"api_key": "k1"}).json()["total_searches"] == 2
        assert c.get("/account.json", headers={"X-API-KEY": "k2"}).json()["total_searches"] == 2
        assert c.get("/account.json").json()["total_searches"] == 1  # this address, without a key


def test_open_server_keeps_no_key_and_a_bounded_table() -> None:
    with _client(limits={"max_accounts": 2}) as c:
        secrets = ["secret-query-key", "secret-bearer-key", "secret-header-key"]
        c.get("/search.json", params={"q": "x", "num": 5, "api_key": secrets[0]})
        c.get("/search.json", params={"q": "x", "num": 5}, headers={"Authorization": f"Bearer {secrets[1]}"})
        c.get("/search.json", params={"q": "x", "num": 5}, headers={"X-API-KEY": secrets[2]})
        accounts = c.app_state["accounts"]
        assert len(accounts) == 2  # the least recently seen was dropped
        assert not any(secret in identity for identity in accounts.identities() for secret in secrets)
        assert c.get("/account.json", params={"api_key": secrets[0]}).json()["total_searches"] == 0
        assert c.get("/account.json", params={"api_key": secrets[2]}).json()["total_searches"] == 1


def test_account_fills_serpapi_limit_fields() -> None:
    with _client(limits={"rate_per_hour": 100}) as c:
        for q in ("a", "b", "c"):
            c.get("/search.json", params={"q": q, "num": 5})
        account = c.get("/account.json").json()
        assert account["account_rate_limit_per_hour"] == 100 and account["last_hour_searches"] == 3
        assert account["plan_searches_left"] == account["total_searches_left"] == 97
        assert account["this_month_usage"] == 3
    with _client() as c:  # no hourly limit: nothing left to count down
        c.get("/search.json", params={"q": "a", "num": 5})
        account = c.get("/account.json").json()
        assert account["last_hour_searches"] == 1 and account["account_rate_limit_per_hour"] is None
        assert account["plan_searches_left"] is None and account["total_searches_left"] is None


async def test_cancelled_waiters_leave_the_queue_and_larger_requests_run_alone() -> None:
    from serpsim_simulator.errors import Overloaded
    from serpsim_simulator.simulation.admission import Admission

    admission = Admission(max_in_flight=4, max_queue=8)
    release = asyncio.Event()
    order: list[str] = []

    async def run(name: str, generations: int) -> None:
        async with admission.slot(generations):
            order.append(name)
            await release.wait()

    first = asyncio.create_task(run("first", 3))
    await asyncio.sleep(0)
    big = asyncio.create_task(run("big", 100))  # more than max_in_flight: runs alone, counted as 4
    small = asyncio.create_task(run("small", 1))  # would fit now, but waits its turn behind `big`
    await asyncio.sleep(0)
    assert (admission.running, admission.waiting) == (3, 5)
    with pytest.raises(Overloaded):
        async with admission.slot(4):
            pass
    big.cancel()
    for _ in range(3):  # big leaves the queue, small is admitted, small runs
        await asyncio.sleep(0)
    assert order == ["first", "small"] and (admission.running, admission.waiting) == (4, 0)
    release.set()
    await asyncio.gather(first, small)
    with pytest.raises(asyncio.CancelledError):
        await big
    assert (admission.running, admission.waiting) == (0, 0)
