"""Per-document noise through the routes, on the fake engine: exact counts, the ratio's
statistics, one engine batch, seeded repeats, each document's label.

The fake engine writes each document as `<query> <useful|noisy> fact number k ref <tag>`, from
the template it was given, so a document's text says which generation wrote it: a label can be
checked against the document itself, not only counted."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import pytest

from .conftest import RealSearch


def _search(real_search: RealSearch, **params: Any) -> dict[str, Any]:
    r = real_search.client.get("/search.json", params=params)
    assert r.status_code == 200, r.json()
    return r.json()


@pytest.mark.parametrize(("num", "k"), [(5, 0), (5, 1), (5, 3), (5, 5), (10, 0), (10, 2), (10, 7), (10, 10)])
def test_noise_count_is_exact_per_label(real_search: RealSearch, num: int, k: int) -> None:
    engine = real_search.engine
    before = len(engine.calls)
    body = _search(real_search, q=f"count {num} {k}", num=num, noise_count=k, seed=11)
    labels = body["simulation"]["labels"]
    assert Counter(labels) == Counter({"noisy": k, "useful": num - k}) - Counter()
    assert "quality" not in body["simulation"]
    # Each document is from a generation of its own label.
    for label, result in zip(labels, body["organic_results"], strict=True):
        assert f" {label} fact number" in result["snippet"]
    # One engine batch: ceil(k/5) noisy and ceil((num-k)/5) useful generations, none of an empty kind.
    assert len(engine.calls) == before + 1
    prompts = engine.calls[-1][0]
    noisy = sum("Noisy Output:" in p for p in prompts)
    assert (noisy, len(prompts) - noisy) == (math.ceil(k / 5), math.ceil((num - k) / 5))
    assert body["simulation"]["generations"] == len(prompts)


def test_noise_count_through_retrieve_is_one_batch(real_search: RealSearch) -> None:
    engine = real_search.engine
    before = len(engine.calls)
    r = real_search.client.post("/retrieve", json={
        "queries": [{"query": f"batch {i}", "seed": i} for i in range(4)], "topk": 5, "noise_count": 2,
    })
    assert r.status_code == 200
    for items in r.json()["result"]:
        assert sum(" noisy fact number" in item["contents"] for item in items) == 2
        assert sum(" useful fact number" in item["contents"] for item in items) == 3
    assert len(engine.calls) == before + 1 and len(engine.calls[-1][0]) == 8  # 4 queries x (1 noisy + 1 useful)


def _noisy_counts(real_search: RealSearch, ratio: float, num: int, searches: int = 200) -> list[int]:
    """`searches` seeded searches at `noise_ratio=ratio` in one /retrieve; noisy documents per search."""
    body = {"queries": [{"query": f"ratio {ratio} {num}", "seed": seed} for seed in range(searches)], "topk": num,
            "noise_ratio": ratio}
    r = real_search.client.post("/retrieve", json=body)
    assert r.status_code == 200, r.json()
    result = r.json()["result"]
    assert all(len(items) == num for items in result)
    return [sum(" noisy fact number" in item["contents"] for item in items) for items in result]


@pytest.mark.parametrize("num", [5, 7])
@pytest.mark.parametrize("ratio", [0.05, 0.2, 0.5])
def test_noise_ratio_gives_floor_or_ceil_with_the_right_share(real_search: RealSearch, ratio: float, num: int) -> None:
    counts = _noisy_counts(real_search, ratio, num)
    expected = ratio * num
    low, high = math.floor(expected), math.ceil(expected)
    if low == high:  # 0.2 x 5: exactly one, every time
        assert set(counts) == {low}
        return
    assert set(counts) == {low, high}
    share_high = sum(c == high for c in counts) / len(counts)
    assert abs(share_high - (expected - low)) <= 0.1, (share_high, expected - low)


@pytest.mark.parametrize(("ratio", "expected"), [(0.0, 0), (1.0, 10)])
def test_noise_ratio_zero_and_one_are_exact(real_search: RealSearch, ratio: float, expected: int) -> None:
    assert set(_noisy_counts(real_search, ratio, 10, searches=50)) == {expected}


def test_seeded_mixes_repeat_exactly(real_search: RealSearch) -> None:
    params = {"q": "repeat me", "num": 10, "noise_ratio": 0.35, "no_cache": "true"}
    first = _search(real_search, **params, seed=5)
    again = _search(real_search, **params, seed=5)
    assert again["organic_results"] == first["organic_results"]
    assert again["simulation"]["labels"] == first["simulation"]["labels"]
    # ... and the mix really depends on the seed: other seeds order the labels otherwise.
    orders = {tuple(_search(real_search, **params, seed=s)["simulation"]["labels"]) for s in range(12)}
    assert len(orders) > 3


def test_per_call_quality_labels_every_document(real_search: RealSearch) -> None:
    body = _search(real_search, q="one coin", num=5, quality="noisy", seed=1)
    assert body["simulation"]["quality"] == "noisy" and body["simulation"]["labels"] == ["noisy"] * 5
    body = _search(real_search, q="one coin", num=3, seed=1)
    assert body["simulation"]["quality"] == "useful" and body["simulation"]["labels"] == ["useful"] * 3


def test_a_count_above_num_makes_every_document_noisy(real_search: RealSearch) -> None:
    body = _search(real_search, q="all noisy", num=4, noise_count=9, seed=2)
    assert body["simulation"]["labels"] == ["noisy"] * 4


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"noise_ratio": 0.2, "noise_count": 1}, "Give `noise_ratio` or `noise_count`, not both."),
        ({"noise_ratio": 0.2, "quality": "noisy"}, "Give `quality` (every document) or"),
        ({"noise_count": 1, "quality": "useful"}, "Give `quality` (every document) or"),
        ({"noise_ratio": 1.5}, "Invalid `noise_ratio` parameter"),
        ({"noise_ratio": "nan"}, "Invalid `noise_ratio` parameter"),
        ({"noise_count": -1}, "Invalid `noise_count` parameter"),
    ],
)
def test_bad_noise_parameters_are_400(real_search: RealSearch, params: dict[str, Any], says: str) -> None:
    c = real_search.client
    before = len(real_search.engine.calls)
    r = c.get("/search.json", params={"q": "bad noise", **params})
    assert r.status_code == 400 and r.json()["error"].startswith(says), r.json()
    if "nan" not in params.values():  # JSON has no NaN
        r = c.post("/retrieve", json={"queries": ["bad noise"], **params})
        assert r.status_code == 400 and r.json()["detail"]
    assert len(real_search.engine.calls) == before
