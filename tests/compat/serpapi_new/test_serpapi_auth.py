"""The `serpapi` 1.2.0 client against a simulator with an API key configured.

Pointed at it through the per-instance form of the documented knob (`client.BASE_DOMAIN`), so the
open simulator's class-level setting in the other module is untouched.
"""

from __future__ import annotations

import pytest
import serpapi

INVALID_KEY = "Invalid API key. Your API key should be here: https://serpapi.com/manage-api-key"
QUERY = "who painted the mona lisa"


def _client(keyed_simulator, api_key: str | None) -> serpapi.Client:
    client = serpapi.Client(api_key=api_key, timeout=120)
    client.BASE_DOMAIN = keyed_simulator.base_url
    return client


@pytest.mark.parametrize("api_key", ["wrong-key", None], ids=["wrong", "missing"])
def test_bad_key_raises_http_error_401(keyed_simulator, api_key: str | None) -> None:
    with pytest.raises(serpapi.HTTPError) as excinfo:
        _client(keyed_simulator, api_key).search(q=QUERY, num=5)
    assert excinfo.value.status_code == 401
    assert excinfo.value.error == INVALID_KEY


def test_bad_key_on_account_raises_http_error_401(keyed_simulator) -> None:
    with pytest.raises(serpapi.HTTPError) as excinfo:
        _client(keyed_simulator, "wrong-key").account()
    assert excinfo.value.status_code == 401


def test_valid_key_searches_and_next_page_re_adds_it(keyed_simulator) -> None:
    """`serpapi_pagination.next` carries no key; next_page() adds the client's key back."""
    client = _client(keyed_simulator, keyed_simulator.api_key)
    first = client.search(q=QUERY, num=5, seed=1)
    assert first["organic_results"]
    assert keyed_simulator.api_key not in first.next_page_url
    second = first.next_page()
    assert isinstance(second, serpapi.SerpResults)
    assert second["serpapi_pagination"]["current"] == 2
    account = client.account()
    assert account["this_month_usage"] >= 2
