"""Contract tests of every route, parameter and error, through HTTP (fake engine: fast, exact)."""

from __future__ import annotations

import os
from urllib.parse import parse_qs, urlparse

import pytest
from fastapi.testclient import TestClient
from serpsim_protocol import RetrieveResponse, SearchResponse
from serpsim_simulator.app import create_app

from .conftest import _wait_ready, make_settings
from .fakes import BrokenEngine, FakeEngine


def test_search_has_serpapi_shape(client: TestClient) -> None:
    for path in ("/search", "/search.json"):
        r = client.get(path, params={"q": "capital of France", "api_key": "secret", "source": "python"})
        assert r.status_code == 200
        body = r.json()
        parsed = SearchResponse.model_validate(body)
        assert parsed.search_metadata.status == "Success"
        assert parsed.search_information.query_displayed == "capital of France"
        assert len(parsed.organic_results) == 10  # SerpApi's default num
        assert [o.position for o in parsed.organic_results] == list(range(1, 11))
        for o in parsed.organic_results:
            assert o.title and o.snippet and o.displayed_link and o.source
            assert urlparse(o.link).hostname == "serpsim.example"
        # unknown params are echoed, keys never are
        assert body["search_parameters"]["source"] == "python"
        assert "api_key" not in body["search_parameters"]
        assert "error" not in body
        assert body["simulation"]["quality"] == "useful"
        assert body["simulation"]["engine"] == "fake"


def test_titles_are_headlines_not_the_snippets_opening_words(client: TestClient) -> None:
    """Search-R1 renders `Doc i(Title: ...) text` and SerpApi agents print title and snippet: a
    title made of the snippet's first words shows them twice."""
    results = client.get("/search.json", params={"q": "capital of France", "num": 5}).json()["organic_results"]
    hits = client.post("/retrieve", json={"queries": ["capital of France"], "topk": 5}).json()["result"][0]
    pairs = [(r["title"], r["snippet"]) for r in results]
    pairs += [(h["contents"].split("\n", 1)[0].strip('"'), h["contents"].split("\n", 1)[1]) for h in hits]
    for title, snippet in pairs:
        assert title and not snippet.startswith(title.rstrip(". …"))
    assert len({title for title, _ in pairs[:5]}) == 5  # a phrase of each document tells them apart


def test_quality_selects_the_template(client: TestClient, fake_engine: FakeEngine) -> None:
    noisy = client.get("/search.json", params={"q": "x", "quality": "noisy", "num": 5}).json()
    useful = client.get("/search.json", params={"q": "x", "quality": "useful", "num": 5}).json()
    assert noisy["simulation"]["quality"] == "noisy" and useful["simulation"]["quality"] == "useful"
    prompts = [p for prompts, _ in fake_engine.calls for p in prompts]
    assert "Noisy Output:" in prompts[0] and "Useful Output:" in prompts[1]


def test_question_and_answer_reach_the_prompt_and_nothing_else(client: TestClient, fake_engine: FakeEngine) -> None:
    client.get("/search.json", params={"q": "hamlet", "question": "Who wrote Hamlet?", "answer": "Shakespeare", "num": 5})
    client.get("/search.json", params={"q": "hamlet", "num": 5})
    hinted, plain = fake_engine.calls[0][0][0], fake_engine.calls[1][0][0]
    assert '"Who wrote Hamlet?" whose answer is Shakespeare.' in hinted
    assert "Shakespeare" not in plain and "Who wrote" not in plain


@pytest.mark.parametrize(("num", "generations", "results"), [(3, 1, 3), (5, 1, 5), (6, 2, 6), (10, 2, 10), (12, 3, 12)])
def test_num_maps_to_generations(client: TestClient, fake_engine: FakeEngine, num: int, generations: int, results: int) -> None:
    body = client.get("/search.json", params={"q": "x", "num": num, "seed": 7}).json()
    assert len(body["organic_results"]) == results
    prompts, settings = fake_engine.calls[-1]
    assert len(prompts) == generations  # one engine batch for the whole request
    assert len({s.seed for s in settings}) == generations  # derived seeds differ
    assert body["simulation"]["generations"] == generations


def test_seed_is_reproducible_and_pages_differ(client: TestClient) -> None:
    def links(**params: object) -> list[str]:
        body = client.get("/search.json", params={"q": "x", "no_cache": "true", **params}).json()
        return [o["link"] for o in body["organic_results"]]

    assert links(seed=5) == links(seed=5)
    assert links(seed=5) != links(seed=6)
    assert links(seed=5, start=0) != links(seed=5, start=10)


