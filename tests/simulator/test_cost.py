"""`serpsim-simulator cost`, through the CLI."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from serpsim_simulator import cost
from serpsim_simulator.cli import main


def test_default_reproduces_the_papers_figure(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cost"]) == 0
    out = capsys.readouterr().out
    assert "64,000" in out
    assert "$70.80" in out and "$586.70" in out
    assert "(88%)" in out


def test_given_throughput_and_prices(capsys: pytest.CaptureFixture[str]) -> None:
    # 3,600 searches at 1/s on 2 GPUs at $2/h: 2 GPU-hours = $4; SerpApi at $10/1,000: $36
    main(["cost", "--searches", "3600", "--searches-per-s", "1", "--gpus", "2", "--gpu-hourly-usd", "2",
          "--serpapi-per-1000-usd", "10"])
    out = capsys.readouterr().out
    assert "$4.00" in out and "$36.00" in out and "$32.00 (89%)" in out


def test_throughput_from_a_running_server(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    seen: dict[str, Any] = {}

    def fake_get(url: str, params: dict[str, str], timeout: float) -> httpx.Response:
        seen.update(url=url, params=params)
        # 120 searches, 20 of them cache hits, 50 engine-seconds: 2 searches/s
        body = {"total_searches": 120, "cache_hits": 20, "engine_seconds": 50.0}
        return httpx.Response(200, json=body, request=httpx.Request("GET", url))

    monkeypatch.setattr(cost.httpx, "get", fake_get)
    main(["cost", "--from-server", "http://sim:8000/", "--api-key", "k", "--searches", "7200", "--gpus", "1"])
    assert seen == {"url": "http://sim:8000/account.json", "params": {"api_key": "k"}}
    assert "2.000 searches/s" in capsys.readouterr().out


def test_server_without_engine_searches_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        cost.httpx, "get",
        lambda url, params, timeout: httpx.Response(200, json={"total_searches": 0}, request=httpx.Request("GET", url)),
    )
    with pytest.raises(ValueError, match="no engine searches"):
        main(["cost", "--from-server", "http://sim:8000"])
