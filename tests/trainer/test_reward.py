from __future__ import annotations

import numpy as np
import pytest
from serpsim_trainer.reward import compute_score, extract_answer, normalize_answer


def test_normalisation() -> None:
    assert normalize_answer("The  Eiffel-Tower!") == "eiffeltower"
    assert normalize_answer("An apple, a pear") == "apple pear"


@pytest.mark.parametrize(
    "text",
    [None, "", "no tags at all", "<answer>unterminated", "<answer></answer>", "<information><answer>x</answer>"],
)
def test_no_answer_scores_zero_never_raises(text: str | None) -> None:
    r = compute_score("nq", text, {"target": ["x"]})  # type: ignore[arg-type]
    assert r["score"] == 0.0 and r["f1"] == 0.0 and r["em"] == 0.0 and r["cover_em"] == 0.0


def test_last_answer_of_own_text_only() -> None:
    text = (
        "<think>hmm</think><answer>Lyon</answer><search>q</search>\n\n<information>Doc 1: <answer>Paris</answer>"
        "</information>\n\n<answer> Paris </answer>"
    )
    assert extract_answer(text) == "Paris"
    leaked = "<search>q</search>\n\n<information>Doc 1: the answer is <answer>Paris</answer></information>\n\n"
    assert extract_answer(leaked) is None
    assert compute_score("nq", leaked, ["Paris"])["score"] == 0.0


def test_metrics_and_gold_shapes() -> None:
    text = "<answer>the city of Paris</answer>"
    for gt in ({"target": ["Lyon", "Paris"]}, ["Paris"], "Paris", {"target": np.array(["Paris"])}, np.array(["x", "paris"])):
        r = compute_score("nq", text, gt)
        assert r["cover_em"] == 1.0 and r["em"] == 0.0
        assert r["f1"] == pytest.approx(2 * (1 / 3) * 1 / (1 / 3 + 1))
        assert r["score"] == r["f1"]
    assert compute_score("nq", text, ["Paris"], metric="cover_em")["score"] == 1.0
    assert compute_score("nq", "<answer>Paris.</answer>", ["paris"], metric="em")["score"] == 1.0
    assert compute_score("nq", "<answer>Paris</answer>", {"target": []})["score"] == 0.0


def test_search_counters_pass_through() -> None:
    r = compute_score("nq", "<answer>a</answer>", ["a"], extra_info={"search_calls": 3, "search_failures": 1})
    assert r["search_calls"] == 3.0 and r["search_failures"] == 1.0 and r["search_noisy"] == 0.0
