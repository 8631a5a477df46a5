"""SearchClient: requests it sends, bounded retries, deadlines and the error tree (httpx.MockTransport)."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from serpsim_protocol import (
    RetryPolicy,
    SearchClient,
    SearchHTTPError,
    SearchRateLimited,
    SearchTimeout,
    SearchTransportError,
)

FAST = RetryPolicy(max_retries=2, backoff_s=0.001, max_backoff_s=0.01)

SEARCH_BODY = {
    "search_metadata": {"id": "abc", "status": "Success"},
    "search_parameters": {"q": "x"},
    "organic_results": [{"position": 1, "title": "T", "link": "https://serpsim.example/a", "snippet": "S"}],
    "simulation": {"quality": "noisy"},
}
RETRIEVE_BODY = {"result": [[{"document": {"id": "1", "contents": "Title\ntext"}, "score": 0.5}]]}


def client_for(handler, **kwargs) -> SearchClient:  # type: ignore[no-untyped-def]
    return SearchClient("http://sim.test", transport=httpx.MockTransport(handler), retry=FAST, **kwargs)


async def test_search_sends_serpsim_params_only_when_set() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=SEARCH_BODY)

    async with client_for(handler, api_key="k") as client:
        response = await client.search("x", quality="noisy", question="Q?", answer="A", seed=3, num=5)
        await client.search("plain")
    assert response.organic_results[0].title == "T" and response.simulation and response.simulation.quality == "noisy"
    first, second = (dict(r.url.params) for r in seen)
    assert seen[0].url.path == "/search.json"
    assert first == {"engine": "google", "q": "x", "quality": "noisy", "question": "Q?", "answer": "A", "seed": "3", "num": "5", "api_key": "k"}
    assert second == {"engine": "google", "q": "plain", "api_key": "k"}  # what real SerpApi gets


async def test_retrieve_body_is_search_r1_plus_optional_fields() -> None:
    bodies: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(200, json=RETRIEVE_BODY)

    async with client_for(handler) as client:
        response = await client.retrieve(["q1"], topk=2)
        await client.retrieve(["q1", "q2"], topk=2, quality="noisy", question="a", seed=1)
    assert bodies[0] == {"queries": ["q1"], "topk": 2, "return_scores": True}
    assert bodies[1] == {"queries": ["q1", "q2"], "topk": 2, "return_scores": True, "quality": "noisy", "question": "a", "seed": 1}
    assert response.result[0][0].document.title == "Title" and response.result[0][0].document.text == "text"


@pytest.mark.parametrize(
    "body",
    [
        {"result": [[{"id": "7", "contents": '"Title"\ntext'}]]},  # Search-R1 without scores
        {"result": [[{"document": {"id": "7", "contents": '"Title"\ntext'}, "score": 0.5}]]},
    ],
)
async def test_retrieve_parses_both_search_r1_answers(body: dict[str, object]) -> None:
    async with client_for(lambda r: httpx.Response(200, json=body)) as client:
        response = await client.retrieve(["q"])
    (hit,) = response.result[0]
    assert hit.document.id == "7" and hit.document.title == "Title" and hit.document.text == "text"
    assert hit.score == (0.5 if "score" in body["result"][0][0] else None)  # type: ignore[index]


async def test_per_query_values_travel_as_query_objects() -> None:
    seen: list[httpx.Request] = []
    async with client_for(lambda r: seen.append(r) or httpx.Response(200, json=RETRIEVE_BODY)) as client:  # type: ignore[func-returns-value]
        await client.retrieve(["q1", "q2"], topk=2, quality=["useful", "noisy"], question="Q?", seed=[1, None], no_cache=True)
    assert json.loads(seen[0].content) == {
        "queries": [{"query": "q1", "quality": "useful", "seed": 1}, {"query": "q2", "quality": "noisy"}],
        "topk": 2, "return_scores": True, "question": "Q?", "no_cache": True,
    }


async def test_misaligned_per_query_fields_fail_before_sending() -> None:
    async with client_for(lambda r: httpx.Response(200, json=RETRIEVE_BODY)) as client:
        with pytest.raises(ValueError, match="quality"):
            await client.retrieve(["a", "b"], quality=["useful"])


async def test_retries_are_bounded_then_raise() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(503, json={"error": "engine loading"})

    async with client_for(handler) as client:
        with pytest.raises(SearchHTTPError) as info:
            await client.search("x")
        assert info.value.status == 503 and info.value.message == "engine loading"
        assert calls == 3  # one try + max_retries
        assert client.stats.calls == 1 and client.stats.retries == 2 and client.stats.failures == 1


async def test_recovers_after_transient_errors() -> None:
    answers = [httpx.ConnectError("refused"), httpx.Response(502, json={"error": "bad gateway"}), httpx.Response(200, json=SEARCH_BODY)]

    def handler(request: httpx.Request) -> httpx.Response:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async with client_for(handler) as client:
        response = await client.search("x")
    assert response.search_metadata.id == "abc" and not answers


async def test_client_errors_are_not_retried() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(400, json={"error": "Missing query `q` parameter."})

    async with client_for(handler) as client:
        with pytest.raises(SearchHTTPError, match="Missing query"):
            await client.search("")
    assert calls == 1


async def test_rate_limit_carries_retry_after() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, json={"error": "Your account has run out of searches."}, headers={"Retry-After": "0.001"})

    async with client_for(handler) as client:
        with pytest.raises(SearchRateLimited) as info:
            await client.search("x")
    assert info.value.retry_after == 0.001


async def test_deadline_covers_all_attempts() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return httpx.Response(200, json=SEARCH_BODY)

    client = SearchClient("http://sim.test", transport=httpx.MockTransport(handler), retry=FAST, timeout_s=0.2)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(SearchTimeout):
        await client.search("x")
    assert loop.time() - started < 1.0
    await client.aclose()


async def test_garbage_body_is_a_transport_error() -> None:
    async with client_for(lambda r: httpx.Response(200, content=b"<html>not json</html>")) as client:
        with pytest.raises(SearchTransportError, match="unexpected response body"):
            await client.search("x")
