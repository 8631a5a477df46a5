"""The real, unmodified `google-search-results` 2.4.2 client (legacy module `serpapi`,
`GoogleSearch`) against the running simulator.

Runs in `.venv/client-legacy` (scripts/install_clients.sh). The client is pointed at the
simulator only through its documented class attribute `serpapi.SerpApiClient.BACKEND`. This
client checks no status codes and `json.loads` every body, so errors come back as dicts.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import serpapi
from serpapi import GoogleSearch

API_KEY = "compat-test-key"
QUERY = "when was the eiffel tower built"


@pytest.fixture(scope="module", autouse=True)
def backend(simulator) -> Iterator[str]:
    original = serpapi.SerpApiClient.BACKEND
    serpapi.SerpApiClient.BACKEND = simulator.base_url
    try:
        yield simulator.base_url
    finally:
        serpapi.SerpApiClient.BACKEND = original


def _search(**params) -> GoogleSearch:
    return GoogleSearch({"api_key": API_KEY, **params})


def _assert_organic(results: dict, at_most: int) -> None:
    organic = results["organic_results"]
    assert 1 <= len(organic) <= at_most
    for r in organic:
        assert isinstance(r["position"], int) and r["position"] >= 1
        assert isinstance(r["title"], str) and r["title"].strip()
        assert isinstance(r["snippet"], str) and r["snippet"].strip()
        assert urlsplit(r["link"]).scheme in ("http", "https") and urlsplit(r["link"]).netloc


def test_get_dict_parses_serpapi_shape(backend: str) -> None:
    """get_dict() also sends `source=python` and `output=json`, which the server must tolerate."""
    results = _search(q=QUERY, num=5, hl="en", gl="us", location="Austin, Texas", no_cache=True, seed=1).get_dict()

    assert isinstance(results, dict)
    assert "error" not in results
    assert results["search_metadata"]["status"] == "Success"
    assert results["search_parameters"]["q"] == QUERY
    _assert_organic(results, at_most=5)
    assert [r["position"] for r in results["organic_results"]] == list(range(1, len(results["organic_results"]) + 1))
    assert results["search_metadata"]["json_endpoint"].startswith(backend + "/searches/")


@pytest.mark.parametrize("quality", ["useful", "noisy"])
def test_quality_passes_through_as_an_extra_parameter(quality: str) -> None:
    results = _search(q=QUERY, num=5, quality=quality, no_cache=True, seed=2).get_dict()
    assert results["simulation"]["quality"] == quality
    _assert_organic(results, at_most=5)


def test_get_object_wraps_the_parsed_response() -> None:
    obj = _search(q=QUERY, num=5, seed=3).get_object()
    assert obj.search_metadata.status == "Success"
    assert obj.organic_results[0].position == 1
    assert obj.organic_results[0].title


def test_pagination_iterator_terminates(backend: str) -> None:
    """Pagination sends start=0,6,11,16... with num=5 and stops when `serpapi_pagination.next`
    is absent; it never follows the next URL itself."""
    cap = 50
    pages = list(itertools.islice(_search(q="history of the printing press", num=5, seed=4).pagination(), cap))

    assert 1 <= len(pages) < cap, "pagination must end well before the test's own cap"
    assert [p["serpapi_pagination"]["current"] for p in pages] == list(range(1, len(pages) + 1))
    for page in pages:
        assert "error" not in page
        _assert_organic(page, at_most=5)
        assert page["serpapi_pagination"]["next"].startswith(backend + "/")


def test_pagination_with_default_page_size_terminates() -> None:
    """The client's default page size (num=10) runs two 5-document generations per page."""
    pages = list(itertools.islice(_search(q=QUERY, seed=5).pagination(), 50))
    assert 1 <= len(pages) < 50
    _assert_organic(pages[0], at_most=10)


def test_get_account_hits_account_without_json_suffix() -> None:
    _search(q=QUERY, num=5, no_cache=True, seed=6).get_dict()
    account = _search().get_account()
    assert isinstance(account, dict)
    assert "error" not in account
    assert isinstance(account["this_month_usage"], int) and account["this_month_usage"] >= 1


def test_get_search_archive_returns_the_stored_search() -> None:
    results = _search(q=QUERY, num=5, no_cache=True, seed=7).get_dict()
    search_id = results["search_metadata"]["id"]

    archived = _search().get_search_archive(search_id)
    assert archived["search_metadata"]["id"] == search_id
    assert archived["organic_results"] == results["organic_results"]


def test_get_search_archive_unknown_id_returns_error_dict() -> None:
    archived = _search().get_search_archive("0123456789abcdef01234567")
    assert isinstance(archived["error"], str) and archived["error"]
    assert "organic_results" not in archived


def test_missing_q_comes_back_as_error_dict() -> None:
    assert _search().get_dict() == {"error": "Missing query `q` parameter."}


def test_serp_api_key_class_attribute_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    """With `SerpApiClient.SERP_API_KEY` set the client sends `serp_api_key` (CAMEL does this)."""
    monkeypatch.setattr(serpapi.SerpApiClient, "SERP_API_KEY", API_KEY)
    results = GoogleSearch({"q": QUERY, "num": 5, "seed": 8}).get_dict()
    assert "error" not in results
    _assert_organic(results, at_most=5)


def test_get_html_returns_the_results_page(simulator) -> None:
    """`output=html` is SerpApi's raw results page: get_html() returns it, the same documents as
    get_dict() gives for the same seeded search."""
    page = _search(q=QUERY, num=5, output="html", seed=9).get_html()
    assert isinstance(page, str) and page.lstrip().lower().startswith("<!doctype html>")
    results = _search(q=QUERY, num=5, seed=9).get_dict()
    assert len(results["organic_results"]) >= 1
    for result in results["organic_results"]:
        assert f'<a href="{result["link"]}">' in page
    status, content_type, body = simulator.get(f"/search?q={QUERY.replace(' ', '+')}&num=5&output=html&seed=9&api_key={API_KEY}")
    assert status == 200 and content_type.startswith("text/html") and body.decode() == page


def test_corpus_results_read_unmodified(backend: str, corpus) -> None:
    name, rows = corpus
    by_id = {row["id"]: row for row in rows}
    results = _search(q="tallest mountain above sea level", num=2, backend=name).get_dict()
    assert "error" not in results and results["backend"]["kind"] == "corpus"
    organic = results["organic_results"]
    assert organic[0]["link"].endswith("/everest")
    for result in organic:
        row = by_id[result["link"].rsplit("/", 1)[1]]
        assert (result["title"], result["snippet"]) == (row["title"], row["text"])
    # The client's own accessors read them too.
    assert _search(q="tallest mountain above sea level", num=2, backend=name).get_json()["organic_results"] == organic