def test_pagination_points_back_here_and_ends(client: TestClient) -> None:
    url = "/search.json?q=paging&num=10"
    seen_pages = 0
    while url:
        body = client.get(url, headers={"host": "sim.internal:9999"}).json()
        seen_pages += 1
        pagination = body["serpapi_pagination"]
        assert pagination["current"] == seen_pages
        nxt = pagination.get("next")
        if nxt:
            parsed = urlparse(nxt)
            assert parsed.netloc == "sim.internal:9999" and parsed.path == "/search.json"
            assert parse_qs(parsed.query)["start"] == [str(seen_pages * 10)]
            url = f"{parsed.path}?{parsed.query}"
        else:
            url = ""
        assert seen_pages <= 10
    assert seen_pages == 5  # settings.simulation.max_pages
    assert body["organic_results"][0]["position"] == 41


def test_forwarded_headers_shape_self_links(client: TestClient) -> None:
    headers = {"x-forwarded-proto": "https", "x-forwarded-host": "search.example.org", "x-forwarded-prefix": "/serpapi"}
    body = client.get("/search.json", params={"q": "x"}, headers=headers).json()
    assert body["search_metadata"]["json_endpoint"].startswith("https://search.example.org/serpapi/searches/")
    assert body["serpapi_pagination"]["next"].startswith("https://search.example.org/serpapi/search.json?")


def test_archive_returns_the_same_search(client: TestClient) -> None:
    body = client.get("/search.json", params={"q": "archived"}).json()
    endpoint = urlparse(body["search_metadata"]["json_endpoint"]).path
    assert client.get(endpoint).json() == body
    assert client.get(f"/searches/{body['search_metadata']['id']}").json() == body
    missing = client.get("/searches/000000000000000000000000.json")
    assert missing.status_code == 404 and "error" in missing.json()


def test_archive_is_bounded(fake_engine: FakeEngine) -> None:
    with TestClient(create_app(make_settings(search_store_size=2), engine=fake_engine)) as c:
        _wait_ready(c)
        ids = [c.get("/search.json", params={"q": f"q{i}", "num": 1}).json()["search_metadata"]["id"] for i in range(3)]
        assert c.get(f"/searches/{ids[0]}.json").status_code == 404
        assert c.get(f"/searches/{ids[2]}.json").status_code == 200


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "Missing query `q` parameter."),
        ({"q": ""}, "Missing query `q` parameter."),
        ({"q": "   "}, "Missing query `q` parameter."),
        ({"q": "x", "quality": "great"}, "Invalid `quality` parameter"),
        ({"q": "x", "num": 0}, "Invalid `num` parameter"),
        ({"q": "x", "num": 101}, "Invalid `num` parameter"),
        ({"q": "x", "num": "ten"}, "Invalid `num` parameter"),
        ({"q": "x", "start": -1}, "Invalid `start` parameter"),
        ({"q": "x", "seed": -3}, "Invalid `seed` parameter"),
        ({"q": "x", "engine": "bing"}, "Unsupported `bing` search engine."),
    ],
)
def test_bad_parameters_get_serpapi_400(client: TestClient, params: dict[str, object], message: str) -> None:
    r = client.get("/search.json", params=params)
    assert r.status_code == 400
    assert r.headers["content-type"].startswith("application/json")
    assert set(r.json()) == {"error"} and r.json()["error"].startswith(message)
    assert client.get("/search.json", params={"q": "still serving", "num": 1}).status_code == 200


def test_empty_result_is_200_with_error() -> None:
    with TestClient(create_app(make_settings(), engine=FakeEngine(text="<answer></answer>"))) as c:
        _wait_ready(c)
        r = c.get("/search.json", params={"q": "nothing"})
        assert r.status_code == 200
        body = r.json()
        assert body["error"] == "Google hasn't returned any results for this query."
        assert body["search_metadata"]["status"] == "Success"
        # SerpApi leaves `organic_results` out (clients such as smolagents test for the key)
        assert "organic_results" not in body and "serpapi_pagination" not in body


