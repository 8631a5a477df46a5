"""Google Custom Search through `google-api-python-client` 2.202.0 with its bundled discovery
document, pointed at the simulator by `client_options={"api_endpoint": ...}`."""

from __future__ import annotations

import pytest
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

EIFFEL = "Eiffel Tower"
EIFFEL_QUERY = "when was the eiffel tower in paris built"


def _service(base_url: str, key: str):
    return build("customsearch", "v1", developerKey=key, client_options={"api_endpoint": f"{base_url}/cse/"}, cache_discovery=False)


def test_simulated_items_and_paging(simulator) -> None:
    found = _service(simulator.base_url, "k").cse().list(q="who discovered penicillin", cx="serpsim", num=3, start=1).execute()
    # The client cannot send a seed, so the tiny model samples freely and may write fewer than
    # the three documents asked for (as in the SerpApi clients' tests); never more.
    assert found["kind"] == "customsearch#search" and 1 <= len(found["items"]) <= 3
    assert all(i["title"].strip() and i["snippet"].strip() and i["link"].startswith("http") for i in found["items"])
    assert found["queries"]["request"][0]["searchTerms"] == "who discovered penicillin"
    # A short simulated page is the model writing fewer documents, not the end: the simulation
    # writes any page up to max_pages, so the next one is always offered here.
    assert found["queries"]["nextPage"][0]["startIndex"] == 4
    assert found["url"]["template"].startswith(f"{simulator.base_url}/cse/customsearch/v1?q={{searchTerms}}")


def test_siterestrict_on_the_corpus(simulator) -> None:
    # The discovery document's other method; serpsim's extras are not in it (the client refuses
    # unknown arguments), so this server's default backend answers: the simulation.
    found = _service(simulator.base_url, "k").cse().siterestrict().list(q=EIFFEL_QUERY, cx="x", num=1).execute()
    assert len(found["items"]) == 1


def test_bad_key_and_bad_argument(keyed_simulator) -> None:
    with pytest.raises(HttpError) as bad:
        _service(keyed_simulator.base_url, "wrong").cse().list(q="hamlet", cx="x").execute()
    assert bad.value.status_code == 400 and bad.value.reason == "API key not valid. Please pass a valid API key."
    assert bad.value.error_details[0]["reason"] == "API_KEY_INVALID"
    with pytest.raises(HttpError) as no_cx:
        _service(keyed_simulator.base_url, keyed_simulator.api_key).cse().list(q="hamlet").execute()
    assert no_cx.value.status_code == 400 and "cx" in no_cx.value.reason


def test_a_corpus_page_short_of_num_has_no_next_page(simulator, corpus) -> None:
    # The client cannot send `backend`, so the raw query parameter, as the README shows.
    backend, rows = corpus
    status, found = simulator.get_json(f"/cse/customsearch/v1?q=eiffel+tower+paris&cx=x&num=10&backend={backend}")
    assert status == 200 and 1 <= len(found["items"]) <= len(rows) < 10
    assert found["items"][0]["title"] == "Eiffel Tower"
    assert "nextPage" not in found["queries"]
    status, full = simulator.get_json(f"/cse/customsearch/v1?q=eiffel+tower+paris&cx=x&num=1&backend={backend}")
    assert status == 200 and len(full["items"]) == 1 and full["queries"]["nextPage"][0]["startIndex"] == 2
