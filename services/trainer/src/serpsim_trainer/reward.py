"""QA rewards for verl's `reward.custom_reward_function` hook: F1 (ZeroSearch's reward), strict
exact match, and cover-EM (gold contained in the prediction: what ZeroSearch's tables call EM).

Only the policy's own text is scored. verl's `solution_str` is the whole decoded response, the
documents and the invalid-action message (which names `<answer> and </answer>`) included; our agent
loops report what the policy itself wrote in `extra_fields["policy_text"]`, which verl merges into
`extra_info`, and the LAST `<answer>` of that text is the prediction. A trajectory from any other
loop falls back to `tags.strip_injected`. No answer scores 0.0; nothing here raises on odd input.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Iterable
from typing import Any, Literal

from .tags import last_answer, strip_injected

Metric = Literal["f1", "em", "cover_em"]
METRICS: tuple[Metric, ...] = ("f1", "em", "cover_em")
POLICY_TEXT_KEY = "policy_text"
"""`extra_fields` / `extra_info` key: the policy's own text of a trajectory (`turns.Trajectory.policy_text`)."""

_ARTICLES_RE = re.compile(r"\b(a|an|the)\b")
_PUNCT = set(string.punctuation)

# Agent-loop counters copied into the reward's extra info, so they reach verl's reward metrics.
_PASSTHROUGH_KEYS = ("search_calls", "search_failures", "search_noisy", "search_noisy_documents", "invalid_actions")


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lower case, drop punctuation and articles, collapse whitespace."""
    text = "".join(ch for ch in str(text).lower() if ch not in _PUNCT)
    return " ".join(_ARTICLES_RE.sub(" ", text).split())


def policy_text(solution_str: str | None, extra_info: dict[str, Any] | None = None) -> str:
    """What the policy wrote: the agent loop's report when there is one, else `solution_str` without
    the protocol's injected blocks."""
    reported = (extra_info or {}).get(POLICY_TEXT_KEY)
    return reported if isinstance(reported, str) else strip_injected(solution_str or "")


def gold_answers(ground_truth: Any) -> list[str]:
    """Accepts `{"target": [...]}`, a list/array of strings, or a single string."""
    if isinstance(ground_truth, dict):
        ground_truth = ground_truth.get("target", ground_truth.get("answers", []))
    if isinstance(ground_truth, str):
        return [ground_truth]
    if isinstance(ground_truth, Iterable):
        return [str(g) for g in ground_truth if g is not None]
    return [] if ground_truth is None else [str(ground_truth)]


def em(prediction: str, gold: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(gold))


def cover_em(prediction: str, gold: str) -> float:
    g = normalize_answer(gold)
    return float(bool(g) and g in normalize_answer(prediction))


def f1(prediction: str, gold: str) -> float:
    pred_tokens, gold_tokens = normalize_answer(prediction).split(), normalize_answer(gold).split()
    common = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred_tokens), common / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


_SCORERS = {"f1": f1, "em": em, "cover_em": cover_em}


def score_prediction(prediction: str | None, golds: list[str]) -> dict[str, float]:
    """Each metric, maximised over gold answers; all 0.0 without a prediction."""
    if prediction is None or not golds:
        return {m: 0.0 for m in METRICS}
    return {m: max(_SCORERS[m](prediction, g) for g in golds) for m in METRICS}


def compute_score(
    data_source: str | None,
    solution_str: str,
    ground_truth: Any,
    extra_info: dict[str, Any] | None = None,
    metric: Metric = "f1",
    **kwargs: Any,
) -> dict[str, Any]:
    """verl's hook. `score` is `metric` (F1 by default); `f1`, `em`, `cover_em` are always reported."""
    if metric not in _SCORERS:
        raise ValueError(f"unknown reward metric {metric!r}; choose one of {METRICS}")
    answer = last_answer(policy_text(solution_str, extra_info))
    scores = score_prediction(answer, gold_answers(ground_truth))
    result: dict[str, Any] = {"score": scores[metric], **scores, "has_answer": float(answer is not None)}
    # Always the same keys: verl stacks reward extra info across samples.
    for key in _PASSTHROUGH_KEYS:
        value = (extra_info or {}).get(key)
        result[key] = float(value) if isinstance(value, (int, float)) else 0.0
    return result