def test_engine_failure_is_503_json_and_service_keeps_serving() -> None:
    with TestClient(create_app(make_settings(), engine=BrokenEngine())) as c:
        _wait_ready(c)
        for _ in range(3):
            r = c.get("/search.json", params={"q": "x"})
            assert r.status_code == 503 and "engine failed" in r.json()["error"]
            r = c.post("/retrieve", json={"queries": ["x"]})
            assert r.status_code == 503 and "engine failed" in r.json()["detail"]
        assert c.get("/healthz").status_code == 200


class _NeverReady(FakeEngine):
    async def start(self) -> None:
        raise RuntimeError("weights not found")


def test_engine_not_ready_is_503_and_readyz_says_why() -> None:
    with TestClient(create_app(make_settings(), engine=_NeverReady())) as c:
        assert c.get("/healthz").json() == {"status": "ok", "pid": os.getpid()}
        r = c.get("/search.json", params={"q": "x"})
        assert r.status_code == 503 and r.json()["error"]
        ready = c.get("/readyz")
        assert ready.status_code == 503 and "weights not found" in ready.json()["error"]


def test_html_output(client: TestClient) -> None:
    r = client.get("/search", params={"q": "<b>bold</b>", "output": "html", "num": 2})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "<ol><li><a href=\"https://serpsim.example/" in r.text and "<b>bold</b>" not in r.text


def test_retrieve_contract(client: TestClient, fake_engine: FakeEngine) -> None:
    r = client.post(
        "/retrieve",
        json={
            "queries": [
                {"query": "alpha", "answer": "A1", "seed": 1},
                {"query": "beta", "quality": "noisy", "answer": None, "seed": 2},
                {"query": "gamma", "answer": "A3", "seed": 3},
            ],
            "topk": 3,
            "return_scores": True,
            "quality": "useful",
            "question": "Q?",
        },
    )
    assert r.status_code == 200
    parsed = RetrieveResponse.model_validate(r.json())
    assert len(parsed.result) == 3 and all(len(hits) == 3 for hits in parsed.result)
    for hits in parsed.result:
        scores = [h.score for h in hits]
        assert scores == sorted(scores, reverse=True)
        for h in hits:
            assert h.document.title and h.document.text and h.document.id
    assert len(fake_engine.calls) == 1  # the whole batch is one engine call
    prompts, settings = fake_engine.calls[0]
    assert "Noisy Output:" in prompts[1] and "Useful Output:" in prompts[0]  # per query, over the batch-wide value
    assert "whose answer is A1." in prompts[0] and "A3" in prompts[2] and "whose answer" not in prompts[1]
    assert all('"Q?"' in p for p in (prompts[0], prompts[2]))
    assert [s.seed for s in settings] == [1, 2, 3]


def test_retrieve_answers_as_search_r1s_server_does(client: TestClient) -> None:
    """Search-R1's retrieval_server.py: `return_scores` defaults to false, and then each item is
    the bare corpus row `{"id", "contents"}`; with scores, `{"document": row, "score": s}`.
    `contents` is wiki-18's `"Title"\ntext`; a null (or 0) `topk` means the default, 3."""
    bare = client.post("/retrieve", json={"queries": ["capital of france", "tallest mountain"], "topk": 2})
    assert bare.status_code == 200 and set(bare.json()) == {"result"}
    result = bare.json()["result"]
    assert [len(items) for items in result] == [2, 2]
    for item in result[0] + result[1]:
        assert set(item) == {"id", "contents"} and isinstance(item["id"], str)
        title, text = item["contents"].split("\n", 1)
        assert len(title) > 2 and title[0] == title[-1] == '"' and text.strip()
    scored = client.post("/retrieve", json={"queries": ["capital of france"], "topk": 2, "return_scores": True}).json()
    for hit in scored["result"][0]:
        assert set(hit) == {"document", "score"} and set(hit["document"]) == {"id", "contents"}
        assert isinstance(hit["score"], float)
    for topk in (None, 0):
        r = client.post("/retrieve", json={"queries": ["x"], "topk": topk})
        assert r.status_code == 200 and len(r.json()["result"][0]) == 3
    assert len(client.post("/retrieve", json={"queries": ["x"]}).json()["result"][0]) == 3


@pytest.mark.parametrize(
    "body",
    [
        {"queries": []},
        {"queries": ["a"], "topk": -1},
        {"queries": ["a", "b"], "quality": ["useful", "noisy"]},  # per-query values go inside `queries`
        {"queries": ["a"], "quality": "great"},
        {"queries": [{"query": "a", "quality": "great"}]},
        {"queries": [{"quality": "noisy"}]},
        {"queries": [""]},
        {"queries": [" \t\n"]},
        {"queries": [{"query": " "}]},
        {"topk": 3},
    ],
)
def test_retrieve_bad_input_is_400_detail(client: TestClient, body: dict[str, object]) -> None:
    r = client.post("/retrieve", json=body)
    assert r.status_code == 400 and isinstance(r.json()["detail"], str)


