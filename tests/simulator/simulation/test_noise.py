"""Per-document noise planning: exact counts, the ratio's distribution, seeded order."""

from __future__ import annotations

import math
from collections import Counter

import pytest
from serpsim_simulator.errors import InvalidParameter
from serpsim_simulator.simulation.noise import interleave, noisy_count, plan_noise


@pytest.mark.parametrize(("num", "k"), [(5, 0), (5, 1), (5, 3), (5, 5), (10, 0), (10, 2), (10, 7), (10, 10)])
def test_noise_count_is_exact_per_label(num: int, k: int) -> None:
    plan = plan_noise(num, count=k, seed=3)
    useful = [f"u{i}" for i in range(plan.useful_generations * 5)]
    noisy = [f"n{i}" for i in range(plan.noisy_generations * 5)]
    docs = interleave(useful, noisy, plan, seed=3)
    labels = Counter(label for label, _ in docs)
    assert labels["noisy"] == k and labels["useful"] == num - k
    # Each document keeps the label of the generation it came from.
    assert all(doc.startswith("n" if label == "noisy" else "u") for label, doc in docs)


@pytest.mark.parametrize(
    ("num", "k", "noisy_gens", "useful_gens"),
    [(5, 0, 0, 1), (5, 1, 1, 1), (5, 5, 1, 0), (10, 0, 0, 2), (10, 2, 1, 2), (10, 7, 2, 1), (10, 10, 2, 0), (7, 6, 2, 1)],
)
def test_generations_needed_per_kind(num: int, k: int, noisy_gens: int, useful_gens: int) -> None:
    plan = plan_noise(num, count=k)
    assert (plan.noisy_generations, plan.useful_generations) == (noisy_gens, useful_gens)


@pytest.mark.parametrize("num", [5, 7, 10, 13])
@pytest.mark.parametrize("ratio", [0.05, 0.2, 0.5])
def test_noise_ratio_is_floor_or_ceil_with_the_right_share(ratio: float, num: int) -> None:
    counts = [noisy_count(num, ratio=ratio, seed=seed) for seed in range(200)]
    low, high = math.floor(ratio * num), math.ceil(ratio * num)
    assert set(counts) <= {low, high}
    frac = ratio * num - low
    share_high = sum(c == high for c in counts) / len(counts) if high != low else 0.0
    assert abs(share_high - frac) <= 0.1, (share_high, frac)


def test_small_ratio_still_yields_noise() -> None:
    # r = 0.05 of 5 documents: a quarter of the searches carry one noisy document.
    counts = Counter(noisy_count(5, ratio=0.05, seed=seed) for seed in range(200))
    assert set(counts) == {0, 1}
    assert 0.15 <= counts[1] / 200 <= 0.35


@pytest.mark.parametrize("num", [1, 5, 10, 100])
def test_ratio_zero_and_one_are_exact(num: int) -> None:
    assert {noisy_count(num, ratio=0.0, seed=s) for s in range(200)} == {0}
    assert {noisy_count(num, ratio=1.0, seed=s) for s in range(200)} == {num}


def test_integral_products_never_round_up() -> None:
    # 0.7 * 10 is 7.000000000000001 in binary floating point.
    assert {noisy_count(10, ratio=0.7, seed=s) for s in range(500)} == {7}
    assert {noisy_count(10, ratio=0.3, seed=s) for s in range(500)} == {3}


def test_same_seed_same_count_and_order() -> None:
    useful, noisy = [f"u{i}" for i in range(10)], [f"n{i}" for i in range(10)]
    first = [interleave(useful, noisy, plan_noise(10, ratio=0.35, seed=s), seed=s) for s in range(50)]
    again = [interleave(useful, noisy, plan_noise(10, ratio=0.35, seed=s), seed=s) for s in range(50)]
    assert first == again
    # ... and the order really depends on the seed: not every seed gives the same arrangement.
    orders = {tuple(label for label, _ in docs) for docs in first if sum(lab == "noisy" for lab, _ in docs) == 3}
    assert len(orders) > 5


def test_interleave_never_mislabels_a_short_generation() -> None:
    plan = plan_noise(10, count=4)
    docs = interleave(["u0", "u1", "u2"], ["n0", "n1", "n2", "n3"], plan, seed=1)
    assert Counter(label for label, _ in docs) == {"noisy": 4, "useful": 3}


def test_a_count_above_num_makes_every_document_noisy() -> None:
    assert plan_noise(5, count=6).noisy == 5 and plan_noise(5, count=100).useful == 0
    assert plan_noise(5, count=5, seed=1) == plan_noise(5, count=9, seed=1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ratio": 1.5}, "noise_ratio"),
        ({"ratio": -0.1}, "noise_ratio"),
        ({"ratio": float("nan")}, "noise_ratio"),
        ({"count": -1}, "noise_count"),
        ({"ratio": 0.5, "count": 2}, "not both"),
    ],
)
def test_bad_noise_parameters_are_400(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(InvalidParameter, match=message) as info:
        noisy_count(5, seed=1, **kwargs)  # type: ignore[arg-type]
    assert info.value.status == 400
