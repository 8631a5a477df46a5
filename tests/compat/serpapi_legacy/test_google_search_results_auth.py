"""The legacy `google-search-results` client against a simulator with an API key configured.

This client never checks the status: a 401 comes back as the error dict."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import serpapi
from serpapi import GoogleSearch

INVALID_KEY = "Invalid API key. Your API key should be here: https://serpapi.com/manage-api-key"
QUERY = "who painted the mona lisa"


@pytest.fixture(autouse=True)
def backend(keyed_simulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(serpapi.SerpApiClient, "BACKEND", keyed_simulator.base_url)
    yield


def test_wrong_key_comes_back_as_error_dict() -> None:
    assert GoogleSearch({"q": QUERY, "num": 5, "api_key": "wrong-key"}).get_dict() == {"error": INVALID_KEY}


def test_wrong_key_on_account_comes_back_as_error_dict() -> None:
    assert GoogleSearch({"api_key": "wrong-key"}).get_account() == {"error": INVALID_KEY}


def test_valid_key_as_api_key(keyed_simulator) -> None:
    results = GoogleSearch({"q": QUERY, "num": 5, "seed": 1, "api_key": keyed_simulator.api_key}).get_dict()
    assert "error" not in results
    assert results["organic_results"][0]["position"] == 1


def test_valid_key_as_serp_api_key_class_attribute(keyed_simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(serpapi.SerpApiClient, "SERP_API_KEY", keyed_simulator.api_key)
    results = GoogleSearch({"q": QUERY, "num": 5, "seed": 2}).get_dict()
    assert "error" not in results
    assert results["organic_results"]
