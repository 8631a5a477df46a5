"""OpenAICompatEngine: request shape (MockTransport), then balancing, retries and health against
scripted upstream processes on loopback that the test kills and restarts."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from serpsim_simulator.engines import EngineError, build_engine
from serpsim_simulator.engines.base import SamplingSettings, chat_messages
from serpsim_simulator.engines.openai_compat import OpenAICompatEngine
from serpsim_simulator.settings import EngineSettings

FAKE = Path(__file__).with_name("fake_openai.py")
S = SamplingSettings(temperature=0.7, top_p=0.9, max_tokens=33, seed=5)


def _cfg(urls: list[str], **kw: object) -> EngineSettings:
    return EngineSettings(kind="openai", openai_urls=urls, **kw)


# -- request shape, through httpx.MockTransport ---------------------------------------------------


def _mock(handler: Callable[[httpx.Request], httpx.Response]) -> httpx.MockTransport:
    def route(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/models"):
            return httpx.Response(200, json={"object": "list", "data": [{"id": "sim-14b"}]})
        return handler(request)

    return httpx.MockTransport(route)


def _ok(text: str = "Doc 1: x") -> httpx.Response:
    return httpx.Response(200, json={
        "choices": [{"message": {"role": "assistant", "content": text}}],
        "usage": {"prompt_tokens": 11, "completion_tokens": 7},
    })


async def test_request_body_and_usage() -> None:
    seen: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append({"url": str(request.url), "auth": request.headers.get("authorization"), **json.loads(request.content)})
        return _ok()

    eng = OpenAICompatEngine(_cfg(["http://up-a/v1/"], openai_api_key="k"), transport=_mock(handler))
    await eng.start()
    try:
        assert eng.ready() and eng.model_name == "sim-14b"  # discovered from GET /models
        assert eng.model_revision == "upstream:sim-14b@"  # the result cache keys on it
        out = await eng.generate(["query text", "q2"], [S, SamplingSettings(temperature=0.0, seed=None)])
    finally:
        await eng.aclose()
    assert [(c.text, c.prompt_tokens, c.completion_tokens) for c in out] == [("Doc 1: x", 11, 7)] * 2
    first = next(b for b in seen if b["messages"] == chat_messages("query text"))
    assert first == {
        "url": "http://up-a/v1/chat/completions", "auth": "Bearer k", "model": "sim-14b",
        "messages": [{"role": "system", "content": ""}, {"role": "user", "content": "query text"}],
        "temperature": 0.7, "top_p": 0.9, "max_tokens": 33, "seed": 5,
        "top_k": -1, "repetition_penalty": 1.0, "min_p": 0.0,
    }
    second = next(b for b in seen if b["messages"] == chat_messages("q2"))
    assert "seed" not in second and second["temperature"] == 0.0


@pytest.mark.parametrize(
    ("configured", "sent"),
    [
        (None, {"top_k": -1, "repetition_penalty": 1.0, "min_p": 0.0}),  # neutral: what the in-process engines do
        ({"top_k": 20, "repetition_penalty": 1.05}, {"top_k": 20, "repetition_penalty": 1.05}),
        ({}, {}),  # for servers that reject fields OpenAI's API does not have
    ],
)
async def test_sampling_beyond_openais_fields_is_neutral_configurable_and_omittable(
    configured: dict[str, float] | None, sent: dict[str, float]
) -> None:
    """Without these fields a vLLM server samples with the checkpoint's generation_config.json
    (Qwen2.5: top_k 20, repetition_penalty 1.05), which the in-process engines never apply."""
    bodies: list[dict[str, object]] = []
    extra = {} if configured is None else {"openai_sampling": configured}
    eng = OpenAICompatEngine(_cfg(["http://a/v1"], **extra),
                             transport=_mock(lambda r: bodies.append(json.loads(r.content)) or _ok()))  # type: ignore[func-returns-value]
    await eng.start()
    try:
        await eng.generate(["q"], [S])
    finally:
        await eng.aclose()
    beyond = {k: v for k, v in bodies[0].items() if k not in {"model", "messages", "temperature", "top_p", "max_tokens", "seed"}}
    assert beyond == sent
    assert all(type(beyond[k]) is type(v) for k, v in sent.items())  # top_k an integer, as servers expect


async def test_configured_model_name_wins() -> None:
    models: list[object] = []

    def handler(request: httpx.Request) -> httpx.Response:
        models.append(json.loads(request.content)["model"])
        return _ok()

    eng = OpenAICompatEngine(_cfg(["http://a/v1"], served_model_name="mine"), transport=_mock(handler))
    await eng.start()
    try:
        await eng.generate(["q"], [S])
    finally:
        await eng.aclose()
    assert models == ["mine"] and eng.model_name == "mine"


async def test_4xx_is_not_retried_and_5xx_is() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.host)
        prompt = json.loads(request.content)["messages"][1]["content"]
        if prompt == "too long":
            return httpx.Response(400, json={"error": {"message": "context length"}})
        if request.url.host == "bad":
            return httpx.Response(503, text="overloaded")
        return _ok()

    eng = OpenAICompatEngine(_cfg(["http://bad/v1", "http://good/v1"], max_retries=1), transport=_mock(handler))
    await eng.start()
    try:
        with pytest.raises(EngineError, match="HTTP 400"):
            await eng.generate(["too long"], [S])
        assert len(calls) == 1
        out = await eng.generate(["q"] * 6, [S] * 6)
        assert all(c.text == "Doc 1: x" for c in out)
        assert calls.count("bad") >= 1  # the 503s were retried on the good replica
    finally:
        await eng.aclose()


async def test_all_attempts_fail_raises_engine_error() -> None:
    eng = OpenAICompatEngine(_cfg(["http://a/v1", "http://b/v1"], max_retries=2),
                             transport=_mock(lambda r: httpx.Response(500, text="boom")))
    await eng.start()
    try:
        with pytest.raises(EngineError, match="all 3 attempts failed"):
            await eng.generate(["q"], [S])
    finally:
        await eng.aclose()


async def test_timeout_raises_engine_error() -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/models"):
            return httpx.Response(200, json={"data": [{"id": "m"}]})
        await asyncio.sleep(5)
        return _ok()

    eng = OpenAICompatEngine(_cfg(["http://a/v1"], request_timeout_s=0.2), transport=httpx.MockTransport(slow))
    await eng.start()
    try:
        t0 = time.perf_counter()
        with pytest.raises(EngineError, match="did not answer"):
            await eng.generate(["q"], [S])
        assert time.perf_counter() - t0 < 2
    finally:
        await eng.aclose()


async def test_no_upstream_is_not_ready_and_fails_cleanly() -> None:
    port = _free_port()
    eng = build_engine(_cfg([f"http://127.0.0.1:{port}/v1"], max_retries=1))
    assert isinstance(eng, OpenAICompatEngine)
    await eng.start()  # upstreams may come up later: starting is not an error
    try:
        assert not eng.ready()
        with pytest.raises(EngineError):
            await eng.generate(["q"], [S])
    finally:
        await eng.aclose()


# -- real upstream processes on loopback ----------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Upstream:
    """One fake OpenAI server process that the test can kill and bring back on the same port."""

    def __init__(self, name: str, delay_s: float = 0.05, status: int = 200) -> None:
        self.name, self.delay_s, self.status = name, delay_s, status
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.spawn()
        self.wait()

    def spawn(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(FAKE), "--port", str(self.port), "--name", self.name,
             "--delay", str(self.delay_s), "--status", str(self.status)],
        )

    def wait(self) -> None:
        # Generous: on a loaded 2-core machine a fresh interpreter importing uvicorn took over 30 s.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"fake upstream {self.name} exited with {self.proc.returncode}")
            try:
                if httpx.get(f"{self.url}/models", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"fake upstream {self.name} did not start in 120 s")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None


@pytest.fixture
def upstreams() -> Iterator[list[Upstream]]:
    ups = [Upstream(f"r{i}") for i in range(3)]
    try:
        for u in ups:
            u.spawn()  # all three boot in parallel
        for u in ups:
            u.wait()
        yield ups
    finally:
        for u in ups:
            u.kill()


@pytest.fixture
async def balanced(upstreams: list[Upstream]) -> AsyncIterator[OpenAICompatEngine]:
    eng = OpenAICompatEngine(_cfg([u.url for u in upstreams], max_retries=2, request_timeout_s=10), health_interval_s=0.2)
    await eng.start()
    try:
        yield eng
    finally:
        await eng.aclose()


def _writer(text: str) -> str:
    return text.split()[2]


async def _wait_for(cond: Callable[[], bool], timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_batch_spreads_across_replicas(balanced: OpenAICompatEngine, upstreams: list[Upstream]) -> None:
    assert balanced.model_name == "fake-sim"
    prompts = [f"query {i}" for i in range(30)]
    t0 = time.perf_counter()
    out = await balanced.generate(prompts, [S] * 30)
    elapsed = time.perf_counter() - t0
    writers = [_writer(c.text) for c in out]
    assert {w: writers.count(w) for w in set(writers)} == {"r0": 10, "r1": 10, "r2": 10}
    # In order, with the server's usage counts.
    assert all(c.text.endswith(p) and c.prompt_tokens == 2 for c, p in zip(out, prompts))
    assert "system=''" in out[0].text.replace('"', "'") or "'content': ''" in out[0].text
    # Concurrent, not sequential: 30 requests of 50 ms each take far less than 1.5 s.
    assert elapsed < 1.2
    assert all(r.outstanding == 0 and r.requests == 10 for r in balanced.replicas())


async def test_kill_and_restart_replica(balanced: OpenAICompatEngine, upstreams: list[Upstream]) -> None:
    stop = asyncio.Event()
    results: list[str] = []

    async def traffic() -> None:
        i = 0
        while not stop.is_set():
            out = await balanced.generate([f"q{i}-{k}" for k in range(6)], [S] * 6)
            results.extend(_writer(c.text) for c in out)
            i += 1

    load = asyncio.create_task(traffic())
    await asyncio.sleep(0.5)
    upstreams[1].kill()  # mid-run: some of its requests are in flight
    await _wait_for(lambda: not balanced.replicas()[1].healthy)
    n_dead = len(results)
    await asyncio.sleep(0.5)
    assert balanced.replicas()[1].healthy is False and not balanced.replicas()[1].outstanding
    assert set(results[n_dead + 6:]) <= {"r0", "r2"}
    assert balanced.replicas()[1].failures >= 1  # its lost requests were retried elsewhere

    upstreams[1].start()  # same port
    await _wait_for(lambda: balanced.replicas()[1].healthy)
    n_back = len(results)
    await asyncio.sleep(0.6)
    stop.set()
    await load  # raises if any request failed
    assert "r1" in results[n_back:]
    assert balanced.ready()


async def test_unhealthy_at_start_then_comes_up(upstreams: list[Upstream]) -> None:
    late = Upstream("late")
    eng = OpenAICompatEngine(_cfg([late.url], max_retries=0), health_interval_s=0.2)
    await eng.start()
    try:
        assert not eng.ready() and eng.model_name == ""
        late.start()
        await _wait_for(eng.ready)
        [c] = await eng.generate(["hello"], [S])
        assert _writer(c.text) == "late" and eng.model_name == "fake-sim"
    finally:
        late.kill()
        await eng.aclose()


async def test_5xx_replica_is_retried_elsewhere() -> None:
    bad, good = Upstream("bad", status=500), Upstream("good")
    try:
        bad.spawn()
        good.spawn()
        bad.wait()
        good.wait()
        eng = OpenAICompatEngine(_cfg([bad.url, good.url], max_retries=1), health_interval_s=60)
        await eng.start()
        try:
            out = await eng.generate([f"q{i}" for i in range(8)], [S] * 8)
            assert {_writer(c.text) for c in out} == {"good"}
            assert eng.replicas()[0].failures >= 1
        finally:
            await eng.aclose()
    finally:
        bad.kill()
        good.kill()


# -- what clients see of upstream failures --------------------------------------------------------

VLLM_TOO_LONG = {  # vLLM's answer to a prompt longer than --max-model-len (renderers/params.py)
    "object": "error", "type": "BadRequestError", "param": "input_tokens", "code": 400,
    "message": "This model's maximum context length is 2048 tokens. However, your prompt contains 2311 input "
               "tokens, which exceeds this limit even without any output tokens. Please reduce the length of the input prompt.",
}


@contextmanager
def _app_on(handler: Callable[[httpx.Request], httpx.Response]) -> Iterator[TestClient]:
    from serpsim_simulator.app import create_app

    from tests.simulator.conftest import _wait_ready, make_settings

    engine = OpenAICompatEngine(_cfg(["http://replica-7.internal:8000/v1"], max_retries=1), transport=_mock(handler))
    with TestClient(create_app(make_settings(), engine=engine)) as client:
        _wait_ready(client)
        yield client


def test_a_prompt_longer_than_the_upstream_context_is_a_400() -> None:
    """A client mistake, not a server failure: a 503 would be retried forever by a trainer."""
    with _app_on(lambda r: httpx.Response(400, json=VLLM_TOO_LONG)) as client:
        search = client.get("/search.json", params={"q": "x", "num": 5})
        retrieve = client.post("/retrieve", json={"queries": ["x"]})
    assert search.status_code == retrieve.status_code == 400
    for message in (search.json()["error"], retrieve.json()["detail"]):
        assert "context" in message and "replica-7" not in message and "2311" not in message


@pytest.mark.parametrize(
    ("status", "body"),
    [(500, "Traceback: /opt/secret/vllm/worker.py line 12"), (401, '{"error": "invalid upstream key sk-abc123"}')],
)
def test_upstream_urls_and_bodies_are_logged_not_returned(
    status: int, body: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        with _app_on(lambda r: httpx.Response(status, text=body)) as client:
            search = client.get("/search.json", params={"q": "x", "num": 5})
            retrieve = client.post("/retrieve", json={"queries": ["x"]})
    assert search.status_code >= 500 and retrieve.status_code >= 500
    for answer in (search.text, retrieve.text):
        assert "replica-7" not in answer and "secret" not in answer and "sk-abc123" not in answer
    logged = caplog.text
    assert "replica-7.internal" in logged and body[:20] in logged
