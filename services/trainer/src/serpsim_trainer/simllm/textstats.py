"""Text measures shared by the rule judge and `eval-sim`: answer containment, duplicates, distinct-n.

Containment uses the reward's SQuAD normalisation and whole words: "Rome" is not found in
"Romeo", "1889" not in "18890".
"""

from __future__ import annotations

from collections.abc import Sequence

from ..reward import normalize_answer

NEAR_DUPLICATE_JACCARD = 0.8
"""Two documents whose word-trigram sets overlap this much (Jaccard) count as near-duplicates."""


def contains_answer(documents: Sequence[str], answers: Sequence[str]) -> bool:
    """Whether any gold answer occurs, normalised and as whole words, in any document."""
    golds = [g for g in (normalize_answer(a) for a in answers) if g]
    if not golds:
        return False
    texts = [f" {normalize_answer(d)} " for d in documents]
    return any(f" {g} " in text for g in golds for text in texts)


def _shingles(text: str, n: int = 3) -> set[tuple[str, ...]]:
    words = normalize_answer(text).split()
    if len(words) < n:
        return {tuple(words)} if words else set()
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def duplicate_counts(documents: Sequence[str]) -> tuple[int, int]:
    """(exact, near) duplicates in one result list: documents equal (normalised) to an earlier one,
    and documents not equal but with word-trigram Jaccard >= NEAR_DUPLICATE_JACCARD to an earlier one."""
    exact = near = 0
    seen: list[tuple[str, set[tuple[str, ...]]]] = []
    for doc in documents:
        norm, shingles = normalize_answer(doc), _shingles(doc)
        if any(norm == other for other, _ in seen):
            exact += 1
        elif any(
            shingles and other_sh and len(shingles & other_sh) / len(shingles | other_sh) >= NEAR_DUPLICATE_JACCARD
            for _, other_sh in seen
        ):
            near += 1
        seen.append((norm, shingles))
    return exact, near


def distinct_n(documents: Sequence[str], n: int) -> float:
    """Distinct n-grams over all n-grams of `documents` (Li et al. 2016); 0.0 without any n-gram."""
    total = 0
    unique: set[tuple[str, ...]] = set()
    for doc in documents:
        words = normalize_answer(doc).split()
        grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
        total += len(grams)
        unique.update(grams)
    return len(unique) / total if total else 0.0


def word_count(text: str) -> int:
    return len(text.split())
