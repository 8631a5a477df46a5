"""The real, unmodified `serpapi` 1.2.0 client against the running simulator.

Runs in `.venv/client-serpapi` (scripts/install_clients.sh). The client is pointed at the
simulator only through its documented class attribute `serpapi.HTTPClient.BASE_DOMAIN`; every
assertion is on what the client itself parsed or raised.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
import serpapi

API_KEY = "compat-test-key"
QUERY = "who wrote the novel pride and prejudice"


@pytest.fixture(scope="module")
def client(simulator) -> Iterator[serpapi.Client]:
    original = serpapi.HTTPClient.BASE_DOMAIN
    serpapi.HTTPClient.BASE_DOMAIN = simulator.base_url
    try:
        yield serpapi.Client(api_key=API_KEY, timeout=120)
    finally:
        serpapi.HTTPClient.BASE_DOMAIN = original


def _assert_organic(results: serpapi.SerpResults, at_most: int) -> None:
    organic = results["organic_results"]
    assert 1 <= len(organic) <= at_most
    assert [r["position"] for r in organic] == list(
        range(organic[0]["position"], organic[0]["position"] + len(organic))
    )
    for r in organic:
        assert isinstance(r["title"], str) and r["title"].strip()
        assert isinstance(r["snippet"], str) and r["snippet"].strip()
        assert urlsplit(r["link"]).scheme in ("http", "https") and urlsplit(r["link"]).netloc
        for tag in ("<answer>", "<search>", "<information>"):
            assert tag not in r["title"] + r["snippet"]


def test_search_parses_serpapi_shape(client: serpapi.Client, simulator) -> None:
    results = client.search(q=QUERY, engine="google", num=5, hl="en", gl="us", no_cache=True, seed=1)

    assert isinstance(results, serpapi.SerpResults)
    assert results["search_metadata"]["status"] == "Success"
    assert results["search_parameters"]["q"] == QUERY
    assert results["search_parameters"]["engine"] == "google"
    assert "error" not in results
    _assert_organic(results, at_most=5)
    assert results["organic_results"][0]["position"] == 1
    assert results["search_metadata"]["json_endpoint"].startswith(simulator.base_url + "/searches/")


def test_num_below_five_truncates(client: serpapi.Client) -> None:
    results = client.search(q=QUERY, num=3, no_cache=True, seed=2)
    _assert_organic(results, at_most=3)


@pytest.mark.parametrize("quality", ["useful", "noisy"])
def test_quality_passes_through_as_an_extra_parameter(client: serpapi.Client, quality: str) -> None:
    results = client.search(q=QUERY, num=5, quality=quality, no_cache=True, seed=3)
    assert results["simulation"]["quality"] == quality
    _assert_organic(results, at_most=5)


def test_module_level_search_follows_the_class_attribute(client: serpapi.Client) -> None:
    """`serpapi.search` is bound to a client built at import; BASE_DOMAIN is read per request."""
    results = serpapi.search(q=QUERY, num=5, api_key=API_KEY, seed=4)
    assert isinstance(results, serpapi.SerpResults)
    _assert_organic(results, at_most=5)


def test_next_page_stays_on_the_simulator(client: serpapi.Client, simulator) -> None:
    first = client.search(q=QUERY, num=5, seed=5)
    next_url = first.next_page_url
    assert next_url, "page 1 must link a next page"
    parts = urlsplit(next_url)
    assert f"{parts.scheme}://{parts.netloc}" == simulator.base_url
    assert "api_key" not in parse_qs(parts.query), "SerpApi's next link carries no key; the client re-adds it"

    second = first.next_page()
    assert isinstance(second, serpapi.SerpResults)
    assert second["search_parameters"]["q"] == QUERY
    assert first["serpapi_pagination"]["current"] == 1
    assert second["serpapi_pagination"]["current"] == 2
    _assert_organic(second, at_most=5)
    assert second["organic_results"][0]["position"] > first["organic_results"][-1]["position"]


def test_yield_pages_ends(client: serpapi.Client, simulator) -> None:
    first = client.search(q="history of the printing press", num=5, seed=6)
    pages = list(first.yield_pages(max_pages=50))

    assert 1 < len(pages) < 50, "pagination must end well before the client's own cap"
    assert [p["serpapi_pagination"]["current"] for p in pages] == list(range(1, len(pages) + 1))
    assert pages[-1].next_page_url is None
    for page in pages[:-1]:
        assert page.next_page_url.startswith(simulator.base_url + "/")


def test_account(client: serpapi.Client) -> None:
    client.search(q=QUERY, num=5, no_cache=True, seed=7)
    account = client.account()
    assert isinstance(account, dict)
    assert "error" not in account
    assert isinstance(account["this_month_usage"], int) and account["this_month_usage"] >= 1


def test_search_archive_returns_the_stored_search(client: serpapi.Client) -> None:
    results = client.search(q=QUERY, num=5, no_cache=True, seed=8)
    search_id = results["search_metadata"]["id"]

    archived = client.search_archive(search_id=search_id)
    assert isinstance(archived, serpapi.SerpResults)
    assert archived["search_metadata"]["id"] == search_id
    assert archived["organic_results"] == results["organic_results"]


def test_search_archive_unknown_id_raises_http_error(client: serpapi.Client) -> None:
    with pytest.raises(serpapi.HTTPError) as excinfo:
        client.search_archive(search_id="0123456789abcdef01234567")
    assert excinfo.value.status_code == 404
    assert excinfo.value.error


def test_missing_q_raises_the_clients_error(client: serpapi.Client) -> None:
    with pytest.raises(serpapi.HTTPError) as excinfo:
        client.search(engine="google")
    assert isinstance(excinfo.value, serpapi.SerpApiError)
    assert excinfo.value.status_code == 400
    assert excinfo.value.error == "Missing query `q` parameter."


def test_invalid_quality_raises_400(client: serpapi.Client) -> None:
    with pytest.raises(serpapi.HTTPError) as excinfo:
        client.search(q=QUERY, quality="excellent")
    assert excinfo.value.status_code == 400
    assert isinstance(excinfo.value.error, str) and excinfo.value.error


def test_output_html_returns_the_results_page(client: serpapi.Client, simulator) -> None:
    """`output=html` is SerpApi's raw results page, served as text/html, which this client
    returns as a string: the same documents as the JSON answer to the same seeded search."""
    page = client.search(q="coffee", num=5, output="html", seed=4)
    assert isinstance(page, str) and page.lstrip().lower().startswith("<!doctype html>")
    results = client.search(q="coffee", num=5, seed=4)
    assert len(results["organic_results"]) >= 1
    for result in results["organic_results"]:
        assert f'<a href="{result["link"]}">' in page
    status, content_type, body = simulator.get(f"/search?q=coffee&num=5&output=html&seed=4&api_key={API_KEY}")
    assert status == 200 and content_type.startswith("text/html") and body.decode() == page


def test_corpus_results_read_unmodified(client: serpapi.Client, corpus) -> None:
    """Real search through the same client: the corpus rows come back as they were indexed."""
    backend, rows = corpus
    by_id = {row["id"]: row for row in rows}
    results = client.search(q="who wrote pride and prejudice", num=3, backend=backend)
    assert isinstance(results, serpapi.SerpResults)
    assert results["backend"] == {"name": backend, "kind": "corpus", "mode": "bm25", "documents": len(rows),
                                  "corpus_sha256": results["backend"]["corpus_sha256"], "cached": False}
    assert "simulation" not in results
    organic = results["organic_results"]
    assert organic[0]["link"].endswith("/austen-1813")
    for position, result in enumerate(organic, start=1):
        row = by_id[result["link"].rsplit("/", 1)[1]]
        assert (result["position"], result["title"], result["snippet"]) == (position, row["title"], row["text"])
    # Pages continue the ranking.
    both = client.search(q="novel mountain river seeds", num=2, backend=backend)["organic_results"]
    second = client.search(q="novel mountain river seeds", num=1, start=1, backend=backend)["organic_results"]
    assert len(both) == 2 and [(r["position"], r["link"]) for r in second] == [(2, both[1]["link"])]


def test_corpus_refuses_quality_with_the_clients_error(client: serpapi.Client, corpus) -> None:
    with pytest.raises(serpapi.HTTPError) as excinfo:
        client.search(q=QUERY, backend=corpus[0], quality="noisy")
    assert excinfo.value.status_code == 400 and "real search" in excinfo.value.error