def test_retrieve_rejects_non_json(client: TestClient) -> None:
    r = client.post("/retrieve", content=b"not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and "detail" in r.json()


def test_account_counts_usage_per_key(client: TestClient) -> None:
    client.get("/search.json", params={"q": "x", "num": 5, "api_key": "k1"})
    client.get("/search.json", params={"q": "y", "num": 5, "serp_api_key": "k2"})
    client.get("/search.json", params={"q": "z", "num": 5, "api_key": "k1"})
    k1 = client.get("/account", params={"api_key": "k1"}).json()
    k2 = client.get("/account.json", params={"api_key": "k2"}).json()
    assert k1["total_searches"] == k1["this_month_usage"] == 2 and k1["api_key"] == "k1"
    assert k2["total_searches"] == 1 and k1["prompt_tokens"] > 0 and k1["completion_tokens"] > 0


def test_unknown_route_is_json_404(client: TestClient) -> None:
    r = client.get("/nope")
    assert r.status_code == 404 and r.json() == {"error": "Resource not found."}


def test_openapi_docs(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    for path in ("/search", "/search.json", "/retrieve", "/account.json", "/searches/{search_id}", "/healthz", "/readyz"):
        assert path in spec["paths"]
    # One exploded object (`?q=...&num=...` on the wire), so the rules across parameters can be stated.
    (parameter,) = spec["paths"]["/search.json"]["get"]["parameters"]
    assert (parameter["in"], parameter["style"], parameter["explode"]) == ("query", "form", True)
    names = set(parameter["schema"]["properties"])
    assert {"q", "num", "start", "quality", "question", "answer", "seed", "no_cache", "api_key", "backend",
            "noise_ratio", "noise_count"} <= names
    backend = parameter["schema"]["properties"]["backend"]
    assert backend.get("enum", [backend.get("const")]) == ["simulated"]
    assert {"not": {"required": ["noise_ratio", "noise_count"]}} in parameter["schema"]["allOf"]
    assert "/backends" in spec["paths"]
    assert client.get("/docs").status_code == 200


def test_archive_serves_html_and_metadata_links_it(client: TestClient) -> None:
    body = client.get("/search.json", params={"q": "page", "num": 2}).json()
    html_url = urlparse(body["search_metadata"]["raw_html_file"]).path
    assert html_url.endswith(".html")
    page = client.get(html_url)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert body["organic_results"][0]["link"] in page.text


def test_locations_api(client: TestClient) -> None:
    found = client.get("/locations.json", params={"q": "Austin, Texas", "limit": 5}).json()
    assert found[0]["canonical_name"] == "Austin, Texas"
    assert client.get("/locations.json").json() == []
    assert client.get("/locations.json", params={"q": "x", "limit": 0}).status_code == 400


@pytest.mark.parametrize("field", ["question", "answer"])
def test_over_long_retrieve_hints_are_400(field: str) -> None:
    """As on /search: a client mistake, not a prompt the engine refuses with a 503."""
    engine = FakeEngine()
    with TestClient(create_app(make_settings(limits={"max_query_chars": 50}), engine=engine)) as c:
        _wait_ready(c)
        for body in ({"queries": ["x"], field: "y" * 51}, {"queries": [{"query": "x", field: "y" * 51}]}):
            r = c.post("/retrieve", json=body)
            assert r.status_code == 400 and field in r.json()["detail"]
        assert engine.calls == []


def test_a_bracketed_known_parameter_is_a_400_an_unknown_one_is_ignored(client: TestClient) -> None:
    # `seed[a]=1` is how clients serialise a nested object: the client meant `seed`, so results
    # made without it would be wrong (the schemathesis fuzz found these accepted with a 200).
    bad = client.get("/search.json", params={"q": "who wrote hamlet", "seed[a][b]": "1"})
    assert bad.status_code == 400 and "`seed` takes one value" in bad.json()["error"]
    fine = client.get("/search.json", params={"q": "who wrote hamlet", "filter[x]": "1"})
    assert fine.status_code == 200 and fine.json()["search_parameters"]["filter[x]"] == "1"
