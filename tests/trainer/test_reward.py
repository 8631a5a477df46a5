from __future__ import annotations

import numpy as np
import pytest
from serpsim_trainer.reward import compute_score, normalize_answer
from serpsim_trainer.tags import INVALID_ACTION_MESSAGE, information_block


def test_normalisation() -> None:
    assert normalize_answer("The  Eiffel-Tower!") == "eiffeltower"
    assert normalize_answer("An apple, a pear") == "apple pear"


@pytest.mark.parametrize(
    "text",
    [None, "", "no tags at all", "<answer>unterminated", "<answer></answer>", "<search>x</search>"],
)
def test_no_answer_scores_zero_never_raises(text: str | None) -> None:
    r = compute_score("nq", text, {"target": ["x"]})  # type: ignore[arg-type]
    assert r["score"] == 0.0 and r["f1"] == 0.0 and r["em"] == 0.0 and r["cover_em"] == 0.0


def test_the_loops_policy_text_is_what_counts() -> None:
    """verl passes the whole decoded response as `solution_str`; our loops report the policy's own text
    in extra_info, and only that is scored (its LAST answer)."""
    solution = "<search>q</search>" + information_block("Doc 1: <answer>Paris</answer>") + INVALID_ACTION_MESSAGE
    own = "<search>q</search><answer>Lyon</answer> no, <answer> Paris </answer>"
    assert compute_score("nq", solution + "<answer>Lyon</answer>", ["Paris"], extra_info={"policy_text": own})["em"] == 1.0
    r = compute_score("nq", solution, ["Paris"], extra_info={"policy_text": "<search>q</search>"})
    assert (r["score"], r["has_answer"]) == (0.0, 0.0)


def test_without_a_report_only_injected_blocks_are_removed() -> None:
    """Other loops' trajectories: exactly what the protocol injects is removed; an `<information>` the
    policy wrote itself (or any unmatched tag) never deletes its later text."""
    injected = "<search>q</search>" + information_block("Doc 1: the answer is <answer>Paris</answer>")
    assert compute_score("nq", injected, ["Paris"])["has_answer"] == 0.0
    assert compute_score("nq", "<think>x</think>" + INVALID_ACTION_MESSAGE, ["and"])["has_answer"] == 0.0
    own_tag = "<think>no <information> needed</think>\n<answer> Romeo and Juliet </answer>"
    assert compute_score("nq", injected + own_tag, ["Romeo and Juliet"])["em"] == 1.0


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
